//! PostgresStore against the real server (`MNEME_POSTGRES_DSN`, default
//! `host=127.0.0.1 user=postgres dbname=test`; `scripts/services.sh` starts it). Never skips.
#![cfg(feature = "postgres")]

mod common;

use common::embedders::TestEmbedder;
use common::fixtures::DIM;
use mneme::store::{PostgresStore, Store};
use mneme::testkit::{self as conformance, Fresh};
use mneme::{Error, Metadata, Put, SemanticCache, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn dsn() -> String {
    std::env::var("MNEME_POSTGRES_DSN")
        .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".into())
}

/// A fresh schema, dropped when the test ends.
struct Schema(String);

impl Schema {
    fn new() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        Schema(format!(
            "mneme_test_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ))
    }

    fn store(&self) -> PostgresStore {
        PostgresStore::new(dsn(), self.0.clone()).unwrap()
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&dsn(), postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.0));
        }
    }
}

fn server_is_up() {
    assert!(
        postgres::Client::connect(&dsn(), postgres::NoTls).is_ok(),
        "no PostgreSQL at {:?}: run scripts/services.sh (scripts/test.sh does) or set MNEME_POSTGRES_DSN",
        dsn()
    );
}

#[test]
fn postgres_store_passes_the_battery() {
    server_is_up();
    // A schema per case, dropped when the test ends.
    let schemas = std::cell::RefCell::new(Vec::new());
    conformance::run(&|| {
        let schema = Schema::new();
        let name = schema.0.clone();
        let fresh = Fresh::persistent(schema.store(), move || {
            Box::new(PostgresStore::new(dsn(), name.clone()).unwrap())
        });
        schemas.borrow_mut().push(schema);
        fresh
    });
}

#[test]
fn bump_matrix_and_code_point_order() {
    server_is_up();
    let schema = Schema::new();
    let s = schema.store();
    s.open(conformance::FP, conformance::DIM).unwrap();
    for ns in ["b", "B", "a", "é"] {
        s.insert(&conformance::entry(ns, "q", 1)).unwrap();
    }
    assert_eq!(
        s.list_namespaces().unwrap(),
        ["B", "a", "b", "é"],
        "code point order, not locale"
    );
    for q in ["x", "y", "z"] {
        let mut e = conformance::entry("t", q, 1);
        e.ttl = Some(1);
        s.insert(&e).unwrap();
    }
    let v = s.read_version_counter().unwrap();
    assert_eq!(s.delete_expired(100, None).unwrap(), 3);
    assert_eq!(
        s.read_version_counter().unwrap() - v,
        1,
        "+1 once, as SQLite"
    );
    assert!(!s.delete_by_id(99_999).unwrap());
    assert_eq!(s.read_version_counter().unwrap() - v, 1);
}

#[test]
fn a_cache_on_postgres_and_jsonbs_limits() {
    server_is_up();
    let schema = Schema::new();
    let c = SemanticCache::builder(TestEmbedder::new(DIM))
        .store(schema.store())
        .open()
        .unwrap();
    let meta: Metadata = [
        ("k", Value::from("é")),
        ("n", Value::BigInt("1180591620717411303424".into())),
    ]
    .into_iter()
    .collect();
    c.put_with("hello", "world", Put::default().metadata(meta.clone()))
        .unwrap();
    let hit = c.get("hello").unwrap().unwrap();
    assert_eq!((hit.response.as_str(), hit.metadata), ("world", meta));
    assert_eq!(c.health().unwrap().store_backend, "postgres");
    let nan: Metadata = [("x", Value::Float(f64::NAN))].into_iter().collect();
    assert!(
        matches!(
            c.put_with("bad", "r", Put::default().metadata(nan)),
            Err(Error::StoreBackend { .. })
        ),
        "JSONB rejects NaN"
    );
    assert!(matches!(
        c.dumps(std::env::temp_dir().join("never.tar.gz")),
        Err(Error::Checkpoint { .. })
    ));
}

#[test]
fn concurrent_upserts_of_one_key_never_violate_uniqueness() {
    server_is_up();
    let schema = Schema::new();
    let stores: Vec<Arc<PostgresStore>> = (0..4).map(|_| Arc::new(schema.store())).collect();
    for s in &stores {
        s.open(conformance::FP, conformance::DIM).unwrap();
    }
    let threads: Vec<_> = stores
        .iter()
        .cloned()
        .map(|s| {
            std::thread::spawn(move || {
                (0..30)
                    .map(|i| s.insert(&conformance::entry("ns", "same", i)).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let ids: Vec<i64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert!(ids.iter().all(|&id| id == ids[0]), "one row, one id");
    assert_eq!(stores[0].count(None).unwrap(), 1);
}

#[test]
fn bad_schema_names_and_unreachable_servers() {
    for bad in ["", "a-b", "x;drop", "a b"] {
        assert!(
            matches!(
                PostgresStore::new(dsn(), bad),
                Err(Error::InvalidArgument(_))
            ),
            "{bad:?}"
        );
    }
    let s = PostgresStore::new(
        "host=127.0.0.1 port=1 user=postgres dbname=test connect_timeout=2",
        "mneme",
    )
    .unwrap();
    assert!(matches!(s.open("fp", 4), Err(Error::StoreBackend { .. })));
}

/// An async server calls the sync store from inside its own runtime: the store must not try
/// to block that runtime's thread (it used to panic with "Cannot start a runtime from within
/// a runtime").
#[test]
fn the_store_works_when_called_from_inside_another_tokio_runtime() {
    let schema = Schema::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = schema.store();
        store.open("fp", DIM).unwrap();
        assert_eq!(store.count(None).unwrap(), 0);
        store.write_meta("k", "v").unwrap();
        assert_eq!(store.read_meta("k").unwrap().as_deref(), Some("v"));
        store.close().unwrap();
    });
}
