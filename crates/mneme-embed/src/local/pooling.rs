//! Token vectors to one unit vector per text, as sentence-transformers' Pooling and Normalize
//! modules compute it.

use super::Pooling;

/// `rows` holds one sequence's final hidden states (`len × dim`, every token real).
pub fn pool(mode: Pooling, rows: &[f32], dim: usize) -> Vec<f32> {
    let len = rows.len() / dim;
    let mut v = vec![0.0f32; dim];
    match mode {
        Pooling::Cls => v.copy_from_slice(&rows[..dim.min(rows.len())]),
        Pooling::Mean | Pooling::MeanSqrtLen => {
            let mut sum = vec![0.0f64; dim];
            for row in rows.chunks_exact(dim) {
                for (s, x) in sum.iter_mut().zip(row) {
                    *s += f64::from(*x);
                }
            }
            // sentence-transformers clamps the count at 1e-9, so an empty text gives zeros.
            let count = (len as f64).max(1e-9);
            let divisor = if mode == Pooling::Mean {
                count
            } else {
                count.sqrt()
            };
            for (o, s) in v.iter_mut().zip(&sum) {
                *o = (s / divisor) as f32;
            }
        }
        Pooling::Max => {
            v.fill(f32::NEG_INFINITY);
            for row in rows.chunks_exact(dim) {
                for (o, x) in v.iter_mut().zip(row) {
                    *o = o.max(*x);
                }
            }
            if len == 0 {
                v.fill(0.0);
            }
        }
    }
    let norm = v
        .iter()
        .map(|x| f64::from(*x).powi(2))
        .sum::<f64>()
        .sqrt()
        .max(1e-12);
    for x in &mut v {
        *x = (f64::from(*x) / norm) as f32;
    }
    v
}
