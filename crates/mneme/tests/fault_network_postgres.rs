//! PostgresStore behind a proxy that stalls or drops connections: every call returns within its
//! timeout with an error naming the server and the setting, and the store reconnects once the
//! server answers again. Runs against the real server (`scripts/services.sh` starts it).
#![cfg(feature = "postgres")]

mod common;

use common::stall_proxy::{stall_mid_session, stalled_open, watchdog, StallProxy};
use mneme::store::{PostgresStore, Store};
use mneme::Error;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_millis(400);

/// The test server: `host=127.0.0.1 user=postgres dbname=test`, or `MNEME_POSTGRES_DSN`'s
/// user and database (the host and port are the proxy's).
fn user_and_db() -> String {
    let dsn = std::env::var("MNEME_POSTGRES_DSN")
        .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".into());
    dsn.split_whitespace()
        .filter(|kv| !kv.starts_with("host=") && !kv.starts_with("port="))
        .collect::<Vec<_>>()
        .join(" ")
}

fn store(proxy: &StallProxy, schema: &str) -> PostgresStore {
    let dsn = format!("host=127.0.0.1 port={} {}", proxy.port(), user_and_db());
    PostgresStore::new(dsn, schema)
        .unwrap()
        .connect_timeout(TIMEOUT)
        .io_timeout(TIMEOUT)
}

fn schema(name: &str) -> String {
    format!("mneme_fault_{}_{name}", std::process::id())
}

/// Drops the test's schemas on a direct connection.
struct Cleanup(Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let dsn = format!("host=127.0.0.1 port=5432 {}", user_and_db());
        if let Ok(mut c) = postgres::Client::connect(&dsn, postgres::NoTls) {
            for s in &self.0 {
                let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{s}\" CASCADE"));
            }
        }
    }
}

#[test]
fn a_server_that_stops_answering_mid_session_times_out_then_is_reconnected() {
    watchdog(Duration::from_secs(60));
    let _cleanup = Cleanup(vec![schema("stall")]);
    let proxy = StallProxy::start("127.0.0.1:5432");
    stall_mid_session(&proxy, store(&proxy, &schema("stall")));
}

#[test]
fn opening_against_a_stalled_server_fails_within_the_connect_timeout() {
    watchdog(Duration::from_secs(60));
    let proxy = StallProxy::start("127.0.0.1:5432");
    stalled_open(&proxy, store(&proxy, &schema("open")));
}

#[test]
fn dropped_connections_are_reopened_reads_retried_writes_reported() {
    watchdog(Duration::from_secs(60));
    let _cleanup = Cleanup(vec![schema("drop")]);
    let proxy = StallProxy::start("127.0.0.1:5432");
    let s = store(&proxy, &schema("drop"));
    s.open("fp", 8).unwrap();
    s.write_meta("k", "v").unwrap();
    proxy.drop_connections();
    assert_eq!(
        s.read_meta("k").unwrap().as_deref(),
        Some("v"),
        "a read is retried on a new connection"
    );
    proxy.drop_connections();
    // A transaction is never retried: its outcome is unknown when the connection fails.
    match s.delete_by_id(12_345) {
        Err(e @ Error::StoreBackend { .. }) => {
            assert!(
                e.to_string().contains("may or may not have been applied"),
                "{e}"
            )
        }
        other => panic!("a write on a dropped connection must report it, got {other:?}"),
    }
    assert!(!s.delete_by_id(12_345).unwrap(), "the next call reconnects");
    s.write_meta("k", "x").unwrap();
    assert_eq!(s.read_meta("k").unwrap().as_deref(), Some("x"));
}
