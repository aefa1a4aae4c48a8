//! Large-cache benchmark: a SQLite cache of a million clustered vectors with the HNSW index,
//! side by side with hnswlib on the same vectors and threads.
//!
//! `scripts/bench-large.sh` (= `cargo bench -p mneme --bench large_cache`). For each dtype:
//! the first HNSW open (SQLite read + parallel graph build + graph save) and the next one (the
//! saved graph loaded), each in a child process that reports its time and peak memory
//! (VmHWM); recall@1 and recall@10 against the exact scan and search p50/p99 at several `ef`
//! on the saved graph; then, in the opened cache, semantic `get` p50/p99 (store verification
//! included; then once more over the same queries), `put` p50/p99 (SQLite write; a thread
//! links the row into the graph), and `get` again right after the puts, while their rows are
//! linked. hnswlib builds the same float32 vectors on the same number of threads
//! (`benches/peer_hnsw_large.py`, in the peer's venv).
//!
//! Vectors are shaped like sentence embeddings (`support/clustered.rs`). Environment:
//! `MNEME_BENCH_LARGE_ROWS` (1000000), `MNEME_BENCH_DIM` (384), `MNEME_BENCH_DTYPES`
//! (`int8,float32`; empty for hnswlib alone), `MNEME_BENCH_CALLS` (1000), `MNEME_BENCH_DIR` (a
//! temporary directory), `MNEME_BENCH_NO_PEER`, `MNEME_PEER_PYTHON`.

#[path = "support/clustered.rs"]
mod clustered;
#[path = "support/vectors.rs"]
mod vectors;

use clustered::{recall, Clustered, FINGERPRINT};
use mneme::index::hnsw::file;
use mneme::index::{FlatIndex, HnswParams, VectorIndex};
use mneme::{
    Embedder, Get, IndexBackend, IndexOptionValue, IndexOptions, Put, SemanticCache, VectorDtype,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use vectors::{env, percentiles};

const ROLE: &str = "MNEME_BENCH_LARGE_ROLE";
/// Queries whose exact top 10 is computed for recall.
const RECALL_QUERIES: usize = 200;

/// The cache is given every vector; it never embeds.
struct NoModel(usize);

impl Embedder for NoModel {
    fn dim(&self) -> usize {
        self.0
    }
    fn fingerprint(&self) -> &str {
        FINGERPRINT
    }
    fn embed(&self, _: &str) -> Result<Vec<f32>, mneme::BoxError> {
        Err("this benchmark passes every embedding".into())
    }
}

/// The benchmark's rows, with the settings from the environment.
fn data_from_env() -> Clustered {
    Clustered {
        rows: env("MNEME_BENCH_LARGE_ROWS", 1_000_000),
        dim: env("MNEME_BENCH_DIM", 384),
        calls: env("MNEME_BENCH_CALLS", 1000),
    }
}

fn peak_memory_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn graph_path(db: &Path, dtype: VectorDtype) -> PathBuf {
    PathBuf::from(format!("{}.{}.hnsw", db.display(), dtype.as_str()))
}

fn open(db: &Path, dim: usize, dtype: VectorDtype) -> SemanticCache {
    let mut options = IndexOptions::default();
    let graph = graph_path(db, dtype);
    options
        .set(
            "graph_path",
            IndexOptionValue::Text(graph.to_str().unwrap()),
        )
        .unwrap();
    SemanticCache::builder(NoModel(dim))
        .path(db)
        .index_backend(IndexBackend::Hnsw)
        .index_options(options)
        .vector_dtype(dtype)
        .open()
        .expect("open the cache")
}

/// Collects the engine's log lines, to report how long the graph file took to read.
struct Lines(Mutex<Vec<String>>);

impl log::Log for Lines {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        self.0.lock().unwrap().push(record.args().to_string());
    }
    fn flush(&self) {}
}

