//! Trains the learned verifier (`mneme::verify::LearnedVerifier`) on labelled pairs, writes its
//! weights to `crates/mneme/src/verify/weights.rs` and prints the held-out report that
//! DECISIONS.md quotes.
//!
//! ```sh
//! cargo run --release -p mneme-embed --example train_verifier -- ../shared/datasets 24000
//! ```
//!
//! The QQP pairs are shuffled with a fixed seed and split two thirds for training, one third
//! held out; figures are on the held-out third only. Cosines come from the built-in
//! all-MiniLM-L6-v2 and are kept in `target/` so reruns skip the embedding.

// Matrix code (the Newton step, the solver) reads clearer with indices.
#![allow(clippy::needless_range_loop)]

use flate2::read::GzDecoder;
use mneme::tools::calibrate::score_pair;
use mneme::verify::{ConsistencyGuard, Features, Verifier};
use mneme_embed::{default_model_dir, LocalEmbedder};
use std::io::{BufRead, BufReader, Write};

const SEED: u64 = 20_261_130;
/// The similarity threshold our fronts use with the verifier on.
const FRONT_THRESHOLD: f64 = 0.80;
/// The largest share of trap pairs the recommended setting may serve (on training data).
const MAX_TRAPS_SERVED: f64 = 0.01;

struct Pair {
    a: String,
    b: String,
    same: bool,
    cos: f64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dir = args.get(1).map_or("../shared/datasets", String::as_str);
    let n: usize = args.get(2).map_or(Ok(24_000), |s| s.parse())?;
    let mut pairs = read_pairs(&format!("{dir}/qqp-labelled-pairs.jsonl.gz"))?;
    shuffle(&mut pairs, SEED);
    pairs.truncate(n);
    cosines(&mut pairs, &format!("target/train-verifier-{n}.cos"))?;
    let (train, held) = pairs.split_at(pairs.len() * 2 / 3);
    println!(
        "{} training pairs, {} held out (seed {SEED})",
        train.len(),
        held.len()
    );

    let xs: Vec<Features> = train
        .iter()
        .map(|p| Features::of(&p.a, &p.b, p.cos))
        .collect();
    let ys: Vec<f64> = train.iter().map(|p| f64::from(u8::from(p.same))).collect();
    let (weights, bias) = fit(&xs, &ys, 1e-3);
    let cutoff = cutoff_for(train, &weights, bias);
    write_weights(&weights, bias, cutoff)?;
    println!("cutoff {cutoff:.4} (at most {:.0}% of training traps served at threshold {FRONT_THRESHOLD})\n", MAX_TRAPS_SERVED * 100.0);

    report("held-out QQP", held, &weights, bias, cutoff);
    let traps = read_traps("crates/mneme/tests/data/traps.jsonl")?;
    let mut traps = traps;
    cosines(&mut traps, "target/train-verifier-traps.cos")?;
    report(
        "hand-written traps (crates/mneme/tests/data/traps.jsonl)",
        &traps,
        &weights,
        bias,
        cutoff,
    );
    Ok(())
}

fn read_pairs(path: &str) -> Result<Vec<Pair>, Box<dyn std::error::Error>> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("{path}: {e} (pass the datasets folder)"))?;
    parse(BufReader::new(GzDecoder::new(file)))
}

fn read_traps(path: &str) -> Result<Vec<Pair>, Box<dyn std::error::Error>> {
    parse(BufReader::new(std::fs::File::open(path)?))
}

fn parse(r: impl BufRead) -> Result<Vec<Pair>, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    for line in r.lines() {
        let v: serde_json::Value = serde_json::from_str(&line?)?;
        let text = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
        out.push(Pair {
            a: text("a"),
            b: text("b"),
            same: v["same_answer"].as_bool().unwrap_or(false),
            cos: 0.0,
        });
    }
    Ok(out)
}

