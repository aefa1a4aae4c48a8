//! The verifier stage in the cache: a refusal moves on to the next candidate, a get that ends
//! on refusals is the miss `verifier_rejected`, `explain` agrees with `get`, and a panicking
//! verifier refuses.

use mneme::cache::Decision;
use mneme::verify::{ConsistencyGuard, Recommended, Verifier};
use mneme::{Get, LexicalEmbedder, MemoryStore, MetricEvent, MissReason, Put, SemanticCache};
use std::sync::{Arc, Mutex};

fn cache_with(
    verifier: impl Verifier + 'static,
    events: Arc<Mutex<Vec<MetricEvent>>>,
) -> SemanticCache {
    SemanticCache::builder(LexicalEmbedder::new(256))
        .store(MemoryStore::new())
        .similarity_threshold(0.5)
        .verifier(verifier)
        .metrics_hook(move |e| events.lock().unwrap().push(e.clone()))
        .open()
        .unwrap()
}

fn last_miss(events: &Mutex<Vec<MetricEvent>>) -> Option<MissReason> {
    events.lock().unwrap().iter().rev().find_map(|e| match e {
        MetricEvent::Miss { reason, .. } => Some(*reason),
        _ => None,
    })
}

#[test]
fn a_refused_candidate_is_a_verifier_rejected_miss_and_explain_agrees() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let cache = cache_with(ConsistencyGuard::default(), events.clone());
    cache.put("what is 2+2", "4").unwrap();
    assert!(cache.get("what is 2+3").unwrap().is_none());
    assert_eq!(last_miss(&events), Some(MissReason::VerifierRejected));
    let why = cache.explain("what is 2+3", "default", 3).unwrap();
    assert_eq!(why.decision, Decision::Miss(MissReason::VerifierRejected));
    assert_eq!(why.candidates[0].refusal.as_deref(), Some("guard: numbers"));
    // A paraphrase passes the same verifier.
    assert_eq!(cache.get("what is 2 + 2 ?").unwrap().unwrap().response, "4");
}

#[test]
fn the_walk_goes_on_to_the_next_candidate_after_a_refusal() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let refuse_flagged = |_: &str, cached: &str, _: f64| !cached.contains("flagged");
    let cache = cache_with(refuse_flagged, events);
    let axis = |x: f32, y: f32| {
        let mut v = vec![0.0f32; 256];
        (v[0], v[1]) = (x, y);
        v
    };
    // The refused entry is the nearest (similarity 1.0), the served one next (0.96).
    let (near, next) = (axis(1.0, 0.0), axis(0.96, 0.28));
    cache
        .put_with(
            "flagged question",
            "refused",
            Put::default().embedding(&near),
        )
        .unwrap();
    cache
        .put_with(
            "another question",
            "served",
            Put::default().embedding(&next),
        )
        .unwrap();
    let hit = cache
        .get_with("the question", Get::default().embedding(&near))
        .unwrap()
        .unwrap();
    assert_eq!(
        (hit.response.as_str(), (hit.similarity * 100.0).round()),
        ("served", 96.0)
    );
}

#[test]
fn a_panicking_verifier_refuses_and_the_cache_stays_usable() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let cache = cache_with(
        |_: &str, _: &str, _: f64| -> bool { panic!("boom") },
        events.clone(),
    );
    cache.put("how do I reset my password", "Settings").unwrap();
    assert!(cache
        .get("how do I reset my password please")
        .unwrap()
        .is_none());
    assert_eq!(last_miss(&events), Some(MissReason::VerifierRejected));
    // The exact layer never asks the verifier.
    assert!(cache.get("how do I reset my password").unwrap().is_some());
}

#[test]
fn without_a_verifier_decisions_are_1_0s() {
    let cache = SemanticCache::builder(LexicalEmbedder::new(256))
        .store(MemoryStore::new())
        .similarity_threshold(0.5)
        .open()
        .unwrap();
    cache.put("what is 2+2", "4").unwrap();
    assert!(
        cache.get("what is 2+3").unwrap().is_some(),
        "cosine alone serves the trap"
    );
    let recommended = Recommended::default();
    assert!(recommended
        .check("what is 2+2", "what is 2+3", 0.99)
        .is_err());
}
