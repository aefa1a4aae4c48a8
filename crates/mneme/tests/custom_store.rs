//! A store written outside the crate: the cache works over it, and `dumps` refuses it with
//! CheckpointError when its `snapshot_to` does (the guide's table for Redis/Postgres/DynamoDB).

mod common;

use common::embedders::TestEmbedder;
use common::fixtures::DIM;
use mneme::store::{EntryVisitor, Store, StoredEntry};
use mneme::{Error, MemoryStore, Result, SemanticCache};
use std::path::Path;

/// Delegates to a MemoryStore, but is not one: it cannot snapshot.
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
    fn count(&self, ns: Option<&str>) -> Result<u64> {
        self.0.count(ns)
    }
    fn list_namespaces(&self) -> Result<Vec<String>> {
        self.0.list_namespaces()
    }
    fn iter_lru_ids(&self, n: usize, ns: Option<&str>) -> Result<Vec<i64>> {
        self.0.iter_lru_ids(n, ns)
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
    fn delete_expired(&self, now: i64, ns: Option<&str>) -> Result<u64> {
        self.0.delete_expired(now, ns)
    }
    fn clear_namespace(&self, ns: &str) -> Result<u64> {
        self.0.clear_namespace(ns)
    }
    fn set_namespace_quota(&self, ns: &str, max: u64) -> Result<()> {
        self.0.set_namespace_quota(ns, max)
    }
    fn get_namespace_quota(&self, ns: &str) -> Result<Option<u64>> {
        self.0.get_namespace_quota(ns)
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
    fn integrity_check(&self) -> Result<bool> {
        self.0.integrity_check()
    }
    fn snapshot_to(&self, _: &Path) -> Result<()> {
        Err(Error::checkpoint(
            "RemoteStore cannot snapshot",
            "use the backend's own backup tooling",
        ))
    }
    fn label(&self) -> String {
        "remote".into()
    }
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
