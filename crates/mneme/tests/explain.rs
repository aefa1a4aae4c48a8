//! `explain` decides as `get` would, lists the nearest entries, and changes nothing.

mod common;

use common::embedders::{axis, tilted};
use common::fixtures::{Fixture, DIM};
use mneme::{Decision, HitLayer, MissReason, Put};

#[test]
fn explain_agrees_with_get_and_changes_nothing() {
    let f = Fixture::new();
    f.embedder.set("a", axis(DIM, 0));
    f.embedder.set("near a", tilted(DIM, 0, 1, 0.95));
    f.embedder.set("far", tilted(DIM, 0, 2, 0.5));
    f.embedder.set("b", axis(DIM, 3));
    let cache = f.open();
    cache.put("a", "ra").unwrap();
    cache.put("b", "rb").unwrap();
    cache
        .put_with("old", "gone", Put::default().ttl(10))
        .unwrap();
    let version = cache.store().read_version_counter().unwrap();
    let before = cache.stats(None).unwrap();

    let e = cache.explain("a", "default", 3).unwrap();
    assert!(matches!(e.decision, Decision::Hit(HitLayer::Exact, _)));
    assert_eq!(e.exact.as_ref().unwrap().response, "ra");
    assert_eq!(e.candidates[0].query, "a");
    assert!((e.candidates[0].similarity - 1.0).abs() < 1e-6);

    let e = cache.explain("near a", "default", 2).unwrap();
    let Decision::Hit(HitLayer::Semantic, id) = e.decision else {
        panic!("{:?}", e.decision)
    };
    assert_eq!(e.candidates.len(), 2);
    assert_eq!(
        (e.candidates[0].id, e.candidates[0].query.as_str()),
        (id, "a")
    );
    assert!((e.candidates[0].similarity - 0.95).abs() < 1e-3);
    assert!(e.exact.is_none());

    let e = cache.explain("far", "default", 3).unwrap();
    assert_eq!(e.decision, Decision::Miss(MissReason::BelowThreshold));
    assert!((e.threshold - 0.85).abs() < 1e-12);

    f.clock.advance(11);
    let e = cache.explain("old", "default", 3).unwrap();
    assert!(e.exact.as_ref().unwrap().expired, "reported, not deleted");

    let after = cache.stats(None).unwrap();
    assert_eq!(cache.store().read_version_counter().unwrap(), version);
    assert_eq!(
        (
            after.entries,
            after.hits_exact,
            after.hits_semantic,
            after.misses,
            after.expirations
        ),
        (
            before.entries,
            before.hits_exact,
            before.hits_semantic,
            before.misses,
            before.expirations
        )
    );
    // get decides the same.
    assert_eq!(cache.get("near a").unwrap().unwrap().response, "ra");
    assert!(cache.get("far").unwrap().is_none());
}

#[test]
fn an_embedder_failure_is_the_same_miss_as_in_get() {
    let f = Fixture::new();
    let cache = f.open();
    cache.put("a", "ra").unwrap();
    f.embedder.fail_from_call(1);
    let e = cache.explain("something", "default", 3).unwrap();
    assert_eq!(e.decision, Decision::Miss(MissReason::EmbedderFailure));
    let e = cache.explain("a", "default", 3).unwrap();
    assert!(matches!(e.decision, Decision::Hit(HitLayer::Exact, _)));
}
