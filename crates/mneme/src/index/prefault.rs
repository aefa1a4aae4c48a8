//! Pre-faulting a freshly reserved arena on another core.
//!
//! Loading 100k × 768 f32 rows writes 307 MB of never-touched memory; first-touch page faults
//! cost as much as reading the rows from SQLite. `MADV_POPULATE_WRITE` (Linux ≥ 5.14) faults the
//! pages in without changing any page already written, so a helper thread can run it ahead of
//! the loader. Elsewhere, or on older kernels, it is a no-op.

/// Faults in `len` bytes at `addr` for writing. Errors (old kernels) are ignored: the loader then
/// takes the faults itself, which is merely slower.
pub(super) fn populate_for_write(addr: usize, len: usize) {
    #[cfg(target_os = "linux")]
    {
        const CHUNK: usize = 8 << 20;
        let page = 4096;
        let start = addr & !(page - 1);
        let end = addr + len;
        let mut at = start;
        while at < end {
            let n = CHUNK.min(end - at);
            // SAFETY: the range lies inside an allocation the caller keeps alive until this
            // returns; MADV_POPULATE_WRITE never changes the contents of present pages.
            let rc =
                unsafe { libc::madvise(at as *mut libc::c_void, n, libc::MADV_POPULATE_WRITE) };
            if rc != 0 {
                return;
            }
            at += n;
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (addr, len);
}
