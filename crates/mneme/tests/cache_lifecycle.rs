//! Construction, validation, close, health, clear, requantize and bad input.

mod common;

use common::embedders::{axis, TestEmbedder};
use common::fixtures::{Fixture, DIM};
use mneme::{
    Error, HitLayer, IndexBackend, IndexOptions, MemoryStore, Metadata, Put, SemanticCache,
    VectorDtype,
};

#[test]
fn exactly_one_of_path_or_store() {
    let f = Fixture::new();
    let neither = SemanticCache::builder(f.embedder.clone()).open();
    let both = f.builder().store(MemoryStore::new()).open();
    for r in [neither, both] {
        match r {
            Err(Error::InvalidArgument(m)) => assert!(m.problem().contains("exactly one")),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn invalid_thresholds_are_refused_by_builder_and_setter() {
    let f = Fixture::new();
    for bad in [-1.5, 1.5, f64::INFINITY, f64::NAN] {
        assert!(matches!(
            f.builder().similarity_threshold(bad).open(),
            Err(Error::InvalidArgument(_))
        ));
    }
    let cache = f.open();
    for bad in [-1.5, 1.5, f64::INFINITY, f64::NAN] {
        match cache.set_similarity_threshold(bad) {
            Err(Error::InvalidArgument(m)) => assert!(m.problem().contains("similarity_threshold")),
            other => panic!("{other:?}"),
        }
    }
    cache.set_similarity_threshold(0.5).unwrap();
    assert_eq!(cache.similarity_threshold(), 0.5);
}

#[test]
fn a_new_file_is_owner_only_and_reports_sqlite_health() {
    let f = Fixture::new();
    let cache = f.open();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(f.path()).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    cache.put("q", "r").unwrap();
    let h = cache.health().unwrap();
    assert!(h.healthy && h.integrity_ok && h.embedder_fingerprint_match);
    assert_eq!((h.entries, h.namespaces, h.schema_version), (1, 1, 1));
    assert_eq!(
        (h.index_backend.as_str(), h.store_backend.as_str()),
        ("numpy", "sqlite")
    );
    assert_eq!(h.oldest_entry_age_seconds, Some(0));
}

#[test]
fn reopening_with_another_embedder_is_refused() {
    let f = Fixture::new();
    f.open().close().unwrap();
    let mut other = TestEmbedder::new(DIM);
    other.fingerprint = "other-model".into();
    let r = SemanticCache::builder(other).path(f.path()).open();
    assert!(matches!(r, Err(Error::EmbedderMismatch(_))));
    let r = SemanticCache::builder(TestEmbedder {
        fingerprint: format!("test:{DIM}"),
        ..TestEmbedder::new(DIM * 2)
    })
    .path(f.path())
    .open();
    let Err(e @ Error::EmbedderDimension(_)) = r else {
        panic!("expected EmbedderDimension")
    };
    // The facts a caller acts on, without parsing the message.
    let d = e.details().expect("details");
    assert_eq!((d.expected_dim, d.actual_dim), (Some(DIM), Some(DIM * 2)));
    assert_eq!(d.path.as_deref(), Some(f.path().as_path()));
}

#[test]
fn every_method_after_close_is_cache_closed_and_close_is_idempotent() {
    let f = Fixture::new();
    let cache = f.open();
    cache.close().unwrap();
    cache.close().unwrap();
    let closed = |r: mneme::Result<()>| assert!(matches!(r, Err(Error::CacheClosed(_))), "{r:?}");
    closed(cache.get("q").map(|_| ()));
    closed(cache.put("q", "r"));
    closed(cache.delete("q").map(|_| ()));
    closed(cache.stats(None).map(|_| ()));
    closed(cache.health().map(|_| ()));
    closed(cache.vacuum(None, true).map(|_| ()));
    closed(cache.compact().map(|_| ()));
    closed(cache.clear().map(|_| ()));
    closed(cache.requantize(VectorDtype::Int8));
    closed(cache.set_similarity_threshold(0.5));
    assert!(
        matches!(
            cache.set_similarity_threshold(2.0),
            Err(Error::InvalidArgument(_))
        ),
        "range first"
    );
}

#[test]
fn oversized_inputs_are_refused_before_embedding() {
    let f = Fixture::new();
    let cache = f
        .builder()
        .max_query_bytes(10)
        .max_response_bytes(10)
        .max_metadata_bytes(14)
        .open()
        .unwrap();
    let expect = |r: mneme::Result<()>, limit: &str| match r {
        Err(Error::InvalidArgument(m)) => assert!(m.problem().contains(limit), "{m}"),
        other => panic!("{other:?}"),
    };
    expect(cache.put(&"x".repeat(20), "r"), "max_query_bytes");
    expect(cache.put("q", &"é".repeat(6)), "max_response_bytes");
    let meta: Metadata = [("k", "é")].into_iter().collect(); // 15 bytes as Python JSON
    expect(
        cache.put_with("q", "r", Put::default().metadata(meta)),
        "max_metadata_bytes",
    );
    assert_eq!(f.embedder.calls(), 0, "the embedder never ran");
    assert_eq!(cache.stats(None).unwrap().entries, 0);
    // JSON text is measured before it is parsed: an oversized text that is not even JSON
    // gets the size error, not a parse error.
    let oversized = format!("{{{}", "\"k\": 1, ".repeat(100_000));
    expect(
        cache.put_with("q", "r", Put::default().metadata_json(&oversized)),
        "max_metadata_bytes",
    );
    assert!(matches!(
        cache.put_with("q", "r", Put::default().metadata_json("[1, 2]")),
        Err(Error::InvalidMetadata(_))
    ));
    let fits: Metadata = [("k", "e")].into_iter().collect();
    cache
        .put_with("q", "r", Put::default().metadata(fits))
        .unwrap();
    cache
        .put_with("q2", "r", Put::default().metadata_json(r#"{"k": "e"}"#))
        .unwrap();
    let hit = cache.get("q2").unwrap().unwrap();
    assert_eq!(hit.metadata.to_json(), r#"{"k": "e"}"#);
}

#[test]
fn unknown_dtypes_and_options_fail_before_any_file_is_created() {
    let f = Fixture::new();
    assert!(matches!(
        "float64".parse::<VectorDtype>(),
        Err(Error::Quantization(_))
    ));
    use mneme::IndexOptionValue::{Integer, Text};
    let mut o = IndexOptions::default();
    for (key, bad) in [
        ("bogus", Integer(1)),
        ("M", Integer(0)),
        ("M", Text("16")),
        ("mmap_path", Integer(3)),
        ("mmap_path", Text("")),
    ] {
        assert!(
            matches!(o.set(key, bad), Err(Error::InvalidArgument(_))),
            "{key} = {bad:?}"
        );
    }
    assert_eq!(
        o,
        IndexOptions::default(),
        "a refused value changes nothing"
    );
    o.set("M", Integer(32)).unwrap();
    let cache = f.builder().index_options(o).open().unwrap();
    assert_eq!(
        cache.health().unwrap().index_backend,
        "numpy",
        "auto is flat below 500k rows"
    );
    drop(cache);
    let g = Fixture::new();
    let zero = IndexOptions {
        initial_capacity: Some(0),
        ..Default::default()
    };
    assert!(matches!(
        g.builder().index_options(zero).open(),
        Err(Error::InvalidArgument(_))
    ));
    assert!(!g.path().exists(), "no file was created");
}

#[test]
fn the_hnsw_backend_serves_every_dtype_and_keeps_its_choice_across_rebuilds() {
    let vectors: Vec<Vec<f32>> = (0..300)
        .map(|i| common::embedders::hashed_vector(&i.to_string(), DIM))
        .collect();
    for dtype in [
        VectorDtype::Float32,
        VectorDtype::Float16,
        VectorDtype::Int8,
    ] {
        let f = Fixture::new();
        let options = IndexOptions {
            m: Some(8),
            ef_construction: Some(64),
            ef: Some(32),
            ..IndexOptions::default()
        };
        let open = || {
            f.builder()
                .index_backend(IndexBackend::Hnsw)
                .index_options(options.clone())
                .vector_dtype(dtype)
                .open()
                .unwrap()
        };
        let cache = open();
        for (i, v) in vectors.iter().enumerate() {
            cache
                .put_with(
                    &format!("q{i}"),
                    &format!("r{i}"),
                    Put::default().embedding(v),
                )
                .unwrap();
        }
        let self_hits = |c: &SemanticCache| {
            vectors
                .iter()
                .enumerate()
                .filter(|(i, v)| {
                    let hit = c.get_with("other words", mneme::Get::default().embedding(v));
                    hit.unwrap().is_some_and(|h| h.response == format!("r{i}"))
                })
                .count()
        };
        assert!(self_hits(&cache) >= 297, "{dtype:?}");
        assert_eq!(cache.health().unwrap().index_backend, "hnsw");
        cache.close().unwrap();

        // Reopened: rebuilt from the store as HNSW again.
        let cache = open();
        assert_eq!(cache.health().unwrap().index_backend, "hnsw");
        assert!(self_hits(&cache) >= 297, "{dtype:?} after reopen");
        cache.requantize(VectorDtype::Float32).unwrap();
        assert_eq!(cache.health().unwrap().index_backend, "hnsw");
        cache.clear().unwrap();
        assert_eq!(cache.health().unwrap().index_backend, "hnsw");
        cache
            .put_with("q", "r0", Put::default().embedding(&vectors[0]))
            .unwrap();
        assert_eq!(self_hits(&cache), 1);
    }
}

#[test]
fn a_non_sqlite_file_is_reported_as_corrupt_and_left_untouched() {
    let f = Fixture::new();
    let garbage: Vec<u8> = (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(f.path(), &garbage).unwrap();
    match f.builder().open() {
        Err(Error::CorruptCache { message, .. }) => {
            assert!(message.problem().contains("not a SQLite"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::read(f.path()).unwrap(), garbage);
}

#[cfg(unix)]
#[test]
fn a_read_only_directory_is_a_store_backend_error() {
    use std::os::unix::fs::PermissionsExt;
    let f = Fixture::new();
    let ro = f.dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o500)).unwrap();
    let probe = ro.join("probe");
    if std::fs::write(&probe, b"x").is_ok() {
        // Running as root: permissions are not enforced, so build a path that cannot exist.
        std::fs::remove_file(&probe).unwrap();
        let r = SemanticCache::builder(f.embedder.clone())
            .path("/proc/no/such/dir/c.db")
            .open();
        assert!(matches!(r, Err(Error::StoreBackend { .. })), "{r:?}");
        return;
    }
    let r = SemanticCache::builder(f.embedder.clone())
        .path(ro.join("c.db"))
        .open();
    assert!(matches!(r, Err(Error::StoreBackend { .. })), "{r:?}");
}

#[test]
fn a_newer_schema_is_refused() {
    let f = Fixture::new();
    f.open().close().unwrap();
    let conn = rusqlite::Connection::open(f.path()).unwrap();
    conn.execute(
        "UPDATE schema_meta SET value = '2' WHERE key = 'schema_version'",
        [],
    )
    .unwrap();
    drop(conn);
    assert!(matches!(
        f.builder().open(),
        Err(Error::SchemaMigration { .. })
    ));
}

#[test]
fn clear_namespace_and_clear() {
    let f = Fixture::new();
    let cache = f.open();
    for (q, ns) in [("1", "a"), ("2", "a"), ("3", "b"), ("4", "c")] {
        cache
            .put_with(q, "r", Put::default().namespace(ns))
            .unwrap();
    }
    cache
        .get_with("1", mneme::Get::default().namespace("a"))
        .unwrap();
    assert_eq!(cache.clear_namespace("a").unwrap(), 2);
    assert_eq!(
        cache.stats(Some("a")).unwrap().hits_exact,
        0,
        "a's counters reset"
    );
    assert_eq!(cache.stats(Some("b")).unwrap().entries, 1);
    let v = cache.store().read_version_counter().unwrap();
    assert_eq!(cache.clear().unwrap(), 2);
    assert!(cache.store().read_version_counter().unwrap() >= v + 2);
    assert!(cache.list_namespaces().unwrap().is_empty());
    cache.put("again", "r").unwrap();
    assert_eq!(cache.get("again").unwrap().unwrap().layer, HitLayer::Exact);
}

#[test]
fn requantize_rebuilds_from_the_stores_float32() {
    let f = Fixture::new();
    let cache = f.open();
    let vectors: Vec<Vec<f32>> = (0..20)
        .map(|i| common::embedders::hashed_vector(&i.to_string(), DIM))
        .collect();
    for (i, v) in vectors.iter().enumerate() {
        cache
            .put_with(&format!("q{i}"), "r", Put::default().embedding(v))
            .unwrap();
    }
    let self_scores = |c: &SemanticCache| -> Vec<f64> {
        vectors
            .iter()
            .map(|v| {
                c.get_with("zz", mneme::Get::default().embedding(v))
                    .unwrap()
                    .unwrap()
                    .similarity
            })
            .collect()
    };
    let original = self_scores(&cache);
    cache.requantize(VectorDtype::Int8).unwrap();
    assert_eq!(cache.stats(None).unwrap().vector_dtype, VectorDtype::Int8);
    assert_eq!(cache.health().unwrap().vector_dtype, VectorDtype::Int8);
    let quantised = self_scores(&cache);
    assert!(
        quantised.iter().zip(&original).any(|(a, b)| a != b),
        "int8 scores differ"
    );
    cache.requantize(VectorDtype::Float32).unwrap();
    for (a, b) in self_scores(&cache).iter().zip(&original) {
        assert!((a - b).abs() < 1e-6, "float32 restored: {a} vs {b}");
    }
}

#[test]
fn compact_and_vacuum_reclaim_tombstones() {
    let f = Fixture::new();
    let cache = f
        .builder()
        .index_options(IndexOptions {
            initial_capacity: Some(4),
            ..Default::default()
        })
        .open()
        .unwrap();
    for i in 0..50 {
        cache.put(&format!("q{i}"), "r").unwrap();
    }
    for i in 0..40 {
        assert!(cache.delete(&format!("q{i}")).unwrap());
    }
    assert_eq!(cache.stats(None).unwrap().index_tombstone_count, Some(40));
    assert_eq!(cache.compact().unwrap(), 40);
    assert_eq!(cache.compact().unwrap(), 0);
    for i in 40..50 {
        assert!(cache.get(&format!("q{i}")).unwrap().is_some());
    }
    // The compacted index still finds the survivors by vector.
    let survivor = cache
        .store()
        .get_by_hash("default", &mneme::hash_query("q45"))
        .unwrap()
        .unwrap();
    let v = mneme::quant::f32_from_le_bytes(&survivor.embedding).unwrap();
    let hit = cache
        .get_with("probe", mneme::Get::default().embedding(&v))
        .unwrap()
        .unwrap();
    assert_eq!(
        (hit.layer, hit.response.as_str()),
        (HitLayer::Semantic, "r")
    );
}

#[test]
fn index_memory_follows_the_flat_capacity_rule() {
    let f = Fixture::new();
    let cache = f.open();
    for i in 0..600 {
        cache.put(&format!("q{i}"), "r").unwrap();
    }
    assert_eq!(cache.stats(None).unwrap().index_memory_bytes, Some(32_768));
    for i in 0..590 {
        cache.delete(&format!("q{i}")).unwrap();
    }
    cache.compact().unwrap();
    assert_eq!(cache.stats(None).unwrap().index_memory_bytes, Some(8_192));
}

#[test]
fn a_memory_store_cache_works_end_to_end() {
    let e = TestEmbedder::new(DIM);
    let cache = SemanticCache::builder(e)
        .store(MemoryStore::new())
        .open()
        .unwrap();
    cache.put("q", "r").unwrap();
    assert_eq!(cache.get("q").unwrap().unwrap().response, "r");
    assert_eq!(cache.health().unwrap().store_backend, "memory");
}

#[test]
fn a_reentrant_callback_gets_an_error_not_a_deadlock() {
    use std::sync::{Arc, Mutex, OnceLock};
    let f = Fixture::new();
    f.embedder.set("a", axis(DIM, 0));
    f.embedder.set("b", axis(DIM, 0));
    let slot: Arc<OnceLock<Arc<SemanticCache>>> = Arc::new(OnceLock::new());
    let seen: Arc<Mutex<Option<String>>> = Arc::default();
    let (slot2, seen2) = (slot.clone(), seen.clone());
    let cache = Arc::new(
        f.builder()
            .validator(move |_| {
                let c = slot2.get().unwrap();
                *seen2.lock().unwrap() = Some(match c.stats(None) {
                    Err(e) => e.python_class().to_owned(),
                    Ok(_) => "no error".into(),
                });
                true
            })
            .open()
            .unwrap(),
    );
    let _ = slot.set(cache.clone());
    cache.put("a", "r").unwrap();
    assert!(cache.get("b").unwrap().is_some());
    assert_eq!(seen.lock().unwrap().as_deref(), Some("RuntimeError"));
    cache.close().unwrap();
}

#[test]
fn drop_closes_and_persists() {
    let f = Fixture::new();
    {
        let cache = f.open();
        cache.put("q", "r").unwrap();
        cache.get("q").unwrap();
    }
    let cache = f.open();
    assert_eq!(cache.stats(None).unwrap().hits_exact, 1);
    let row = cache
        .store()
        .get_by_hash("default", &mneme::hash_query("q"))
        .unwrap()
        .unwrap();
    assert_eq!(
        row.access_count, 1,
        "batched access time was flushed on drop"
    );
}

#[test]
fn a_large_file_reopens_with_every_row_in_its_namespace_in_every_dtype() {
    // Large enough that the open reads it on two threads (see store/sqlite_scan.rs).
    let f = Fixture::new();
    let cache = f.open();
    let ns_of = |i: usize| if i.is_multiple_of(3) { "a" } else { "b" };
    let vectors: Vec<Vec<f32>> = (0..6000)
        .map(|i| common::embedders::hashed_vector(&format!("v{i}"), DIM))
        .collect();
    for (i, v) in vectors.iter().enumerate() {
        let put = Put::default().embedding(v).namespace(ns_of(i));
        cache
            .put_with(&format!("q{i}"), &format!("r{i}"), put)
            .unwrap();
    }
    for i in (0..6000).step_by(11) {
        assert!(cache.delete_in(&format!("q{i}"), ns_of(i)).unwrap());
    }
    cache.close().unwrap();
    for (dtype, min_hits) in [
        (VectorDtype::Float32, 1.0),
        (VectorDtype::Float16, 0.99),
        (VectorDtype::Int8, 0.97),
    ] {
        let cache = f.builder().vector_dtype(dtype).open().unwrap();
        assert_eq!(cache.stats(None).unwrap().entries, 6000 - 546);
        let (mut checked, mut hits) = (0, 0);
        for (i, v) in vectors.iter().enumerate().step_by(5) {
            let get = mneme::Get::default().embedding(v).namespace(ns_of(i));
            let hit = cache.get_with("other words", get).unwrap();
            if i % 11 == 0 {
                assert!(
                    hit.is_none_or(|h| h.response != format!("r{i}")),
                    "{i} was deleted"
                );
                continue;
            }
            checked += 1;
            hits += hit.is_some_and(|h| h.response == format!("r{i}")) as usize;
        }
        assert!(
            hits as f64 >= min_hits * checked as f64,
            "{dtype:?}: {hits}/{checked}"
        );
        cache.close().unwrap();
    }
}

#[test]
fn opening_while_another_connection_writes_keeps_every_earlier_row_once() {
    // The two-thread open reads two snapshots and sizes its arena from a count taken before
    // them; rows inserted or deleted meanwhile must neither be lost nor doubled.
    use std::sync::atomic::{AtomicBool, Ordering};
    let f = Fixture::new();
    let seed = f.open();
    let vector = |i: usize| common::embedders::hashed_vector(&format!("v{i}"), DIM);
    for i in 0..8000 {
        let v = vector(i);
        seed.put_with(
            &format!("q{i}"),
            &format!("r{i}"),
            Put::default().embedding(&v),
        )
        .unwrap();
    }
    seed.close().unwrap();

    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let writer = f.open();
            let mut i = 8000;
            while !stop.load(Ordering::Relaxed) {
                let v = vector(i);
                let put = Put::default().embedding(&v);
                writer
                    .put_with(&format!("q{i}"), &format!("r{i}"), put)
                    .unwrap();
                writer.delete(&format!("q{}", i - 4000)).unwrap();
                i += 1;
            }
            writer.close().unwrap();
        });
        for _ in 0..6 {
            let reader = f.open();
            let stats = reader.stats(None).unwrap();
            // Rows 4000.. of the seed are deleted only as the writer passes them; 0..4000 stay.
            for i in (0..4000).step_by(97) {
                let v = vector(i);
                let hit = reader
                    .get_with("other words", mneme::Get::default().embedding(&v))
                    .unwrap()
                    .unwrap();
                assert_eq!(
                    (hit.response, hit.similarity > 0.9999),
                    (format!("r{i}"), true)
                );
            }
            assert_eq!(
                stats.index_tombstone_count,
                Some(0),
                "no row was loaded twice"
            );
            reader.close().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
    });
}

#[test]
fn a_read_only_open_reads_everything_and_writes_nothing() {
    let f = Fixture::new();
    let cache = f.open();
    cache.put("q", "r").unwrap();
    cache.close().unwrap();
    let bytes = std::fs::read(f.path()).unwrap();
    let options = mneme::SqliteOptions {
        read_only: true,
        ..mneme::SqliteOptions::default()
    };
    let ro = SemanticCache::builder(f.embedder.clone())
        .sqlite(f.path(), options.clone())
        .open()
        .unwrap();
    assert_eq!(ro.get("q").unwrap().unwrap().response, "r");
    assert!(matches!(
        ro.put("new", "x"),
        Err(Error::StoreBackend { .. })
    ));
    ro.close().unwrap();
    assert_eq!(std::fs::read(f.path()).unwrap(), bytes);
    let side: Vec<_> = std::fs::read_dir(f.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with("-wal") || n.ends_with("-shm"))
        .collect();
    assert!(side.is_empty(), "{side:?}");
    // Another embedder is still refused: the stamp is checked, not written.
    let mut other = common::embedders::TestEmbedder::new(DIM);
    other.fingerprint = "other".into();
    let err = SemanticCache::builder(other)
        .sqlite(f.path(), options)
        .open()
        .unwrap_err();
    assert!(matches!(err, Error::EmbedderMismatch(_)), "{err}");
}
