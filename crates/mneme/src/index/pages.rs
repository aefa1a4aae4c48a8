//! Backing a large arena with transparent huge pages.
//!
//! Loading 100k × 768 f32 rows writes 307 MB of never-touched memory. With 4 KiB pages its
//! ~75 000 first-touch faults cost more than reading the rows from SQLite; with 2 MiB pages the
//! kernel takes ~150 faults and only zeroes the memory. Scans also miss the TLB less.

/// Asks the kernel to back `len` bytes at `addr` with huge pages where it can (Linux with THP in
/// `madvise` or `always` mode). Elsewhere, or if the kernel refuses, nothing changes: the arena
/// then takes ordinary pages, which is merely slower.
pub(super) fn advise_huge_pages(addr: usize, len: usize) {
    #[cfg(target_os = "linux")]
    if len >= 1 << 21 {
        const PAGE: usize = 4096;
        let start = addr & !(PAGE - 1);
        // SAFETY: the range covers an allocation the caller owns (rounded down to its first
        // page); MADV_HUGEPAGE changes how it is backed, never its contents.
        unsafe {
            libc::madvise(
                start as *mut libc::c_void,
                addr + len - start,
                libc::MADV_HUGEPAGE,
            )
        };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (addr, len);
}

/// Plain numbers: no padding, and every bit pattern (all zeros included) is a valid value.
///
/// # Safety
/// Only for types of which that holds.
pub(crate) unsafe trait Pod: Copy + Default + Send + Sync {}
// SAFETY: primitive integers and floats have no padding and no invalid bit patterns.
unsafe impl Pod for u8 {}
// SAFETY: as above.
unsafe impl Pod for i8 {}
// SAFETY: as above.
unsafe impl Pod for u16 {}
// SAFETY: as above.
unsafe impl Pod for u32 {}
// SAFETY: as above.
unsafe impl Pod for i64 {}
// SAFETY: as above.
unsafe impl Pod for f32 {}

/// `len` zeros with room for `capacity` (at least `len`), or `None` when that much memory cannot
/// be had. Nothing writes the zeros: a large block comes straight from the kernel, which zeroes
/// each page as it is first written (on huge pages past 2 MiB, where the kernel allows), so a
/// vector about to be filled from a file is written once, not twice.
pub(crate) fn zeroed<T: Pod>(len: usize, capacity: usize) -> Option<Vec<T>> {
    let capacity = capacity.max(len);
    let layout = std::alloc::Layout::array::<T>(capacity).ok()?;
    if layout.size() == 0 {
        return Some(vec![T::default(); len]);
    }
    // SAFETY: the layout has a non-zero size.
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
    if ptr.is_null() {
        return None;
    }
    advise_huge_pages(ptr as usize, layout.size());
    // SAFETY: `ptr` was allocated by the global allocator with `layout` (`capacity` items of
    // `T`'s alignment), and its first `len` items are zeros, a valid `T` (`Pod`).
    Some(unsafe { Vec::from_raw_parts(ptr.cast::<T>(), len, capacity) })
}

/// The bytes of plain numbers, for reading them from a file in place.
pub(crate) fn bytes_mut<T: Pod>(v: &mut [T]) -> &mut [u8] {
    // SAFETY: `Pod` types have no padding, and any bytes written make a valid `T`.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast(), std::mem::size_of_val(v)) }
}

/// The bytes of plain numbers.
pub(crate) fn bytes<T: Pod>(v: &[T]) -> &[u8] {
    // SAFETY: `Pod` types have no padding.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast(), std::mem::size_of_val(v)) }
}
