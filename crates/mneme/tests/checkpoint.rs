//! Checkpoints: every promise of the founding guide, the store matrix, option precedence and
//! concurrency. Hostile archives are in `checkpoint_hostile.rs`, interop in
//! `checkpoint_interop.rs`.

mod common;

use common::embedders::TestEmbedder;
use common::fixtures::{Fixture, DIM};
use mneme::checkpoint::{read_manifest, restore, LoadLimits};
use mneme::{
    Error, Get, HitLayer, IndexOptions, MemoryStore, Metadata, Put, SemanticCache, VectorDtype,
};
use std::io::Read;
use std::sync::Arc;

fn members(archive: &std::path::Path) -> Vec<(String, u32, u64)> {
    let gz = flate2::read::GzDecoder::new(std::fs::File::open(archive).unwrap());
    let mut tar = tar::Archive::new(gz);
    tar.entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            (
                e.path().unwrap().display().to_string(),
                h.mode().unwrap(),
                h.size().unwrap(),
            )
        })
        .collect()
}

fn store_bytes(archive: &std::path::Path) -> Vec<u8> {
    let gz = flate2::read::GzDecoder::new(std::fs::File::open(archive).unwrap());
    let mut tar = tar::Archive::new(gz);
    for e in tar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_str() == Some("store") {
            let mut v = Vec::new();
            e.read_to_end(&mut v).unwrap();
            return v;
        }
    }
    panic!("no store member")
}

#[test]
fn the_guides_round_trip_example() {
    // "Populate a cache … cache.dumps(…) … Restore on a fresh host … loads(…)"
    let f = Fixture::new();
    let seed_corpus = [
        ("how do I cancel?", "Settings → Plan → Cancel."),
        ("what are your hours?", "9 to 5."),
        ("do you ship abroad?", "Yes, to 40 countries."),
    ];
    let archive = f.dir.path().join("prod-backup.tar.gz");
    {
        let cache = SemanticCache::builder(f.embedder.clone())
            .path(f.dir.path().join("prod.db"))
            .open()
            .unwrap();
        for (q, r) in seed_corpus {
            cache.put(q, r).unwrap();
        }
        cache.dumps(&archive).unwrap();
    }
    let restored = SemanticCache::loads(
        &archive,
        SemanticCache::builder(f.embedder.clone()).path(f.dir.path().join("prod-restored.db")),
    )
    .unwrap();
    assert_eq!(
        restored.stats(None).unwrap().entries,
        seed_corpus.len() as u64
    );
    let hit = restored.get("how do I cancel?").unwrap();
    assert!(hit.is_some(), "cached state intact");
    restored.put("new", "works immediately").unwrap();
    restored.close().unwrap();
}

