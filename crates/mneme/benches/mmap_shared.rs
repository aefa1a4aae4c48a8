//! mmap-shared against single mode, N worker processes on one SQLite file: the memory of the N
//! together (proportional set size, so shared pages count once, from /proc/PID/smaps_rollup),
//! semantic get p50/p99, put p50/p99, and how long a put by one worker takes to become a hit
//! in another.
//!
//! `cargo bench -p mneme --bench mmap_shared` (scripts/bench-mmap.sh). Environment:
//! `MNEME_BENCH_ROWS` (100000), `MNEME_BENCH_DIM` (768), `MNEME_BENCH_WORKERS` (4),
//! `MNEME_BENCH_CALLS` (300). The seeded file is kept in `target/bench-mmap/`.

use mneme::store::{SqliteStore, Store, StoredEntry};
use mneme::{Get, Metadata, MultiProcessMode, SemanticCache, VectorDtype};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

struct Rng(u64);

impl Rng {
    fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }

    fn unit(&mut self, dim: usize) -> Vec<f32> {
        let mut v: Vec<f32> = (0..dim).map(|_| self.next_f32()).collect();
        mneme::quant::l2_normalize(&mut v);
        v
    }
}

/// The stamp of the seeded file; workers pass embeddings, so it never embeds.
struct Stamp(usize);

impl mneme::Embedder for Stamp {
    fn dim(&self) -> usize {
        self.0
    }
    fn fingerprint(&self) -> &str {
        "bench:mmap"
    }
    fn embed(&self, _: &str) -> Result<Vec<f32>, mneme::BoxError> {
        Err("the benchmark passes embeddings".into())
    }
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn seed(path: &Path, rows: usize, dim: usize) {
    if path.exists() {
        return;
    }
    let tmp = path.with_extension("seeding");
    let _ = std::fs::remove_file(&tmp);
    let store = SqliteStore::new(&tmp);
    store.open("bench:mmap", dim).unwrap();
    let mut rng = Rng(42);
    for chunk in (0..rows).collect::<Vec<_>>().chunks(5_000) {
        let batch: Vec<StoredEntry> = chunk
            .iter()
            .map(|i| StoredEntry {
                id: 0,
                namespace: "default".into(),
                query_hash: mneme::hash_query(&format!("q{i}")),
                query: format!("q{i}"),
                response: format!("r{i}"),
                embedding: mneme::quant::f32_to_le_bytes(&rng.unit(dim)),
                metadata: Metadata::new(),
                created_at: 1_800_000_000,
                last_accessed_at: 1_800_000_000,
                ttl: None,
                access_count: 0,
            })
            .collect();
        store.insert_batch(&batch).unwrap();
    }
    store.close().unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn micros(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    (at(0.5), at(0.99))
}

fn unix_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// `Pss` and `Rss` of this process, in KiB.
fn memory_kib() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("Pss:"), field("Rss:"))
}

/// A worker: opens the cache, runs the gets (and, for worker 0, the puts), reports, then
/// answers the visibility probe and waits to be told to exit (so the memory of all workers is
/// read while they are all alive).
fn worker(path: &Path, mode: MultiProcessMode, dtype: VectorDtype, index: usize) {
    let dim = env("MNEME_BENCH_DIM", 768);
    let calls = env("MNEME_BENCH_CALLS", 300);
    let started = Instant::now();
    let cache = SemanticCache::builder(Stamp(dim))
        .path(path)
        .multi_process_mode(mode)
        .vector_dtype(dtype)
        .open()
        .unwrap();
    let open = started.elapsed();
    let mut rng = Rng(7 + index as u64);
    let mut gets = Vec::with_capacity(calls);
    for _ in 0..calls {
        let v = rng.unit(dim);
        let t = Instant::now();
        let _ = cache
            .get_with("probe", Get::default().embedding(&v))
            .unwrap();
        gets.push(t.elapsed());
    }
    let mut puts = Vec::new();
    if index == 0 {
        for i in 0..calls / 3 {
            let v = rng.unit(dim);
            let t = Instant::now();
            cache
                .put_with(
                    &format!("bench put {i}"),
                    "x",
                    mneme::Put::default().embedding(&v),
                )
                .unwrap();
            puts.push(t.elapsed());
        }
    }
    let (g50, g99) = micros(gets);
    let (p50, p99) = if puts.is_empty() {
        (0.0, 0.0)
    } else {
        micros(puts)
    };
    let (pss, rss) = memory_kib();
    println!(
        "report {} {g50} {g99} {p50} {p99} {pss} {rss}",
        open.as_secs_f64()
    );
    std::io::stdout().flush().unwrap();
    // Visibility: worker 0 puts a fresh vector when told; the others poll for it.
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    let fresh = Rng(999).unit(dim);
    if mode == MultiProcessMode::Single {
        println!("visible 0"); // single mode never refreshes its index
    } else if index == 0 {
        let sent = unix_nanos();
        cache
            .put_with(
                "visibility probe",
                "seen",
                mneme::Put::default().embedding(&fresh),
            )
            .unwrap();
        println!("visible {sent}");
    } else {
        loop {
            let hit = cache
                .get_with("never", Get::default().embedding(&fresh))
                .unwrap();
            if hit.is_some_and(|h| h.response == "seen") {
                println!("visible {}", unix_nanos());
                break;
            }
        }
    }
    std::io::stdout().flush().unwrap();
    line.clear();
    std::io::stdin().read_line(&mut line).unwrap();
    cache.close().unwrap();
}

