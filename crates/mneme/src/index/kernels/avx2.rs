//! AVX2 + FMA + F16C kernels for x86-64.
//!
//! Each kernel keeps four independent 8-lane accumulators so the FMA latency is hidden, and
//! finishes the tail with the scalar loop. Callers must check CPU support first
//! ([`super::Kernels::detect`] does); the functions are `unsafe` for that reason only.

use std::arch::x86_64::*;

#[inline(always)]
unsafe fn hsum(v: __m256) -> f32 {
    // SAFETY: called only from this module's kernels, inside their AVX2 target feature.
    unsafe {
        let lo = _mm256_castps256_ps128(v);
        let hi = _mm256_extractf128_ps(v, 1);
        let s = _mm_add_ps(lo, hi);
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }
}

/// # Safety
/// The CPU must support AVX2 and FMA; `row.len() == q.len()`.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn dot_f32(row: &[f32], q: &[f32]) -> f32 {
    // SAFETY: the caller guarantees the CPU features (this function's contract); every pointer
    // read or written stays below `n`, the shorter slice's length.
    unsafe {
        let n = row.len().min(q.len());
        let (a, b) = (row.as_ptr(), q.as_ptr());
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        while i + 32 <= n {
            for (k, acc_k) in acc.iter_mut().enumerate() {
                let x = _mm256_loadu_ps(a.add(i + 8 * k));
                let y = _mm256_loadu_ps(b.add(i + 8 * k));
                *acc_k = _mm256_fmadd_ps(x, y, *acc_k);
            }
            i += 32;
        }
        while i + 8 <= n {
            acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(a.add(i)), _mm256_loadu_ps(b.add(i)), acc[0]);
            i += 8;
        }
        let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        hsum(sum) + super::scalar::dot_f32(&row[i..n], &q[i..n])
    }
}

/// # Safety
/// The CPU must support AVX2, FMA and F16C; `row.len() == q.len()`.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot_f16(row: &[u16], q: &[f32]) -> f32 {
    // SAFETY: the caller guarantees the CPU features (this function's contract); every pointer
    // read or written stays below `n`, the shorter slice's length.
    unsafe {
        let n = row.len().min(q.len());
        let (a, b) = (row.as_ptr(), q.as_ptr());
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        while i + 32 <= n {
            for (k, acc_k) in acc.iter_mut().enumerate() {
                let h = _mm_loadu_si128(a.add(i + 8 * k) as *const __m128i);
                let x = _mm256_cvtph_ps(h);
                let y = _mm256_loadu_ps(b.add(i + 8 * k));
                *acc_k = _mm256_fmadd_ps(x, y, *acc_k);
            }
            i += 32;
        }
        while i + 8 <= n {
            let x = _mm256_cvtph_ps(_mm_loadu_si128(a.add(i) as *const __m128i));
            acc[0] = _mm256_fmadd_ps(x, _mm256_loadu_ps(b.add(i)), acc[0]);
            i += 8;
        }
        let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        hsum(sum) + super::scalar::dot_f16(&row[i..n], &q[i..n])
    }
}

/// # Safety
/// The CPU must support AVX2 and FMA; `row.len() == q.len()`.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn dot_i8(row: &[i8], q: &[f32]) -> f32 {
    // SAFETY: the caller guarantees the CPU features (this function's contract); every pointer
    // read or written stays below `n`, the shorter slice's length.
    unsafe {
        let n = row.len().min(q.len());
        let (a, b) = (row.as_ptr(), q.as_ptr());
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        while i + 32 <= n {
            let bytes = _mm256_loadu_si256(a.add(i) as *const __m256i);
            let lo = _mm256_castsi256_si128(bytes);
            let hi = _mm256_extracti128_si256(bytes, 1);
            let parts = [lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)];
            for (k, (acc_k, part)) in acc.iter_mut().zip(parts).enumerate() {
                let x = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(part));
                *acc_k = _mm256_fmadd_ps(x, _mm256_loadu_ps(b.add(i + 8 * k)), *acc_k);
            }
            i += 32;
        }
        while i + 8 <= n {
            let part = _mm_loadl_epi64(a.add(i) as *const __m128i);
            let x = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(part));
            acc[0] = _mm256_fmadd_ps(x, _mm256_loadu_ps(b.add(i)), acc[0]);
            i += 8;
        }
        let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        hsum(sum) + super::scalar::dot_i8(&row[i..n], &q[i..n])
    }
}

