//! NEON kernels for aarch64, where NEON is part of the base instruction set (so these are safe
//! functions). Four independent 4-lane accumulators hide the FMA latency; tails use the scalar
//! loop. There is no integer kernel: `sdot` multiplies signed bytes by signed bytes, and its
//! intrinsic is not stable Rust.

use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};
use std::arch::aarch64::*;

/// The sum of four accumulators' lanes.
#[inline(always)]
fn total(acc: [float32x4_t; 4]) -> f32 {
    // SAFETY: NEON is always present on aarch64.
    unsafe {
        vaddvq_f32(vaddq_f32(
            vaddq_f32(acc[0], acc[1]),
            vaddq_f32(acc[2], acc[3]),
        ))
    }
}

pub fn dot_f32(row: &[f32], q: &[f32]) -> f32 {
    let n = row.len().min(q.len());
    // SAFETY: NEON is always present on aarch64; every read stays below `n`, the shorter
    // slice's length.
    unsafe {
        let (a, b) = (row.as_ptr(), q.as_ptr());
        let mut acc = [vdupq_n_f32(0.0); 4];
        let mut i = 0;
        while i + 16 <= n {
            for (k, acc_k) in acc.iter_mut().enumerate() {
                let (x, y) = (vld1q_f32(a.add(i + 4 * k)), vld1q_f32(b.add(i + 4 * k)));
                *acc_k = vfmaq_f32(*acc_k, x, y);
            }
            i += 16;
        }
        while i + 4 <= n {
            acc[0] = vfmaq_f32(acc[0], vld1q_f32(a.add(i)), vld1q_f32(b.add(i)));
            i += 4;
        }
        total(acc) + super::scalar::dot_f32(&row[i..n], &q[i..n])
    }
}

/// Converts a block at a time with `half` (which uses the CPU's `fcvtl` where it has FP16),
/// then runs [`dot_f32`] over the block, still in L1.
pub fn dot_f16(row: &[u16], q: &[f32]) -> f32 {
    const BLOCK: usize = 64;
    let n = row.len().min(q.len());
    let mut buf = [0f32; BLOCK];
    let mut sum = 0.0;
    for (r, q) in row[..n].chunks(BLOCK).zip(q[..n].chunks(BLOCK)) {
        let buf = &mut buf[..r.len()];
        r.reinterpret_cast::<half::f16>().convert_to_f32_slice(buf);
        sum += dot_f32(buf, q);
    }
    sum
}

pub fn dot_i8(row: &[i8], q: &[f32]) -> f32 {
    let n = row.len().min(q.len());
    // SAFETY: as in `dot_f32`.
    unsafe {
        let (a, b) = (row.as_ptr(), q.as_ptr());
        let mut acc = [vdupq_n_f32(0.0); 4];
        let mut i = 0;
        while i + 16 <= n {
            let x = vld1q_s8(a.add(i));
            let (lo, hi) = (vmovl_s8(vget_low_s8(x)), vmovl_high_s8(x));
            let parts = [
                vmovl_s16(vget_low_s16(lo)),
                vmovl_high_s16(lo),
                vmovl_s16(vget_low_s16(hi)),
                vmovl_high_s16(hi),
            ];
            for (k, (acc_k, part)) in acc.iter_mut().zip(parts).enumerate() {
                *acc_k = vfmaq_f32(*acc_k, vcvtq_f32_s32(part), vld1q_f32(b.add(i + 4 * k)));
            }
            i += 16;
        }
        total(acc) + super::scalar::dot_i8(&row[i..n], &q[i..n])
    }
}
