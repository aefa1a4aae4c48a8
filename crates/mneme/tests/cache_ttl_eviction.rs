//! TTL and lazy expiry, vacuum, LRU eviction, quotas.

mod common;

use common::embedders::{axis, tilted};
use common::fixtures::{Fixture, DIM};
use mneme::{Get, HitLayer, MetricEvent, Put};

#[test]
fn ttl_expires_at_the_inclusive_boundary() {
    let f = Fixture::new();
    let cache = f.open();
    cache.put_with("q", "r", Put::default().ttl(10)).unwrap();
    f.clock.advance(9);
    assert!(cache.get("q").unwrap().is_some());
    f.clock.advance(1);
    f.take_events();
    assert!(cache.get("q").unwrap().is_none());
    let events = f.take_events();
    assert_eq!(
        events[0],
        MetricEvent::Expired {
            namespace: "default".into(),
            count: 1
        }
    );
    assert_eq!(cache.stats(None).unwrap().expirations, 1);
    assert_eq!(
        cache.stats(None).unwrap().entries,
        0,
        "deleted from the store"
    );
}

#[test]
fn default_ttl_applies_unless_a_put_overrides_it() {
    let f = Fixture::new();
    let cache = f.builder().default_ttl(1).open().unwrap();
    cache.put("short", "r").unwrap();
    cache
        .put_with("long", "r", Put::default().ttl(3600))
        .unwrap();
    f.clock.advance(1);
    assert!(cache.get("short").unwrap().is_none());
    assert!(cache.get("long").unwrap().is_some());
}

#[test]
fn real_time_ttl_of_one_second() {
    let dir = tempfile::tempdir().unwrap();
    let cache =
        mneme::SemanticCache::open(dir.path().join("c.db"), mneme::LexicalEmbedder::new(64))
            .unwrap();
    cache.put_with("q", "r", Put::default().ttl(1)).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert!(cache.get("q").unwrap().is_none());
}

#[test]
fn an_expired_exact_match_falls_through_to_a_live_semantic_match() {
    let f = Fixture::new();
    f.embedder.set("old", axis(DIM, 0));
    f.embedder.set("fresh", tilted(DIM, 0, 1, 0.95));
    let cache = f.open();
    cache
        .put_with("old", "stale", Put::default().ttl(5))
        .unwrap();
    cache.put("fresh", "live").unwrap();
    f.clock.advance(5);
    let hit = cache.get("old").unwrap().unwrap();
    assert_eq!(
        (hit.layer, hit.response.as_str()),
        (HitLayer::Semantic, "live")
    );
}

#[test]
fn a_hit_never_extends_the_ttl_but_a_put_restarts_it() {
    let f = Fixture::new();
    let cache = f.open();
    cache.put_with("q", "r", Put::default().ttl(10)).unwrap();
    f.clock.advance(8);
    assert!(cache.get("q").unwrap().is_some());
    cache.put_with("q", "r2", Put::default().ttl(10)).unwrap();
    f.clock.advance(8);
    assert_eq!(cache.get("q").unwrap().unwrap().response, "r2");
}

#[test]
fn vacuum_sweeps_expired_rows_per_namespace() {
    let f = Fixture::new();
    let cache = f.open();
    cache.put("live", "r").unwrap();
    cache.put_with("dead", "r", Put::default().ttl(1)).unwrap();
    for i in 0..5 {
        cache
            .put_with(
                &format!("x{i}"),
                "r",
                Put::default().ttl(1).namespace("other"),
            )
            .unwrap();
    }
    f.clock.advance(2);
    f.take_events();
    assert_eq!(cache.vacuum(Some("default"), false).unwrap(), 1);
    assert_eq!(cache.stats(None).unwrap().index_tombstone_count, Some(1));
    assert_eq!(cache.vacuum(None, true).unwrap(), 5);
    assert_eq!(cache.stats(None).unwrap().index_tombstone_count, Some(0));
    assert_eq!(
        f.take_events(),
        [
            MetricEvent::Expired {
                namespace: "default".into(),
                count: 1
            },
            MetricEvent::Expired {
                namespace: "other".into(),
                count: 5
            },
        ]
    );
    assert!(cache.get("live").unwrap().is_some());
    assert_eq!(cache.stats(Some("other")).unwrap().expirations, 5);
}