/// The child process: one open (the first builds, the next loads), then, after a load, the
/// cache's get and put timings. Prints one JSON object.
fn child(role: &str, db: &Path, dtype: VectorDtype) {
    let data = data_from_env();
    let lines: &'static Lines = Box::leak(Box::new(Lines(Mutex::default())));
    log::set_logger(lines).unwrap();
    log::set_max_level(log::LevelFilter::Info);
    let t = Instant::now();
    let cache = open(db, data.dim, dtype);
    let open_s = t.elapsed().as_secs_f64();
    let open_peak = peak_memory_mib();
    let mut out = serde_json::json!({ "open_s": open_s, "open_peak_mib": open_peak });
    let logged = lines.0.lock().unwrap().clone();
    // Seconds the engine logged just before `unit` in the line that contains `marker`.
    let logged_seconds = |marker: &str, unit: &str| {
        logged.iter().filter(|l| l.contains(marker)).find_map(|l| {
            let before = l.split(unit).next()?;
            before.rsplit([' ', '(']).next()?.parse::<f64>().ok()
        })
    };
    for (key, marker, unit) in [
        ("graph_read_s", "reading the file", " s reading the file"),
        ("build_s", "built the HNSW graph", " s"),
        ("save_s", "saved the HNSW graph", " s:"),
    ] {
        if let Some(v) = logged_seconds(marker, unit) {
            out[key] = v.into();
        }
    }
    if role == "load" {
        let gets = |out: &mut serde_json::Value, key: &str| {
            let mut hits = 0;
            let times: Vec<Duration> = (0..data.calls)
                .map(|i| {
                    let q = data.query(i);
                    let t = Instant::now();
                    let hit = cache
                        .get_with("a paraphrase", Get::default().embedding(&q))
                        .unwrap();
                    let d = t.elapsed();
                    hits += usize::from(hit.is_some());
                    d
                })
                .collect();
            let (p50, p99) = percentiles(times);
            out[format!("{key}_p50_us")] = p50.into();
            out[format!("{key}_p99_us")] = p99.into();
            out[format!("{key}_hits")] = hits.into();
        };
        gets(&mut out, "get");
        // The same queries again: their first pass is the figure; a second shows how much of
        // its p99 was the machine (a run of slow calls) rather than the lookups themselves.
        gets(&mut out, "get_again");
        let puts: Vec<Duration> = (0..data.calls)
            .map(|i| {
                let v = data.fresh(i);
                let text = format!("new row {i}");
                let t = Instant::now();
                cache
                    .put_with(&text, "a new answer", Put::default().embedding(&v))
                    .unwrap();
                t.elapsed()
            })
            .collect();
        let (p50, p99) = percentiles(puts);
        out["put_p50_us"] = p50.into();
        out["put_p99_us"] = p99.into();
        // Right after the puts, while the linker thread still links their rows: searches
        // scan the waiting rows beside the graph.
        gets(&mut out, "get_after_puts");
        let s = cache.stats(None).unwrap();
        out["vector_bytes"] = s.index_memory_bytes.into();
        out["graph_bytes"] = s.index_graph_bytes.into();
        // The store goes back to the rows every dtype's run (and the exact scan) shares.
        for i in 0..data.calls {
            cache.delete(&format!("new row {i}")).unwrap();
        }
    }
    let t = Instant::now();
    cache.close().unwrap();
    out["close_s"] = t.elapsed().as_secs_f64().into();
    println!("{out}");
}

