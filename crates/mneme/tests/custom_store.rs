//! A store written outside the crate: the cache works over it, and `dumps` refuses it with
//! CheckpointError when its `snapshot_to` does (the guide's table for Redis/Postgres/DynamoDB).

mod common;

use common::embedders::TestEmbedder;
use common::fixtures::DIM;
use mneme::store::{EntryVisitor, Store, StoredEntry};
use mneme::testkit::{self, Fresh};
use mneme::{Error, MemoryStore, Result, SemanticCache};

/// Delegates to a MemoryStore, but is not one: it implements only the twelve required methods,
/// so every other operation is the trait's default, and it cannot snapshot.
struct Remote(MemoryStore);

impl Store for Remote {
    fn open(&self, fp: &str, dim: usize) -> Result<()> {
        self.0.open(fp, dim)
    }
    fn close(&self) -> Result<()> {
        self.0.close()
    }
    fn get_by_hash(&self, ns: &str, h: &str) -> Result<Option<StoredEntry>> {
        self.0.get_by_hash(ns, h)
    }
    fn get_by_id(&self, id: i64) -> Result<Option<StoredEntry>> {
        self.0.get_by_id(id)
    }
    fn scan_since(&self, last: i64, visit: &mut EntryVisitor<'_>) -> Result<()> {
        self.0.scan_since(last, visit)
    }
    fn insert(&self, e: &StoredEntry) -> Result<i64> {
        self.0.insert(e)
    }
    fn update_access(&self, id: i64, now: i64) -> Result<()> {
        self.0.update_access(id, now)
    }
    fn delete_by_id(&self, id: i64) -> Result<bool> {
        self.0.delete_by_id(id)
    }
    fn read_version_counter(&self) -> Result<u64> {
        self.0.read_version_counter()
    }
    fn read_meta(&self, key: &str) -> Result<Option<String>> {
        self.0.read_meta(key)
    }
    fn write_meta(&self, key: &str, value: &str) -> Result<()> {
        self.0.write_meta(key, value)
    }
    fn label(&self) -> String {
        "remote".into()
    }
}

#[test]
fn a_store_of_only_the_required_methods_passes_the_battery() {
    testkit::run(&|| Fresh::new(Remote(MemoryStore::new())));
}

/// Remote, but a delete never reports the row it removed.
struct Forgetful(Remote);

impl Store for Forgetful {
    fn open(&self, fp: &str, dim: usize) -> Result<()> {
        self.0.open(fp, dim)
    }
    fn close(&self) -> Result<()> {
        self.0.close()
    }
    fn get_by_hash(&self, ns: &str, h: &str) -> Result<Option<StoredEntry>> {
        self.0.get_by_hash(ns, h)
    }
    fn get_by_id(&self, id: i64) -> Result<Option<StoredEntry>> {
        self.0.get_by_id(id)
    }
    fn scan_since(&self, last: i64, visit: &mut EntryVisitor<'_>) -> Result<()> {
        self.0.scan_since(last, visit)
    }
    fn insert(&self, e: &StoredEntry) -> Result<i64> {
        self.0.insert(e)
    }
    fn update_access(&self, id: i64, now: i64) -> Result<()> {
        self.0.update_access(id, now)
    }
    fn delete_by_id(&self, id: i64) -> Result<bool> {
        self.0.delete_by_id(id).map(|_| false)
    }
    fn read_version_counter(&self) -> Result<u64> {
        self.0.read_version_counter()
    }
    fn read_meta(&self, key: &str) -> Result<Option<String>> {
        self.0.read_meta(key)
    }
    fn write_meta(&self, key: &str, value: &str) -> Result<()> {
        self.0.write_meta(key, value)
    }
    fn label(&self) -> String {
        "forgetful".into()
    }
}

#[test]
#[should_panic(expected = "store conformance case `deletes_bump_only_when_a_row_goes` failed")]
fn the_battery_names_the_rule_a_store_breaks() {
    testkit::run(&|| Fresh::new(Forgetful(Remote(MemoryStore::new()))));
}

#[test]
fn the_cache_runs_on_a_custom_store() {
    let cache = SemanticCache::builder(TestEmbedder::new(DIM))
        .store(Remote(MemoryStore::new()))
        .open()
        .unwrap();
    cache.put("q", "r").unwrap();
    assert_eq!(cache.get("q").unwrap().unwrap().response, "r");
    assert_eq!(cache.health().unwrap().store_backend, "remote");
}

#[test]
fn dumps_from_a_store_that_cannot_snapshot_is_a_checkpoint_error() {
    let cache = SemanticCache::builder(TestEmbedder::new(DIM))
        .store(Remote(MemoryStore::new()))
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