/// Fisher-Yates with splitmix64: the same split on every machine.
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    for i in (1..items.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// Fills each pair's cosine, from `cache` when it holds them.
fn cosines(pairs: &mut [Pair], cache: &str) -> Result<(), Box<dyn std::error::Error>> {
    if let Ok(bytes) = std::fs::read(cache) {
        if bytes.len() == pairs.len() * 8 {
            for (p, c) in pairs.iter_mut().zip(bytes.chunks_exact(8)) {
                p.cos = f64::from_le_bytes(c.try_into()?);
            }
            return Ok(());
        }
    }
    let model = LocalEmbedder::open(default_model_dir())?;
    let started = std::time::Instant::now();
    for (i, chunk) in pairs.chunks_mut(256).enumerate() {
        let texts: Vec<&str> = chunk
            .iter()
            .flat_map(|p| [p.a.as_str(), p.b.as_str()])
            .collect();
        let vectors = mneme::Embedder::embed_batch(&model, &texts).map_err(|e| e.to_string())?;
        for (p, v) in chunk.iter_mut().zip(vectors.chunks_exact(2)) {
            // Scored as the cache scores a candidate.
            p.cos = score_pair(&v[0], &v[1], mneme::VectorDtype::Float32);
        }
        eprint!(
            "\rembedded {} pairs ({:.0} s)",
            (i + 1) * 256,
            started.elapsed().as_secs_f64()
        );
    }
    eprintln!();
    let bytes: Vec<u8> = pairs.iter().flat_map(|p| p.cos.to_le_bytes()).collect();
    std::fs::write(cache, bytes)?;
    Ok(())
}

/// L2-regularised logistic regression by Newton's method (a few dozen features: the Hessian is
/// tiny).
fn fit(xs: &[Features], ys: &[f64], l2: f64) -> ([f64; Features::LEN], f64) {
    const D: usize = Features::LEN + 1;
    let mut w = [0.0f64; D];
    for _ in 0..30 {
        let mut grad = [0.0f64; D];
        let mut hess = vec![[0.0f64; D]; D];
        for (x, y) in xs.iter().zip(ys) {
            let mut row = [1.0f64; D];
            row[1..].copy_from_slice(&x.0);
            let z: f64 = row.iter().zip(&w).map(|(a, b)| a * b).sum();
            let p = 1.0 / (1.0 + (-z).exp());
            for i in 0..D {
                grad[i] += (p - y) * row[i];
                for j in 0..D {
                    hess[i][j] += p * (1.0 - p) * row[i] * row[j];
                }
            }
        }
        let n = xs.len() as f64;
        for i in 0..D {
            grad[i] = grad[i] / n + if i > 0 { l2 * w[i] } else { 0.0 };
            for j in 0..D {
                hess[i][j] = hess[i][j] / n + if i == j { l2.max(1e-9) } else { 0.0 };
            }
        }
        let step = solve(hess, grad);
        for i in 0..D {
            w[i] -= step[i];
        }
    }
    let mut weights = [0.0; Features::LEN];
    weights.copy_from_slice(&w[1..]);
    (weights, w[0])
}

/// Gaussian elimination with partial pivoting.
fn solve<const D: usize>(mut a: Vec<[f64; D]>, mut b: [f64; D]) -> [f64; D] {
    for col in 0..D {
        let pivot = (col..D)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .unwrap_or(col);
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..D {
            let f = a[row][col] / a[col][col];
            for k in col..D {
                a[row][k] -= f * a[col][k];
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = [0.0; D];
    for row in (0..D).rev() {
        let s: f64 = (row + 1..D).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    x
}

/// The lowest cutoff that serves at most `MAX_TRAPS_SERVED` of the training traps.
fn cutoff_for(train: &[Pair], weights: &[f64; Features::LEN], bias: f64) -> f64 {
    let traps = train.iter().filter(|p| !p.same).count() as f64;
    let mut scores: Vec<f64> = train
        .iter()
        .filter(|p| !p.same && p.cos >= FRONT_THRESHOLD)
        .map(|p| Features::of(&p.a, &p.b, p.cos).probability(weights, bias))
        .collect();
    scores.sort_by(|a, b| b.total_cmp(a));
    let allowed = (traps * MAX_TRAPS_SERVED).floor() as usize;
    scores.get(allowed).map_or(0.5, |s| s + 1e-9)
}

fn write_weights(weights: &[f64; Features::LEN], bias: f64, cutoff: f64) -> std::io::Result<()> {
    let mut f = std::fs::File::create("crates/mneme/src/verify/weights.rs")?;
    writeln!(f, "//! Generated by `cargo run --release -p mneme-embed --example train_verifier`: do not edit.")?;
    writeln!(
        f,
        "//! Seed {SEED}; cutoff chosen for at most {MAX_TRAPS_SERVED} of training traps served at"
    )?;
    writeln!(f, "//! similarity threshold {FRONT_THRESHOLD}.\n")?;
    writeln!(
        f,
        "pub(super) const WEIGHTS: [f64; super::Features::LEN] = ["
    )?;
    for w in weights {
        writeln!(f, "    {w:.6},")?;
    }
    writeln!(
        f,
        "];\npub(super) const BIAS: f64 = {bias:.6};\npub(super) const CUTOFF: f64 = {cutoff:.6};"
    )?;
    writeln!(f, "/// The similarity threshold the cutoff was chosen for.\npub const FRONT_THRESHOLD: f64 = {FRONT_THRESHOLD};")
}

/// Served shares on `pairs` for each decision rule.
fn report(name: &str, pairs: &[Pair], weights: &[f64; Features::LEN], bias: f64, cutoff: f64) {
    let guard = ConsistencyGuard::default();
    let should = pairs.iter().filter(|p| p.same).count().max(1) as f64;
    let traps = pairs.iter().filter(|p| !p.same).count().max(1) as f64;
    println!("## {name}: {} should-hit pairs, {} traps", should, traps);
    println!("{:<44} {:>10} {:>12}", "rule", "served ok", "traps served");
    let line = |label: String, serve: &dyn Fn(&Pair) -> bool| {
        let ok = pairs.iter().filter(|p| p.same && serve(p)).count() as f64;
        let bad = pairs.iter().filter(|p| !p.same && serve(p)).count() as f64;
        println!(
            "{label:<44} {:>9.1}% {:>11.2}%",
            100.0 * ok / should,
            100.0 * bad / traps
        );
    };
    for t in [0.80, 0.85, 0.90, 0.95, 0.99] {
        line(format!("cosine >= {t}"), &|p| p.cos >= t);
    }
    for t in [0.80, 0.85, 0.90] {
        line(format!("cosine >= {t} + guard"), &|p| {
            p.cos >= t && guard.check(&p.a, &p.b, p.cos).is_ok()
        });
    }
    let learned = |p: &Pair| Features::of(&p.a, &p.b, p.cos).probability(weights, bias);
    for c in [0.5, 0.7, 0.8, 0.9, cutoff] {
        line(
            format!("cosine >= {FRONT_THRESHOLD} + learned p >= {c:.3}"),
            &|p| p.cos >= FRONT_THRESHOLD && learned(p) >= c,
        );
    }
    line(
        format!("cosine >= {FRONT_THRESHOLD} + guard + learned p >= {cutoff:.3}"),
        &|p| {
            p.cos >= FRONT_THRESHOLD
                && guard.check(&p.a, &p.b, p.cos).is_ok()
                && learned(p) >= cutoff
        },
    );
    println!();
}
