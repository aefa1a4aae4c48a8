//! Per-namespace thresholds and verifiers: stored with the cache, used by get and explain in
//! that namespace only, kept across opens, removable, and checked.

use mneme::{Get, LexicalEmbedder, Put, SemanticCache};

fn axis(x: f32, y: f32) -> Vec<f32> {
    let mut v = vec![0.0f32; 64];
    (v[0], v[1]) = (x, y);
    v
}

#[test]
fn a_namespace_threshold_applies_there_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let open = || SemanticCache::open(&path, LexicalEmbedder::new(64)).unwrap();
    let stored = axis(1.0, 0.0);
    let query = axis(0.9, 0.436); // cosine 0.9
    let put = |c: &SemanticCache, ns: &str| {
        c.put_with(
            "stored question",
            "answer",
            Put::default().namespace(ns).embedding(&stored),
        )
        .unwrap()
    };
    let served = |c: &SemanticCache, ns: &str| {
        c.get_with(
            "another question",
            Get::default().namespace(ns).embedding(&query),
        )
        .unwrap()
        .is_some()
    };

    let cache = open();
    put(&cache, "strict");
    put(&cache, "default");
    assert!(
        served(&cache, "strict") && served(&cache, "default"),
        "0.9 >= the default 0.85"
    );
    cache.set_namespace_threshold("strict", Some(0.95)).unwrap();
    assert!(!served(&cache, "strict") && served(&cache, "default"));
    cache.close().unwrap();

    let cache = open();
    assert_eq!(cache.namespace_thresholds().get("strict"), Some(&0.95));
    assert!(
        !served(&cache, "strict"),
        "the threshold is stored with the cache"
    );
    assert!(cache.explain("x", "strict", 1).unwrap().threshold == 0.95);
    cache.set_namespace_threshold("strict", None).unwrap();
    assert!(served(&cache, "strict"));
    assert!(cache.set_namespace_threshold("strict", Some(1.5)).is_err());
    cache.close().unwrap();
    assert!(open().namespace_thresholds().is_empty());
}

#[test]
fn a_namespace_verifier_applies_there_and_survives_reopening() {
    use mneme::verify::{Builtin, ConsistencyGuard};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let stored = axis(1.0, 0.0);
    // The same vector: only a verifier tells "2 people" from "3 people".
    let served = |c: &SemanticCache, ns: &str| {
        c.get_with(
            "how many apples for 3 people",
            Get::default().namespace(ns).embedding(&stored),
        )
        .unwrap()
        .is_some()
    };
    let cache = SemanticCache::open(&path, LexicalEmbedder::new(64)).unwrap();
    for ns in ["checked", "default"] {
        cache
            .put_with(
                "how many apples for 2 people",
                "four",
                Put::default().namespace(ns).embedding(&stored),
            )
            .unwrap();
    }
    assert!(served(&cache, "checked"), "no verifier: similarity alone");
    cache
        .set_namespace_verifier("checked", Some(Builtin::Guard))
        .unwrap();
    assert!(!served(&cache, "checked") && served(&cache, "default"));
    cache.close().unwrap();

    // Stored with the cache; `off` in a namespace overrides the cache's own verifier.
    let cache = SemanticCache::builder(LexicalEmbedder::new(64))
        .path(&path)
        .verifier(ConsistencyGuard::default())
        .open()
        .unwrap();
    assert_eq!(
        cache.namespace_verifiers().get("checked"),
        Some(&Builtin::Guard)
    );
    assert!(!served(&cache, "checked") && !served(&cache, "default"));
    cache
        .set_namespace_verifier("default", Some(Builtin::Off))
        .unwrap();
    assert!(served(&cache, "default"));
    let explained = cache
        .explain("how many apples for 3 people", "checked", 1)
        .unwrap();
    assert!(
        explained.candidates[0].refusal.is_some(),
        "explain gives the namespace's refusal"
    );
    cache.set_namespace_verifier("checked", None).unwrap();
    cache.set_namespace_verifier("default", None).unwrap();
    assert!(cache.namespace_verifiers().is_empty());
    assert!(!served(&cache, "default"), "the cache's verifier again");
    cache.close().unwrap();
    assert!(Builtin::from_name("strictest").is_err());
    for b in Builtin::ALL {
        assert_eq!(Builtin::from_name(b.name()).unwrap(), b);
    }
}
