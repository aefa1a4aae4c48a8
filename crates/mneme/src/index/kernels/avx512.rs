//! AVX-512F dot-product kernels for x86-64: 16 lanes, four independent accumulators (64
//! elements a step) to hide the FMA latency. float32 rows end with one masked step, so a
//! 384- or 768-long row never leaves the vector unit; float16 and int8 rows finish their tail
//! with the scalar loop. Callers must check CPU support first ([`super::Kernels::detect`]
//! does); the functions are `unsafe` for that reason only.

use std::arch::x86_64::*;

/// # Safety
/// The CPU must support AVX-512F; `row.len() == q.len()`.
#[target_feature(enable = "avx512f")]
pub unsafe fn dot_f32(row: &[f32], q: &[f32]) -> f32 {
    // SAFETY: the caller guarantees the CPU features (this function's contract); every
    // unmasked load stays below `n`, the shorter slice's length, and the masked one reads only
    // the lanes below `n`.
    unsafe {
        let n = row.len().min(q.len());
        let (a, b) = (row.as_ptr(), q.as_ptr());
        let mut acc = [_mm512_setzero_ps(); 4];
        let mut i = 0;
        while i + 64 <= n {
            for (k, acc_k) in acc.iter_mut().enumerate() {
                let x = _mm512_loadu_ps(a.add(i + 16 * k));
                let y = _mm512_loadu_ps(b.add(i + 16 * k));
                *acc_k = _mm512_fmadd_ps(x, y, *acc_k);
            }
            i += 64;
        }
        while i + 16 <= n {
            acc[0] = _mm512_fmadd_ps(_mm512_loadu_ps(a.add(i)), _mm512_loadu_ps(b.add(i)), acc[0]);
            i += 16;
        }
        if i < n {
            let mask: __mmask16 = ((1u32 << (n - i)) - 1) as u16;
            let x = _mm512_maskz_loadu_ps(mask, a.add(i));
            let y = _mm512_maskz_loadu_ps(mask, b.add(i));
            acc[1] = _mm512_fmadd_ps(x, y, acc[1]);
        }
        let sum = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
        _mm512_reduce_add_ps(sum)
    }
}

/// # Safety
/// The CPU must support AVX-512F; `row.len() == q.len()`.
#[target_feature(enable = "avx512f")]
pub unsafe fn dot_f16(row: &[u16], q: &[f32]) -> f32 {
    // SAFETY: the caller guarantees the CPU features (this function's contract); every pointer
    // read stays below `n`, the shorter slice's length.
    unsafe {
        let n = row.len().min(q.len());
        let (a, b) = (row.as_ptr(), q.as_ptr());
        let mut acc = [_mm512_setzero_ps(); 4];
        let mut i = 0;
        while i + 64 <= n {
            for (k, acc_k) in acc.iter_mut().enumerate() {
                let x = _mm512_cvtph_ps(_mm256_loadu_si256(a.add(i + 16 * k) as *const __m256i));
                *acc_k = _mm512_fmadd_ps(x, _mm512_loadu_ps(b.add(i + 16 * k)), *acc_k);
            }
            i += 64;
        }
        while i + 16 <= n {
            let x = _mm512_cvtph_ps(_mm256_loadu_si256(a.add(i) as *const __m256i));
            acc[0] = _mm512_fmadd_ps(x, _mm512_loadu_ps(b.add(i)), acc[0]);
            i += 16;
        }
        let sum = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
        _mm512_reduce_add_ps(sum) + super::scalar::dot_f16(&row[i..n], &q[i..n])
    }
}

/// # Safety
/// The CPU must support AVX-512F; `row.len() == q.len()`.
#[target_feature(enable = "avx512f")]
pub unsafe fn dot_i8(row: &[i8], q: &[f32]) -> f32 {
    // SAFETY: the caller guarantees the CPU features (this function's contract); every pointer
    // read stays below `n`, the shorter slice's length.
    unsafe {
        let n = row.len().min(q.len());
        let (a, b) = (row.as_ptr(), q.as_ptr());
        let mut acc = [_mm512_setzero_ps(); 4];
        let mut i = 0;
        while i + 64 <= n {
            for (k, acc_k) in acc.iter_mut().enumerate() {
                let bytes = _mm_loadu_si128(a.add(i + 16 * k) as *const __m128i);
                let x = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(bytes));
                *acc_k = _mm512_fmadd_ps(x, _mm512_loadu_ps(b.add(i + 16 * k)), *acc_k);
            }
            i += 64;
        }
        while i + 16 <= n {
            let bytes = _mm_loadu_si128(a.add(i) as *const __m128i);
            let x = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(bytes));
            acc[0] = _mm512_fmadd_ps(x, _mm512_loadu_ps(b.add(i)), acc[0]);
            i += 16;
        }
        let sum = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
        _mm512_reduce_add_ps(sum) + super::scalar::dot_i8(&row[i..n], &q[i..n])
    }
}
