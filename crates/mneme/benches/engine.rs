//! Engine benchmarks, side by side with mneme-cache 1.0 on the same machine, in one run.
//!
//! `scripts/bench.sh` runs this (`cargo bench --bench engine`). It seeds a 100k-row SQLite file,
//! measures mneme on it, then runs `benches/peer_bench.py` under the mneme-cache 1.0 peer on the
//! *same file* (the formats are compatible), and prints p50/p99 for both with the ratio.
//! Methodology follows mneme-cache's published harness (its benchmark harness), except that the exact
//! layer is really exercised (the 1.0 harness stored a fake hash; that variant is reported too).
//!
//! Environment: `MNEME_BENCH_ROWS` (100000), `MNEME_BENCH_CALLS` (1000), `MNEME_PEER_PYTHON`
//! (default `.venv-peer/bin/python`; set `MNEME_BENCH_NO_PEER=1` to skip the comparison).

#[path = "support/bound.rs"]
mod bound;

use bound::bandwidth_bound;
use mneme::metadata::{parse, Value};
use mneme::store::{SqliteStore, Store, StoredEntry};
use mneme::{Embedder, Get, Metadata, Put, SemanticCache, VectorDtype};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Seeded unit vectors (xorshift + Box-Muller), like the 1.0 harness's `rng(42).normal`.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    fn unit(&mut self, dim: usize) -> Vec<f32> {
        let mut v: Vec<f32> = (0..dim)
            .map(|_| {
                let (u1, u2) = (self.next_f64().max(1e-12), self.next_f64());
                ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
            })
            .collect();
        mneme::quant::l2_normalize(&mut v);
        v
    }
}

/// The harness embedder: a seeded unit vector from the text's SHA-256 (fingerprint `perf:fp:D`).
struct PerfEmbedder {
    dim: usize,
    fingerprint: String,
}

impl PerfEmbedder {
    fn new(dim: usize) -> Self {
        PerfEmbedder {
            dim,
            fingerprint: format!("perf:fp:{dim}"),
        }
    }
}

impl Embedder for PerfEmbedder {
    fn dim(&self) -> usize {
        self.dim
    }
    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
    fn embed(&self, text: &str) -> Result<Vec<f32>, mneme::BoxError> {
        let h = mneme::hash_query(text);
        let seed = u64::from_str_radix(&h[..16], 16).unwrap_or(1) | 1;
        Ok(Rng(seed).unit(self.dim))
    }
}

/// p50 and p99 (index `int(n × 0.99)` of the sorted samples, as the 1.0 harness does), in µs.
#[derive(Clone, Copy, Debug)]
struct Summary {
    p50: f64,
    p99: f64,
    max: f64,
    n: usize,
}

fn summarize(mut samples: Vec<Duration>) -> Summary {
    samples.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let n = samples.len();
    Summary {
        p50: us(samples[n / 2]),
        p99: us(samples[((n as f64 * 0.99) as usize).min(n - 1)]),
        max: us(samples[n - 1]),
        n,
    }
}

