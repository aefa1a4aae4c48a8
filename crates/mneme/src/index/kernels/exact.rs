//! The deciding score: products summed in f64, in element order. Instruction sets sum in
//! different orders, so their f32 scores differ in the last bits: enough to swap two rows of
//! near-equal score or to put a row on either side of the threshold. The kernels rank the whole
//! index; the cache re-ranks its few candidates and tests the threshold with this rule, which
//! gives the same bits on every machine.

/// `Σ row_j × q_j` over f32 rows.
pub fn dot_f32(row: &[f32], q: &[f32]) -> f32 {
    sum(row
        .iter()
        .zip(q)
        .map(|(&a, &b)| f64::from(a) * f64::from(b)))
}

/// `Σ f32(row_j) × q_j` over binary16 rows (given as raw bits).
pub fn dot_f16(row: &[u16], q: &[f32]) -> f32 {
    sum(row
        .iter()
        .zip(q)
        .map(|(&a, &b)| half::f16::from_bits(a).to_f64() * f64::from(b)))
}

/// `Σ row_j × q_j` over int8 rows; the caller folds the 1/127 scale into `q`.
pub fn dot_i8(row: &[i8], q: &[f32]) -> f32 {
    sum(row
        .iter()
        .zip(q)
        .map(|(&a, &b)| f64::from(a) * f64::from(b)))
}

fn sum(products: impl Iterator<Item = f64>) -> f32 {
    products.fold(0.0, |s, p| s + p) as f32
}
