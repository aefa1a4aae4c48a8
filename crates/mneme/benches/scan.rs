//! Scan benchmark: the flat index's search (what a semantic get spends its time on: top 3,
//! reranked by the exact rule) for 20k, 100k and 500k rows × 384, 768 and 1536 dimensions ×
//! float32, float16 and int8, side by side in one run with mneme-cache 1.0's numpy index on the
//! same sizes (`benches/peer_scan.py`, `search(k=3)` as 1.0's get calls it). Prints p50/p99, the
//! ratio, the kernel level, and where each p50 stands against the bound that binds:
//! - memory: the median plain two-thread pass over as many bytes as the rows hold;
//! - compute: the same search over rows that stay in the core's cache (256 KiB of them), per
//!   row, times the rows, over the threads: what the kernel does when memory is no limit.
//!
//! Vectors: 1000 seeded topic centres, each row its centre plus 0.7 × seeded noise, normalised
//! (cosine to the centre ~0.8, like sentence embeddings of one topic); queries are rows plus
//! 0.1 × noise. The peer draws its own vectors of the same shape with numpy: a scan's time does
//! not depend on the values.
//!
//! `cargo bench -p mneme --bench scan`. Environment: `MNEME_BENCH_SCAN_ROWS`
//! (`20000,100000,500000`), `MNEME_BENCH_SCAN_DIMS` (`384,768,1536`), `MNEME_BENCH_DTYPES`
//! (`float32,float16,int8`), `MNEME_BENCH_CALLS` (by size: 2 GB of rows read, 30 to 500),
//! `MNEME_BENCH_LEVELS=all` (every kernel level this CPU runs, not only the detected one),
//! `MNEME_PEER_PYTHON` (`.venv-peer/bin/python`), `MNEME_BENCH_NO_PEER`.

#[path = "support/bound.rs"]
mod bound;
#[path = "support/vectors.rs"]
mod vectors;

use mneme::index::kernels::Kernels;
use mneme::index::{ranked, FlatIndex, VectorIndex};
use mneme::VectorDtype;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};
use vectors::{env, near, percentiles, unit};

/// A comma-separated list from the environment, else `default`.
fn list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_owned())
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// p50 and p99 (µs) of `ranked` over `queries`, after a warm-up.
fn time_search(index: &FlatIndex, queries: &[Vec<f32>]) -> (f64, f64) {
    for q in queries.iter().take(5) {
        std::hint::black_box(ranked(index, q, "default", 3));
    }
    let samples: Vec<Duration> = queries
        .iter()
        .map(|q| {
            let t = Instant::now();
            std::hint::black_box(ranked(index, q, "default", 3));
            t.elapsed()
        })
        .collect();
    percentiles(samples)
}

/// The compute bound of `rows` rows (µs): the search's time per row over rows that stay in the
/// core's cache, spread over `threads`.
fn compute_bound(
    dim: usize,
    dtype: VectorDtype,
    kernels: Kernels,
    rows: usize,
    threads: usize,
) -> f64 {
    let small = (256 * 1024 / (dim * dtype.bytes_per_element())).max(4);
    let mut index = FlatIndex::with_capacity(dim, dtype, small).unwrap();
    index.set_kernels(kernels);
    index.set_search_threads(1);
    for i in 0..small {
        index
            .append(i as i64 + 1, &unit(i as u64 + 1, dim), "default")
            .unwrap();
    }
    let q = unit(999_999, dim);
    let mut best = f64::MAX;
    for _ in 0..2000 {
        let t = Instant::now();
        std::hint::black_box(index.search(&q, "default", 3));
        best = best.min(t.elapsed().as_secs_f64() * 1e6);
    }
    best / small as f64 * rows as f64 / threads as f64
}

