//! Vector normalisation and quantisation (compat with mneme-cache 1.0: docs/compatibility.md).
//!
//! The store always keeps float32; these functions produce the index's copies. int8 uses a fixed
//! symmetric scale of 127 with round-half-even, so the same vector quantises identically here and
//! in Python (NumPy's `round` is half-even; Rust's `f32::round` is not).

use crate::error::{Error, Result};
use crate::types::VectorDtype;
use half::f16;

/// L2-normalises in place, in f32. A zero vector stays zero.
pub fn l2_normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for x in v.iter_mut() {
            *x /= norm;
        }
    }
}

/// Checks that a vector has `dim` finite elements.
///
/// # Errors
/// [`Error::EmbedderDimension`] for a wrong length, [`Error::InvalidArgument`] for NaN/inf.
pub fn validate_vector(v: &[f32], dim: usize) -> Result<()> {
    if v.len() != dim {
        let got = if v.is_empty() {
            "the embedding is empty or not a 1-D vector".to_owned()
        } else {
            format!("the embedding has dim {}", v.len())
        };
        return Err(Error::embedder_dimension(
            format!("{got}; the cache expects a 1-D vector of dim {dim}"),
            "pass a vector from the same embedder the cache was opened with, or migrate with reembed",
        )
        .with_dimensions(dim, v.len()));
    }
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(Error::invalid_argument(
            format!("embedding element {i} is {} (not finite)", v[i]),
            "check the embedder's output; NaN or infinite vectors cannot be cached",
        ));
    }
    Ok(())
}

/// `clamp(round_half_even(x × 127), -128, 127)`, with `x × 127` computed in f32.
///
/// Clamping first is equivalent (the bounds are integers and rounding is monotonic), and in
/// [-128, 127] adding and subtracting 1.5 × 2²³ rounds half to even in the default FP mode:
/// branch-free and vectorisable, where `round_ties_even` is a libm call on baseline x86-64.
#[inline]
pub fn quantize_int8_scalar(x: f32) -> i8 {
    const ROUND: f32 = 12_582_912.0;
    let y = (x * 127.0).clamp(-128.0, 127.0);
    ((y + ROUND) - ROUND) as i8
}

/// Quantises a float32 vector to int8.
pub fn quantize_int8(v: &[f32]) -> Vec<i8> {
    v.iter().map(|&x| quantize_int8_scalar(x)).collect()
}

/// `q / 127` in f32.
pub fn dequantize_int8(v: &[i8]) -> Vec<f32> {
    v.iter().map(|&q| q as f32 / 127.0).collect()
}

/// IEEE binary16 bits, round-to-nearest-even.
pub fn quantize_float16(v: &[f32]) -> Vec<u16> {
    v.iter().map(|&x| f16::from_f32(x).to_bits()).collect()
}

/// Widens binary16 bits to f32.
pub fn dequantize_float16(v: &[u16]) -> Vec<f32> {
    v.iter().map(|&b| f16::from_bits(b).to_f32()).collect()
}

/// `n × d × bytes per element`.
pub fn memory_bytes_estimate(n: u64, dim: usize, dtype: VectorDtype) -> u64 {
    n * dim as u64 * dtype.bytes_per_element() as u64
}

/// Quantises then dequantises: the values the index scores `v` with.
pub fn round_trip(v: &[f32], dtype: VectorDtype) -> Vec<f32> {
    match dtype {
        VectorDtype::Float32 => v.to_vec(),
        VectorDtype::Float16 => dequantize_float16(&quantize_float16(v)),
        VectorDtype::Int8 => dequantize_int8(&quantize_int8(v)),
    }
}

/// Decodes little-endian f32 bytes (the store's embedding encoding).
///
/// Returns `None` when the length is not a multiple of 4.
pub fn f32_from_le_bytes(bytes: &[u8]) -> Option<Vec<f32>> {
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = vec![0.0; bytes.len() / 4];
    f32_from_le_bytes_into(bytes, &mut out);
    Some(out)
}

/// Decodes little-endian f32 bytes into `out`, without allocating; the caller checks that
/// `bytes` holds `out.len()` values.
pub fn f32_from_le_bytes_into(bytes: &[u8], out: &mut [f32]) {
    for (x, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
        *x = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
}

/// Encodes f32 values as little-endian bytes.
pub fn f32_to_le_bytes(v: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * 4);
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int8_matches_the_reference_example() {
        assert_eq!(
            quantize_int8(&[1.0, -1.0, 0.5, -0.5, 0.0, 2.0, -2.0]),
            [127, -127, 64, -64, 0, 127, -128]
        );
    }

    proptest::proptest! {
        #[test]
        fn fast_rounding_equals_round_half_even(x in proptest::num::f32::ANY) {
            let want = (x * 127.0).round_ties_even().clamp(-128.0, 127.0) as i8;
            proptest::prop_assert_eq!(quantize_int8_scalar(x), want);
        }
    }

    #[test]
    fn fast_rounding_handles_every_half_step() {
        for k in -300..=300 {
            let x = (k as f32 + 0.5) / 127.0;
            let want = (x * 127.0).round_ties_even().clamp(-128.0, 127.0) as i8;
            assert_eq!(quantize_int8_scalar(x), want, "{x}");
        }
        assert_eq!(quantize_int8_scalar(f32::NAN), 0);
    }

    #[test]
    fn normalisation_keeps_zero_vectors() {
        let mut z = vec![0.0f32; 4];
        l2_normalize(&mut z);
        assert_eq!(z, [0.0; 4]);
        let mut v = vec![3.0f32, 4.0];
        l2_normalize(&mut v);
        assert_eq!(v, [0.6, 0.8]);
    }

    #[test]
    fn round_trip_error_bounds() {
        let v: Vec<f32> = (0..1000).map(|i| ((i as f32) * 0.37).sin()).collect();
        for (a, b) in v.iter().zip(round_trip(&v, VectorDtype::Int8)) {
            assert!((a - b).abs() <= 1.0 / 127.0 + 1e-7);
        }
        for (a, b) in v.iter().zip(round_trip(&v, VectorDtype::Float16)) {
            assert!((a - b).abs() <= 1e-3);
        }
    }

    #[test]
    fn validation_names_the_problem() {
        assert!(matches!(
            validate_vector(&[1.0], 2),
            Err(Error::EmbedderDimension(_))
        ));
        assert!(matches!(
            validate_vector(&[1.0, f32::NAN], 2),
            Err(Error::InvalidArgument(_))
        ));
        assert!(validate_vector(&[1.0, 0.0], 2).is_ok());
    }
}
