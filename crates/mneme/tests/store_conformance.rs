//! Runs the shared store conformance battery against the embedded stores.

mod common;

use mneme::store::Store;
use mneme::testkit::{self as conformance, Fresh};
use mneme::{Error, MemoryStore, SqliteStore};

#[test]
fn memory_store_passes_the_battery() {
    conformance::run(&|| Fresh::new(MemoryStore::new()));
}

#[test]
fn sqlite_store_passes_the_battery() {
    let dir = tempfile::tempdir().unwrap();
    let n = std::cell::Cell::new(0);
    conformance::run(&|| {
        n.set(n.get() + 1);
        let path = dir.path().join(format!("c{}.db", n.get()));
        let again = path.clone();
        Fresh::persistent(SqliteStore::new(path), move || {
            Box::new(SqliteStore::new(again.clone()))
        })
    });
}

#[test]
fn sqlite_in_memory_passes_the_battery() {
    conformance::run(&|| Fresh::new(SqliteStore::new(":memory:")));
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

/// The version-counter bump matrix (docs/architecture.md, "The store contract"): the step each operation causes.
fn bump_steps(s: &dyn Store) -> [u64; 6] {
    s.open(conformance::FP, conformance::DIM).unwrap();
    let step = |op: &mut dyn FnMut()| {
        let before = s.read_version_counter().unwrap();
        op();
        s.read_version_counter().unwrap() - before
    };
    let expiring = |q: &str| {
        let mut e = conformance::entry("ns", q, 1);
        e.ttl = Some(1);
        e
    };
    let id = s.insert(&conformance::entry("ns", "seed", 1)).unwrap();
    for q in ["x", "y", "z"] {
        s.insert(&expiring(q)).unwrap();
    }
    for q in ["x", "y"] {
        s.insert(&conformance::entry("c", q, 1)).unwrap();
    }
    [
        step(&mut || {
            s.insert(&conformance::entry("ns", "a", 1)).unwrap();
        }),
        step(&mut || s.update_access(id, 5).unwrap()),
        step(&mut || {
            assert!(s.delete_by_id(id).unwrap());
            assert!(!s.delete_by_id(id).unwrap());
        }),
        step(&mut || assert_eq!(s.delete_expired(100, None).unwrap(), 3)),
        step(&mut || assert_eq!(s.clear_namespace("c").unwrap(), 2)),
        step(&mut || {
            s.write_meta("k", "v").unwrap();
            s.set_namespace_quota("ns", 3).unwrap();
        }),
    ]
}

#[test]
fn version_counter_bump_matrix() {
    // insert, update_access, delete (row + no row), delete_expired k=3, clear k=2, meta/quota
    assert_eq!(bump_steps(&MemoryStore::new()), [1, 0, 1, 3, 2, 0]);
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        bump_steps(&SqliteStore::new(dir.path().join("b.db"))),
        [1, 0, 1, 1, 1, 0]
    );
}

#[test]
fn sqlite_split_scan_visits_every_row_once_in_both_orders() {
    use std::sync::Mutex;
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::new(dir.path().join("split.db"));
    s.open(conformance::FP, conformance::DIM).unwrap();
    let batch: Vec<_> = (0..6000)
        .map(|i| conformance::entry(if i % 3 == 0 { "a" } else { "b" }, &format!("q{i}"), i))
        .collect();
    let ids = s.insert_batch(&batch).unwrap();
    let deleted: Vec<i64> = ids.iter().copied().filter(|id| id % 7 == 0).collect();
    s.delete_by_ids(&deleted).unwrap();

    let (low, high) = (Mutex::new(Vec::new()), Mutex::new(Vec::new()));
    let split = s
        .scan_index_rows_split(
            &mut |id, bytes, ns| {
                low.lock().unwrap().push((id, bytes.len(), ns.to_owned()));
                Ok(())
            },
            &mut |id, bytes, ns| {
                high.lock().unwrap().push((id, bytes.len(), ns.to_owned()));
                Ok(())
            },
        )
        .unwrap();
    assert!(split, "a 6000-row file is read by two threads");
    let (low, mut high) = (low.into_inner().unwrap(), high.into_inner().unwrap());
    assert!(low.windows(2).all(|w| w[0].0 < w[1].0), "low half ascends");
    assert!(
        high.windows(2).all(|w| w[0].0 > w[1].0),
        "high half descends"
    );
    assert!(!low.is_empty() && !high.is_empty());
    high.reverse();
    let mut sequential = Vec::new();
    s.scan_index_rows(&mut |id, bytes, ns| {
        sequential.push((id, bytes.len(), ns.to_owned()));
        Ok(())
    })
    .unwrap();
    assert_eq!([low, high].concat(), sequential);
    assert_eq!(sequential.len(), 6000 - deleted.len());

    // An error from the second thread's visitor stops the scan and comes back.
    let failed = s.scan_index_rows_split(&mut |_, _, _| Ok(()), &mut |_, _, _| {
        Err(Error::store_backend("stop", "test"))
    });
    assert!(matches!(failed, Err(Error::StoreBackend { .. })));

    // Small tables and in-memory databases are read by one thread.
    let small = SqliteStore::new(dir.path().join("small.db"));
    small.open(conformance::FP, conformance::DIM).unwrap();
    small.insert(&conformance::entry("a", "q", 1)).unwrap();
    let memory = SqliteStore::new(":memory:");
    memory.open(conformance::FP, conformance::DIM).unwrap();
    memory.insert_batch(&batch).unwrap();
    for store in [&small, &memory] {
        let mut called = false;
        let split = store
            .scan_index_rows_split(
                &mut |_, _, _| {
                    called = true;
                    Ok(())
                },
                &mut |_, _, _| Ok(()),
            )
            .unwrap();
        assert!(!split && !called);
    }
}