fn time_calls(n: usize, mut f: impl FnMut(usize)) -> Summary {
    let samples = (0..n)
        .map(|i| {
            let t = Instant::now();
            f(i);
            t.elapsed()
        })
        .collect();
    summarize(samples)
}

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Seeds `rows` rows directly into a SQLiteStore, as the 1.0 harness does, with real hashes.
fn seed(path: &Path, rows: usize, dim: usize) {
    if path.exists() {
        return;
    }
    let tmp = path.with_extension("seeding");
    let _ = std::fs::remove_file(&tmp);
    let store = SqliteStore::new(&tmp);
    store.open(&format!("perf:fp:{dim}"), dim).unwrap();
    let mut rng = Rng(42);
    let now = 1_700_000_000;
    for chunk in (0..rows).collect::<Vec<_>>().chunks(5_000) {
        let batch: Vec<StoredEntry> = chunk
            .iter()
            .map(|i| StoredEntry {
                id: 0,
                namespace: "default".into(),
                query_hash: mneme::hash_query(&mneme::normalize(&format!("q{i}"))),
                query: format!("q{i}"),
                response: format!("r{i}"),
                embedding: mneme::quant::f32_to_le_bytes(&rng.unit(dim)),
                metadata: Metadata::new(),
                created_at: now,
                last_accessed_at: now,
                ttl: None,
                access_count: 0,
            })
            .collect();
        store.insert_batch(&batch).unwrap();
    }
    store.close().unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// What bare SQLite costs for Layer 1's read and for a put's write on a fresh copy of the same
/// file, through one connection with the store's pragmas and the same statements (the put's
/// upsert is select-then-insert plus the version bump, as the compatible format requires):
/// the floor under our exact get and put.
fn sqlite_floor(
    seed: &Path,
    work: &Path,
    rows: usize,
    calls: usize,
    dim: usize,
) -> (Summary, Summary) {
    copy_db(seed, work);
    let c = rusqlite::Connection::open(work).unwrap();
    c.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-10000; \
         PRAGMA mmap_size=2147483648;",
    )
    .unwrap();
    let read = |i: usize| {
        let hash = mneme::hash_query(&mneme::normalize(&format!("q{i}")));
        let row: (i64, String, String, String) = c
            .prepare_cached(
                "SELECT id, query, response, metadata FROM entries \
                 WHERE namespace = 'default' AND query_hash = ?1",
            )
            .unwrap()
            .query_row([hash], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap();
        std::hint::black_box(row);
    };
    for i in 0..100 {
        read(i * 37 % rows);
    }
    let reads = time_calls(calls, |i| read((i * 7919) % rows));
    let mut rng = Rng(7);
    let vecs: Vec<Vec<u8>> = (0..calls)
        .map(|_| mneme::quant::f32_to_le_bytes(&rng.unit(dim)))
        .collect();
    let writes = time_calls(calls, |i| {
        let hash = mneme::hash_query(&format!("floor-{i}"));
        c.execute_batch("BEGIN IMMEDIATE").unwrap();
        let existing: Option<i64> = c
            .prepare_cached(
                "SELECT id FROM entries WHERE namespace = 'default' AND query_hash = ?1",
            )
            .unwrap()
            .query_row([&hash], |r| r.get(0))
            .ok();
        assert!(existing.is_none());
        c.prepare_cached(
            "INSERT INTO entries (namespace, query_hash, query, response, embedding, metadata, \
             created_at, last_accessed_at, ttl, access_count) \
             VALUES ('default', ?1, ?2, 'resp', ?3, '{}', 1700000000, 1700000000, NULL, 0)",
        )
        .unwrap()
        .execute(rusqlite::params![hash, format!("floor-{i}"), vecs[i]])
        .unwrap();
        c.prepare_cached(
            "UPDATE multi_process_state SET value = CAST(value AS INTEGER) + 1 \
             WHERE key = 'version_counter'",
        )
        .unwrap()
        .execute([])
        .unwrap();
        c.execute_batch("COMMIT").unwrap();
    });
    (reads, writes)
}

fn copy_db(from: &Path, to: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", to.display()));
    }
    std::fs::copy(from, to).unwrap();
}

struct Row {
    name: String,
    ours: Summary,
    peer_key: &'static str,
}

