//! HNSW search strategies side by side on one graph: recall@1 and recall@10 against the exact
//! scan, and search p50/p99, for each layer-0 beam (`ef`) and layer-1 entry beam.
//!
//! `cargo bench -p mneme --bench hnsw_recall`. With `MNEME_BENCH_GRAPH` set to a graph that
//! `large_cache` saved (`MNEME_BENCH_DIR=... scripts/bench-large.sh` keeps it), it searches
//! that graph (same `MNEME_BENCH_LARGE_ROWS` and `MNEME_BENCH_DIM`); otherwise it builds one of
//! `MNEME_BENCH_LARGE_ROWS` (200000) rows on every core. Rows and queries are
//! `support/clustered.rs`'s. Other settings: `MNEME_BENCH_CALLS` (1000 queries),
//! `MNEME_BENCH_EFS` (`50,64,80,100`), `MNEME_BENCH_BEAMS` (`1,16,32,50`), `MNEME_BENCH_DTYPE`
//! (`float32`), `MNEME_BENCH_WALKS` (`int8,float32`: float32 graphs walk their int8 copy or
//! their own rows, [`HnswParams::int8_walk`]). Strategies run in turn, twice, so a slow spell of the machine shows as two
//! different timings of one setting.

#[path = "support/clustered.rs"]
mod clustered;
#[path = "support/vectors.rs"]
mod vectors;

use clustered::{recall, Clustered, FINGERPRINT};
use mneme::index::hnsw::{file, SearchParams};
use mneme::index::{HnswIndex, HnswParams, IndexRow, VectorIndex};
use mneme::VectorDtype;
use rayon::prelude::*;
use std::time::Instant;
use vectors::{env, percentiles};

fn list(name: &str, default: &str) -> Vec<usize> {
    std::env::var(name)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .map(|x| x.trim().parse().expect("a comma-separated list of numbers"))
        .collect()
}

/// The saved graph, or one built here.
fn graph(data: &Clustered, dtype: VectorDtype) -> HnswIndex {
    if let Some(path) = std::env::var_os("MNEME_BENCH_GRAPH") {
        let t = Instant::now();
        let (graph, _) = file::load(
            path.as_ref(),
            data.dim,
            dtype,
            HnswParams::default(),
            FINGERPRINT,
        )
        .expect("a graph saved by the large_cache bench, of this dim and dtype");
        println!(
            "loaded {} rows ({} tombstones) in {:.1} s",
            graph.len(),
            graph.tombstone_count(),
            t.elapsed().as_secs_f64()
        );
        return graph;
    }
    let vectors: Vec<Vec<f32>> = (0..data.rows)
        .into_par_iter()
        .map(|i| data.row(i))
        .collect();
    let rows: Vec<IndexRow<'_>> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| (i as i64 + 1, v.as_slice(), "default"))
        .collect();
    let t = Instant::now();
    let mut graph = HnswIndex::new(data.dim, dtype, HnswParams::default()).unwrap();
    graph.extend(&rows).unwrap();
    println!(
        "built {} rows on {} threads in {:.1} s",
        graph.len(),
        rayon::current_num_threads(),
        t.elapsed().as_secs_f64()
    );
    graph
}

/// The exact top 10 of every query (ids are row + 1, as the large cache stores them), in
/// double precision: rows go by in blocks that stay in cache while every query scores them.
fn exact(data: &Clustered, queries: &[Vec<f32>]) -> Vec<Vec<i64>> {
    const BLOCK: usize = 2048;
    let dot = |a: &[f32], b: &[f32]| -> f64 {
        let mut lanes = [0f64; 4];
        for (x, y) in a.chunks_exact(4).zip(b.chunks_exact(4)) {
            for k in 0..4 {
                lanes[k] += f64::from(x[k]) * f64::from(y[k]);
            }
        }
        lanes.iter().sum()
    };
    let mut tops: Vec<Vec<(f64, i64)>> = vec![Vec::new(); queries.len()];
    for start in (0..data.rows).step_by(BLOCK) {
        let block: Vec<Vec<f32>> = (start..(start + BLOCK).min(data.rows))
            .into_par_iter()
            .map(|i| data.row(i))
            .collect();
        tops.par_iter_mut().zip(queries).for_each(|(top, q)| {
            for (j, row) in block.iter().enumerate() {
                let s = dot(q, row);
                if top.len() < 10 || s > top[top.len() - 1].0 {
                    top.push((s, (start + j) as i64 + 1));
                    top.sort_by(|a, b| b.0.total_cmp(&a.0));
                    top.truncate(10);
                }
            }
        });
    }
    tops.into_iter()
        .map(|t| t.into_iter().map(|(_, id)| id).collect())
        .collect()
}

