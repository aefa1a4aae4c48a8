//! A store written outside the crate: the cache works over it, and `dumps` refuses it with
//! CheckpointError when its `snapshot_to` does (the guide's table for Redis/Postgres/DynamoDB).

mod common;

use common::embedders::TestEmbedder;
use common::fixtures::DIM;
use mneme::store::{EntryVisitor, Store, StoredEntry};
use mneme::testkit::{self, Fresh};
use mneme::{Error, MemoryStore, Result, SemanticCache};

/// Delegates to a MemoryStore, but is not one: it implements only the twelve required methods,
/// so every other operation is the trait's default, and it cannot snapshot. `forgets_deletes`
/// makes it break the contract: a delete never reports the row it removed.
struct Remote {
    inner: MemoryStore,
    forgets_deletes: bool,
}

impl Remote {
    fn new() -> Self {
        Remote {
            inner: MemoryStore::new(),
            forgets_deletes: false,
        }
    }
}

impl Store for Remote {
    fn open(&self, fp: &str, dim: usize) -> Result<()> {
        self.inner.open(fp, dim)
    }
    fn close(&self) -> Result<()> {
        self.inner.close()
    }
    fn get_by_hash(&self, ns: &str, h: &str) -> Result<Option<StoredEntry>> {
        self.inner.get_by_hash(ns, h)
    }
    fn get_by_id(&self, id: i64) -> Result<Option<StoredEntry>> {
        self.inner.get_by_id(id)
    }
    fn scan_since(&self, last: i64, visit: &mut EntryVisitor<'_>) -> Result<()> {
        self.inner.scan_since(last, visit)
    }
    fn insert(&self, e: &StoredEntry) -> Result<i64> {
        self.inner.insert(e)
    }
    fn update_access(&self, id: i64, now: i64) -> Result<()> {
        self.inner.update_access(id, now)
    }
    fn delete_by_id(&self, id: i64) -> Result<bool> {
        let removed = self.inner.delete_by_id(id)?;
        Ok(removed && !self.forgets_deletes)
    }
    fn read_version_counter(&self) -> Result<u64> {
        self.inner.read_version_counter()
    }
    fn read_meta(&self, key: &str) -> Result<Option<String>> {
        self.inner.read_meta(key)
    }
    fn write_meta(&self, key: &str, value: &str) -> Result<()> {
        self.inner.write_meta(key, value)
    }
    fn label(&self) -> String {
        "remote".into()
    }
}

#[test]
fn a_store_of_only_the_required_methods_passes_the_battery() {
    testkit::run(&|| Fresh::new(Remote::new()));
}

#[test]
#[should_panic(expected = "store conformance case `deletes_bump_only_when_a_row_goes` failed")]
fn the_battery_names_the_rule_a_store_breaks() {
    testkit::run(&|| {
        Fresh::new(Remote {
            forgets_deletes: true,
            ..Remote::new()
        })
    });
}

#[test]
fn the_cache_runs_on_a_custom_store() {
    let cache = SemanticCache::builder(TestEmbedder::new(DIM))
        .store(Remote::new())
        .open()
        .unwrap();
    cache.put("q", "r").unwrap();
    assert_eq!(cache.get("q").unwrap().unwrap().response, "r");
    assert_eq!(cache.health().unwrap().store_backend, "remote");
}

#[test]
fn dumps_from_a_store_that_cannot_snapshot_is_a_checkpoint_error() {
    let cache = SemanticCache::builder(TestEmbedder::new(DIM))
        .store(Remote::new())
        .open()
        .unwrap();
    cache.put("q", "r").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("x.tar.gz");
    match cache.dumps(&dest) {
        Err(Error::Checkpoint { message, .. }) => {
            assert!(message.remediation().contains("backup"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no archive, no temp file"
    );
}
