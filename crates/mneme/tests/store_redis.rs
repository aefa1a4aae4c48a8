//! RedisStore against the real server (`MNEME_REDIS_URL`, default redis://127.0.0.1:6379/0;
//! `scripts/services.sh` starts it). A missing server fails the suite: it never skips.
#![cfg(feature = "redis")]

mod common;

use common::embedders::TestEmbedder;
use common::fixtures::DIM;
use mneme::store::{RedisStore, Store};
use mneme::testkit::{self as conformance, Fresh};
use mneme::{Error, ManualClock, Put, SemanticCache};
use std::sync::atomic::{AtomicUsize, Ordering};

fn url() -> String {
    std::env::var("MNEME_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into())
}

/// A unique key prefix, whose keys are deleted when the test ends.
struct Prefix(String);

impl Prefix {
    fn new() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        Prefix(format!(
            "mneme-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ))
    }

    fn store(&self) -> RedisStore {
        RedisStore::new(url(), self.0.clone())
    }

    /// A raw connection and the id of `query`'s row in the default namespace.
    fn raw_id(&self, query: &str) -> (redis::Connection, i64) {
        let mut raw = redis::Client::open(url())
            .unwrap()
            .get_connection()
            .unwrap();
        let key = format!("{}:hash:default:{}", self.0, mneme::hash_query(query));
        let id = redis::cmd("GET").arg(key).query(&mut raw).unwrap();
        (raw, id)
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(url()) else {
            return;
        };
        let Ok(mut c) = client.get_connection() else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.0))
            .query(&mut c)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut c);
        }
    }
}

fn server_is_up() {
    let c = redis::Client::open(url()).expect("a valid MNEME_REDIS_URL");
    assert!(
        c.get_connection().is_ok(),
        "no Redis server at {}: run scripts/services.sh (scripts/test.sh does) or set MNEME_REDIS_URL",
        url()
    );
}

#[test]
fn redis_store_passes_the_battery() {
    server_is_up();
    // The battery's timestamps are tiny (1970): with native expiry Redis would drop its TTL rows
    // at once, which is right for Redis but not what the contract checks.
    // A prefix per case, deleted when the test ends.
    let prefixes = std::cell::RefCell::new(Vec::new());
    conformance::run(&|| {
        let prefix = Prefix::new();
        let name = prefix.0.clone();
        let fresh = Fresh::persistent(prefix.store().use_native_ttl(false), move || {
            Box::new(RedisStore::new(url(), name.clone()).use_native_ttl(false))
        });
        prefixes.borrow_mut().push(prefix);
        fresh
    });
}

#[test]
fn native_ttl_sets_expireat_on_the_entry_hash() {
    server_is_up();
    let p = Prefix::new();
    let c = SemanticCache::builder(TestEmbedder::new(DIM))
        .store(p.store())
        .open()
        .unwrap();
    c.put_with("q", "r", Put::default().ttl(600)).unwrap();
    let (mut raw, id) = p.raw_id("q");
    let ttl: i64 = redis::cmd("TTL")
        .arg(format!("{}:entry:{id}", p.0))
        .query(&mut raw)
        .unwrap();
    assert!((590..=600).contains(&ttl), "{ttl}");
}

#[test]
fn redis_bump_matrix_counts_every_row() {
    server_is_up();
    let p = Prefix::new();
    let s = p.store();
    s.open(conformance::FP, conformance::DIM).unwrap();
    let v = || s.read_version_counter().unwrap();
    let mut e = conformance::entry("ns", "a", 1);
    let before = v();
    let id = s.insert(&e).unwrap();
    assert_eq!(v() - before, 1);
    s.update_access(id, 9).unwrap();
    assert_eq!(v() - before, 1, "update_access does not bump");
    assert!(!s.delete_by_id(99_999).unwrap());
    assert_eq!(v() - before, 1, "a delete of nothing does not bump");
    e.ttl = Some(1);
    for q in ["x", "y", "z"] {
        s.insert(&conformance::entry("ns", q, 1)).unwrap();
        let mut t = conformance::entry("ns", q, 1);
        t.ttl = Some(1);
        s.insert(&t).unwrap();
    }
    let before = v();
    assert_eq!(s.delete_expired(100, None).unwrap(), 3);
    assert_eq!(v() - before, 3, "+k on Redis");
}