fn peer(rows: usize, dim: usize, dtype: VectorDtype, calls: usize) -> Option<(f64, f64)> {
    if std::env::var_os("MNEME_BENCH_NO_PEER").is_some() {
        return None;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = std::env::var_os("MNEME_PEER_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv-peer/bin/python"));
    let out = Command::new(&python)
        .arg(root.join("crates/mneme/benches/peer_scan.py"))
        .args([
            rows.to_string(),
            dim.to_string(),
            dtype.to_string(),
            calls.to_string(),
        ])
        .output()
        .map_err(|e| {
            eprintln!(
                "peer: cannot run {}: {e} (scripts/setup-peer.sh installs it)",
                python.display()
            )
        })
        .ok()?;
    if !out.status.success() {
        eprintln!("peer failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some((v["p50"].as_f64()?, v["p99"].as_f64()?))
}

fn fmt(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

fn main() {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let detected = Kernels::detect();
    let levels = if std::env::var("MNEME_BENCH_LEVELS").as_deref() == Ok("all") {
        Kernels::available()
    } else {
        vec![detected]
    };
    let dtypes: Vec<VectorDtype> = list("MNEME_BENCH_DTYPES", "float32,float16,int8")
        .iter()
        .map(|d| {
            d.parse()
                .expect("MNEME_BENCH_DTYPES: float32, float16 or int8")
        })
        .collect();
    println!("mneme scan benchmark: {threads} cores, detected kernels {detected:?}\n");
    println!("| rows × dim | dtype | kernels | mneme p50 | mneme p99 | mneme-cache 1.0 p50 | p99 | p50 ratio | bound (binds) | mneme p50 / bound |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut notes = Vec::new();
    for rows in list("MNEME_BENCH_SCAN_ROWS", "20000,100000,500000") {
        let rows: usize = rows.parse().expect("MNEME_BENCH_SCAN_ROWS: numbers");
        for dim in list("MNEME_BENCH_SCAN_DIMS", "384,768,1536") {
            let dim: usize = dim.parse().expect("MNEME_BENCH_SCAN_DIMS: numbers");
            let centres: Vec<Vec<f32>> = (0..1000).map(|c| unit(c + 1, dim)).collect();
            let mut index = FlatIndex::with_capacity(dim, VectorDtype::Float32, rows).unwrap();
            for i in 0..rows {
                let v = near(&centres[i % 1000], 1_000_000 + i as u64, 0.7);
                index.append(i as i64 + 1, &v, "default").unwrap();
            }
            let mut f32_p50 = None;
            for &dtype in &dtypes {
                index.requantize(dtype).unwrap();
                let bytes = rows * dim * dtype.bytes_per_element();
                let calls = env("MNEME_BENCH_CALLS", (2_000_000_000 / bytes).clamp(30, 500));
                let step = (rows / calls).max(1);
                let queries: Vec<Vec<f32>> = (0..calls)
                    .map(|j| {
                        let row = index.vector((j * step % rows) as i64 + 1).unwrap();
                        near(&row, 7_000_000 + j as u64, 0.1)
                    })
                    .collect();
                // Ours, then the bound at once (the bandwidth these machines give drifts), then
                // the peer in a process of its own.
                let ours: Vec<(Kernels, (f64, f64))> = levels
                    .iter()
                    .map(|&kernels| {
                        index.set_kernels(kernels);
                        (kernels, time_search(&index, &queries))
                    })
                    .collect();
                let memory = bound::bandwidth_bound(bytes, threads);
                let theirs = peer(rows, dim, dtype, calls);
                for (kernels, (p50, p99)) in ours {
                    let compute = compute_bound(dim, dtype, kernels, rows, threads);
                    let (bound, binds) = if compute > memory {
                        (compute, "compute")
                    } else {
                        (memory, "memory")
                    };
                    let (peer50, peer99, ratio) = match theirs {
                        Some((a, b)) => (fmt(a), fmt(b), format!("{:.1}x", a / p50)),
                        None => ("-".into(), "-".into(), "-".into()),
                    };
                    println!(
                        "| {rows} × {dim} | {dtype} | {} | {} | {} | {peer50} | {peer99} | {ratio} | {} ({binds}) | {:.2}x |",
                        kernels.name,
                        fmt(p50),
                        fmt(p99),
                        fmt(bound),
                        p50 / bound
                    );
                    if kernels.name == detected.name {
                        match dtype {
                            VectorDtype::Float32 => f32_p50 = Some(p50),
                            VectorDtype::Int8 => {
                                if let Some(f) = f32_p50 {
                                    notes.push(format!(
                                        "{rows} × {dim}: int8 is {:.1}x faster than float32",
                                        f / p50
                                    ));
                                }
                            }
                            VectorDtype::Float16 => {}
                        }
                    }
                }
            }
            index.set_kernels(detected);
        }
    }
    println!();
    for n in notes {
        println!("- {n}");
    }
}