fn main() {
    let rows = env_usize("MNEME_BENCH_ROWS", 100_000);
    let calls = env_usize("MNEME_BENCH_CALLS", 1_000);
    let out = workspace().join("bench-out");
    std::fs::create_dir_all(&out).unwrap();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("mneme engine benchmark: {rows} rows, {calls} calls per row, {threads} cores, kernels {:?}\n",
        mneme::index::kernels::Kernels::detect());

    let mut table: Vec<Row> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let dim = 768;
    let seed768 = out.join(format!("seed-{rows}x{dim}.db"));
    seed(&seed768, rows, dim);
    let work = out.join("work.db");
    copy_db(&seed768, &work);

    // Open + index rebuild.
    for (dtype, key) in [
        (VectorDtype::Float32, "open_f32"),
        (VectorDtype::Int8, "open_int8"),
    ] {
        let s = time_calls(10, |_| {
            let c = SemanticCache::builder(PerfEmbedder::new(dim))
                .path(&work)
                .vector_dtype(dtype)
                .open()
                .unwrap();
            std::hint::black_box(&c);
            c.close().unwrap();
        });
        table.push(Row {
            name: format!("open + index rebuild {dtype}, {rows} x {dim}"),
            ours: s,
            peer_key: key,
        });
    }

    let cache = SemanticCache::builder(PerfEmbedder::new(dim))
        .path(&work)
        .open()
        .unwrap();
    let mut rng = Rng(7);

    // Exact get, really through Layer 1.
    for i in 0..100 {
        cache.get(&format!("q{}", i * 37 % rows)).unwrap().unwrap();
    }
    let s = time_calls(calls, |i| {
        let h = cache.get(&format!("q{}", (i * 7919) % rows)).unwrap();
        assert!(h.is_some());
    });
    table.push(Row {
        name: format!("exact get @ {rows} (real Layer 1)"),
        ours: s,
        peer_key: "exact_get",
    });

    // Semantic gets: "never-existed" with a random embedding (a full scan, then a miss).
    let queries: Vec<Vec<f32>> = (0..calls.max(100)).map(|_| rng.unit(dim)).collect();
    for dtype in [VectorDtype::Float32, VectorDtype::Int8] {
        cache.requantize(dtype).unwrap();
        for q in queries.iter().take(20) {
            cache
                .get_with("never-existed", Get::default().embedding(q))
                .unwrap();
        }
        let s = time_calls(calls, |i| {
            std::hint::black_box(
                cache
                    .get_with(
                        "never-existed",
                        Get::default().embedding(&queries[i % queries.len()]),
                    )
                    .unwrap(),
            );
        });
        let key = if dtype == VectorDtype::Float32 {
            "semantic_f32_768"
        } else {
            "semantic_int8_768"
        };
        table.push(Row {
            name: format!("semantic get {dtype}, {rows} x {dim}"),
            ours: s,
            peer_key: key,
        });
    }
    cache.requantize(VectorDtype::Float32).unwrap();
    let bound = bandwidth_bound(rows * dim * 4, threads);
    let f32_p50 = table
        .iter()
        .find(|r| r.peer_key == "semantic_f32_768")
        .unwrap()
        .ours
        .p50;
    let int8_p50 = table
        .iter()
        .find(|r| r.peer_key == "semantic_int8_768")
        .unwrap()
        .ours
        .p50;
    notes.push(format!(
        "memory-bandwidth bound for one pass over {} MB with {threads} threads: {:.0} µs; f32 semantic p50 = {:.2}x the bound; int8 is {:.2}x faster than f32",
        rows * dim * 4 / 1_000_000, bound, f32_p50 / bound, f32_p50 / int8_p50
    ));

    // Put @ rows, no eviction (new keys, precomputed embeddings).
    let vecs: Vec<Vec<f32>> = (0..calls).map(|_| rng.unit(dim)).collect();
    let s = time_calls(calls, |i| {
        cache
            .put_with(
                &format!("new-{i}"),
                "resp",
                Put::default().embedding(&vecs[i]),
            )
            .unwrap();
    });
    table.push(Row {
        name: format!("put @ {rows}, no eviction"),
        ours: s,
        peer_key: "put",
    });
    cache.close().unwrap();

    let (floor_read, floor_write) = sqlite_floor(&seed768, &work, rows, calls, dim);
    let ours = |key: &str| table.iter().find(|r| r.peer_key == key).unwrap().ours.p50;
    notes.push(format!(
        "bare SQLite on the same file (see sqlite_floor): Layer 1's read p50 {}, a put's write p50 {}; \
         our exact get is {:.2}x and our put {:.2}x that floor",
        fmt_us(floor_read.p50),
        fmt_us(floor_write.p50),
        ours("exact_get") / floor_read.p50,
        ours("put") / floor_write.p50,
    ));

    // Put with 10 % eviction: cap 10k, d 384.
    let d384 = 384;
    let seed384 = out.join(format!("seed-10000x{d384}.db"));
    seed(&seed384, 10_000, d384);
    let work384 = out.join("work384.db");
    copy_db(&seed384, &work384);
    let capped = SemanticCache::builder(PerfEmbedder::new(d384))
        .path(&work384)
        .max_entries(10_000)
        .open()
        .unwrap();
    let vecs: Vec<Vec<f32>> = (0..calls).map(|_| rng.unit(d384)).collect();
    let s = time_calls(calls, |i| {
        capped
            .put_with(
                &format!("evict-{i}"),
                "resp",
                Put::default().embedding(&vecs[i]),
            )
            .unwrap();
    });
    table.push(Row {
        name: "put with 10% eviction (cap 10k, d 384); max = the evicting put".into(),
        ours: s,
        peer_key: "put_evict",
    });

    // Single-thread throughput, 90 % hits, 10k x 384.
    let ops = 20_000;
    let t = Instant::now();
    for i in 0..ops {
        if i % 10 == 9 {
            capped
                .get_with("miss", Get::default().embedding(&vecs[i % vecs.len()]))
                .unwrap();
        } else {
            capped
                .get(&format!("q{}", 5_000 + (i * 13) % 5_000))
                .unwrap();
        }
    }
    let ops_per_s = ops as f64 / t.elapsed().as_secs_f64();
    capped.close().unwrap();

    // The peer, on the same files.
    let peer = if std::env::var_os("MNEME_BENCH_NO_PEER").is_some() {
        None
    } else {
        run_peer(&seed768, &seed384, rows, calls)
    };
    print_table(&table, peer.as_ref(), ops_per_s);
    for n in notes {
        println!("- {n}");
    }
}