fn cache(p: &Prefix, clock: &ManualClock) -> SemanticCache {
    SemanticCache::builder(TestEmbedder::new(DIM))
        .store(p.store())
        .clock(clock.clone())
        .open()
        .unwrap()
}

#[test]
fn a_cache_on_redis_serves_both_layers_and_sweeps_native_expiry() {
    server_is_up();
    let p = Prefix::new();
    let clock = ManualClock::new(1_700_000_000);
    let c = cache(&p, &clock);
    c.put("hello", "world").unwrap();
    assert_eq!(c.get("hello").unwrap().unwrap().response, "world");
    assert_eq!(c.health().unwrap().store_backend, "redis");
    // A row whose hash Redis already expired natively is still swept from every index.
    c.put_with("brief", "x", Put::default().ttl(1)).unwrap();
    let mut raw = redis::Client::open(url())
        .unwrap()
        .get_connection()
        .unwrap();
    let id: i64 = redis::cmd("GET")
        .arg(format!(
            "{}:hash:default:{}",
            p.0,
            mneme::hash_query("brief")
        ))
        .query(&mut raw)
        .unwrap();
    let _: () = redis::cmd("DEL")
        .arg(format!("{}:entry:{id}", p.0))
        .query(&mut raw)
        .unwrap();
    clock.advance(5);
    assert_eq!(c.vacuum(None, true).unwrap(), 1);
    let left: i64 = redis::cmd("ZCARD")
        .arg(format!("{}:by_id", p.0))
        .query(&mut raw)
        .unwrap();
    assert_eq!(left, 1);
    assert!(matches!(
        c.dumps(std::env::temp_dir().join("never.tar.gz")),
        Err(Error::Checkpoint { .. })
    ));
}

#[test]
fn an_upsert_to_no_ttl_clears_the_old_expiry() {
    server_is_up();
    let p = Prefix::new();
    let clock = ManualClock::new(1_700_000_000);
    let c = cache(&p, &clock);
    c.put_with("q", "r1", Put::default().ttl(60)).unwrap();
    c.put("q", "r2").unwrap();
    let (mut raw, id) = p.raw_id("q");
    let ttl: i64 = redis::cmd("TTL")
        .arg(format!("{}:entry:{id}", p.0))
        .query(&mut raw)
        .unwrap();
    assert_eq!(ttl, -1, "PERSIST after an upsert to no TTL");
    let members: Vec<String> = redis::cmd("ZRANGE")
        .arg(format!("{}:by_ttl", p.0))
        .arg(0)
        .arg(-1)
        .query(&mut raw)
        .unwrap();
    assert!(members.is_empty());
    clock.advance(3600);
    assert_eq!(c.get("q").unwrap().unwrap().response, "r2");
}

#[test]
fn lru_ties_sort_by_numeric_id() {
    server_is_up();
    let p = Prefix::new();
    let s = p.store();
    s.open(conformance::FP, conformance::DIM).unwrap();
    let ids: Vec<i64> = (0..12)
        .map(|i| {
            s.insert(&conformance::entry("ns", &format!("q{i}"), 5))
                .unwrap()
        })
        .collect();
    assert_eq!(
        s.iter_lru_ids(10, None).unwrap(),
        ids[..10].to_vec(),
        "9 before 10, not lexically"
    );
}

#[test]
fn an_unreachable_server_is_a_store_backend_error() {
    let s = RedisStore::new("redis://127.0.0.1:1/0", "x");
    assert!(matches!(s.open("fp", 4), Err(Error::StoreBackend { .. })));
}
