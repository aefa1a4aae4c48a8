//! Runs the shared store conformance battery against the embedded stores.

mod common;

use common::conformance;
use mneme::store::Store;
use mneme::{Error, MemoryStore, SqliteStore};

#[test]
fn memory_store_passes_the_battery() {
    conformance::run(&|| Box::new(MemoryStore::new()), None);
}

#[test]
fn sqlite_store_passes_the_battery() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let p2 = path.clone();
    conformance::run(
        &move || Box::new(SqliteStore::new(path.clone())),
        Some(&move || Box::new(SqliteStore::new(p2.clone()))),
    );
}

#[test]
fn sqlite_in_memory_passes_the_battery() {
    conformance::run(&|| Box::new(SqliteStore::new(":memory:")), None);
}

#[test]
fn snapshot_works_on_sqlite_and_is_refused_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::new(dir.path().join("src.db"));
    s.open(conformance::FP, conformance::DIM).unwrap();
    let id = s.insert(&conformance::entry("ns", "q", 5)).unwrap();
    let snap = dir.path().join("snap.db");
    s.snapshot_to(&snap).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&snap).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let restored = SqliteStore::restore_from(&snap, dir.path().join("restored.db")).unwrap();
    restored.open(conformance::FP, conformance::DIM).unwrap();
    assert_eq!(restored.get_by_id(id).unwrap().unwrap().query, "q");
    assert!(matches!(
        SqliteStore::restore_from(&dir.path().join("missing.db"), dir.path().join("x.db")),
        Err(Error::StoreBackend { .. })
    ));

    let m = MemoryStore::new();
    assert!(matches!(
        m.snapshot_to(&snap),
        Err(Error::Checkpoint { .. })
    ));
}

#[test]
fn memory_store_checks_the_stamp_on_every_open() {
    let m = MemoryStore::new();
    m.open("fp", 4).unwrap();
    m.open("fp", 4).unwrap();
    assert!(matches!(
        m.open("other", 5),
        Err(Error::EmbedderMismatch(_))
    ));
    assert!(matches!(m.open("fp", 5), Err(Error::EmbedderDimension(_))));
}

#[test]
fn memory_store_cap_refuses_new_keys_but_allows_upserts() {
    let m = MemoryStore::with_max_entries(Some(1));
    m.open("fp", conformance::DIM).unwrap();
    m.insert(&conformance::entry("ns", "one", 1)).unwrap();
    m.insert(&conformance::entry("ns", "one", 2)).unwrap();
    assert!(matches!(
        m.insert(&conformance::entry("ns", "two", 3)),
        Err(Error::StoreBackend { .. })
    ));
}