fn run_peer(seed768: &Path, seed384: &Path, rows: usize, calls: usize) -> Option<Value> {
    let python = std::env::var_os("MNEME_PEER_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".venv-peer/bin/python"));
    if !python.exists() {
        eprintln!(
            "peer python {} missing: run scripts/setup-peer.sh (or scripts/bench.sh)",
            python.display()
        );
        return None;
    }
    eprintln!("running the mneme-cache 1.0 peer on the same files...");
    let out = std::process::Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peer_bench.py"))
        .args([
            seed768.to_str().unwrap(),
            seed384.to_str().unwrap(),
            &rows.to_string(),
            &calls.to_string(),
        ])
        .output()
        .expect("run the peer");
    if !out.status.success() {
        eprintln!("peer failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    parse(std::str::from_utf8(&out.stdout).unwrap()).ok()
}

fn peer_summary(peer: Option<&Value>, key: &str) -> Option<(f64, f64, f64)> {
    let Value::Object(m) = peer?.clone() else {
        return None;
    };
    let Value::Object(r) = m.get(key)?.clone() else {
        return None;
    };
    let num = |k: &str| match r.get(k) {
        Some(Value::Float(f)) => Some(*f),
        Some(Value::Int(i)) => Some(*i as f64),
        _ => None,
    };
    Some((num("p50")?, num("p99")?, num("n")?))
}

fn fmt_us(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.1} µs")
    }
}

fn print_table(table: &[Row], peer: Option<&Value>, ops_per_s: f64) {
    println!("| workload | mneme p50 | mneme p99 | mneme-cache 1.0 p50 | mneme-cache 1.0 p99 | p50 ratio (1.0 / mneme) |");
    println!("|---|---|---|---|---|---|");
    for r in table {
        let (pp50, pp99, ratio) = match peer_summary(peer, r.peer_key) {
            Some((p50, p99, n)) => (
                format!("{} (n={n})", fmt_us(p50)),
                fmt_us(p99),
                format!("{:.1}x", p50 / r.ours.p50),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        let max = if r.peer_key == "put_evict" || r.peer_key == "put" {
            format!(" (max {})", fmt_us(r.ours.max))
        } else {
            String::new()
        };
        println!(
            "| {} | {} (n={}) | {}{max} | {pp50} | {pp99} | {ratio} |",
            r.name,
            fmt_us(r.ours.p50),
            r.ours.n,
            fmt_us(r.ours.p99)
        );
    }
    if let Some((_, _, _)) = peer_summary(peer, "exact_get_1_0_harness") {
        let (p50, p99, n) = peer_summary(peer, "exact_get_1_0_harness").unwrap();
        println!("| 1.0-harness 'exact get' (fake hash: really a Layer-2 miss), peer only | - | - | {} (n={n}) | {} | - |", fmt_us(p50), fmt_us(p99));
    }
    let peer_ops = match peer {
        Some(Value::Object(m)) => match m.get("throughput_ops") {
            Some(Value::Float(f)) => format!("{f:.0} ops/s, {:.1}x", ops_per_s / f),
            _ => "-".into(),
        },
        _ => "-".into(),
    };
    println!("| single-thread throughput, 90% exact hits, 10k x 384 | {ops_per_s:.0} ops/s | | {peer_ops} | | |");
    println!();
}
