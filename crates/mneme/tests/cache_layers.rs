//! The exact and semantic layers, normalisation, scoring and the candidate walk.

mod common;

use common::embedders::{axis, tilted};
use common::fixtures::{Fixture, DIM, T0};
use mneme::{Get, HitLayer, Metadata, MetricEvent, MissReason, Put, Value};

#[test]
fn exact_hit_returns_the_response_with_similarity_one() {
    let f = Fixture::new();
    let cache = f.open();
    cache.put("hello", "world").unwrap();
    let hit = cache.get("hello").unwrap().unwrap();
    assert_eq!(
        (hit.layer, hit.similarity, hit.response.as_str()),
        (HitLayer::Exact, 1.0, "world")
    );
    assert_eq!(
        (hit.namespace.as_str(), hit.age_seconds, hit.confidence),
        ("default", 0, 1.0)
    );
}

#[test]
fn exact_hits_never_call_the_embedder() {
    let f = Fixture::new();
    let cache = f.open();
    cache.put("q", "r").unwrap();
    f.embedder.fail_from_call(2);
    for _ in 0..3 {
        assert_eq!(cache.get("q").unwrap().unwrap().layer, HitLayer::Exact);
    }
    assert_eq!(f.embedder.calls(), 1);
}

#[test]
fn normalisation_drives_the_exact_layer_and_the_embedder_input() {
    let f = Fixture::new();
    let cache = f.open();
    cache.put("  Hello   World ", "r").unwrap();
    assert_eq!(
        f.embedder.inputs.lock().unwrap().as_slice(),
        ["hello world"]
    );
    cache.put("Hello", "r2").unwrap();
    assert_eq!(
        cache.get("  hello ").unwrap().unwrap().layer,
        HitLayer::Exact
    );
    drop(cache);

    let g = Fixture::new();
    let raw = g.builder().normalize(false).open().unwrap();
    raw.put("Hello", "r").unwrap();
    let hit = raw.get("hello").unwrap();
    assert!(hit.is_none_or(|h| h.layer != HitLayer::Exact));
    assert_eq!(g.embedder.inputs.lock().unwrap()[0], "Hello");
}

#[test]
fn identical_vector_under_other_text_is_a_semantic_hit_at_the_threshold() {
    let f = Fixture::new();
    let v = axis(DIM, 0);
    f.embedder.set("cat", v.clone());
    f.embedder.set("feline", v.clone());
    let cache = f.open();
    cache.put("cat", "meow").unwrap();
    let hit = cache.get("feline").unwrap().unwrap();
    assert_eq!(hit.layer, HitLayer::Semantic);
    assert!((hit.similarity - 1.0).abs() < 1e-6);
    cache.set_similarity_threshold(hit.similarity).unwrap();
    assert!(cache.get("feline").unwrap().is_some(), "equality passes");
}

#[test]
fn below_threshold_is_a_miss_with_its_reason() {
    let f = Fixture::new();
    f.embedder.set("a", axis(DIM, 0));
    f.embedder.set("b", tilted(DIM, 0, 1, 0.5));
    let cache = f.open();
    cache.put("a", "ra").unwrap();
    f.take_events();
    assert!(cache.get("b").unwrap().is_none());
    assert_eq!(
        f.take_events(),
        [MetricEvent::Miss {
            namespace: "default".into(),
            reason: MissReason::BelowThreshold
        }]
    );
    // A lower threshold turns the same query into a hit.
    f.embedder.set("c", tilted(DIM, 0, 1, 0.9));
    cache.set_similarity_threshold(0.99).unwrap();
    assert!(cache.get("c").unwrap().is_none());
    cache.set_similarity_threshold(0.5).unwrap();
    assert_eq!(cache.get("c").unwrap().unwrap().layer, HitLayer::Semantic);
}

#[test]
fn the_confidence_floor_applies_to_semantic_hits_only() {
    let f = Fixture::new();
    f.embedder.set("a", axis(DIM, 0));
    f.embedder.set("a2", axis(DIM, 0));
    let cache = f.builder().confidence_fn(|_, _, _| 0.5).open().unwrap();
    cache.put("a", "r").unwrap();
    f.take_events();
    assert!(cache.get("a2").unwrap().is_none());
    assert_eq!(
        f.take_events(),
        [MetricEvent::Miss {
            namespace: "default".into(),
            reason: MissReason::NoMatch
        }]
    );
    let exact = cache.get("a").unwrap().unwrap();
    assert_eq!((exact.layer, exact.confidence), (HitLayer::Exact, 0.5));
}

