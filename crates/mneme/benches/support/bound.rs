//! The memory-bandwidth bound the scan benchmarks compare against.

use std::time::Instant;

/// The memory-bandwidth bound: the fastest plain pass (a vectorisable sum) over a buffer the
/// size of the index, backed like the index, with as many threads as the scan uses.
pub fn bandwidth_bound(bytes: usize, threads: usize) -> f64 {
    let mut buf: Vec<f32> = Vec::with_capacity(bytes / 4);
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
    buf.extend((0..bytes / 4).map(|i| (i % 7) as f32));
    let chunk = buf.len().div_ceil(threads);
    let mut best = f64::MAX;
    for _ in 0..15 {
        let t = Instant::now();
        let total: f32 = std::thread::scope(|s| {
            let hs: Vec<_> = buf
                .chunks(chunk)
                .map(|c| {
                    s.spawn(move || {
                        let mut acc = [0f32; 16];
                        for block in c.chunks_exact(16) {
                            for (a, x) in acc.iter_mut().zip(block) {
                                *a += x;
                            }
                        }
                        acc.iter().sum::<f32>()
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum()
        });
        std::hint::black_box(total);
        best = best.min(t.elapsed().as_secs_f64() * 1e6);
    }
    best
}
