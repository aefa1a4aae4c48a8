//! A hint to start loading memory a walk reads next. A graph search knows its next rows, visit
//! marks and link lists before it reads them, and scattered reads otherwise cost the memory's
//! full latency one after the other.

/// Asks the CPU to start loading the cache line that holds `value` into every cache level;
/// nothing on other architectures than x86-64.
#[inline(always)]
pub(crate) fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: SSE is part of every x86-64 CPU, so the instruction exists; a prefetch reads
        // nothing architecturally and never faults, and the pointer comes from a reference.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(value as *const T as *const i8) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// [`prefetch`] for the first `lines` cache lines of `items` (fewer if it is shorter).
#[inline(always)]
pub(crate) fn prefetch_lines<T>(items: &[T], lines: usize) {
    let step = (64 / std::mem::size_of::<T>().max(1)).max(1);
    for item in items.iter().step_by(step).take(lines) {
        prefetch(item);
    }
}