#[test]
fn thresholds_below_the_floor_have_no_effect_with_the_default_scorer() {
    let f = Fixture::new();
    f.embedder.set("a", axis(DIM, 0));
    f.embedder.set("b", tilted(DIM, 0, 1, 0.65));
    let cache = f.builder().similarity_threshold(0.5).open().unwrap();
    cache.put("a", "r").unwrap();
    assert!(cache.get("b").unwrap().is_none());
}

#[test]
fn only_three_candidates_are_examined_and_rejected_ones_are_deleted() {
    let f = Fixture::new();
    for (i, cos) in [(1, 0.99f32), (2, 0.98), (3, 0.97), (4, 0.96)] {
        f.embedder.set(&format!("q{i}"), tilted(DIM, 0, i, cos));
    }
    f.embedder.set("probe", axis(DIM, 0));
    let cache = f.open();
    for i in 1..=3 {
        cache.put(&format!("q{i}"), "[LLM Error] timeout").unwrap();
    }
    cache.put("q4", "good answer").unwrap();
    f.take_events();
    assert!(
        cache.get("probe").unwrap().is_none(),
        "the good 4th is never examined"
    );
    assert_eq!(
        f.take_events(),
        [MetricEvent::Miss {
            namespace: "default".into(),
            reason: MissReason::NoMatch
        }]
    );
    for i in 1..=3 {
        assert!(
            !cache.delete(&format!("q{i}")).unwrap(),
            "validator rejections are deleted"
        );
    }
    assert_eq!(cache.get("probe").unwrap().unwrap().response, "good answer");
}

#[test]
fn exact_hits_bypass_the_validator() {
    let f = Fixture::new();
    let cache = f.open();
    cache.put("q", "[LLM Error] timeout").unwrap();
    assert_eq!(
        cache.get("q").unwrap().unwrap().response,
        "[LLM Error] timeout"
    );
}

#[test]
fn upserts_keep_one_row_and_return_the_latest_response() {
    let f = Fixture::new();
    let cache = f.open();
    cache.put("q", "one").unwrap();
    let id = cache
        .store()
        .get_by_hash("default", &mneme::hash_query("q"))
        .unwrap()
        .unwrap()
        .id;
    cache.put("q", "two").unwrap();
    assert_eq!(cache.get("q").unwrap().unwrap().response, "two");
    assert_eq!(cache.stats(None).unwrap().entries, 1);
    assert_eq!(
        cache
            .store()
            .get_by_hash("default", &mneme::hash_query("q"))
            .unwrap()
            .unwrap()
            .id,
        id
    );
}

#[test]
fn namespaces_isolate_both_layers() {
    let f = Fixture::new();
    f.embedder.set("only-b", axis(DIM, 3));
    f.embedder.set("probe", axis(DIM, 3));
    let cache = f.open();
    cache
        .put_with("same", "A", Put::default().namespace("a"))
        .unwrap();
    cache
        .put_with("same", "B", Put::default().namespace("b"))
        .unwrap();
    cache
        .put_with("only-b", "vec in b", Put::default().namespace("b"))
        .unwrap();
    let get = |q: &str, ns: &str| cache.get_with(q, Get::default().namespace(ns)).unwrap();
    assert_eq!(get("same", "a").unwrap().response, "A");
    assert_eq!(get("same", "b").unwrap().response, "B");
    assert!(get("same", "c").is_none());
    assert!(
        get("probe", "a").is_none(),
        "a vector stored only in b is never returned for a"
    );
    assert_eq!(get("probe", "b").unwrap().response, "vec in b");
    for ns in ["zzz", "aaa", "mmm"] {
        cache
            .put_with("x", "y", Put::default().namespace(ns))
            .unwrap();
    }
    assert_eq!(
        cache.list_namespaces().unwrap(),
        ["a", "aaa", "b", "mmm", "zzz"]
    );
}