struct Run {
    open_s: f64,
    get: (f64, f64),
    put: (f64, f64),
    pss_mib: f64,
    rss_mib: f64,
    visible_ms: f64,
}

fn run(seed_file: &Path, dir: &Path, mode: MultiProcessMode, dtype: VectorDtype) -> Run {
    let workers = env("MNEME_BENCH_WORKERS", 4);
    let path = dir.join(format!("{}-{}.db", mode.as_str(), dtype.as_str()));
    for ext in ["", "-wal", "-shm", ".vectors", ".vectors.lock"] {
        let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
    }
    std::fs::copy(seed_file, &path).unwrap();
    // The first open builds the sidecar; workers then attach to it.
    SemanticCache::builder(Stamp(env("MNEME_BENCH_DIM", 768)))
        .path(&path)
        .multi_process_mode(mode)
        .vector_dtype(dtype)
        .open()
        .unwrap()
        .close()
        .unwrap();
    let mut children: Vec<_> = (0..workers)
        .map(|i| {
            Command::new(std::env::current_exe().unwrap())
                .env(
                    "MNEME_BENCH_WORKER",
                    format!(
                        "{i} {} {} {}",
                        path.display(),
                        mode.as_str(),
                        dtype.as_str()
                    ),
                )
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut readers: Vec<_> = children
        .iter_mut()
        .map(|c| BufReader::new(c.stdout.take().unwrap()).lines())
        .collect();
    let reports: Vec<Vec<f64>> = readers
        .iter_mut()
        .map(|r| {
            let line = r.next().unwrap().unwrap();
            line.split_whitespace()
                .skip(1)
                .map(|x| x.parse().unwrap())
                .collect()
        })
        .collect();
    for c in &mut children {
        writeln!(c.stdin.as_mut().unwrap()).unwrap();
    }
    let times: Vec<u128> = readers
        .iter_mut()
        .map(|r| {
            let line = r.next().unwrap().unwrap();
            line.split_whitespace().nth(1).unwrap().parse().unwrap()
        })
        .collect();
    for c in &mut children {
        writeln!(c.stdin.as_mut().unwrap()).unwrap();
        c.wait().unwrap();
    }
    // The slowest worker to see worker 0's put, from when it was sent.
    let others = times[1..]
        .iter()
        .map(|t| t.saturating_sub(times[0]))
        .max()
        .unwrap_or(0);
    let mean = |i: usize| reports.iter().map(|r| r[i]).sum::<f64>() / reports.len() as f64;
    Run {
        open_s: mean(0),
        get: (mean(1), mean(2)),
        put: (reports[0][3], reports[0][4]),
        pss_mib: reports.iter().map(|r| r[5]).sum::<f64>() / 1024.0,
        rss_mib: reports.iter().map(|r| r[6]).sum::<f64>() / 1024.0,
        visible_ms: others as f64 / 1e6,
    }
}

fn main() {
    if let Ok(spec) = std::env::var("MNEME_BENCH_WORKER") {
        let parts: Vec<&str> = spec.splitn(4, ' ').collect();
        let (index, path, mode, dtype) = (parts[0], parts[1], parts[2], parts[3]);
        worker(
            &PathBuf::from(path),
            mode.parse().unwrap(),
            dtype.parse().unwrap(),
            index.parse().unwrap(),
        );
        return;
    }
    let (rows, dim, workers) = (
        env("MNEME_BENCH_ROWS", 100_000),
        env("MNEME_BENCH_DIM", 768),
        env("MNEME_BENCH_WORKERS", 4),
    );
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-mmap");
    std::fs::create_dir_all(&dir).unwrap();
    let seed_file = dir.join(format!("seed-{rows}x{dim}.db"));
    let t = Instant::now();
    seed(&seed_file, rows, dim);
    println!(
        "seed {} ({rows} x {dim}) ready in {:.1?}",
        seed_file.display(),
        t.elapsed()
    );
    println!(
        "\n{workers} workers, {rows} x {dim}; times per worker (mean of the workers' p50/p99), memory of all {workers} together\n"
    );
    println!(
        "{:<8} {:<13} {:>8} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "dtype",
        "mode",
        "open s",
        "get p50",
        "get p99",
        "put p50",
        "put p99",
        "PSS MiB",
        "RSS MiB",
        "visible"
    );
    for dtype in [VectorDtype::Float32, VectorDtype::Int8] {
        let mut single_get = 0.0;
        for mode in [MultiProcessMode::Single, MultiProcessMode::MmapShared] {
            let r = run(&seed_file, &dir, mode, dtype);
            let visible = if mode == MultiProcessMode::Single {
                "never".to_owned()
            } else {
                format!("{:.2} ms", r.visible_ms)
            };
            println!(
                "{:<8} {:<13} {:>8.2} {:>8.0}us {:>8.0}us {:>8.0}us {:>8.0}us {:>10.0} {:>10.0} {:>10}",
                dtype.as_str(), mode.as_str(), r.open_s, r.get.0, r.get.1, r.put.0, r.put.1, r.pss_mib, r.rss_mib, visible
            );
            if mode == MultiProcessMode::Single {
                single_get = r.get.0;
            } else {
                println!(
                    "{:<8} {:<13} get p50 ratio to single: {:.2}x",
                    "",
                    "",
                    r.get.0 / single_get
                );
            }
        }
    }
}
