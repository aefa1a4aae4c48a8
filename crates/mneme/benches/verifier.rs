//! What the verifier stage costs: `check` alone on query pairs, and a semantic hit on a
//! 20 000-entry cache without a verifier, with the guard and with `Recommended`, one process,
//! p50/p99 and the added time. Run with `cargo bench --bench verifier`.

use mneme::verify::{ConsistencyGuard, Recommended, Verifier};
use mneme::{Get, LexicalEmbedder, MemoryStore, Put, SemanticCache};
use std::time::Instant;

const ROWS: usize = 20_000;
const DIM: usize = 384;
const CALLS: usize = 4_000;

/// A splitmix64 stream: the same vectors on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }
    fn unit(&mut self) -> Vec<f32> {
        let v: Vec<f32> = (0..DIM).map(|_| self.next()).collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / n).collect()
    }
}

fn percentiles(mut us: Vec<f64>) -> (f64, f64) {
    us.sort_by(f64::total_cmp);
    (
        us[us.len() / 2],
        us[(us.len() * 99 / 100).min(us.len() - 1)],
    )
}

fn time(n: usize, mut f: impl FnMut(usize)) -> (f64, f64) {
    percentiles(
        (0..n)
            .map(|i| {
                let t = Instant::now();
                f(i);
                t.elapsed().as_secs_f64() * 1e6
            })
            .collect(),
    )
}

fn question(i: usize) -> String {
    let topics = [
        "reset my password",
        "cancel my subscription",
        "ship to Canada",
        "upgrade the plan",
    ];
    format!("How do I {} for account {}?", topics[i % topics.len()], i)
}

fn main() {
    let mut rng = Rng(7);
    let rows: Vec<Vec<f32>> = (0..ROWS).map(|_| rng.unit()).collect();
    let queries: Vec<String> = (0..ROWS).map(question).collect();
    // Each asked query is a stored one, slightly moved, reworded the same way.
    let asked: Vec<(String, Vec<f32>)> = (0..CALLS)
        .map(|i| {
            let k = (i * 7919) % ROWS;
            let v: Vec<f32> = rows[k].iter().map(|x| x + 0.002 * rng.next()).collect();
            (format!("how can I {}", &queries[k]["How do I ".len()..]), v)
        })
        .collect();

    println!("verifier check alone ({CALLS} pairs), microseconds");
    let guard = ConsistencyGuard::default();
    let recommended = Recommended::default();
    for (name, v) in [
        ("guard", &guard as &dyn Verifier),
        ("recommended", &recommended),
    ] {
        let (p50, p99) = time(CALLS, |i| {
            let k = (i * 7919) % ROWS;
            let _ = std::hint::black_box(v.check(&asked[i].0, &queries[k], 0.97));
        });
        println!("  {name:<12} p50 {p50:>7.1}  p99 {p99:>7.1}");
    }

    println!("\nsemantic hit on {ROWS} x {DIM} float32 (memory store), microseconds");
    let mut base = None;
    for name in ["none", "guard", "recommended"] {
        let mut b = SemanticCache::builder(LexicalEmbedder::new(DIM))
            .store(MemoryStore::new())
            .similarity_threshold(0.5);
        b = match name {
            "guard" => b.verifier(ConsistencyGuard::default()),
            "recommended" => b.verifier(Recommended::default()),
            _ => b,
        };
        let cache = b.open().unwrap();
        let items: Vec<(&str, &str, Put<'_>)> = queries
            .iter()
            .zip(&rows)
            .map(|(q, v)| (q.as_str(), "answer", Put::default().embedding(v)))
            .collect();
        cache.put_many(items).unwrap();
        let (p50, p99) = time(CALLS, |i| {
            let (text, v) = &asked[i];
            let _ =
                std::hint::black_box(cache.get_with(text, Get::default().embedding(v)).unwrap());
        });
        let added = base.map_or(String::new(), |b: f64| {
            format!("  added p50 {:+.1}", p50 - b)
        });
        base.get_or_insert(p50);
        println!("  {name:<12} p50 {p50:>7.1}  p99 {p99:>7.1}{added}");
    }
}
