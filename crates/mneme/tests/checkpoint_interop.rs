//! Checkpoint archives are interchangeable with mneme-cache 1.0 (docs/compatibility.md).

mod common;

use common::embedders::InteropEmbedder;
use common::peer::{self, Json};
use common::workload::*;
use mneme::{MemoryStore, Put, SemanticCache};

#[test]
fn an_archive_from_mneme_cache_loads_here() {
    let dir = tempfile::tempdir().unwrap();
    let (db, archive) = (dir.path().join("py.db"), dir.path().join("py.tar.gz"));
    let wl = peer::interop_file("workload.json");
    let dim = DIM.to_string();
    let theirs = peer::run(
        &["workload", db.to_str().unwrap(), wl.to_str().unwrap(), &dim],
        None,
    );
    peer::run(
        &[
            "dumps",
            db.to_str().unwrap(),
            archive.to_str().unwrap(),
            &dim,
        ],
        None,
    );
    let restored_db = dir.path().join("restored.db");
    let cache = SemanticCache::loads(
        &archive,
        SemanticCache::builder(InteropEmbedder::new(DIM)).path(&restored_db),
    )
    .unwrap();
    let stats = cache.stats(None).unwrap();
    cache.close().unwrap();
    stats_match(&stats, theirs.at("stats"));
    let (exact, semantic, _, namespaces) = verify(&restored_db);
    assert_eq!(namespaces, ["default", "geo", "translate:en-de"]);
    let py = peer::run(
        &["verify", db.to_str().unwrap(), wl.to_str().unwrap(), &dim],
        None,
    );
    assert_same(&exact, py.at("exact").items(), "exact");
    assert_same(&semantic, py.at("semantic").items(), "semantic");
}

#[test]
fn an_archive_from_a_sqlite_cache_here_loads_in_mneme_cache() {
    let dir = tempfile::tempdir().unwrap();
    let (db, archive) = (dir.path().join("rs.db"), dir.path().join("rs.tar.gz"));
    run_workload(&db);
    open(&db).dumps(&archive).unwrap();
    let wl = peer::interop_file("workload.json");
    let restored = dir.path().join("restored-by-py.db");
    let py = peer::run(
        &[
            "loads",
            archive.to_str().unwrap(),
            restored.to_str().unwrap(),
            wl.to_str().unwrap(),
            &DIM.to_string(),
        ],
        None,
    );
    assert_eq!(
        py.at("error"),
        &mneme::Value::Null,
        "mneme-cache refused our archive: {py:?}"
    );
    assert_peer_view_matches(&py, &db);
}

#[test]
fn an_archive_from_a_memory_cache_is_refused_by_mneme_cache_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("mem.tar.gz");
    let cache = SemanticCache::builder(InteropEmbedder::new(DIM))
        .store(MemoryStore::new())
        .open()
        .unwrap();
    cache.put_with("q", "r", Put::default()).unwrap();
    cache.dumps(&archive).unwrap();
    let wl = peer::interop_file("workload.json");
    let dest = dir.path().join("x.db");
    let py = peer::run(
        &[
            "loads",
            archive.to_str().unwrap(),
            dest.to_str().unwrap(),
            wl.to_str().unwrap(),
            &DIM.to_string(),
        ],
        None,
    );
    assert_eq!(py.at("error").str(), "CheckpointError");
    // …while mneme loads it.
    let ours = SemanticCache::loads(
        &archive,
        SemanticCache::builder(InteropEmbedder::new(DIM)).path(dir.path().join("y.db")),
    )
    .unwrap();
    assert_eq!(ours.get("q").unwrap().unwrap().response, "r");
}
