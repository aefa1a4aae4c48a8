//! `mneme bench CACHE`: open time and exact/semantic get latency, measured on a copy.

use crate::Stamp;
use mneme::{SemanticCache, SqliteStore};
use std::path::Path;

/// p50 and p99 (sorted index `int(n × 0.99)`) in microseconds.
fn percentiles(mut samples: Vec<std::time::Duration>) -> (f64, f64) {
    samples.sort();
    let us = |d: std::time::Duration| d.as_secs_f64() * 1e6;
    let n = samples.len();
    (
        us(samples[n / 2]),
        us(samples[((n as f64 * 0.99) as usize).min(n - 1)]),
    )
}

pub fn run(path: &Path, calls: usize, dtype: &str, json: bool) -> mneme::Result<()> {
    use mneme::{Get, Store};
    let dtype: mneme::VectorDtype = dtype.parse()?;
    let (fingerprint, dim) = SqliteStore::peek_stamp(path)?;
    let dir = std::env::temp_dir().join(format!("mneme-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(|e| mneme::Error::invalid_argument(e.to_string(), "check the temp directory"))?;
    let copy = dir.join("copy.db");
    let source = SqliteStore::with_options(
        path,
        mneme::SqliteOptions {
            read_only: true,
            ..mneme::SqliteOptions::default()
        },
    );
    source.open(&fingerprint, dim)?;
    source.snapshot_to(&copy)?;
    source.close()?;
    let started = std::time::Instant::now();
    let cache = SemanticCache::builder(Stamp { fingerprint, dim })
        .path(&copy)
        .vector_dtype(dtype)
        .open()?;
    let open_ms = started.elapsed().as_secs_f64() * 1e3;
    let rows = cache
        .store()
        .iter_since(0)?
        .into_iter()
        .take(calls.max(1))
        .collect::<Vec<_>>();
    if rows.is_empty() {
        println!("the cache is empty: nothing to measure");
        return Ok(());
    }
    let time =
        |f: &mut dyn FnMut(&mneme::StoredEntry) -> mneme::Result<()>| -> mneme::Result<(f64, f64)> {
            let mut samples = Vec::with_capacity(calls);
            for i in 0..calls.max(1) {
                let row = &rows[i % rows.len()];
                let t = std::time::Instant::now();
                f(row)?;
                samples.push(t.elapsed());
            }
            Ok(percentiles(samples))
        };
    let exact = time(&mut |row| {
        cache
            .get_with(&row.query, Get::default().namespace(&row.namespace))
            .map(drop)
    })?;
    let semantic = time(&mut |row| {
        let v = mneme::quant::f32_from_le_bytes(&row.embedding).unwrap_or_default();
        cache
            .get_with(
                "\u{0}mneme-bench-probe",
                Get::default().namespace(&row.namespace).embedding(&v),
            )
            .map(drop)
    })?;
    let entries = cache.stats(None)?.entries;
    cache.close()?;
    let _ = std::fs::remove_dir_all(&dir);
    let mut r = crate::output::Report::default();
    r.field("entries", entries)
        .field("dim", dim)
        .field("vector_dtype", dtype.as_str())
        .field("calls", calls)
        .field("open_ms", (open_ms * 10.0).round() / 10.0)
        .text_only(
            "exact get",
            format!("p50 {:.1} µs   p99 {:.1} µs", exact.0, exact.1),
        )
        .json_only(
            "exact_get_us",
            serde_json::json!({"p50": exact.0, "p99": exact.1}),
        )
        .text_only(
            "semantic get",
            format!("p50 {:.1} µs   p99 {:.1} µs", semantic.0, semantic.1),
        )
        .json_only(
            "semantic_get_us",
            serde_json::json!({"p50": semantic.0, "p99": semantic.1}),
        );
    r.print(json);
    Ok(())
}
