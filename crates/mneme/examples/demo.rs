//! The main demo: a semantic cache in front of a slow "model", on the embedded SQLite default.
//! No network, no server: `cargo run --release --example demo`.

use mneme::{HitLayer, LexicalEmbedder, Metadata, Put, SemanticCache};
use std::time::{Duration, Instant};

/// Stands in for an LLM call: slow, and what we want to avoid repeating.
fn slow_model(question: &str) -> String {
    std::thread::sleep(Duration::from_millis(800));
    format!("(model answer to: {question})")
}

fn main() -> mneme::Result<()> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "mneme-demo.db".into());
    let _ = std::fs::remove_file(&path);
    let cache = SemanticCache::builder(LexicalEmbedder::new(384))
        .path(&path)
        .similarity_threshold(0.8)
        .max_entries(10_000)
        .open()?;
    println!("mneme demo: cache file {path} (SQLite, shareable with Python mneme-cache 1.0)\n");

    let questions = [
        "How do I reset my password?",
        "how do I reset my password?", // same after normalisation: exact layer
        "how do I reset my password please", // reworded: semantic layer
        "What are your opening hours?",
        "what are your opening hours today", // reworded
        "Do you ship to Canada?",
    ];
    for q in questions {
        let started = Instant::now();
        let (answer, how) = match cache.get(q)? {
            Some(hit) => {
                let layer = match hit.layer {
                    HitLayer::Exact => "exact hit",
                    HitLayer::Semantic => "semantic hit",
                };
                (
                    hit.response,
                    format!("{layer}, similarity {:.3}", hit.similarity),
                )
            }
            None => {
                let answer = slow_model(q);
                let mut meta = Metadata::new();
                meta.insert("model", "demo-model");
                cache.put_with(q, &answer, Put::default().metadata(meta))?;
                (answer, "miss -> model called and cached".to_owned())
            }
        };
        println!(
            "{:>9.3} ms  {q:<36} {how}\n             -> {answer}",
            started.elapsed().as_secs_f64() * 1e3
        );
    }

    let stats = cache.stats(None)?;
    println!(
        "\n{} entries, {} exact hits, {} semantic hits, {} misses",
        stats.entries, stats.hits_exact, stats.hits_semantic, stats.misses
    );
    let health = cache.health()?;
    println!(
        "health: healthy={} store={} index={} dtype={}",
        health.healthy, health.store_backend, health.index_backend, health.vector_dtype
    );
    println!("\nNote: the demo's LexicalEmbedder compares words, not meaning; plug in a real model's Embedder for production.");
    cache.close()
}