/// Exact top-10 lists written by an earlier run, one `[id, ...]` per query.
fn read_truth(path: &str) -> Option<Vec<Vec<i64>>> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .map(|l| {
            l.trim_matches(['[', ']'])
                .split(", ")
                .map(|x| x.parse().ok())
                .collect()
        })
        .collect()
}

fn main() {
    let data = Clustered {
        rows: env("MNEME_BENCH_LARGE_ROWS", 200_000),
        dim: env("MNEME_BENCH_DIM", 384),
        calls: env("MNEME_BENCH_CALLS", 1000),
    };
    let dtype: VectorDtype = std::env::var("MNEME_BENCH_DTYPE")
        .unwrap_or_else(|_| "float32".into())
        .parse()
        .expect("float32, float16 or int8");
    let (efs, beams) = (
        list("MNEME_BENCH_EFS", "50,64,80,100"),
        list("MNEME_BENCH_BEAMS", "1,16,32,50"),
    );
    println!(
        "HNSW entry strategies: {} clustered rows x {}, {}, {} queries",
        data.rows,
        data.dim,
        dtype.as_str(),
        data.calls
    );
    let mut graph = graph(&data, dtype);
    let queries: Vec<Vec<f32>> = (0..data.calls).map(|i| data.query(i)).collect();
    let t = Instant::now();
    let truth = match std::env::var_os("MNEME_BENCH_GRAPH") {
        // Kept beside the graph: the exact scan of a million rows takes a minute.
        Some(graph) => {
            let path = format!("{}.exact-{}", graph.to_string_lossy(), data.calls);
            read_truth(&path).unwrap_or_else(|| {
                let truth = exact(&data, &queries);
                let text: Vec<String> = truth.iter().map(|ids| format!("{ids:?}")).collect();
                std::fs::write(&path, text.join("\n")).expect("write the exact top 10");
                truth
            })
        }
        None => exact(&data, &queries),
    };
    println!("exact top 10 in {:.1} s", t.elapsed().as_secs_f64());
    let walks: Vec<bool> = std::env::var("MNEME_BENCH_WALKS")
        .unwrap_or_else(|_| "int8,float32".into())
        .split(',')
        .map(|w| match w.trim() {
            "int8" => true,
            "float32" => false,
            other => panic!("MNEME_BENCH_WALKS: int8 or float32, not {other:?}"),
        })
        .collect();
    let mut settings: Vec<(bool, SearchParams)> = Vec::new();
    for &walk in &walks {
        for &ef in &efs {
            for &entry_beam in &beams {
                settings.push((walk, SearchParams { ef, entry_beam }));
            }
        }
    }
    for q in &queries {
        std::hint::black_box(graph.search(q, "default", 1));
    }
    println!("walk     ef  beam  recall@1  recall@10  p50 µs (2 passes)  p99 µs (2 passes)");
    let walk_name = |on: bool| if on { "int8" } else { "float32" };
    let mut timings = vec![Vec::new(); settings.len()];
    for _pass in 0..2 {
        for ((walk, s), out) in settings.iter().zip(&mut timings) {
            graph
                .set_int8_walk(*walk)
                .expect("memory for the walk's copy");
            let samples = queries
                .iter()
                .map(|q| {
                    let t = Instant::now();
                    std::hint::black_box(graph.search_with(q, "default", 1, *s));
                    t.elapsed()
                })
                .collect();
            out.push(percentiles(samples));
        }
    }
    for ((walk, s), t) in settings.iter().zip(&timings) {
        graph
            .set_int8_walk(*walk)
            .expect("memory for the walk's copy");
        let (at1, at10) = recall(&queries, &truth, |q| {
            graph.search_with(q, "default", 10, *s)
        });
        println!(
            "{:<7} {:>4}  {:>4}  {:>8.3}  {:>9.3}  {:>7.0} / {:<7.0}  {:>7.0} / {:<7.0}",
            walk_name(*walk),
            s.ef,
            s.entry_beam,
            at1,
            at10,
            t[0].0,
            t[1].0,
            t[0].1,
            t[1].1
        );
    }
    // Inserts, last: they change the graph. One row at a time, as a put does.
    let fresh: Vec<Vec<f32>> = (0..data.calls).map(|i| data.fresh(i)).collect();
    let mut samples: Vec<std::time::Duration> = fresh
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let t = Instant::now();
            graph
                .append((data.rows + i) as i64 + 1, v, "default")
                .unwrap();
            t.elapsed()
        })
        .collect();
    samples.sort();
    let us =
        |q: usize| samples[(samples.len() * q / 100).min(samples.len() - 1)].as_secs_f64() * 1e6;
    println!(
        "insert one row: p50 {:.0} µs  p90 {:.0} µs  p95 {:.0} µs  p99 {:.0} µs  max {:.0} µs",
        us(50),
        us(90),
        us(95),
        us(99),
        us(100)
    );
}
