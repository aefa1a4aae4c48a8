//! AVX-512 VNNI: int8 rows against an int16 query. `vpdpwssd` multiplies 32 pairs of int16 and
//! adds them pairwise into 16 int32 lanes in one instruction, where the float path converts
//! every byte to f32 first (three instructions per 16 elements). The sum is exact, so this
//! kernel equals its scalar oracle bit for bit. Callers must check CPU support first
//! ([`super::Kernels::detect`] does); the function is `unsafe` for that reason only.

use std::arch::x86_64::*;

/// # Safety
/// The CPU must support AVX-512F, BW, VL and VNNI; `row.len() == q.len() <=`
/// [`super::MAX_I16_DIM`] (beyond it an int32 lane could overflow).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
pub unsafe fn dot_i8_i16(row: &[i8], q: &[i16]) -> i64 {
    // SAFETY: the caller guarantees the CPU features (this function's contract); every
    // unmasked load stays below `n`, the shorter slice's length, and the masked ones read only
    // the lanes below `n`. A lane adds at most 2 × (n / 128 + 4) products of |127 × 32767|,
    // under 2^31 for n <= MAX_I16_DIM.
    unsafe {
        let n = row.len().min(q.len());
        let (a, b) = (row.as_ptr(), q.as_ptr());
        let mut acc = [_mm512_setzero_si512(); 4];
        let mut i = 0;
        while i + 128 <= n {
            for (k, acc_k) in acc.iter_mut().enumerate() {
                let r = _mm512_cvtepi8_epi16(_mm256_loadu_si256(a.add(i + 32 * k).cast()));
                let y = _mm512_loadu_si512(b.add(i + 32 * k).cast());
                *acc_k = _mm512_dpwssd_epi32(*acc_k, r, y);
            }
            i += 128;
        }
        while i + 32 <= n {
            let r = _mm512_cvtepi8_epi16(_mm256_loadu_si256(a.add(i).cast()));
            acc[0] = _mm512_dpwssd_epi32(acc[0], r, _mm512_loadu_si512(b.add(i).cast()));
            i += 32;
        }
        if i < n {
            let mask: __mmask32 = ((1u64 << (n - i)) - 1) as u32;
            let r = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(mask, a.add(i)));
            let y = _mm512_maskz_loadu_epi16(mask, b.add(i));
            acc[1] = _mm512_dpwssd_epi32(acc[1], r, y);
        }
        // Lanes fit int32; their sum may not: add them as int64.
        acc.iter()
            .map(|&v| {
                let low = _mm512_cvtepi32_epi64(_mm512_castsi512_si256(v));
                let high = _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64::<1>(v));
                _mm512_reduce_add_epi64(_mm512_add_epi64(low, high))
            })
            .sum()
    }
}