#[test]
fn bypass_and_precomputed_embeddings_never_embed() {
    let f = Fixture::new();
    let cache = f.open();
    let v = axis(DIM, 2);
    cache
        .put_with("q", "r", Put::default().embedding(&v))
        .unwrap();
    assert_eq!(f.embedder.calls(), 0);
    let hit = cache
        .get_with("other words", Get::default().embedding(&v))
        .unwrap()
        .unwrap();
    assert_eq!(hit.layer, HitLayer::Semantic);
    f.take_events();
    assert!(cache
        .get_with("q", Get::default().bypass(true))
        .unwrap()
        .is_none());
    assert_eq!(f.embedder.calls(), 0);
    assert_eq!(
        f.take_events(),
        [MetricEvent::Miss {
            namespace: "default".into(),
            reason: MissReason::Bypass
        }]
    );
    assert_eq!(cache.stats(None).unwrap().misses, 1);
}

#[test]
fn bad_vectors_raise_on_put_and_miss_on_get() {
    let f = Fixture::new();
    let cache = f.open();
    let short = vec![0.1f32; DIM / 2];
    let nan = {
        let mut v = axis(DIM, 0);
        v[1] = f32::NAN;
        v
    };
    assert!(matches!(
        cache.put_with("q", "r", Put::default().embedding(&short)),
        Err(mneme::Error::EmbedderDimension(_))
    ));
    assert!(matches!(
        cache.put_with("q", "r", Put::default().embedding(&nan)),
        Err(mneme::Error::InvalidArgument(_))
    ));
    assert_eq!(cache.stats(None).unwrap().entries, 0, "nothing was written");
    f.take_events();
    for v in [&short, &nan] {
        assert!(cache
            .get_with("q", Get::default().embedding(v))
            .unwrap()
            .is_none());
    }
    let reasons: Vec<_> = f
        .take_events()
        .into_iter()
        .map(|e| match e {
            MetricEvent::Miss { reason, .. } => reason,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(reasons, [MissReason::DimMismatch, MissReason::DimMismatch]);
}

#[test]
fn a_failing_embedder_is_a_miss_on_get_and_an_error_on_put() {
    let f = Fixture::new();
    let cache = f.open();
    f.embedder.fail_from_call(1);
    assert!(cache.get("anything").unwrap().is_none());
    assert_eq!(
        f.take_events(),
        [MetricEvent::Miss {
            namespace: "default".into(),
            reason: MissReason::EmbedderFailure
        }]
    );
    match cache.put("q", "r") {
        Err(mneme::Error::Embedder(e)) => assert_eq!(e.to_string(), "embedder exploded"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn metadata_round_trips_exactly_and_reaches_the_confidence_fn() {
    let f = Fixture::new();
    let cache = f
        .builder()
        .confidence_fn(|s, _, m| {
            if m.get("trusted") == Some(&Value::Bool(true)) {
                s
            } else {
                0.0
            }
        })
        .open()
        .unwrap();
    let text = r#"{"b": 1, "a": [1.5, NaN, 1180591620717411303424], "trusted": true}"#;
    let meta = Metadata::from_json(text).unwrap();
    cache
        .put_with("q", "r", Put::default().metadata(meta))
        .unwrap();
    let hit = cache.get("q").unwrap().unwrap();
    assert_eq!(hit.metadata.to_json(), text);
    assert_eq!(hit.confidence, 1.0);
}

#[test]
fn hits_report_age_and_default_confidence_decay() {
    let f = Fixture::new();
    let cache = f.open();
    cache.put("q", "r").unwrap();
    f.clock.advance(86_400);
    let hit = cache.get("q").unwrap().unwrap();
    assert_eq!(hit.age_seconds, 86_400);
    assert!((hit.confidence - 0.5).abs() < 1e-12);
    f.clock.set(T0 - 100);
    assert_eq!(
        cache.get("q").unwrap().unwrap().age_seconds,
        -100,
        "not clamped"
    );
}

#[test]
fn overwritten_rows_are_verified_against_the_store() {
    // Another writer (simulated through the store) changes a row's vector: the stale index row
    // must not serve the new response for the old vector.
    let f = Fixture::new();
    f.embedder.set("q", axis(DIM, 0));
    f.embedder.set("probe-old", axis(DIM, 0));
    let cache = f.open();
    cache.put("q", "old").unwrap();
    let mut row = cache
        .store()
        .get_by_hash("default", &mneme::hash_query("q"))
        .unwrap()
        .unwrap();
    row.embedding = mneme::quant::f32_to_le_bytes(&axis(DIM, 5));
    row.response = "new".into();
    cache.store().insert(&row).unwrap();
    assert!(
        cache.get("probe-old").unwrap().is_none(),
        "old vector no longer matches"
    );
    let v5 = axis(DIM, 5);
    assert_eq!(
        cache
            .get_with("zzz", Get::default().embedding(&v5))
            .unwrap()
            .unwrap()
            .response,
        "new"
    );
}

/// Repeated exact hits are served from memory while the file is unchanged (cache/hot.rs); any
/// commit, from another handle or a plain SQLite connection, must show on the next get.
#[test]
fn repeated_exact_hits_see_every_change_made_elsewhere() {
    let f = Fixture::new();
    f.embedder.set("q", axis(DIM, 0));
    f.embedder.set("t", axis(DIM, 1));
    let a = f.open();
    let b = f.open();
    let exact = |key: &str| {
        let hit = a.get(key).unwrap()?;
        (hit.layer == HitLayer::Exact).then_some(hit.response)
    };
    a.put("q", "r1").unwrap();
    for _ in 0..3 {
        assert_eq!(exact("q").as_deref(), Some("r1"));
    }
    b.put("q", "r2").unwrap();
    assert_eq!(
        exact("q").as_deref(),
        Some("r2"),
        "another handle's overwrite"
    );
    assert_eq!(exact("q").as_deref(), Some("r2"));

    let raw = rusqlite::Connection::open(f.path()).unwrap();
    raw.execute("UPDATE entries SET response = 'r3' WHERE query = 'q'", [])
        .unwrap();
    assert_eq!(exact("q").as_deref(), Some("r3"), "a plain SQLite commit");

    b.delete("q").unwrap();
    assert_eq!(exact("q"), None, "another handle's delete");

    a.put_with("t", "short-lived", Put::default().ttl(10))
        .unwrap();
    assert_eq!(exact("t").as_deref(), Some("short-lived"));
    f.take_events();
    f.clock.advance(10);
    assert_eq!(exact("t"), None, "expiry is checked on cached entries too");
    assert!(f
        .take_events()
        .iter()
        .any(|e| matches!(e, MetricEvent::Expired { count: 1, .. })));

    // Hits served from memory are counted and bookkept like any other.
    a.put("c", "counted").unwrap();
    let before = a.stats(None).unwrap().hits_exact;
    for _ in 0..4 {
        assert_eq!(exact("c").as_deref(), Some("counted"));
    }
    assert_eq!(a.stats(None).unwrap().hits_exact, before + 4);
    a.close().unwrap();
    let count: i64 = raw
        .query_row(
            "SELECT access_count FROM entries WHERE query = 'c'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(count, 4);
}

#[test]
fn get_exact_in_memory_answers_only_what_needs_no_store_access() {
    let f = Fixture::new();
    let a = f.open();
    let b = f.open();
    a.put("q", "r1").unwrap();
    assert!(
        a.get_exact_in_memory("q", "default").unwrap().is_none(),
        "never read yet"
    );
    assert_eq!(a.get("q").unwrap().unwrap().response, "r1");
    f.take_events();
    let before = a.stats(None).unwrap().hits_exact;
    let hit = a.get_exact_in_memory("  Q ", "default").unwrap().unwrap();
    assert_eq!((hit.layer, hit.response.as_str()), (HitLayer::Exact, "r1"));
    assert_eq!(
        a.stats(None).unwrap().hits_exact,
        before + 1,
        "counted like any hit"
    );
    assert_eq!(f.event_names(), ["hit"]);
    assert!(a.get_exact_in_memory("q", "other").unwrap().is_none());
    assert!(a
        .get_exact_in_memory("unknown", "default")
        .unwrap()
        .is_none());
    assert!(f.take_events().is_empty(), "a None records nothing");

    b.put("q", "r2").unwrap();
    assert!(
        a.get_exact_in_memory("q", "default").unwrap().is_none(),
        "the file changed"
    );
    assert_eq!(a.get("q").unwrap().unwrap().response, "r2");
    assert_eq!(
        a.get_exact_in_memory("q", "default")
            .unwrap()
            .unwrap()
            .response,
        "r2"
    );

    a.close().unwrap();
    assert!(matches!(
        a.get_exact_in_memory("q", "default"),
        Err(mneme::Error::CacheClosed { .. })
    ));
}