/// `Σ row × (q - 128)`, exact for query bytes of [`super::QueryU8`]'s range, 1 to 255 (a 0's
/// `q - 128` has no positive counterpart in a byte). AVX2 has no byte dot product that takes
/// both signs, so each row byte's sign moves onto the query byte (`vpsignb`) and its magnitude
/// multiplies it unsigned (`vpmaddubsw`): two products of at most 128 × 127 never saturate the
/// 16-bit pair. Half the instructions of converting bytes to floats, and a quarter of the query
/// bytes.
///
/// # Safety
/// The CPU must support AVX2; `row.len() == q.len() <=` [`super::MAX_INT_DIM`].
#[target_feature(enable = "avx2")]
pub unsafe fn dot_i8_u8(row: &[i8], q: &[u8]) -> i64 {
    // SAFETY: the caller guarantees the CPU features (this function's contract); every load
    // stays below `n`, the shorter slice's length. A lane adds at most n / 64 steps of four
    // products of |128 × 127|, under 2^31 for n <= MAX_INT_DIM; lanes are summed as int64.
    unsafe {
        let n = row.len().min(q.len());
        let (a, b) = (row.as_ptr(), q.as_ptr());
        let (bias, ones) = (_mm256_set1_epi8(-128), _mm256_set1_epi16(1));
        let mut acc = [_mm256_setzero_si256(); 2];
        let mut i = 0;
        while i + 64 <= n {
            for (k, acc_k) in acc.iter_mut().enumerate() {
                let r = _mm256_loadu_si256(a.add(i + 32 * k).cast());
                // q - 128, as a signed byte.
                let y = _mm256_xor_si256(_mm256_loadu_si256(b.add(i + 32 * k).cast()), bias);
                let pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(r), _mm256_sign_epi8(y, r));
                *acc_k = _mm256_add_epi32(*acc_k, _mm256_madd_epi16(pairs, ones));
            }
            i += 64;
        }
        let sum = _mm256_add_epi32(acc[0], acc[1]);
        let low = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(sum));
        let high = _mm256_cvtepi32_epi64(_mm256_extracti128_si256::<1>(sum));
        let mut lanes = [0i64; 4];
        _mm256_storeu_si256(lanes.as_mut_ptr().cast(), _mm256_add_epi64(low, high));
        lanes.iter().sum::<i64>() + super::scalar::dot_i8_u8(&row[i..n], &q[i..n])
    }
}

/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn quantize_i8(src: &[f32], dst: &mut [i8]) {
    // SAFETY: the caller guarantees the CPU features (this function's contract); every pointer
    // read or written stays below `n`, the shorter slice's length.
    unsafe {
        // The scalar steps lane by lane (scale, clamp, round half even by ±1.5 × 2²³, NaN → 0),
        // then two saturating packs, whose lane interleave one permutation undoes.
        let n = src.len().min(dst.len());
        let scale = _mm256_set1_ps(127.0);
        let (lo, hi) = (_mm256_set1_ps(-128.0), _mm256_set1_ps(127.0));
        let round = _mm256_set1_ps(12_582_912.0);
        let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        let lanes = |at: *const f32| {
            let y = _mm256_mul_ps(_mm256_loadu_ps(at), scale);
            let ordered = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_ORD_Q>(y, y));
            let y = _mm256_min_ps(_mm256_max_ps(y, lo), hi);
            let y = _mm256_sub_ps(_mm256_add_ps(y, round), round);
            _mm256_and_si256(_mm256_cvtps_epi32(y), ordered)
        };
        let mut i = 0;
        while i + 32 <= n {
            let p = src.as_ptr().add(i);
            let ab = _mm256_packs_epi32(lanes(p), lanes(p.add(8)));
            let cd = _mm256_packs_epi32(lanes(p.add(16)), lanes(p.add(24)));
            let bytes = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(ab, cd), order);
            _mm256_storeu_si256(dst.as_mut_ptr().add(i) as *mut __m256i, bytes);
            i += 32;
        }
        super::scalar::quantize_i8(&src[i..n], &mut dst[i..n]);
    }
}

/// # Safety
/// The CPU must support AVX2 and F16C.
#[target_feature(enable = "avx2,f16c")]
pub unsafe fn to_f16(src: &[f32], dst: &mut [u16]) {
    // SAFETY: the caller guarantees the CPU features (this function's contract); every pointer
    // read or written stays below `n`, the shorter slice's length.
    unsafe {
        let n = src.len().min(dst.len());
        let mut i = 0;
        while i + 8 <= n {
            let h =
                _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm256_loadu_ps(src.as_ptr().add(i)));
            _mm_storeu_si128(dst.as_mut_ptr().add(i) as *mut __m128i, h);
            i += 8;
        }
        super::scalar::to_f16(&src[i..n], &mut dst[i..n]);
    }
}
