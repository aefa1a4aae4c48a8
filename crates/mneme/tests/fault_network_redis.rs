//! RedisStore behind a proxy that stalls or drops connections: every call returns within its
//! timeout with an error naming the server and the setting, and the store reconnects once the
//! server answers again. Runs against the real server (`scripts/services.sh` starts it).
#![cfg(feature = "redis")]

mod common;

use common::stall_proxy::{stall_mid_session, stalled_open, watchdog, StallProxy};
use mneme::store::{RedisStore, Store};
use mneme::Error;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_millis(400);

fn upstream() -> String {
    let url =
        std::env::var("MNEME_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into());
    let hostport = url.trim_start_matches("redis://");
    hostport.split('/').next().unwrap().to_owned()
}

fn store(proxy: &StallProxy, prefix: &str) -> RedisStore {
    RedisStore::new(format!("redis://{}/0", proxy.addr()), prefix)
        .connect_timeout(TIMEOUT)
        .io_timeout(TIMEOUT)
}

fn prefix(name: &str) -> String {
    format!("mneme-fault-{}-{name}", std::process::id())
}

#[test]
fn a_server_that_stops_answering_mid_session_times_out_then_is_reconnected() {
    watchdog(Duration::from_secs(60));
    let proxy = StallProxy::start(&upstream());
    stall_mid_session(&proxy, store(&proxy, &prefix("stall")));
}

#[test]
fn opening_against_a_stalled_server_fails_within_the_connect_timeout() {
    watchdog(Duration::from_secs(60));
    let proxy = StallProxy::start(&upstream());
    stalled_open(&proxy, store(&proxy, &prefix("open")));
}

#[test]
fn dropped_connections_are_reopened_reads_retried_writes_reported() {
    watchdog(Duration::from_secs(60));
    let proxy = StallProxy::start(&upstream());
    let s = store(&proxy, &prefix("drop"));
    s.open("fp", 8).unwrap();
    s.write_meta("k", "v").unwrap();
    proxy.drop_connections();
    assert_eq!(
        s.read_meta("k").unwrap().as_deref(),
        Some("v"),
        "a read is retried on a new connection"
    );
    proxy.drop_connections();
    match s.write_meta("k", "w") {
        Err(e @ Error::StoreBackend { .. }) => {
            assert!(
                e.to_string().contains("may or may not have been applied"),
                "{e}"
            )
        }
        other => panic!("a write on a dropped connection must report it, got {other:?}"),
    }
    s.write_meta("k", "x").unwrap();
    assert_eq!(s.read_meta("k").unwrap().as_deref(), Some("x"));
    let mut raw = redis::Client::open(format!("redis://{}/0", upstream()))
        .unwrap()
        .get_connection()
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", prefix("drop")))
        .query(&mut raw)
        .unwrap();
    for k in keys {
        let _: () = redis::cmd("DEL").arg(k).query(&mut raw).unwrap();
    }
}