#[test]
fn archive_layout_matches_the_format() {
    let f = Fixture::new();
    let cache = f.open();
    cache
        .put_with("q", "r", Put::default().namespace("zz"))
        .unwrap();
    cache.put("q2", "r").unwrap();
    let archive = f.dir.path().join("a.tar.gz");
    cache.dumps(&archive).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&archive).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let m = members(&archive);
    assert_eq!(
        m.iter()
            .map(|(n, mode, _)| (n.as_str(), *mode))
            .collect::<Vec<_>>(),
        [("manifest.json", 0o600), ("store", 0o600)]
    );
    let manifest = read_manifest(&archive).unwrap();
    assert_eq!(manifest.namespaces, ["default", "zz"]);
    assert_eq!(
        (
            manifest.store_backend.as_str(),
            manifest.index_backend.as_str()
        ),
        ("sqlite", "numpy")
    );
    assert_eq!(
        (
            manifest.embedder_dim,
            manifest.format_version,
            manifest.schema_version
        ),
        (DIM as i64, 1, 1)
    );
    assert_eq!(manifest.vector_dtype.as_deref(), Some("float32"));
    assert_eq!(&store_bytes(&archive)[..16], b"SQLite format 3\0");
    let leftovers: Vec<_> = std::fs::read_dir(f.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".mneme"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn sqlite_round_trip_restores_everything() {
    let f = Fixture::new();
    let cache = f
        .builder()
        .namespace_quota("q", 7)
        .vector_dtype(VectorDtype::Float16)
        .open()
        .unwrap();
    let meta = Metadata::from_json(r#"{"b": 1, "a": [1.5, NaN, 1180591620717411303424]}"#).unwrap();
    cache
        .put_with(
            "hello",
            "world",
            Put::default().metadata(meta.clone()).ttl(3600),
        )
        .unwrap();
    cache
        .put_with("other", "ns", Put::default().namespace("q"))
        .unwrap();
    cache.get("hello").unwrap().unwrap();
    cache.get("hello").unwrap().unwrap();
    cache
        .get_with("nothing", Get::default().bypass(true))
        .unwrap();
    let archive = f.dir.path().join("a.tar.gz");
    cache.dumps(&archive).unwrap();
    let before = cache.store().iter_all().unwrap();
    assert_eq!(
        before[0].access_count, 2,
        "dumps flushed the batched hits first"
    );
    let dest = f.dir.path().join("restored.db");
    let restored = SemanticCache::loads(
        &archive,
        SemanticCache::builder(f.embedder.clone())
            .path(&dest)
            .clock(f.clock.clone()),
    )
    .unwrap();
    let s = restored.stats(None).unwrap();
    assert_eq!(
        (s.entries, s.hits_exact, s.misses),
        (2, 2, 1),
        "entries and counters"
    );
    assert_eq!(
        s.vector_dtype,
        VectorDtype::Float16,
        "the manifest's dtype, since none was given"
    );
    assert_eq!(restored.list_namespaces().unwrap(), ["default", "q"]);
    assert_eq!(restored.store().get_namespace_quota("q").unwrap(), Some(7));
    let after = restored.store().iter_all().unwrap();
    assert_eq!(
        after, before,
        "ids, metadata, TTLs, timestamps and access counts"
    );
    let hit = restored.get("hello").unwrap().unwrap();
    assert_eq!((hit.layer, hit.metadata), (HitLayer::Exact, meta));
}

#[test]
fn options_given_to_loads_win() {
    let f = Fixture::new();
    let cache = f
        .builder()
        .vector_dtype(VectorDtype::Float16)
        .open()
        .unwrap();
    for i in 0..20 {
        cache.put(&format!("q{i}"), "r").unwrap();
    }
    let archive = f.dir.path().join("a.tar.gz");
    cache.dumps(&archive).unwrap();
    let restored = SemanticCache::loads(
        &archive,
        SemanticCache::builder(f.embedder.clone())
            .path(f.dir.path().join("r.db"))
            .vector_dtype(VectorDtype::Int8)
            .max_entries(10)
            .index_options(IndexOptions {
                initial_capacity: Some(4096),
                ..Default::default()
            }),
    )
    .unwrap();
    let s = restored.stats(None).unwrap();
    assert_eq!(s.vector_dtype, VectorDtype::Int8);
    assert_eq!(
        s.index_memory_bytes,
        Some(4096 * DIM as u64),
        "index rebuilt with today's options"
    );
    restored.put("one more", "r").unwrap();
    assert!(
        restored.stats(None).unwrap().entries <= 10,
        "max_entries applies"
    );
}

#[test]
fn a_memory_backed_cache_dumps_its_state() {
    let e = TestEmbedder::new(DIM);
    let cache = SemanticCache::builder(e.clone())
        .store(MemoryStore::new())
        .open()
        .unwrap();
    for i in 0..5 {
        cache
            .put_with(
                &format!("q{i}"),
                "r",
                Put::default().namespace(if i % 2 == 0 { "even" } else { "odd" }),
            )
            .unwrap();
    }
    cache.delete_in("q4", "even").unwrap(); // id 5 is gone but must never be reused
    cache
        .get_with("q0", Get::default().namespace("even"))
        .unwrap()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("mem.tar.gz");
    cache.dumps(&archive).unwrap();
    let manifest = read_manifest(&archive).unwrap();
    assert_eq!(manifest.store_backend, "memory");
    assert_eq!(&store_bytes(&archive)[..16], b"SQLite format 3\0");
    let before = cache.store().iter_all().unwrap();
    let restored = SemanticCache::loads(
        &archive,
        SemanticCache::builder(e).path(dir.path().join("r.db")),
    )
    .unwrap();
    assert_eq!(
        restored.store().iter_all().unwrap(),
        before,
        "entries with their ids"
    );
    assert_eq!(restored.stats(Some("even")).unwrap().hits_exact, 1);
    assert_eq!(restored.list_namespaces().unwrap(), ["even", "odd"]);
    restored.put("new", "r").unwrap();
    let new_id = restored
        .store()
        .get_by_hash("default", &mneme::hash_query("new"))
        .unwrap()
        .unwrap()
        .id;
    assert_eq!(new_id, 6, "ids continue after the memory store's next_id");
    assert!(restored.store().read_version_counter().unwrap() > 0);
}

#[test]
fn dumps_after_close_is_cache_closed() {
    let f = Fixture::new();
    let cache = f.open();
    cache.close().unwrap();
    assert!(matches!(
        cache.dumps(f.dir.path().join("a.tar.gz")),
        Err(Error::CacheClosed(_))
    ));
    assert!(!f.dir.path().join("a.tar.gz").exists());
}

#[test]
fn dumps_runs_while_other_threads_read_and_write() {
    let f = Fixture::new();
    let cache = Arc::new(f.open());
    for i in 0..300 {
        cache.put(&format!("seed{i}"), "r").unwrap();
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..2)
        .map(|t| {
            let (cache, stop) = (cache.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    cache.put(&format!("t{t}-{n}"), "r").unwrap();
                    assert!(cache.get(&format!("seed{}", n % 300)).unwrap().is_some());
                    n += 1;
                }
                n
            })
        })
        .collect();
    for k in 0..3 {
        cache
            .dumps(f.dir.path().join(format!("live{k}.tar.gz")))
            .unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let done: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert!(done > 0);
    let restored = SemanticCache::loads(
        f.dir.path().join("live2.tar.gz"),
        SemanticCache::builder(f.embedder.clone()).path(f.dir.path().join("r.db")),
    )
    .unwrap();
    assert!(restored.stats(None).unwrap().entries >= 300);
    assert!(restored.health().unwrap().integrity_ok);
}

#[test]
fn a_failed_load_leaves_the_destination_byte_identical() {
    let f = Fixture::new();
    let archive = f.dir.path().join("a.tar.gz");
    f.open().dumps(&archive).unwrap();
    // A live destination with its -wal and -shm.
    let dest = f.dir.path().join("dest.db");
    let keep = SemanticCache::builder(f.embedder.clone())
        .path(&dest)
        .open()
        .unwrap();
    keep.put("precious", "data").unwrap();
    std::fs::write(f.dir.path().join("dest.db.hnsw"), b"its saved graph").unwrap();
    let snapshot = |p: &std::path::Path| {
        ["", "-wal", "-shm", ".hnsw"].map(|s| std::fs::read(format!("{}{s}", p.display())).ok())
    };
    let before = snapshot(&dest);
    assert!(
        before[1].is_some() && before[2].is_some(),
        "the WAL files exist"
    );
    let mut other = TestEmbedder::new(DIM);
    other.fingerprint = "another-model".into();
    let r = SemanticCache::loads(&archive, SemanticCache::builder(other).path(&dest));
    assert!(matches!(r, Err(Error::EmbedderMismatch(_))));
    let r = SemanticCache::loads(
        &archive,
        SemanticCache::builder(TestEmbedder::new(DIM * 2)).path(&dest),
    );
    assert!(matches!(
        r,
        Err(Error::EmbedderMismatch(_)) | Err(Error::EmbedderDimension(_))
    ));
    // A failure after the commit (the constructor refuses hnsw in mmap-shared mode) is rolled
    // back too.
    let r = SemanticCache::loads(
        &archive,
        SemanticCache::builder(f.embedder.clone())
            .path(&dest)
            .multi_process_mode(mneme::MultiProcessMode::MmapShared)
            .index_backend(mneme::IndexBackend::Hnsw),
    );
    assert!(matches!(r, Err(Error::InvalidArgument(_))));
    assert_eq!(snapshot(&dest), before);
    drop(keep);
}

#[test]
fn restore_commits_without_opening() {
    let f = Fixture::new();
    let cache = f.open();
    cache.put("q", "r").unwrap();
    let archive = f.dir.path().join("a.tar.gz");
    cache.dumps(&archive).unwrap();
    let dest = f.dir.path().join("plain.db");
    // A graph saved beside an earlier cache at the destination describes rows being replaced.
    let graph = f.dir.path().join("plain.db.hnsw");
    std::fs::write(&graph, b"an earlier cache's graph").unwrap();
    let manifest = restore(&archive, &dest, &f.embedder, LoadLimits::default()).unwrap();
    assert!(!graph.exists(), "the replaced cache's graph left with it");
    assert_eq!(
        manifest.embedder_fingerprint.as_deref(),
        Some(f.embedder.fingerprint.as_str())
    );
    let reopened = SemanticCache::builder(f.embedder.clone())
        .path(&dest)
        .open()
        .unwrap();
    assert_eq!(reopened.get("q").unwrap().unwrap().response, "r");
}

#[test]
fn progress_reports_the_whole_store() {
    let f = Fixture::new();
    let cache = f.open();
    for i in 0..50 {
        cache.put(&format!("q{i}"), "r").unwrap();
    }
    let mut last = (0, 0);
    let mut report = |done: u64, total: u64| last = (done, total);
    cache
        .dumps_with(
            f.dir.path().join("p.tar.gz"),
            mneme::DumpOptions {
                compression_level: 6,
                progress: Some(&mut report),
            },
        )
        .unwrap();
    assert!(last.1 > 0 && last.0 == last.1, "{last:?}");
}
