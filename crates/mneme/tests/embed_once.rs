//! For fronts that handle a miss end to end: `embed_query` gives the vector `get` and `put`
//! would compute, so a miss is embedded once; `would_serve` applies the semantic-hit rule
//! (threshold, raised threshold, verifier, confidence floor) to an answer not yet stored.

mod common;

use common::embedders::TestEmbedder;
use mneme::verify::ConsistencyGuard;
use mneme::{Error, Get, HitLayer, MemoryStore, Put, SemanticCache};

fn cache(e: &TestEmbedder, threshold: f64) -> SemanticCache {
    SemanticCache::builder(e.clone())
        .store(MemoryStore::new())
        .similarity_threshold(threshold)
        .verifier(ConsistencyGuard::default())
        .open()
        .unwrap()
}

#[test]
fn a_miss_and_its_store_embed_once() {
    let e = TestEmbedder::new(16);
    let c = cache(&e, 0.85);
    let v = c.embed_query("  What is   the Capital of Peru? ").unwrap();
    assert_eq!(
        e.inputs.lock().unwrap().as_slice(),
        ["what is the capital of peru?"]
    );
    let g = Get::default().embedding(&v);
    assert!(c
        .get_with("  What is   the Capital of Peru? ", g)
        .unwrap()
        .is_none());
    c.put_with(
        "  What is   the Capital of Peru? ",
        "Lima",
        Put::default().embedding(&v),
    )
    .unwrap();
    assert_eq!(e.calls(), 1, "one embedding for the lookup and the store");
    // The stored vector is the one `get` computes itself.
    let hit = c.get_with(
        "what is the capital of peru? ",
        Get::default().namespace("default"),
    );
    assert_eq!(hit.unwrap().unwrap().layer, HitLayer::Exact);
    let again = c.embed_query("what is the capital of peru?").unwrap();
    assert_eq!(again, v);
    // A failing or wrong-sized embedder is an error here (the caller falls back to `get`).
    e.fail_from_call(e.calls() + 1);
    assert!(matches!(c.embed_query("x"), Err(Error::Embedder(_))));
    c.close().unwrap();
    assert!(matches!(c.embed_query("x"), Err(Error::CacheClosed(_))));
}

#[test]
fn would_serve_is_the_semantic_hit_rule() {
    let e = TestEmbedder::new(16);
    let c = cache(&e, 0.85);
    let g = Get::default();
    assert!(c.would_serve("how tall is everest", "how tall is mount everest", 0.9, &g));
    assert!(!c.would_serve("how tall is everest", "how tall is mount everest", 0.84, &g));
    // A caller may raise the threshold, never lower it.
    let raised = Get::default().min_similarity(0.95);
    assert!(!c.would_serve(
        "how tall is everest",
        "how tall is mount everest",
        0.9,
        &raised
    ));
    let lowered = Get::default().min_similarity(0.5);
    assert!(!c.would_serve(
        "how tall is everest",
        "how tall is mount everest",
        0.84,
        &lowered
    ));
    // The verifier: another number is another question, however similar.
    assert!(!c.would_serve("what is 12 times 7", "what is 12 times 8", 0.99, &g));
    // A namespace's own threshold applies in that namespace.
    c.set_namespace_threshold("strict", Some(0.95)).unwrap();
    let strict = Get::default().namespace("strict");
    assert!(!c.would_serve(
        "how tall is everest",
        "how tall is mount everest",
        0.9,
        &strict
    ));
    // Below the confidence floor (0.7) nothing is served, even under a low threshold.
    let low = cache(&e, 0.5);
    assert!(!low.would_serve("a b", "a b c", 0.6, &g));
    assert!(low.would_serve("a b", "a b c", 0.75, &g));
}
