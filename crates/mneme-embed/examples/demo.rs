//! The main demo: a semantic cache in front of a slow "model", on the embedded SQLite default,
//! with a real embedding model (all-MiniLM-L6-v2, run locally in Rust). No network at run time,
//! no server. Run it with `scripts/demo.sh` (it fetches the model first if it is missing).

use mneme::{HitLayer, Metadata, Put, SemanticCache};
use mneme_embed::{default_model_dir, LocalEmbedder};
use std::time::{Duration, Instant};

/// Stands in for an LLM call: slow, and what we want to avoid repeating.
fn slow_model(question: &str) -> String {
    std::thread::sleep(Duration::from_millis(800));
    format!("(model answer to: {question})")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "mneme-demo.db".into());
    let _ = std::fs::remove_file(&path);
    let started = Instant::now();
    let model = LocalEmbedder::open(default_model_dir())?;
    println!(
        "mneme demo: model {} loaded in {:.0} ms; cache file {path} (SQLite, shareable with \
         Python mneme-cache 1.0)\n",
        default_model_dir().display(),
        started.elapsed().as_secs_f64() * 1e3
    );
    let cache = SemanticCache::builder(model)
        .path(&path)
        .max_entries(10_000)
        .open()?;

    let questions = [
        "How do I reset my password?",
        "how do I reset my password?", // same after normalisation: exact layer
        "How can I reset my password?", // a paraphrase: semantic layer
        "How do I cancel my subscription?",
        "I want to cancel my subscription", // said another way
        "Do you ship to Canada?",
        "Do you deliver to Canada?",      // another verb
        "What is the capital of France?", // unrelated: a miss, the model is called
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
            "{:>9.3} ms  {q:<34} {how}\n             -> {answer}",
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
    cache.close()?;
    Ok(())
}
