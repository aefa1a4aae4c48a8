//! A TCP proxy on loopback in front of a real server, that can stall (keep every connection
//! open and accept new ones, but forward nothing: a hung server or network) and drop its
//! connections (a server restart).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct StallProxy {
    addr: SocketAddr,
    stalled: Arc<AtomicBool>,
    stopped: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
}

impl StallProxy {
    /// Starts forwarding `127.0.0.1:<ephemeral>` to `upstream`.
    pub fn start(upstream: &str) -> StallProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy = StallProxy {
            addr: listener.local_addr().unwrap(),
            stalled: Arc::default(),
            stopped: Arc::default(),
            streams: Arc::default(),
        };
        let (stalled, stopped, streams) = (
            proxy.stalled.clone(),
            proxy.stopped.clone(),
            proxy.streams.clone(),
        );
        let upstream = upstream.to_owned();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopped.load(Ordering::Acquire) {
                    return;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                {
                    let mut all = streams.lock().unwrap();
                    all.push(client.try_clone().unwrap());
                    all.push(server.try_clone().unwrap());
                }
                pump(
                    client.try_clone().unwrap(),
                    server.try_clone().unwrap(),
                    &stalled,
                );
                pump(server, client, &stalled);
            }
        });
        proxy
    }

    /// The proxy's `host:port`.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Stops forwarding, in both directions, on every connection, old and new.
    pub fn stall(&self) {
        self.stalled.store(true, Ordering::Release);
    }

    pub fn resume(&self) {
        self.stalled.store(false, Ordering::Release);
    }

    /// Closes every connection made so far, as a restarting server would.
    pub fn drop_connections(&self) {
        for s in self.streams.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for StallProxy {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::Release);
        self.resume();
        self.drop_connections();
        let _ = TcpStream::connect(self.addr); // wakes the accept loop
    }
}

/// Copies `from` to `to` until either closes, holding data back while stalled.
fn pump(mut from: TcpStream, mut to: TcpStream, stalled: &Arc<AtomicBool>) {
    let stalled = stalled.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            while stalled.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(10));
            }
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            while stalled.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(10));
            }
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

/// Ends the process with a message if the test is still running after `limit`: a regression
/// that hangs fails here instead of stalling CI.
pub fn watchdog(limit: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!("a call hung: the test was still running after {limit:?}");
        std::process::exit(101);
    });
}

/// Opens a cache on `store` with the test embedder.
pub fn open_on(store: impl mneme::store::Store + 'static) -> mneme::Result<mneme::SemanticCache> {
    mneme::SemanticCache::builder(super::embedders::TestEmbedder::new(8))
        .store(store)
        .open()
}

/// Asserts a `StoreBackend` error whose text names the server (on loopback) and `setting`.
pub fn assert_backend_error_naming(r: mneme::Result<impl std::fmt::Debug>, setting: &str) {
    match r {
        Err(e @ mneme::Error::StoreBackend { .. }) => {
            let text = e.to_string();
            assert!(text.contains("127.0.0.1"), "names the server: {text}");
            assert!(text.contains(setting), "names {setting}: {text}");
        }
        other => panic!("expected StoreBackend naming {setting}, got {other:?}"),
    }
}

/// The stall scenario any network store must pass: `store` (on `proxy`, with short timeouts)
/// serves, times out while the proxy stalls, naming the setting, and serves again once it
/// resumes, on a new connection.
pub fn stall_mid_session(proxy: &StallProxy, store: impl mneme::store::Store + 'static) {
    let cache = open_on(store).unwrap();
    cache.put("before", "r").unwrap();
    proxy.stall();
    assert_backend_error_naming(cache.put("during", "r"), "io_timeout");
    // The failed connection was dropped: the next call tries a new one.
    assert_backend_error_naming(cache.get("before"), "connect_timeout");
    proxy.resume();
    assert_eq!(cache.get("before").unwrap().unwrap().response, "r");
    cache.put("after", "r").unwrap();
    assert!(cache.get("after").unwrap().is_some());
    cache.clear().unwrap();
}

/// Opening `store` (on `proxy`) while the proxy stalls fails within its connect timeout.
pub fn stalled_open(proxy: &StallProxy, store: impl mneme::store::Store + 'static) {
    proxy.stall();
    assert_backend_error_naming(open_on(store), "connect_timeout");
}
