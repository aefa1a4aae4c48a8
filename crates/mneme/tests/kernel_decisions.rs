//! Decisions never depend on the instruction set: on a fixed corpus with near-tied candidates
//! and queries within rounding of the threshold, every kernel level this CPU runs (each in a
//! process of its own, forced with `MNEME_KERNELS`) gives the same hit or miss, the same row,
//! the same similarity bits and the same top 3, in every dtype (int8 also on the mmap-shared
//! matrix). Each child also reports the
//! level it ran, so the test proves the dispatch as well.

mod common;

use common::embedders::{hashed_vector, TestEmbedder};
use mneme::index::kernels::Kernels;
use mneme::{MemoryStore, MultiProcessMode, SemanticCache, VectorDtype};
use std::process::Command;

const ROLE: &str = "MNEME_TEST_KERNEL_DECISIONS_CHILD";
/// Odd, so every kernel runs its tail.
const DIM: usize = 389;
const THRESHOLD: f64 = 0.85;

fn normalized(mut v: Vec<f32>) -> Vec<f32> {
    let n = v
        .iter()
        .map(|x| f64::from(*x) * f64::from(*x))
        .sum::<f64>()
        .sqrt() as f32;
    v.iter_mut().for_each(|x| *x /= n);
    v
}

/// `base` moved by `noise` of the given size, renormalised.
fn near(base: &[f32], noise: &str, size: f32) -> Vec<f32> {
    let n = hashed_vector(noise, DIM);
    normalized(base.iter().zip(&n).map(|(b, e)| b + size * e).collect())
}

/// A unit vector at cosine `t` from unit `base`: `t·base + √(1-t²)·u`, `u` ⟂ `base`.
fn at_cosine(base: &[f32], t: f64, seed: &str) -> Vec<f32> {
    let r = hashed_vector(seed, DIM);
    let along: f64 = r.iter().zip(base).map(|(a, b)| f64::from(*a * *b)).sum();
    let u: Vec<f64> = r
        .iter()
        .zip(base)
        .map(|(a, b)| f64::from(*a) - along * f64::from(*b))
        .collect();
    let un = u.iter().map(|x| x * x).sum::<f64>().sqrt();
    let s = (1.0 - t * t).sqrt();
    base.iter()
        .zip(&u)
        .map(|(b, x)| (t * f64::from(*b) + s * x / un) as f32)
        .collect()
}

/// Texts with the vectors the test embedder gives them.
type Texts = Vec<(String, Vec<f32>)>;

/// The stored texts and the queries.
fn corpus() -> (Texts, Texts) {
    let mut rows = Vec::new();
    let mut queries = Vec::new();
    for i in 0..1200 {
        rows.push((format!("row {i}"), hashed_vector(&format!("row {i}"), DIM)));
    }
    // Families of near-duplicates: their scores against a query of the family differ by a few
    // ulps at most, so the order among them is decided in the last bits.
    for f in 0..40 {
        let base = hashed_vector(&format!("family {f}"), DIM);
        for m in 0..4 {
            let size = 1e-4 * (1 + m % 2) as f32;
            rows.push((
                format!("family {f} member {m}"),
                near(&base, &format!("{f}/{m}"), size),
            ));
        }
        queries.push((
            format!("family {f} query"),
            near(&base, &format!("{f}/q"), 0.3),
        ));
    }
    // Exact duplicates: a tie goes to the older row, whatever the level.
    for d in 0..10 {
        let v = hashed_vector(&format!("twin {d}"), DIM);
        rows.push((format!("twin {d} first"), v.clone()));
        rows.push((format!("twin {d} second"), v.clone()));
        queries.push((
            format!("twin {d} query"),
            near(&v, &format!("twin {d}"), 0.2),
        ));
    }
    // Queries within rounding of the threshold.
    for i in 0..120 {
        let base = &rows[i].1;
        let offset = [-3e-7, -1e-7, -3e-8, 0.0, 3e-8, 1e-7, 3e-7][i % 7];
        let v = at_cosine(base, THRESHOLD + offset, &format!("edge {i}"));
        queries.push((format!("edge {i}"), v));
    }
    (rows, queries)
}

