//! What the index benchmarks share: settings from the environment, seeded clustered vectors
//! and percentiles.

use std::time::Duration;

/// A numeric setting from the environment, else `default`.
pub fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A seeded vector uniform in a cube (xorshift), normalised.
pub fn unit(seed: u64, dim: usize) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v: Vec<f32> = (0..dim)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect();
    mneme::quant::l2_normalize(&mut v);
    v
}

/// `base` plus `spread` times a seeded unit vector, normalised: a row near its topic's centre,
/// or a query near a row.
pub fn near(base: &[f32], seed: u64, spread: f32) -> Vec<f32> {
    let noise = unit(seed, base.len());
    let mut v: Vec<f32> = base
        .iter()
        .zip(&noise)
        .map(|(b, n)| b + spread * n)
        .collect();
    mneme::quant::l2_normalize(&mut v);
    v
}

/// p50 and p99 in µs.
pub fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    (
        us(samples[samples.len() / 2]),
        us(samples[(samples.len() * 99 / 100).min(samples.len() - 1)]),
    )
}
