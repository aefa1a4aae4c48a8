//! Re-embed migration: every row copied with a new vector, the source untouched, the
//! destination replaced atomically or not at all.

mod common;

use common::embedders::TestEmbedder;
use common::fixtures::{Fixture, DIM};
use mneme::tools::migrate::{reembed, MigrateOptions};
use mneme::{Error, HitLayer, Metadata, Put, SemanticCache};

fn seeded(f: &Fixture) -> std::path::PathBuf {
    let cache = f.open();
    let meta: Metadata = [("k", "é")].into_iter().collect();
    cache
        .put_with(
            "  Hello   World ",
            "hi",
            Put::default().metadata(meta).ttl(3600),
        )
        .unwrap();
    cache
        .put_with("other", "x", Put::default().namespace("b"))
        .unwrap();
    cache.get("hello world").unwrap().unwrap();
    cache.close().unwrap();
    f.path()
}

fn new_model() -> TestEmbedder {
    let mut e = TestEmbedder::new(DIM * 2);
    e.fingerprint = "new-model".into();
    e
}

#[test]
fn rows_move_to_the_new_embedder_and_the_source_is_untouched() {
    let f = Fixture::new();
    let src = seeded(&f);
    let before = std::fs::read(&src).unwrap();
    let dest = f.dir.path().join("migrated.db");
    let e = new_model();
    let mut seen = (0, 0);
    let mut progress = |done, total| seen = (done, total);
    let n = reembed(
        &src,
        &dest,
        &e,
        MigrateOptions {
            batch_size: 1,
            progress: Some(&mut progress),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!((n, seen), (2, (2, 2)));
    assert_eq!(
        std::fs::read(&src).unwrap(),
        before,
        "the source is never modified"
    );
    assert_eq!(
        *e.inputs.lock().unwrap(),
        ["hello world", "other"],
        "the normalised key is embedded"
    );
    let old = SemanticCache::builder(f.embedder.clone())
        .path(&src)
        .open()
        .unwrap()
        .store()
        .iter_all()
        .unwrap();
    let migrated = SemanticCache::builder(e.clone())
        .path(&dest)
        .clock(f.clock.clone())
        .open()
        .unwrap();
    let rows = migrated.store().iter_all().unwrap();
    for (a, b) in old.iter().zip(&rows) {
        assert_eq!(
            (&a.namespace, &a.query_hash, &a.query, &a.response),
            (&b.namespace, &b.query_hash, &b.query, &b.response)
        );
        assert_eq!(
            (
                &a.metadata,
                a.created_at,
                a.last_accessed_at,
                a.ttl,
                a.access_count
            ),
            (
                &b.metadata,
                b.created_at,
                b.last_accessed_at,
                b.ttl,
                b.access_count
            )
        );
        assert_eq!(b.embedding.len(), DIM * 2 * 4);
    }
    assert_eq!(
        migrated.store().read_meta("counters").unwrap(),
        None,
        "counters are not carried over"
    );
    assert_eq!(
        migrated.get("hello world").unwrap().unwrap().layer,
        HitLayer::Exact
    );
}

#[test]
fn namespaces_can_be_selected_and_raw_queries_are_embedded_raw() {
    let f = Fixture::new();
    let raw = f.builder().normalize(false).open().unwrap();
    raw.put("  Keep Me ", "r").unwrap();
    raw.put_with("skip", "r", Put::default().namespace("other"))
        .unwrap();
    raw.close().unwrap();
    let e = new_model();
    let dest = f.dir.path().join("m.db");
    let only = MigrateOptions {
        namespaces: Some(vec!["default".into()]),
        ..Default::default()
    };
    assert_eq!(reembed(&f.path(), &dest, &e, only).unwrap(), 1);
    assert_eq!(
        *e.inputs.lock().unwrap(),
        ["  Keep Me "],
        "the hash shows the cache did not normalise"
    );
}

#[test]
fn bad_inputs_leave_the_destination_untouched() {
    let f = Fixture::new();
    let src = seeded(&f);
    let dest = f.dir.path().join("existing.db");
    std::fs::write(&dest, b"precious").unwrap();
    // (A read-only SQLite connection may create the source's -wal/-shm; the database itself is
    // never written, as the first test checks byte for byte.)
    let temporaries = || {
        std::fs::read_dir(f.dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".mneme")
            })
            .count()
    };
    let spelled = f.dir.path().join(".").join("cache.db");
    assert!(matches!(
        reembed(&src, &spelled, &new_model(), MigrateOptions::default()),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        reembed(
            &f.dir.path().join("missing.db"),
            &dest,
            &new_model(),
            MigrateOptions::default()
        ),
        Err(Error::InvalidArgument(_))
    ));
    let not_a_cache = f.dir.path().join("x.txt");
    std::fs::write(&not_a_cache, b"hello").unwrap();
    assert!(matches!(
        reembed(&not_a_cache, &dest, &new_model(), MigrateOptions::default()),
        Err(Error::InvalidArgument(_))
    ));
    std::fs::remove_file(&not_a_cache).unwrap();
    let failing = new_model();
    failing.fail_from_call(2);
    assert!(matches!(
        reembed(
            &src,
            &dest,
            &failing,
            MigrateOptions {
                batch_size: 1,
                ..Default::default()
            }
        ),
        Err(Error::Embedder(_))
    ));
    let short = TestEmbedder::new(DIM * 2).with("other", vec![0.5; 3]);
    assert!(matches!(
        reembed(&src, &dest, &short, MigrateOptions::default()),
        Err(Error::EmbedderDimension(_))
    ));
    assert_eq!(std::fs::read(&dest).unwrap(), b"precious");
    assert_eq!(temporaries(), 0, "no temporary file left behind");
}

#[test]
fn an_existing_destination_and_its_stale_wal_are_replaced() {
    let f = Fixture::new();
    let src = seeded(&f);
    let dest = f.dir.path().join("old.db");
    {
        let stale = SemanticCache::builder(new_model())
            .path(&dest)
            .open()
            .unwrap();
        stale.put("stale", "row").unwrap();
        std::mem::forget(stale); // leave -wal and -shm behind, as a crashed process would
    }
    assert_eq!(
        reembed(&src, &dest, &new_model(), MigrateOptions::default()).unwrap(),
        2
    );
    let c = SemanticCache::builder(new_model())
        .path(&dest)
        .open()
        .unwrap();
    assert!(c.get("stale").unwrap().is_none());
    assert_eq!(c.stats(None).unwrap().entries, 2);
}
