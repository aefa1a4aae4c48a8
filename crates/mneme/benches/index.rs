//! Index benchmark: the flat (exact) scan against HNSW on the same rows, in one run.
//!
//! `cargo bench --bench index` (also run by `scripts/bench.sh`). Prints build time, search
//! p50/p99 (k = 1 and 5), self-match recall@1 and recall@10 against the exact scan; then, on the
//! same vectors and queries, mneme-cache 1.0's HNSW index (hnswlib under its wrapper, driven
//! through the same API, one row at a time) and hnswlib's own one-thread `add_items`
//! (`benches/peer_hnsw.py`, in the peer's venv: `scripts/setup-peer.sh` installs hnswlib).
//!
//! Environment: `MNEME_BENCH_INDEX_ROWS` (50000), `MNEME_BENCH_DIM` (384), `MNEME_BENCH_CALLS`
//! (1000), `MNEME_BENCH_EF` (50), `MNEME_PEER_PYTHON` (`.venv-peer/bin/python`),
//! `MNEME_BENCH_NO_PEER` (skip the peer).

#[path = "support/vectors.rs"]
mod vectors;

use mneme::index::{FlatIndex, HnswIndex, HnswParams, VectorIndex};
use mneme::VectorDtype;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use vectors::{env, near, percentiles, unit};

/// Share of the exact top 10 (the flat scan's) that `index` returns.
fn recall10(index: &dyn VectorIndex, flat: &FlatIndex, queries: &[Vec<f32>]) -> f64 {
    let (mut agree, mut total) = (0, 0);
    for q in queries {
        let exact: HashSet<i64> = flat.search(q, "default", 10).iter().map(|c| c.id).collect();
        agree += index
            .search(q, "default", 10)
            .iter()
            .filter(|c| exact.contains(&c.id))
            .count();
        total += exact.len();
    }
    agree as f64 / total as f64
}

/// Search p50/p99 in µs over `queries`, caches warm.
fn time_searches(index: &dyn VectorIndex, queries: &[Vec<f32>], k: usize) -> (f64, f64) {
    // One untimed pass first: the previous index's scan (150 MB at 100k rows) evicted this
    // one's rows and graph from the caches, and the first queries would pay for it alone.
    for q in queries {
        std::hint::black_box(index.search(q, "default", k));
    }

    let samples = queries
        .iter()
        .map(|q| {
            let t = Instant::now();
            std::hint::black_box(index.search(q, "default", k));
            t.elapsed()
        })
        .collect();
    percentiles(samples)
}

fn main() {
    let (rows, dim, calls) = (
        env("MNEME_BENCH_INDEX_ROWS", 50_000),
        env("MNEME_BENCH_DIM", 384),
        env("MNEME_BENCH_CALLS", 1000),
    );
    // Embeddings are clustered (topics), and cache queries land near stored entries
    // (paraphrases): rows are topic centre + noise, queries are rows + more noise.
    let topics: Vec<Vec<f32>> = (0..(rows / 50).max(1) as u64)
        .map(|t| unit(t + 1, dim))
        .collect();
    let vectors: Vec<Vec<f32>> = (0..rows)
        .map(|i| near(&topics[i % topics.len()], (i as u64 + 1) << 20, 0.6))
        .collect();
    let queries: Vec<Vec<f32>> = (0..calls)
        .map(|i| near(&vectors[i * rows / calls], (i as u64 + 1) << 40, 0.3))
        .collect();
    let params = HnswParams {
        ef: env("MNEME_BENCH_EF", HnswParams::default().ef),
        ..HnswParams::default()
    };
    println!(
        "index benchmark: {rows} rows × {dim} dims (clustered), float32, {calls} queries, {params:?}"
    );

    let t = Instant::now();
    let mut flat = FlatIndex::with_capacity(dim, VectorDtype::Float32, rows).expect("dim > 0");
    for (id, v) in vectors.iter().enumerate() {
        flat.append(id as i64, v, "default").expect("right dim");
    }
    let flat_build = t.elapsed();
    let t = Instant::now();
    let mut hnsw = HnswIndex::new(dim, VectorDtype::Float32, params).expect("valid params");
    for (id, v) in vectors.iter().enumerate() {
        hnsw.append(id as i64, v, "default").expect("right dim");
    }
    let hnsw_build = t.elapsed();

    let self_hits = (0..calls)
        .map(|i| i * rows / calls)
        .filter(|&i| hnsw.search(&vectors[i], "default", 1).first().map(|c| c.id) == Some(i as i64))
        .count();
    let recall = recall10(&hnsw, &flat, &queries);

    println!("{:<28} {:>12} {:>12} {:>8}", "", "flat", "hnsw", "ratio");
    let secs = |d: Duration| d.as_secs_f64();
    println!(
        "{:<28} {:>11.2}s {:>11.2}s {:>7.1}x",
        "build",
        secs(flat_build),
        secs(hnsw_build),
        secs(hnsw_build) / secs(flat_build)
    );
    for k in [1, 5] {
        let (fp50, fp99) = time_searches(&flat, &queries, k);
        let (hp50, hp99) = time_searches(&hnsw, &queries, k);
        println!(
            "{:<28} {fp50:>10.1}µs {hp50:>10.1}µs {:>7.1}x",
            format!("search k={k} p50"),
            fp50 / hp50
        );
        println!(
            "{:<28} {fp99:>10.1}µs {hp99:>10.1}µs {:>7.1}x",
            format!("search k={k} p99"),
            fp99 / hp99
        );
    }
    println!(
        "hnsw self-match recall@1: {:.4}   recall@10 vs exact: {:.4}",
        self_hits as f64 / calls as f64,
        recall
    );
    // The bulk path (cache open, rebuild, compact): neighbour searches in parallel batches.
    let t = Instant::now();
    let mut bulk = HnswIndex::new(dim, VectorDtype::Float32, params).expect("valid params");
    let rows_in: Vec<(i64, &[f32], &str)> = vectors
        .iter()
        .enumerate()
        .map(|(id, v)| (id as i64, v.as_slice(), "default"))
        .collect();
    bulk.extend(&rows_in).expect("right dim");
    let bulk_build = t.elapsed();
    let (bp50, bp99) = time_searches(&bulk, &queries, 1);
    println!(
        "hnsw bulk build (extend, {} threads): {:.2}s ({:.2}x one by one), recall@10 vs exact {:.4}, search k=1 p50 {bp50:.1}µs p99 {bp99:.1}µs",
        rayon::current_num_threads(),
        secs(bulk_build),
        secs(hnsw_build) / secs(bulk_build),
        recall10(&bulk, &flat, &queries)
    );
    if std::env::var_os("MNEME_BENCH_NO_PEER").is_none() {
        peer(
            &vectors,
            &queries,
            params,
            (secs(hnsw_build), recall),
            &hnsw,
        );
    }
}