fn run_child(role: &str, db: &Path, dtype: VectorDtype) -> serde_json::Value {
    let out = Command::new(std::env::current_exe().unwrap())
        .env(ROLE, format!("{role}:{}:{}", dtype.as_str(), db.display()))
        .output()
        .expect("run the child");
    assert!(
        out.status.success(),
        "{role} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap_or("")).expect(&text)
}

/// Recall@1 and @10 against `exact`, and search p50/p99, of the saved graph at `ef`.
fn graph_at(
    data: &Clustered,
    path: &Path,
    dtype: VectorDtype,
    ef: usize,
    exact: &[Vec<i64>],
) -> (f64, f64, f64, f64) {
    let params = HnswParams {
        ef,
        ..HnswParams::default()
    };
    let (graph, _) =
        file::load(path, data.dim, dtype, params, FINGERPRINT).expect("the saved graph");
    let queries: Vec<Vec<f32>> = (0..data.calls).map(|i| data.query(i)).collect();
    let (at1, at10) = recall(&queries, exact, |q| graph.search(q, "default", 10));
    for q in &queries {
        std::hint::black_box(graph.search(q, "default", 1));
    }
    let samples = queries
        .iter()
        .map(|q| {
            let t = Instant::now();
            std::hint::black_box(graph.search(q, "default", 1));
            t.elapsed()
        })
        .collect();
    let (p50, p99) = percentiles(samples);
    (at1, at10, p50, p99)
}

fn main() {
    if let Ok(role) = std::env::var(ROLE) {
        let mut parts = role.splitn(3, ':');
        let (role, dtype, db) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        return child(role, Path::new(db), dtype.parse().unwrap());
    }
    let data = data_from_env();
    let dtypes: Vec<VectorDtype> = std::env::var("MNEME_BENCH_DTYPES")
        .unwrap_or_else(|_| "int8,float32".into())
        .split(',')
        .filter(|d| !d.is_empty())
        .map(|d| d.parse().expect("float32, float16 or int8"))
        .collect();
    let tmp = tempfile::tempdir().expect("a temp dir");
    let dir =
        std::env::var_os("MNEME_BENCH_DIR").map_or_else(|| tmp.path().to_owned(), PathBuf::from);
    let db = dir.join(format!("large-{}x{}.db", data.rows, data.dim));
    println!(
        "large-cache benchmark: {} rows x {} dims (clustered), SQLite, {} threads, {} queries",
        data.rows,
        data.dim,
        rayon::current_num_threads(),
        data.calls
    );

    // The store, written once through the cache (flat index: the HNSW opens come later).
    if !db.exists() {
        let t = Instant::now();
        let cache = SemanticCache::builder(NoModel(data.dim))
            .path(&db)
            .index_backend(IndexBackend::Flat)
            .open()
            .unwrap();
        const BATCH: usize = 10_000;
        for start in (0..data.rows).step_by(BATCH) {
            let end = (start + BATCH).min(data.rows);
            let texts: Vec<String> = (start..end).map(|i| format!("row {i}")).collect();
            let vectors: Vec<Vec<f32>> = (start..end).map(|i| data.row(i)).collect();
            let items = texts
                .iter()
                .zip(&vectors)
                .map(|(t, v)| (t.as_str(), "an answer", Put::default().embedding(v)));
            cache.put_many(items).unwrap();
        }
        cache.close().unwrap();
        println!("wrote the store in {:.1} s", t.elapsed().as_secs_f64());
    }

    // The exact top 10 of the first queries, for recall.
    let exact: Vec<Vec<i64>> = {
        let mut flat = FlatIndex::with_capacity(data.dim, VectorDtype::Float32, data.rows).unwrap();
        for i in 0..data.rows {
            flat.append(i as i64 + 1, &data.row(i), "default").unwrap();
        }
        (0..RECALL_QUERIES.min(data.calls))
            .map(|i| {
                flat.search(&data.query(i), "default", 10)
                    .iter()
                    .map(|c| c.id)
                    .collect()
            })
            .collect()
    };

    let efs = [50usize, 100, 200];
    let mut ours_build_f32 = None;
    for &dtype in &dtypes {
        let _ = std::fs::remove_file(graph_path(&db, dtype));
        let built = run_child("build", &db, dtype);
        let b = |k: &str| built[k].as_f64().unwrap_or(f64::NAN);
        if dtype == VectorDtype::Float32 {
            ours_build_f32 = Some(b("build_s"));
        }
        println!();
        println!("== {} ==", dtype.as_str());
        println!(
            "first open: {:.1} s (SQLite read and graph build {:.1} s on {} threads, graph save {:.1} s), peak memory {:.0} MiB",
            b("open_s"),
            b("build_s"),
            rayon::current_num_threads(),
            b("save_s"),
            b("open_peak_mib")
        );
        let graph = graph_path(&db, dtype);
        println!(
            "graph file: {} MiB",
            std::fs::metadata(&graph).map_or(0, |m| m.len()) >> 20
        );
        for ef in efs {
            let (r1, r10, p50, p99) = graph_at(&data, &graph, dtype, ef, &exact);
            println!("ef={ef:<4} recall@1 {r1:.3}  recall@10 {r10:.3}  search k=1 p50 {p50:.0} µs  p99 {p99:.0} µs");
        }
        let loaded = run_child("load", &db, dtype);
        let f = |k: &str| loaded[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "open with the saved graph: {:.2} s ({:.2} s reading the graph file; the rest is the SQLite open and checks), peak memory {:.0} MiB",
            f("open_s"),
            f("graph_read_s"),
            f("open_peak_mib")
        );
        println!(
            "semantic get p50 {:.0} µs  p99 {:.0} µs ({} of {} served)   put p50 {:.0} µs  p99 {:.0} µs",
            f("get_p50_us"),
            f("get_p99_us"),
            loaded["get_hits"],
            data.calls,
            f("put_p50_us"),
            f("put_p99_us")
        );
        println!(
            "semantic get, the same queries again: p50 {:.0} µs  p99 {:.0} µs",
            f("get_again_p50_us"),
            f("get_again_p99_us"),
        );
        println!(
            "semantic get right after the puts (their rows still being linked): p50 {:.0} µs  p99 {:.0} µs",
            f("get_after_puts_p50_us"),
            f("get_after_puts_p99_us"),
        );
        println!(
            "index memory: vectors {} MiB, graph {} MiB; close (saves the changed graph) {:.1} s",
            loaded["vector_bytes"].as_u64().unwrap_or(0) >> 20,
            loaded["graph_bytes"].as_u64().unwrap_or(0) >> 20,
            f("close_s")
        );
    }
    if std::env::var_os("MNEME_BENCH_NO_PEER").is_none() {
        peer(&data, &exact, &efs, ours_build_f32, &dir);
    }
}

/// hnswlib on the same float32 vectors and threads (benches/peer_hnsw_large.py).
fn peer(data: &Clustered, exact: &[Vec<i64>], efs: &[usize], ours: Option<f64>, dir: &Path) {
    let python = std::env::var_os("MNEME_PEER_PYTHON").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv-peer/bin/python"),
        PathBuf::from,
    );
    let write = |name: &str, rows: &mut dyn Iterator<Item = Vec<f32>>| {
        let path = dir.join(name);
        let mut w = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        for r in rows {
            for x in r {
                std::io::Write::write_all(&mut w, &x.to_le_bytes()).unwrap();
            }
        }
        path
    };
    let vectors = write("vectors.f32", &mut (0..data.rows).map(|i| data.row(i)));
    let queries = write("queries.f32", &mut (0..data.calls).map(|i| data.query(i)));
    let truth: Vec<String> = exact
        .iter()
        .map(|ids| {
            ids.iter()
                .map(|id| (id - 1).to_string())
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    let truth_path = dir.join("exact.txt");
    std::fs::write(&truth_path, truth.join("\n")).unwrap();
    eprintln!("running hnswlib on the same vectors...");
    let out = Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peer_hnsw_large.py"))
        .args([&vectors, &queries, &truth_path])
        .args(
            [
                data.rows,
                data.calls,
                data.dim,
                rayon::current_num_threads(),
            ]
            .map(|n| n.to_string()),
        )
        .arg(
            efs.iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(","),
        )
        .output();
    let _ = std::fs::remove_file(&vectors);
    let out = match out {
        Ok(o) if o.status.success() => o.stdout,
        Ok(o) => return eprintln!("hnswlib failed: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => {
            return eprintln!(
                "peer python {} did not run ({e}): run scripts/setup-peer.sh",
                python.display()
            )
        }
    };
    let peer: serde_json::Value = serde_json::from_slice(&out).expect("the peer prints JSON");
    println!();
    println!(
        "== hnswlib, float32, same vectors, {} threads ==",
        rayon::current_num_threads()
    );
    let build = peer["build_s"].as_f64().unwrap_or(f64::NAN);
    println!(
        "build {build:.1} s (ours, float32: {})",
        ours.map_or("not run".into(), |o| format!(
            "{o:.1} s; hnswlib / ours = {:.2}",
            build / o
        ))
    );
    for ef in efs {
        let e = &peer["ef"][ef.to_string()];
        println!(
            "ef={ef:<4} recall@1 {:.3}  recall@10 {:.3}  search k=1 p50 {:.0} µs  p99 {:.0} µs",
            e["recall1"].as_f64().unwrap_or(f64::NAN),
            e["recall10"].as_f64().unwrap_or(f64::NAN),
            e["p50_us"].as_f64().unwrap_or(f64::NAN),
            e["p99_us"].as_f64().unwrap_or(f64::NAN)
        );
    }
}
