//! Counters, their persistence, and metrics hook events.

mod common;

use common::fixtures::Fixture;
use mneme::{Get, HitLayer, MetricEvent, MissReason, Put, SemanticCache};
use std::sync::{Arc, Mutex, OnceLock};

#[test]
fn per_namespace_stats_and_aggregate() {
    let f = Fixture::new();
    let cache = f.open();
    cache
        .put_with("q", "r", Put::default().namespace("t1"))
        .unwrap();
    cache
        .put_with("q2", "r", Put::default().namespace("t2"))
        .unwrap();
    cache
        .get_with("q", Get::default().namespace("t1"))
        .unwrap()
        .unwrap();
    assert!(cache
        .get_with(
            "nothing-like-it",
            Get::default().namespace("t2").bypass(true)
        )
        .unwrap()
        .is_none());
    let (t1, t2, all) = (
        cache.stats(Some("t1")).unwrap(),
        cache.stats(Some("t2")).unwrap(),
        cache.stats(None).unwrap(),
    );
    assert_eq!(
        (t1.hits_exact, t1.misses, t2.hits_exact, t2.misses),
        (1, 0, 0, 1)
    );
    assert_eq!((all.hits_exact, all.misses, all.entries), (1, 1, 2));
    assert_eq!(
        all.memory_bytes_estimate,
        2 * common::fixtures::DIM as u64 * 4
    );
    assert_eq!(cache.stats(Some("unknown")).unwrap().hits_exact, 0);
}

#[test]
fn counters_survive_reopen_including_namespaces_with_colons() {
    let f = Fixture::new();
    {
        let cache = f.open();
        cache
            .put_with("q", "r", Put::default().namespace("translate:en-de"))
            .unwrap();
        for _ in 0..2 {
            cache
                .get_with("q", Get::default().namespace("translate:en-de"))
                .unwrap()
                .unwrap();
        }
        cache.close().unwrap();
    }
    let stored = rusqlite::Connection::open(f.path())
        .unwrap()
        .query_row(
            "SELECT value FROM schema_meta WHERE key = 'counters'",
            [],
            |r| r.get::<_, String>(0),
        )
        .unwrap();
    assert_eq!(stored, r#"{"translate:en-de:hits_exact": 2}"#);
    let cache = f.open();
    assert_eq!(cache.stats(Some("translate:en-de")).unwrap().hits_exact, 2);
}

#[test]
fn two_handles_on_one_file_both_count() {
    let f = Fixture::new();
    f.open().put("q", "r").unwrap();
    let (a, b) = (f.open(), f.open());
    a.get("q").unwrap().unwrap();
    b.get("q").unwrap().unwrap();
    a.close().unwrap();
    b.close().unwrap();
    assert_eq!(f.open().stats(None).unwrap().hits_exact, 2);
}

#[test]
fn hook_payloads_and_order() {
    let f = Fixture::new();
    let cache = f.open();
    cache.put("q", "r").unwrap();
    assert!(f.take_events().is_empty(), "no event for put");
    cache.get("q").unwrap();
    cache.delete("q").unwrap();
    let _ = cache.get_with("q", Get::default().bypass(true)).unwrap();
    assert_eq!(
        f.take_events(),
        [
            MetricEvent::Hit {
                namespace: "default".into(),
                layer: HitLayer::Exact,
                similarity: 1.0,
                confidence: 1.0,
                age_seconds: 0
            },
            MetricEvent::Miss {
                namespace: "default".into(),
                reason: MissReason::Bypass
            },
        ]
    );
}

#[test]
fn a_panicking_hook_does_not_break_the_operation() {
    let f = Fixture::new();
    let cache = SemanticCache::builder(f.embedder.clone())
        .path(f.path())
        .metrics_hook(|_| panic!("hook bug"))
        .open()
        .unwrap();
    cache.put("q", "r").unwrap();
    assert!(cache.get("q").unwrap().is_some());
    assert_eq!(
        cache.stats(None).unwrap().hits_exact,
        1,
        "counter still incremented"
    );
}

#[test]
fn a_hook_may_read_stats_without_deadlocking() {
    let f = Fixture::new();
    let slot: Arc<OnceLock<Arc<SemanticCache>>> = Arc::new(OnceLock::new());
    let seen: Arc<Mutex<Vec<u64>>> = Arc::default();
    let (slot2, seen2) = (slot.clone(), seen.clone());
    let cache = Arc::new(
        SemanticCache::builder(f.embedder.clone())
            .path(f.path())
            .metrics_hook(move |_| {
                let hits = slot2.get().unwrap().stats(None).unwrap().hits_exact;
                seen2.lock().unwrap().push(hits);
            })
            .open()
            .unwrap(),
    );
    let _ = slot.set(cache.clone());
    cache.put("q", "r").unwrap();
    cache.get("q").unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [1],
        "incremented before the hook saw the event"
    );
    cache.close().unwrap();
}

#[test]
fn zero_count_events_are_not_emitted() {
    let f = Fixture::new();
    let cache = f.builder().max_entries(10).open().unwrap();
    cache.put("q", "r").unwrap();
    assert_eq!(cache.vacuum(None, true).unwrap(), 0);
    assert!(f.take_events().is_empty());
}
