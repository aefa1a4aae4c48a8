//! The memory-bandwidth bound the scan benchmarks compare against.

use rayon::prelude::*;
use std::time::Instant;

/// The memory-bandwidth bound (µs): the median of 15 plain passes over a buffer the size of the
/// index, backed like the index, split over `threads` on the pool the scans use. The pass XORs
/// 64-bit words into eight independent lanes, so the loads are all it waits for. A median, as
/// the scans' p50 is: the bandwidth these shared machines give varies by 2x from one minute to
/// the next, and a best case would flatter the bound.
pub fn bandwidth_bound(bytes: usize, threads: usize) -> f64 {
    let words = bytes / 8;
    let mut buf: Vec<u64> = Vec::with_capacity(words);
    // Backed like the index arena (transparent huge pages where the kernel allows).
    #[cfg(target_os = "linux")]
    // SAFETY: advice only, on memory this buffer owns (rounded down to its page); a failure is
    // harmless.
    unsafe {
        libc::madvise(
            (buf.as_mut_ptr() as usize & !4095) as *mut libc::c_void,
            bytes,
            libc::MADV_HUGEPAGE,
        );
    }
    buf.extend((0..words as u64).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
    let chunk = words.div_ceil(threads).max(8);
    let pass = || {
        buf.par_chunks(chunk)
            .map(|c| {
                let mut acc = [0u64; 8];
                for block in c.chunks_exact(8) {
                    for (a, x) in acc.iter_mut().zip(block) {
                        *a ^= x;
                    }
                }
                acc.iter().fold(0, |a, x| a ^ x)
            })
            .reduce(|| 0, |a, b| a ^ b)
    };
    std::hint::black_box(pass());
    let mut times: Vec<f64> = (0..15)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(pass());
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}
