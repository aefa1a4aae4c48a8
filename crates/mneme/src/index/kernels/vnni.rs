//! AVX-512 VNNI: int8 rows against a query rounded to 8 bits. `vpdpbusd` multiplies 64 unsigned
//! bytes by 64 signed ones and adds them in fours into 16 int32 lanes in one instruction, where
//! the float path converts every byte to f32 first (three instructions per 16 elements). The
//! query is stored plus 128, so unsigned; a second `vpdpbusd` against ones sums the row to take
//! the 128s back out. The sum is exact, so this kernel equals its scalar oracle bit for bit.
//! Callers must check CPU support first ([`super::Kernels::detect`] does); the function is
//! `unsafe` for that reason only.

use std::arch::x86_64::*;

/// `Σ row × (q - 128)`.
///
/// # Safety
/// The CPU must support AVX-512F, BW, VL and VNNI; `row.len() == q.len() <=`
/// [`super::MAX_INT_DIM`] (beyond it an int32 lane could overflow).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
pub unsafe fn dot_i8_u8(row: &[i8], q: &[u8]) -> i64 {
    // SAFETY: the caller guarantees the CPU features (this function's contract); every
    // unmasked load stays below `n`, the shorter slice's length, and the masked ones read only
    // the lanes below `n`. A lane adds at most n / 128 + 2 steps of four products of
    // |255 × 128|, under 2^31 for n <= MAX_INT_DIM; lanes are summed as int64.
    unsafe {
        let n = row.len().min(q.len());
        let (a, b) = (row.as_ptr(), q.as_ptr());
        let ones = _mm512_set1_epi8(1);
        let mut acc = [_mm512_setzero_si512(); 2];
        let mut sums = [_mm512_setzero_si512(); 2];
        let mut i = 0;
        while i + 128 <= n {
            for k in 0..2 {
                let r = _mm512_loadu_si512(a.add(i + 64 * k).cast());
                let y = _mm512_loadu_si512(b.add(i + 64 * k).cast());
                acc[k] = _mm512_dpbusd_epi32(acc[k], y, r);
                sums[k] = _mm512_dpbusd_epi32(sums[k], ones, r);
            }
            i += 128;
        }
        while i < n {
            let left = (n - i).min(64);
            let mask: __mmask64 = if left == 64 {
                u64::MAX
            } else {
                (1u64 << left) - 1
            };
            let r = _mm512_maskz_loadu_epi8(mask, a.add(i));
            let y = _mm512_maskz_loadu_epi8(mask, b.add(i).cast());
            acc[0] = _mm512_dpbusd_epi32(acc[0], y, r);
            sums[0] = _mm512_dpbusd_epi32(sums[0], ones, r);
            i += left;
        }
        let wide = |v: __m512i| {
            let low = _mm512_cvtepi32_epi64(_mm512_castsi512_si256(v));
            let high = _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64::<1>(v));
            _mm512_reduce_add_epi64(_mm512_add_epi64(low, high))
        };
        wide(acc[0]) + wide(acc[1]) - 128 * (wide(sums[0]) + wide(sums[1]))
    }
}

/// [`dot_i8_u8`] on AVX-VNNI, the 256-bit VEX form of `vpdpbusd` that CPUs without AVX-512
/// have (Intel's client cores since Alder Lake): 32 bytes an instruction; the tail goes through
/// the scalar oracle.
///
/// # Safety
/// The CPU must support AVX2 and AVX-VNNI; `row.len() == q.len() <=`
/// [`super::MAX_INT_DIM`] (beyond it an int32 lane could overflow).
#[target_feature(enable = "avx2,avxvnni")]
pub unsafe fn dot_i8_u8_avx(row: &[i8], q: &[u8]) -> i64 {
    // SAFETY: the caller guarantees the CPU features (this function's contract); every load
    // stays below `n`, the shorter slice's length. A lane adds at most n / 64 steps of four
    // products of |255 × 128|, under 2^31 for n <= MAX_INT_DIM; lanes are summed as int64.
    unsafe {
        let n = row.len().min(q.len());
        let (a, b) = (row.as_ptr(), q.as_ptr());
        let ones = _mm256_set1_epi8(1);
        let mut acc = [_mm256_setzero_si256(); 2];
        let mut sums = [_mm256_setzero_si256(); 2];
        let mut i = 0;
        while i + 64 <= n {
            for k in 0..2 {
                let r = _mm256_loadu_si256(a.add(i + 32 * k).cast());
                let y = _mm256_loadu_si256(b.add(i + 32 * k).cast());
                acc[k] = _mm256_dpbusd_avx_epi32(acc[k], y, r);
                sums[k] = _mm256_dpbusd_avx_epi32(sums[k], ones, r);
            }
            i += 64;
        }
        let wide = |v: __m256i| {
            let low = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(v));
            let high = _mm256_cvtepi32_epi64(_mm256_extracti128_si256::<1>(v));
            let mut lanes = [0i64; 4];
            _mm256_storeu_si256(lanes.as_mut_ptr().cast(), _mm256_add_epi64(low, high));
            lanes.iter().sum::<i64>()
        };
        wide(acc[0]) + wide(acc[1]) - 128 * (wide(sums[0]) + wide(sums[1]))
            + super::scalar::dot_i8_u8(&row[i..n], &q[i..n])
    }
}
