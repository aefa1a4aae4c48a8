//! The local embedder's speed, printed as JSON for `benches/compare.py` (which runs
//! sentence-transformers and onnxruntime on the same texts, threads and machine, and prints
//! the table). Run alone: `cargo bench -p mneme-embed --bench embed`.
//!
//! Environment: `MNEME_BENCH_THREADS` (default 2), `MNEME_BENCH_CALLS` (single-query samples,
//! default 300), `MNEME_BENCH_PUTS` (entries for the put_many comparison, default 10000).

use mneme::{Embedder, Put, SemanticCache};
use mneme_embed::{default_model_dir, LocalEmbedder, LocalOptions};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let n = samples.len();
    (
        us(samples[n / 2]),
        us(samples[((n as f64 * 0.99) as usize).min(n - 1)]),
    )
}

fn texts() -> Vec<String> {
    let raw = include_str!("../tests/fixtures/reference.json");
    let v: serde_json::Value = serde_json::from_str(raw).unwrap();
    v["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect()
}

/// Short questions: what a cache lookup embeds (at most 16 tokens with [CLS] and [SEP]).
pub fn short_texts(all: &[String]) -> Vec<String> {
    all.iter()
        .filter(|t| {
            let words = t.split_whitespace().count();
            (3..=10).contains(&words) && t.is_ascii()
        })
        .cloned()
        .collect()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // cargo bench --list
    }
    let threads = env("MNEME_BENCH_THREADS", 2);
    let calls = env("MNEME_BENCH_CALLS", 300);
    let puts = env("MNEME_BENCH_PUTS", 10_000);
    let started = Instant::now();
    let model = Arc::new(
        LocalEmbedder::open_with(
            default_model_dir(),
            LocalOptions {
                threads: Some(threads),
                ..LocalOptions::default()
            },
        )
        .expect("the model: run scripts/fetch-model.sh"),
    );
    let load_ms = started.elapsed().as_secs_f64() * 1e3;
    let all = texts();
    let short = short_texts(&all);

    // One short query at a time: a cache lookup's embedding.
    for t in short.iter().take(20) {
        model.embed(t).unwrap();
    }
    let mut samples = Vec::with_capacity(calls);
    for i in 0..calls {
        let t = &short[i % short.len()];
        let s = Instant::now();
        model.embed(t).unwrap();
        samples.push(s.elapsed());
    }
    let (p50, p99) = percentiles(samples);

    // Batches of 32 over the whole corpus (long texts included), three passes.
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    let s = Instant::now();
    let mut done = 0;
    for _ in 0..3 {
        for chunk in refs.chunks(32) {
            model.embed_batch(chunk).unwrap();
            done += chunk.len();
        }
    }
    let corpus_rate = done as f64 / s.elapsed().as_secs_f64();
    let short_refs: Vec<&str> = short.iter().map(String::as_str).collect();
    let s = Instant::now();
    let mut done = 0;
    while done < 1024 {
        for chunk in short_refs.chunks(32) {
            model.embed_batch(chunk).unwrap();
            done += chunk.len();
        }
    }
    let short_rate = done as f64 / s.elapsed().as_secs_f64();

    // put_many against single puts, vectors given (the write path) and embedded by the model.
    let dir = tempfile::tempdir().unwrap();
    let vectors: Vec<Vec<f32>> = (0..puts)
        .map(|i| {
            let mut v = vec![0.0f32; model.dim()];
            v[i % model.dim()] = 1.0;
            v[(i * 7 + 1) % model.dim()] += 0.5;
            v
        })
        .collect();
    let queries: Vec<String> = (0..puts).map(|i| format!("question number {i}")).collect();
    let time_puts = |name: &str, many: bool| -> f64 {
        let cache = SemanticCache::builder_shared(model.clone())
            .path(dir.path().join(format!("{name}.db")))
            .open()
            .unwrap();
        let s = Instant::now();
        if many {
            cache
                .put_many(
                    queries
                        .iter()
                        .zip(&vectors)
                        .map(|(q, v)| (q.as_str(), "answer", Put::default().embedding(v))),
                )
                .unwrap();
        } else {
            for (q, v) in queries.iter().zip(&vectors) {
                cache
                    .put_with(q, "answer", Put::default().embedding(v))
                    .unwrap();
            }
        }
        puts as f64 / s.elapsed().as_secs_f64()
    };
    let single_rate = time_puts("single", false);
    let many_rate = time_puts("many", true);
    let model_puts = 1000.min(puts);
    let time_model_puts = |name: &str, many: bool| -> f64 {
        let cache = SemanticCache::builder_shared(model.clone())
            .path(dir.path().join(format!("{name}.db")))
            .open()
            .unwrap();
        let s = Instant::now();
        let qs = &queries[..model_puts];
        if many {
            cache
                .put_many(qs.iter().map(|q| (q.as_str(), "answer", Put::default())))
                .unwrap();
        } else {
            for q in qs {
                cache.put(q, "answer").unwrap();
            }
        }
        model_puts as f64 / s.elapsed().as_secs_f64()
    };
    let single_model_rate = time_model_puts("single-model", false);
    let many_model_rate = time_model_puts("many-model", true);

    println!(
        "{}",
        serde_json::json!({
            "implementation": "mneme LocalEmbedder (Rust)",
            "threads": threads,
            "load_ms": load_ms,
            "single": {"p50_us": p50, "p99_us": p99, "n": calls},
            "batch32_corpus_per_s": corpus_rate,
            "batch32_short_per_s": short_rate,
            "short_texts": short.len(),
            "corpus_texts": all.len(),
            "put_single_per_s": single_rate,
            "put_many_per_s": many_rate,
            "put_entries": puts,
            "put_single_model_per_s": single_model_rate,
            "put_many_model_per_s": many_model_rate,
            "put_model_entries": model_puts,
        })
    );
}