#[test]
fn max_entries_evicts_in_batches_attributed_to_the_putter() {
    let f = Fixture::new();
    let cache = f.builder().max_entries(100).open().unwrap();
    for i in 0..100 {
        cache.put(&format!("q{i}"), "r").unwrap();
    }
    f.take_events();
    cache
        .put_with("one-more", "r", Put::default().namespace("late"))
        .unwrap();
    assert_eq!(
        f.take_events(),
        [MetricEvent::Eviction {
            namespace: "late".into(),
            count: 10
        }]
    );
    assert_eq!(cache.stats(None).unwrap().entries, 91);
    assert_eq!(cache.stats(Some("late")).unwrap().evictions, 10);

    let g = Fixture::new();
    let small = g.builder().max_entries(5).open().unwrap();
    for i in 0..8 {
        small.put(&format!("q{i}"), "r").unwrap();
    }
    let s = small.stats(None).unwrap();
    assert!(s.entries <= 5 && s.evictions > 0);
}

#[test]
fn lru_order_respects_hits_and_breaks_ties_by_id() {
    let f = Fixture::new();
    let cache = f.builder().max_entries(3).open().unwrap();
    for q in ["a", "b", "c"] {
        cache.put(q, "r").unwrap(); // all at the same second: ties by id
    }
    f.clock.advance(1);
    assert!(cache.get("a").unwrap().is_some()); // protects a
    cache.put("d", "r").unwrap();
    assert!(cache.get("a").unwrap().is_some());
    assert!(
        !cache.delete("b").unwrap(),
        "b (oldest unhit, lowest id) was evicted"
    );
    assert!(cache.delete("c").unwrap());
}

#[test]
fn quotas_take_precedence_and_other_namespaces_are_untouched() {
    let f = Fixture::new();
    let cache = f
        .builder()
        .max_entries(100)
        .namespace_quota("a", 2)
        .open()
        .unwrap();
    cache
        .put_with("keep", "r", Put::default().namespace("b"))
        .unwrap();
    for i in 0..5 {
        cache
            .put_with(&format!("q{i}"), "r", Put::default().namespace("a"))
            .unwrap();
    }
    assert!(cache.stats(Some("a")).unwrap().entries <= 2);
    assert_eq!(cache.stats(Some("b")).unwrap().entries, 1);
    assert_eq!(cache.store().get_namespace_quota("a").unwrap(), Some(2));

    let g = Fixture::new();
    let capped = g
        .builder()
        .max_entries(3)
        .namespace_quota("other", 1000)
        .open()
        .unwrap();
    for i in 0..5 {
        capped.put(&format!("q{i}"), "r").unwrap();
    }
    assert!(capped.stats(None).unwrap().entries <= 3);
}

#[test]
fn eviction_batch_sizes_follow_the_rule() {
    // (cap, rows) -> evicted: quota 10, 12 -> 2 (from one put at a time it is 1 per put over cap,
    // so check the rule through one put that crosses by a known amount).
    for (cap, expect) in [(10u64, 1u64), (100, 10), (2, 1)] {
        let f = Fixture::new();
        let cache = f.builder().namespace_quota("default", cap).open().unwrap();
        for i in 0..=cap {
            cache.put(&format!("q{i}"), "r").unwrap();
        }
        assert_eq!(cache.stats(None).unwrap().evictions, expect, "cap {cap}");
    }
    let f = Fixture::new();
    let cache = f.builder().max_entries(0).open().unwrap();
    cache.put("q", "r").unwrap();
    assert_eq!(
        cache.stats(None).unwrap().entries,
        0,
        "the new row itself can be evicted"
    );
}

#[test]
fn the_memory_store_hard_cap_is_separate_from_eviction() {
    let e = common::embedders::TestEmbedder::new(DIM);
    let cache = mneme::SemanticCache::builder(e)
        .store(mneme::MemoryStore::with_max_entries(Some(2)))
        .open()
        .unwrap();
    cache.put("a", "r").unwrap();
    cache.put("b", "r").unwrap();
    assert!(matches!(
        cache.put("c", "r"),
        Err(mneme::Error::StoreBackend { .. })
    ));
    assert!(cache.get_with("a", Get::default()).unwrap().is_some());
}
