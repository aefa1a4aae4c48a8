//! Portable kernels. They are the fallback on CPUs without AVX2 and the oracle the SIMD kernels
//! are tested against.

/// `Σ row_j × q_j` over f32 rows.
pub fn dot_f32(row: &[f32], q: &[f32]) -> f32 {
    row.iter().zip(q).map(|(a, b)| a * b).sum()
}

/// `Σ f32(row_j) × q_j` over binary16 rows (given as raw bits).
pub fn dot_f16(row: &[u16], q: &[f32]) -> f32 {
    row.iter()
        .zip(q)
        .map(|(&a, b)| half::f16::from_bits(a).to_f32() * b)
        .sum()
}

/// `Σ f32(row_j) × q_j` over int8 rows; the caller folds the 1/127 scale into `q`.
pub fn dot_i8(row: &[i8], q: &[f32]) -> f32 {
    row.iter().zip(q).map(|(&a, b)| a as f32 * b).sum()
}

/// Quantises `src` to int8 into `dst` (see [`crate::quant::quantize_int8_scalar`]).
pub fn quantize_i8(src: &[f32], dst: &mut [i8]) {
    for (d, &x) in dst.iter_mut().zip(src) {
        *d = crate::quant::quantize_int8_scalar(x);
    }
}

/// Converts `src` to binary16 bits into `dst`, rounding to nearest even.
pub fn to_f16(src: &[f32], dst: &mut [u16]) {
    for (d, &x) in dst.iter_mut().zip(src) {
        *d = half::f16::from_f32(x).to_bits();
    }
}

/// `Σ row_j × (q_j - 128)` over int8 rows and a query stored plus 128, exact: the oracle of the
/// integer kernels.
pub fn dot_i8_u8(row: &[i8], q: &[u8]) -> i64 {
    row.iter()
        .zip(q)
        .map(|(&a, &b)| i64::from(a) * (i64::from(b) - 128))
        .sum()
}
