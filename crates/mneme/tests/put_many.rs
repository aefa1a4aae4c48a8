//! `put_many`: the same entries as one `put` each, embedded in batches, written one transaction
//! per batch; an invalid entry or an embedder failure writes nothing.

mod common;

use common::embedders::axis;
use common::fixtures::{Fixture, DIM};
use mneme::{Error, Get, HitLayer, Put};
use std::sync::atomic::Ordering;

#[test]
fn many_entries_are_embedded_in_batches_and_all_served() {
    let f = Fixture::new();
    let cache = f.open();
    let texts: Vec<(String, String)> = (0..1200)
        .map(|i| (format!("q{i}"), format!("r{i}")))
        .collect();
    let written = cache
        .put_many(
            texts
                .iter()
                .map(|(q, r)| (q.as_str(), r.as_str(), Put::default())),
        )
        .unwrap();
    assert_eq!(written, 1200);
    assert_eq!(
        f.embedder.batches.load(Ordering::SeqCst),
        3,
        "512 + 512 + 176"
    );
    assert_eq!(f.embedder.calls(), 1200);
    assert_eq!(cache.stats(None).unwrap().entries, 1200);
    for i in [0, 511, 512, 1199] {
        let hit = cache.get(&format!("q{i}")).unwrap().expect("a hit");
        assert_eq!(
            (hit.layer, hit.response),
            (HitLayer::Exact, format!("r{i}"))
        );
    }
    // The index has them too: a semantic lookup by a stored vector finds its row.
    let v = common::embedders::hashed_vector("q700", DIM);
    let hit = cache
        .get_with("never stored", Get::default().embedding(&v))
        .unwrap()
        .expect("semantic");
    assert_eq!(hit.response, "r700");
}

#[test]
fn upserts_namespaces_metadata_ttl_and_given_vectors_as_put() {
    let f = Fixture::new();
    let cache = f.open();
    cache.put("same", "old").unwrap();
    let v = axis(DIM, 3);
    cache
        .put_many([
            ("same", "new", Put::default()),
            ("fr", "salut", Put::default().namespace("fr").ttl(60)),
            ("given", "vector", Put::default().embedding(&v)),
            ("meta", "m", Put::default().metadata_json(r#"{"k": 1}"#)),
            ("dup", "first", Put::default()),
            ("dup", "second", Put::default()),
        ])
        .unwrap();
    assert_eq!(cache.get("same").unwrap().unwrap().response, "new");
    assert_eq!(cache.stats(None).unwrap().entries, 5, "upserts, not copies");
    assert_eq!(cache.get("dup").unwrap().unwrap().response, "second");
    let fr = cache
        .get_with("fr", Get::default().namespace("fr"))
        .unwrap();
    assert_eq!(fr.unwrap().response, "salut");
    assert!(cache.get("fr").unwrap().is_none(), "namespaces stay apart");
    assert!(!f
        .embedder
        .inputs
        .lock()
        .unwrap()
        .contains(&"given".to_owned()));
    let m = cache.get("meta").unwrap().unwrap();
    assert_eq!(m.metadata.to_json(), r#"{"k": 1}"#);
    f.clock.advance(61);
    assert!(cache
        .get_with("fr", Get::default().namespace("fr"))
        .unwrap()
        .is_none());
}

#[test]
fn one_bad_entry_or_an_embedder_failure_writes_nothing() {
    let f = Fixture::new();
    let cache = f.builder().max_response_bytes(10).open().unwrap();
    let err = cache
        .put_many([
            ("a", "fine", Put::default()),
            (
                "b",
                "far too long a response",
                Put::default().namespace("docs"),
            ),
        ])
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    assert_eq!(err.details().unwrap().namespace.as_deref(), Some("docs"));
    let wrong = vec![1.0; DIM + 1];
    let err = cache
        .put_many([
            ("a", "x", Put::default()),
            ("c", "y", Put::default().embedding(&wrong)),
        ])
        .unwrap_err();
    assert!(matches!(err, Error::EmbedderDimension(_)), "{err}");
    f.embedder.fail_from_call(2);
    let err = cache
        .put_many([("a", "x", Put::default()), ("c", "y", Put::default())])
        .unwrap_err();
    assert!(matches!(err, Error::Embedder(_)), "{err}");
    assert_eq!(cache.stats(None).unwrap().entries, 0);
}

#[test]
fn eviction_keeps_the_cap_as_put_does() {
    let f = Fixture::new();
    let cache = f.builder().max_entries(100).open().unwrap();
    let texts: Vec<String> = (0..700).map(|i| format!("q{i}")).collect();
    cache
        .put_many(texts.iter().map(|q| (q.as_str(), "r", Put::default())))
        .unwrap();
    let n = cache.stats(None).unwrap().entries;
    assert!(n <= 100, "{n} entries over the cap");
    assert!(cache.get("q699").unwrap().is_some(), "the newest survive");
    assert!(cache.stats(None).unwrap().evictions >= 600);
}