/// One line per dtype and query: the decision, the hit's row and similarity bits, the top 3.
fn decisions() -> Vec<String> {
    let (rows, queries) = corpus();
    let mut embedder = TestEmbedder::new(DIM);
    for (text, v) in rows.iter().chain(&queries) {
        embedder = embedder.with(text, v.clone());
    }
    let mut out = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    // Every dtype on the flat index; int8 also on the mmap-shared matrix, whose scan has its own
    // integer path.
    let setups = [
        (VectorDtype::Float32, false),
        (VectorDtype::Float16, false),
        (VectorDtype::Int8, false),
        (VectorDtype::Int8, true),
    ];
    for (dtype, shared) in setups {
        let builder = SemanticCache::builder(embedder.clone())
            .vector_dtype(dtype)
            .similarity_threshold(THRESHOLD);
        let cache = if shared {
            builder
                .path(dir.path().join("shared.db"))
                .multi_process_mode(MultiProcessMode::MmapShared)
                .open()
                .unwrap()
        } else {
            builder.store(MemoryStore::new()).open().unwrap()
        };
        for (text, _) in &rows {
            cache.put(text, &format!("answer to {text}")).unwrap();
        }
        for (text, _) in &queries {
            let e = cache.explain(text, "default", 3).unwrap();
            let top: Vec<String> = e
                .candidates
                .iter()
                .map(|c| format!("{}:{:016x}", c.id, c.similarity.to_bits()))
                .collect();
            let hit = cache
                .get(text)
                .unwrap()
                .map(|h| format!("{} {:016x}", h.response, h.similarity.to_bits()));
            out.push(format!(
                "{}{} {text}: {:?} | {hit:?} | {}",
                dtype.as_str(),
                if shared { " mmap-shared" } else { "" },
                e.decision,
                top.join(" ")
            ));
        }
    }
    out
}

/// This test binary, run again; under an emulator (`MNEME_TEST_RUNNER`, set by
/// scripts/test-aarch64.sh) through it.
fn child_command() -> Command {
    let exe = std::env::current_exe().unwrap();
    let runner = std::env::var("MNEME_TEST_RUNNER").unwrap_or_default();
    let runner: Vec<&str> = runner.split_whitespace().collect();
    match runner.split_first() {
        Some((emulator, args)) => {
            let mut command = Command::new(emulator);
            command.args(args).arg(exe);
            command
        }
        None => Command::new(exe),
    }
}

#[test]
fn every_kernel_level_makes_the_same_decisions() {
    if std::env::var_os(ROLE).is_some() {
        return; // the child runs `child` only
    }
    let levels: Vec<&str> = Kernels::available().iter().map(|k| k.name).collect();
    let mut outputs = Vec::new();
    for name in &levels {
        let wanted = name.split('+').next().unwrap().trim_end_matches('f');
        let out = child_command()
            .args(["--exact", "child", "--nocapture", "--test-threads=1"])
            .env(ROLE, "1")
            .env("MNEME_KERNELS", wanted)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{name}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<&str> = stdout
            .lines()
            .filter_map(|l| l.strip_prefix("decision "))
            .collect();
        let ran = stdout.lines().find_map(|l| l.strip_prefix("kernels "));
        assert_eq!(ran, Some(*name), "MNEME_KERNELS={wanted} ran another level");
        assert_eq!(lines.len(), 4 * (40 + 10 + 120), "{name}: {stdout}");
        outputs.push((
            name,
            lines.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        ));
    }
    let (first, reference) = &outputs[0];
    let hits = reference.iter().filter(|l| l.contains("Hit(")).count();
    let misses = reference.iter().filter(|l| l.contains("Miss(")).count();
    // The corpus is not one-sided: threshold queries land on both sides.
    assert!(hits > 100 && misses > 100, "{hits} hits, {misses} misses");
    for (name, lines) in &outputs[1..] {
        for (a, b) in reference.iter().zip(lines) {
            assert_eq!(a, b, "{first} and {name} decide differently");
        }
    }
}

/// Run by the test above in a process whose kernels `MNEME_KERNELS` chose.
#[test]
fn child() {
    if std::env::var_os(ROLE).is_none() {
        return;
    }
    // After libtest's "test child ... " on the same line.
    println!("\nkernels {}", Kernels::detect().name);
    for line in decisions() {
        println!("decision {line}");
    }
}