/// mneme-cache 1.0's HNSW and hnswlib on the same data (benches/peer_hnsw.py), beside ours
/// (`(build seconds, recall@10)`).
fn peer(
    vectors: &[Vec<f32>],
    queries: &[Vec<f32>],
    params: HnswParams,
    (ours, recall): (f64, f64),
    hnsw: &HnswIndex,
) {
    let python = std::env::var_os("MNEME_PEER_PYTHON").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv-peer/bin/python"),
        PathBuf::from,
    );
    let dir = tempfile::tempdir().expect("a temp dir");
    let write = |name: &str, rows: &[Vec<f32>]| {
        let path = dir.path().join(name);
        let bytes: Vec<u8> = rows
            .iter()
            .flatten()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        std::fs::write(&path, bytes).expect("write the vectors");
        path
    };
    let (v, q) = (write("vectors.f32", vectors), write("queries.f32", queries));
    eprintln!("running mneme-cache 1.0's HNSW and hnswlib on the same vectors...");
    let out = std::process::Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peer_hnsw.py"))
        .args([&v, &q])
        .args(
            [
                vectors.len(),
                queries.len(),
                vectors[0].len(),
                params.m,
                params.ef_construction,
                params.ef,
            ]
            .map(|n| n.to_string()),
        )
        .output();
    let out = match out {
        Ok(o) if o.status.success() => o.stdout,
        Ok(o) => return eprintln!("peer failed: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => {
            return eprintln!(
                "peer python {} did not run ({e}): run scripts/setup-peer.sh",
                python.display()
            )
        }
    };
    let peer: serde_json::Value = serde_json::from_slice(&out).expect("the peer prints JSON");
    let num = |k: &str| peer[k].as_f64().unwrap_or(f64::NAN);
    let (p50, p99) = time_searches(hnsw, queries, 1);
    println!();
    println!(
        "{:<28} {:>12} {:>14} {:>14}",
        "", "mneme hnsw", "1.0 (hnswlib)", "hnswlib alone"
    );
    println!(
        "{:<28} {ours:>11.2}s {:>13.2}s {:>13.2}s",
        "build, one thread",
        num("wrapper_build_s"),
        num("hnswlib_build_s")
    );
    println!(
        "{:<28} {p50:>10.1}µs {:>12.1}µs",
        "search k=1 p50",
        num("wrapper_k1_p50")
    );
    println!(
        "{:<28} {p99:>10.1}µs {:>12.1}µs",
        "search k=1 p99",
        num("wrapper_k1_p99")
    );
    println!(
        "{:<28} {:>12.4} {:>14.4} {:>14.4}",
        "recall@10 vs exact",
        recall,
        num("wrapper_recall10"),
        num("hnswlib_recall10")
    );
}
