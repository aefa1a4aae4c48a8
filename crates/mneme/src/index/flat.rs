//! The flat index: an exact brute-force scan over one contiguous arena per dtype.
//!
//! Rows live at offsets `0..used` of a `capacity × dim` matrix. Each namespace keeps its offsets
//! in insertion order, so a search scans only its tenant's rows. Removal is a tombstone (the row's
//! memory stays until [`FlatIndex::compact`]), which keeps deletes O(1) and offsets stable.
//! Capacity numbers follow mneme-cache 1.0 because users observe them through `Stats`.

use super::bulk_load::{LoadHalf, Slots};
use super::kernels::{Int8Query, Kernels};
use super::pages;
use super::prefetch::prefetch;
use super::top_k::TopK;
use super::{Candidate, IndexRow, VectorIndex};
use crate::error::{Error, Result};
use crate::quant;
use crate::types::VectorDtype;
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use std::collections::{HashMap, TryReserveError};
use std::sync::atomic::AtomicUsize;

/// Default starting capacity, in rows.
pub const DEFAULT_INITIAL_CAPACITY: usize = 256;

/// Scans smaller than this many elements run on the calling thread only.
pub(crate) const PARALLEL_MIN_ELEMENTS: usize = 1 << 21;

/// An empty vector with room for `n` items, or the allocator's refusal (sizes from options must
/// not abort the process).
fn try_vec<T>(n: usize) -> Result<Vec<T>, TryReserveError> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)?;
    Ok(v)
}

enum Arena {
    F32(Vec<f32>),
    F16(Vec<u16>),
    I8(Vec<i8>),
}

impl Arena {
    /// An empty arena with room for `elements` values, or the error saying it cannot be had.
    fn try_new(dtype: VectorDtype, elements: usize) -> Result<Self, TryReserveError> {
        let arena = match dtype {
            VectorDtype::Float32 => Arena::F32(try_vec(elements)?),
            VectorDtype::Float16 => Arena::F16(try_vec(elements)?),
            VectorDtype::Int8 => Arena::I8(try_vec(elements)?),
        };
        arena.advise_huge_pages();
        Ok(arena)
    }

    /// Asks for huge pages under the whole reservation (see `pages`): fewer faults as rows
    /// arrive, and fewer TLB misses for the random row reads of a graph walk.
    fn advise_huge_pages(&self) {
        fn whole<T>(v: &[T], capacity: usize) {
            pages::advise_huge_pages(v.as_ptr() as usize, capacity * std::mem::size_of::<T>());
        }
        match self {
            Arena::F32(v) => whole(v, v.capacity()),
            Arena::F16(v) => whole(v, v.capacity()),
            Arena::I8(v) => whole(v, v.capacity()),
        }
    }

    /// The whole reservation of an empty arena, for a bulk load.
    fn bulk_slots(&mut self) -> Slots {
        fn raw<T>(v: &mut Vec<T>) -> *mut std::mem::MaybeUninit<T> {
            debug_assert!(v.is_empty());
            v.spare_capacity_mut().as_mut_ptr()
        }
        match self {
            Arena::F32(v) => Slots::F32(raw(v)),
            Arena::F16(v) => Slots::F16(raw(v)),
            Arena::I8(v) => Slots::I8(raw(v)),
        }
    }

    /// Makes rows `[0, low)` and `[high_start, high_start + high)` of an empty arena its
    /// contents, moving the second block down to follow the first.
    ///
    /// # Safety
    /// Those rows must have been written since [`Arena::bulk_slots`].
    unsafe fn adopt_blocks(&mut self, dim: usize, low: usize, high_start: usize, high: usize) {
        /// # Safety
        /// As `adopt_blocks`, for `v`.
        unsafe fn adopt<T>(v: &mut Vec<T>, dim: usize, low: usize, from: usize, high: usize) {
            let base = v.as_mut_ptr();
            // SAFETY: both blocks lie in `v`'s reservation (`from + high <= capacity`) and were
            // written (the caller's contract); `copy` allows the overlap of a short move, and
            // the first `(low + high) * dim` elements are initialised afterwards.
            unsafe {
                std::ptr::copy(base.add(from * dim), base.add(low * dim), high * dim);
                v.set_len((low + high) * dim);
            }
        }
        // SAFETY: this function's contract, passed on.
        unsafe {
            match self {
                Arena::F32(v) => adopt(v, dim, low, high_start, high),
                Arena::F16(v) => adopt(v, dim, low, high_start, high),
                Arena::I8(v) => adopt(v, dim, low, high_start, high),
            }
        }
    }

    fn reserve_total(&mut self, elements: usize) {
        match self {
            Arena::F32(v) => v.reserve_exact(elements.saturating_sub(v.len())),
            Arena::F16(v) => v.reserve_exact(elements.saturating_sub(v.len())),
            Arena::I8(v) => v.reserve_exact(elements.saturating_sub(v.len())),
        }
        self.advise_huge_pages();
    }

    /// Writes `vector` (quantised) at row `offset`; `offset` is either an existing row or the
    /// next one.
    fn put(&mut self, offset: usize, dim: usize, vector: &[f32]) {
        fn put_row<T: Copy>(
            v: &mut Vec<T>,
            offset: usize,
            dim: usize,
            row: impl Iterator<Item = T>,
        ) {
            let start = offset * dim;
            if start == v.len() {
                v.extend(row);
            } else {
                for (slot, x) in v[start..start + dim].iter_mut().zip(row) {
                    *slot = x;
                }
            }
        }
        match self {
            Arena::F32(v) => put_row(v, offset, dim, vector.iter().copied()),
            Arena::F16(v) => put_row(
                v,
                offset,
                dim,
                vector.iter().map(|&x| half::f16::from_f32(x).to_bits()),
            ),
            Arena::I8(v) => put_row(
                v,
                offset,
                dim,
                vector.iter().map(|&x| quant::quantize_int8_scalar(x)),
            ),
        }
    }

    fn row_equals(&self, offset: usize, dim: usize, vector: &[f32]) -> bool {
        let r = offset * dim..(offset + 1) * dim;
        match self {
            Arena::F32(v) => v[r]
                .iter()
                .zip(vector)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            Arena::F16(v) => v[r]
                .iter()
                .zip(vector)
                .all(|(a, &b)| *a == half::f16::from_f32(b).to_bits()),
            Arena::I8(v) => v[r]
                .iter()
                .zip(vector)
                .all(|(a, &b)| *a == quant::quantize_int8_scalar(b)),
        }
    }

    fn row_f32(&self, offset: usize, dim: usize) -> Vec<f32> {
        let r = offset * dim..(offset + 1) * dim;
        match self {
            Arena::F32(v) => v[r].to_vec(),
            Arena::F16(v) => quant::dequantize_float16(&v[r]),
            Arena::I8(v) => quant::dequantize_int8(&v[r]),
        }
    }
}

/// A query in the form the scan's kernel takes.
enum ScanQuery<'a> {
    /// For the float kernels (see [`FlatIndex::prepare_query`]).
    Float(Vec<f32>),
    /// int8 rows on a CPU with an integer kernel (VNNI): the prepared query in 8 bits.
    Bytes { rows: &'a [i8], q: Int8Query },
}

/// The exact brute-force index.
///
/// ```
/// use mneme::index::{FlatIndex, VectorIndex};
/// use mneme::VectorDtype;
/// let mut idx = FlatIndex::new(2, VectorDtype::Float32).unwrap();
/// idx.append(1, &[1.0, 0.0], "default").unwrap();
/// idx.append(2, &[0.0, 1.0], "default").unwrap();
/// let top = idx.search(&[0.8, 0.6], "default", 3);
/// assert_eq!(top[0].id, 1);
/// assert_eq!(top.len(), 2);
/// ```
pub struct FlatIndex {
    dim: usize,
    dtype: VectorDtype,
    initial_capacity: usize,
    capacity: usize,
    arena: Arena,
    /// Row id of each used offset.
    ids: Vec<i64>,
    /// Namespace slot of each used offset.
    row_ns: Vec<u32>,
    /// Tombstone flag of each used offset.
    dead: Vec<bool>,
    tombstones: usize,
    /// Live id → offset.
    /// Ids are the store's sequential integers, not attacker-chosen: a fast hash suffices.
    by_id: FxHashMap<i64, u32>,
    ns_slots: HashMap<String, u32>,
    ns_names: Vec<String>,
    /// Offsets of each namespace slot, in insertion order (tombstoned ones included).
    ns_rows: Vec<Vec<u32>>,
    kernels: Kernels,
    threads: usize,
}

impl FlatIndex {
    /// An empty index with the default initial capacity (256 rows).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `dim` is 0.
    pub fn new(dim: usize, dtype: VectorDtype) -> Result<Self> {
        Self::with_capacity(dim, dtype, DEFAULT_INITIAL_CAPACITY)
    }

    /// An empty index that starts with room for `initial_capacity` rows.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `dim` or `initial_capacity` is 0, [`Error::OutOfMemory`]
    /// when that room cannot be allocated.
    pub fn with_capacity(dim: usize, dtype: VectorDtype, initial_capacity: usize) -> Result<Self> {
        if dim == 0 {
            return Err(Error::invalid_argument(
                "index dim must be > 0",
                "pass the embedder's dimension",
            ));
        }
        if initial_capacity == 0 {
            return Err(Error::invalid_argument(
                "initial_capacity must be > 0",
                "pass a positive initial_capacity in index_options, or omit it (default 256)",
            ));
        }
        let mut index = FlatIndex {
            dim,
            dtype,
            initial_capacity,
            capacity: 0,
            arena: Arena::F32(Vec::new()),
            ids: Vec::new(),
            row_ns: Vec::new(),
            dead: Vec::new(),
            tombstones: 0,
            by_id: FxHashMap::default(),
            ns_slots: HashMap::new(),
            ns_names: Vec::new(),
            ns_rows: Vec::new(),
            kernels: Kernels::detect(),
            threads: rayon::current_num_threads(),
        };
        index.reset(initial_capacity)?;
        Ok(index)
    }

    /// Replaces the contents with `rows`; capacity becomes `max(initial_capacity, rows)`.
    ///
    /// # Errors
    /// [`Error::OutOfMemory`] when that capacity cannot be allocated; the index is unchanged.
    pub fn rebuild_from<'a>(
        &mut self,
        rows: impl ExactSizeIterator<Item = IndexRow<'a>>,
    ) -> Result<()> {
        let n = rows.len();
        self.reset(self.initial_capacity.max(n))?;
        let dim = self.dim;
        for (id, v, ns) in rows.filter(|r| r.1.len() == dim) {
            self.push_row(id, v, ns);
        }
        Ok(())
    }

    /// Replaces the contents with the rows `fill` writes through two [`LoadHalf`] writers, which
    /// may run on two threads at once (see `bulk_load.rs`): `low` with ascending ids, `high` with
    /// descending ids, each above every `low` id. The arena is sized for `expected` rows; more
    /// are appended afterwards. Returns how many rows the writers refused for their length.
    ///
    /// # Errors
    /// Whatever `fill` returns; the index then holds the rows written so far.
    /// [`Error::OutOfMemory`] when room for `expected` rows cannot be allocated.
    pub(crate) fn bulk_load(
        &mut self,
        expected: usize,
        fill: impl FnOnce(&mut LoadHalf<'_>, &mut LoadHalf<'_>) -> Result<()>,
    ) -> Result<usize> {
        self.reset(self.initial_capacity.max(expected))?;
        let (dim, capacity) = (self.dim, self.capacity);
        let slots = self.arena.bulk_slots();
        let budget = AtomicUsize::new(capacity);
        let mut low = LoadHalf::new(slots, dim, capacity, false, &budget);
        let mut high = LoadHalf::new(slots, dim, capacity, true, &budget);
        let filled = fill(&mut low, &mut high);
        // The unsafe blocks below rely on each half still being the one it was made as.
        assert!(
            !low.from_top && high.from_top,
            "bulk-load halves were swapped"
        );
        // In id order, both halves' overflow goes between the two blocks.
        let mut overflow = std::mem::take(&mut low.overflow);
        overflow.extend(high.overflow.drain(..).rev());
        let high_written = high.written();
        // SAFETY: `high` is done, having written its top `high_written` slots.
        let placed = unsafe { low.fill_gap(high_written, &overflow) };
        // SAFETY: `low` wrote the slots [0, low.written()) and `high` the top `high_written`
        // slots (`LoadHalf::take_slot`, `LoadHalf::fill_gap`).
        unsafe {
            self.arena
                .adopt_blocks(dim, low.written(), capacity - high_written, high_written)
        };
        let skipped = low.skipped + high.skipped;
        high.rows.reverse();
        for half in [low, high] {
            let slots: Vec<u32> = half.namespaces.iter().map(|n| self.ns_slot(n)).collect();
            for (id, ns) in half.rows {
                self.adopt_row(id, slots[ns as usize]);
            }
        }
        // Rows past the whole reservation (another process inserted after the count).
        for (id, le_bytes, ns) in &overflow[placed..] {
            if let Some(v) = quant::f32_from_le_bytes(le_bytes) {
                self.push_row(*id, &v, ns);
            }
        }
        filled.map(|()| skipped)
    }

    /// Records the row just placed at the next offset by a bulk load.
    fn adopt_row(&mut self, id: i64, slot: u32) {
        let off = self.ids.len() as u32;
        self.ids.push(id);
        self.row_ns.push(slot);
        self.dead.push(false);
        if let Some(old) = self.by_id.insert(id, off) {
            // A writer repeated an id: the later copy wins, as `append` would have it.
            self.dead[old as usize] = true;
            self.tombstones += 1;
        }
        self.ns_rows[slot as usize].push(off);
    }

    /// Empties the index and sets its capacity in rows.
    ///
    /// # Errors
    /// [`Error::OutOfMemory`] when that capacity cannot be allocated; the index is unchanged.
    pub fn reset(&mut self, capacity: usize) -> Result<()> {
        let capacity = capacity.max(1);
        let too_large = || {
            Error::out_of_memory(
                format!(
                    "an index of {capacity} rows × {} {} values needs more memory than this process can allocate",
                    self.dim,
                    self.dtype.as_str()
                ),
                "lower initial_capacity (or initial_max_elements) in index_options, use a smaller dtype, or free memory",
            )
        };
        let elements = capacity.checked_mul(self.dim).ok_or_else(too_large)?;
        let reserve = || -> Result<_, TryReserveError> {
            let mut by_id = FxHashMap::default();
            by_id.try_reserve(capacity)?;
            let arena = Arena::try_new(self.dtype, elements)?;
            Ok((
                arena,
                try_vec(capacity)?,
                try_vec(capacity)?,
                try_vec(capacity)?,
                by_id,
            ))
        };
        let (arena, ids, row_ns, dead, by_id) = reserve().map_err(|_| too_large())?;
        self.capacity = capacity;
        self.arena = arena;
        self.ids = ids;
        self.row_ns = row_ns;
        self.dead = dead;
        self.tombstones = 0;
        self.by_id = by_id;
        self.ns_slots.clear();
        self.ns_names.clear();
        self.ns_rows.clear();
        Ok(())
    }

    /// Uses the given kernels instead of the detected ones (benchmarks and tests).
    pub fn set_kernels(&mut self, kernels: Kernels) {
        self.kernels = kernels;
    }

    /// Caps the parts one search is split into (default: the shared pool's thread count).
    pub fn set_search_threads(&mut self, threads: usize) {
        self.threads = threads.max(1);
    }

    /// Capacity in rows.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether `id` is a live row.
    pub fn contains(&self, id: i64) -> bool {
        self.by_id.contains_key(&id)
    }

    /// The stored copy of `id`, dequantised to f32.
    pub fn vector(&self, id: i64) -> Option<Vec<f32>> {
        let off = *self.by_id.get(&id)? as usize;
        Some(self.arena.row_f32(off, self.dim))
    }

    /// Converts the stored copies to `dtype` in memory (lossy when narrowing).
    ///
    /// The cache does not use this: it rebuilds from the store's float32 instead, so going back to
    /// float32 restores the originals. It exists for direct index users.
    ///
    /// # Errors
    /// [`Error::OutOfMemory`] when the new copies cannot be allocated; the index is unchanged.
    pub fn requantize(&mut self, dtype: VectorDtype) -> Result<()> {
        if dtype == self.dtype {
            return Ok(());
        }
        let live: Vec<(i64, Vec<f32>, String)> = self.live_rows();
        let old = std::mem::replace(&mut self.dtype, dtype);
        self.rebuild_owned(live, self.capacity)
            .inspect_err(|_| self.dtype = old)
    }

    fn live_rows(&self) -> Vec<(i64, Vec<f32>, String)> {
        (0..self.ids.len())
            .filter(|&o| !self.dead[o])
            .map(|o| {
                (
                    self.ids[o],
                    self.arena.row_f32(o, self.dim),
                    self.ns_names[self.row_ns[o] as usize].clone(),
                )
            })
            .collect()
    }

    /// Replaces the contents with `rows`; on an allocation failure the index is unchanged.
    fn rebuild_owned(&mut self, rows: Vec<(i64, Vec<f32>, String)>, capacity: usize) -> Result<()> {
        self.reset(capacity)?;
        for (id, v, ns) in &rows {
            self.push_row(*id, v, ns);
        }
        Ok(())
    }

    /// Appends or overwrites a row of the right length (checked by the caller).
    fn push_row(&mut self, id: i64, vector: &[f32], namespace: &str) {
        let slot = self.ns_slot(namespace);
        if let Some(&off) = self.by_id.get(&id) {
            let off_us = off as usize;
            self.arena.put(off_us, self.dim, vector);
            let old = self.row_ns[off_us];
            if old != slot {
                self.ns_rows[old as usize].retain(|&o| o != off);
                self.ns_rows[slot as usize].push(off);
                self.row_ns[off_us] = slot;
            }
            return;
        }
        let off = self.ids.len();
        if off == self.capacity {
            self.capacity = (2 * self.capacity).max(off + 1);
            self.arena.reserve_total(self.capacity * self.dim);
        }
        self.arena.put(off, self.dim, vector);
        self.ids.push(id);
        self.row_ns.push(slot);
        self.dead.push(false);
        self.by_id.insert(id, off as u32);
        self.ns_rows[slot as usize].push(off as u32);
    }

    fn ns_slot(&mut self, namespace: &str) -> u32 {
        if let Some(&slot) = self.ns_slots.get(namespace) {
            return slot;
        }
        let slot = self.ns_names.len() as u32;
        self.ns_slots.insert(namespace.to_owned(), slot);
        self.ns_names.push(namespace.to_owned());
        self.ns_rows.push(Vec::new());
        slot
    }

    /// For indexes layered on this storage: the stored values of the first `rows` rows, as
    /// native-endian bytes (what [`Self::read_rows`] takes back).
    pub(crate) fn row_bytes(&self, rows: usize) -> &[u8] {
        use super::pages::bytes;
        let n = rows * self.dim;
        match &self.arena {
            Arena::F32(v) => bytes(&v[..n]),
            Arena::F16(v) => bytes(&v[..n]),
            Arena::I8(v) => bytes(&v[..n]),
        }
    }

    /// For indexes layered on this storage: `rows` rows that `fill` writes in place, as
    /// [`Self::row_bytes`] gave them (one call with all their bytes), keyed as an index over it
    /// keys them (row `i` has id `-i - 1`, namespace `""`), with room for at least `capacity`
    /// rows.
    ///
    /// # Errors
    /// `fill`'s error, or [`std::io::ErrorKind::OutOfMemory`] when the rows do not fit.
    pub(crate) fn read_rows(
        dim: usize,
        dtype: VectorDtype,
        rows: usize,
        capacity: usize,
        fill: impl FnOnce(&mut [u8]) -> std::io::Result<()>,
    ) -> std::io::Result<Self> {
        let mut index = FlatIndex::with_capacity(dim, dtype, 1)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::OutOfMemory, e.to_string()))?;
        let (n, room) = (rows * dim, capacity.max(rows).max(1) * dim);
        let too_large = || {
            std::io::Error::new(
                std::io::ErrorKind::OutOfMemory,
                format!("{rows} rows of {dim} {} values", dtype.as_str()),
            )
        };
        // Zeroed by the kernel as the file's bytes land, not by a pass of our own first.
        index.arena = match dtype {
            VectorDtype::Float32 => Arena::F32(pages::zeroed(n, room).ok_or_else(too_large)?),
            VectorDtype::Float16 => Arena::F16(pages::zeroed(n, room).ok_or_else(too_large)?),
            VectorDtype::Int8 => Arena::I8(pages::zeroed(n, room).ok_or_else(too_large)?),
        };
        index.capacity = room / dim;
        index.ids.reserve_exact(index.capacity);
        index.row_ns.reserve_exact(index.capacity);
        index.dead.reserve_exact(index.capacity);
        index.by_id.reserve(index.capacity);
        match &mut index.arena {
            Arena::F32(v) => fill(pages::bytes_mut(v)),
            Arena::F16(v) => fill(pages::bytes_mut(v)),
            Arena::I8(v) => fill(pages::bytes_mut(v)),
        }?;
        let slot = index.ns_slot("");
        for i in 0..rows {
            index.adopt_row(-(i as i64) - 1, slot);
        }
        Ok(index)
    }

    /// For indexes layered on this storage (HNSW): `query` in the form [`Self::score_at`]
    /// takes (int8 folds the rows' 1/127 scale into the query, as 1.0 does).
    pub(crate) fn prepare_query(&self, query: &[f32]) -> Vec<f32> {
        match self.dtype {
            VectorDtype::Int8 => query.iter().map(|x| x / 127.0).collect(),
            _ => query.to_vec(),
        }
    }

    /// For indexes layered on this storage: row `offset` as a prepared query (see
    /// [`Self::prepare_query`]); borrowed for float32, whose rows are their own queries (a
    /// graph insert scores hundreds of rows against each other).
    pub(crate) fn row_query(&self, offset: usize) -> std::borrow::Cow<'_, [f32]> {
        match &self.arena {
            Arena::F32(v) => {
                std::borrow::Cow::Borrowed(&v[offset * self.dim..(offset + 1) * self.dim])
            }
            _ => std::borrow::Cow::Owned(self.prepare_query(&self.vector_at(offset))),
        }
    }

    /// For indexes layered on this storage: every stored row, when they are float32.
    pub(crate) fn f32_rows(&self) -> Option<&[f32]> {
        match &self.arena {
            Arena::F32(v) => Some(&v[..self.ids.len() * self.dim]),
            _ => None,
        }
    }

    /// For indexes layered on this storage: every stored row, when they are int8.
    pub(crate) fn int8_rows(&self) -> Option<&[i8]> {
        match &self.arena {
            Arena::I8(v) => Some(&v[..self.ids.len() * self.dim]),
            _ => None,
        }
    }

    /// The kernels this index scores with.
    pub(crate) fn kernels(&self) -> &Kernels {
        &self.kernels
    }

    /// For indexes layered on this storage: the row at insertion `offset`, as f32.
    pub(crate) fn vector_at(&self, offset: usize) -> Vec<f32> {
        self.arena.row_f32(offset, self.dim)
    }

    fn scan_query(&self, query: &[f32]) -> ScanQuery<'_> {
        let q = self.prepare_query(query);
        match &self.arena {
            Arena::I8(rows) => match self.kernels.int8_query(&q) {
                Some(q) => ScanQuery::Bytes { rows, q },
                None => ScanQuery::Float(q),
            },
            _ => ScanQuery::Float(q),
        }
    }

    /// The score of the row at `offset` against a prepared query (see [`Self::prepare_query`]).
    #[inline]
    pub(crate) fn score_offset(&self, offset: usize, q: &[f32]) -> f32 {
        self.score_offset_with(&self.kernels, offset, q)
    }

    /// As [`Self::score_offset`], by the deciding rule ([`Kernels::exact`]).
    pub(crate) fn exact_score_offset(&self, offset: usize, q: &[f32]) -> f32 {
        self.score_offset_with(&Kernels::exact(), offset, q)
    }

    #[inline]
    fn score_offset_with(&self, kernels: &Kernels, offset: usize, q: &[f32]) -> f32 {
        let r = offset * self.dim..(offset + 1) * self.dim;
        match &self.arena {
            Arena::F32(v) => (kernels.dot_f32)(&v[r], q),
            Arena::F16(v) => (kernels.dot_f16)(&v[r], q),
            Arena::I8(v) => (kernels.dot_i8)(&v[r], q),
        }
    }

    /// Asks the CPU to start loading the row at `offset` (a hint; see [`super::prefetch`]). A
    /// graph walk knows its next rows before it scores them. One line: the hardware
    /// prefetcher follows the rest (prefetching whole rows measured no faster).
    #[inline]
    pub(crate) fn prefetch_offset(&self, offset: usize) {
        let at = offset * self.dim;
        match &self.arena {
            Arena::F32(v) => v.get(at).map(prefetch),
            Arena::F16(v) => v.get(at).map(prefetch),
            Arena::I8(v) => v.get(at).map(prefetch),
        };
    }

    fn scan(&self, offsets: &[u32], q: &ScanQuery, k: usize) -> TopK {
        let mut top = TopK::new(k);
        let live = offsets.iter().filter(|&&off| !self.dead[off as usize]);
        match q {
            ScanQuery::Bytes { rows, q } => {
                for &off in live {
                    let row = &rows[off as usize * self.dim..(off as usize + 1) * self.dim];
                    top.offer(q.score(row), off);
                }
            }
            ScanQuery::Float(q) => {
                for &off in live {
                    top.offer(self.score_offset(off as usize, q), off);
                }
            }
        }
        top
    }
}

impl VectorIndex for FlatIndex {
    fn dim(&self) -> usize {
        self.dim
    }

    fn dtype(&self) -> VectorDtype {
        self.dtype
    }

    fn append(&mut self, id: i64, vector: &[f32], namespace: &str) -> Result<()> {
        if vector.len() != self.dim {
            return Err(Error::invalid_argument(
                format!(
                    "vector has {} elements, the index has dim {}",
                    vector.len(),
                    self.dim
                ),
                "pass vectors of the index's dimension",
            ));
        }
        self.push_row(id, vector, namespace);
        Ok(())
    }

    fn remove(&mut self, id: i64) -> bool {
        match self.by_id.remove(&id) {
            Some(off) => {
                self.dead[off as usize] = true;
                self.tombstones += 1;
                true
            }
            None => false,
        }
    }

    fn remove_namespace(&mut self, namespace: &str) -> usize {
        let Some(&slot) = self.ns_slots.get(namespace) else {
            return 0;
        };
        let offsets = std::mem::take(&mut self.ns_rows[slot as usize]);
        let mut removed = 0;
        for off in offsets {
            if !self.dead[off as usize] {
                self.dead[off as usize] = true;
                self.by_id.remove(&self.ids[off as usize]);
                self.tombstones += 1;
                removed += 1;
            }
        }
        removed
    }

    fn search(&self, query: &[f32], namespace: &str, k: usize) -> Vec<Candidate> {
        let Some(&slot) = self.ns_slots.get(namespace) else {
            return Vec::new();
        };
        if k == 0 || query.len() != self.dim {
            return Vec::new();
        }
        let offsets = &self.ns_rows[slot as usize];
        let q = self.scan_query(query);
        let threads = self
            .threads
            .min(offsets.len() * self.dim / PARALLEL_MIN_ELEMENTS + 1);
        let top = if threads <= 1 {
            self.scan(offsets, &q, k)
        } else {
            // On the shared pool: concurrent searches queue for its threads instead of each
            // starting its own.
            let chunk = offsets.len().div_ceil(threads);
            offsets
                .par_chunks(chunk)
                .map(|part| self.scan(part, &q, k))
                .reduce(|| TopK::new(k), TopK::merge)
        };
        top.best
            .into_iter()
            .map(|(score, off)| Candidate {
                id: self.ids[off as usize],
                score,
            })
            .collect()
    }

    fn score(&self, id: i64, query: &[f32]) -> Option<f32> {
        let off = *self.by_id.get(&id)? as usize;
        Some(self.exact_score_offset(off, &self.prepare_query(query)))
    }

    fn row_matches(&self, id: i64, vector: &[f32], namespace: &str) -> Option<bool> {
        let off = *self.by_id.get(&id)? as usize;
        let same_ns = self.ns_names[self.row_ns[off] as usize] == namespace;
        Some(same_ns && vector.len() == self.dim && self.arena.row_equals(off, self.dim, vector))
    }

    fn len(&self) -> usize {
        self.ids.len() - self.tombstones
    }

    fn memory_bytes(&self) -> u64 {
        (self.capacity * self.dim * self.dtype.bytes_per_element()) as u64
    }

    fn tombstone_count(&self) -> usize {
        self.tombstones
    }

    fn compact(&mut self) -> usize {
        if self.tombstones == 0 {
            return 0;
        }
        let before = self.tombstones;
        let live = self.live_rows();
        let capacity = self.initial_capacity.max(live.len());
        // Without memory for the compacted copy the tombstones stay: searches skip them.
        match self.rebuild_owned(live, capacity) {
            Ok(()) => before,
            Err(_) => 0,
        }
    }

    fn backend_name(&self) -> &'static str {
        "numpy"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::random_unit as unit;

    #[test]
    fn capacity_follows_the_1_0_numbers() {
        let mut idx = FlatIndex::new(8, VectorDtype::Float32).unwrap();
        for id in 1..=600 {
            idx.append(id, &unit(8, id as u64), "default").unwrap();
        }
        assert_eq!(idx.memory_bytes(), 32_768);
        for id in 1..=590 {
            assert!(idx.remove(id));
        }
        assert_eq!(idx.tombstone_count(), 590);
        assert_eq!(idx.compact(), 590);
        assert_eq!(idx.memory_bytes(), 8_192);
        assert_eq!(idx.len(), 10);
        assert_eq!(idx.search(&unit(8, 595), "default", 1)[0].id, 595);
    }

    #[test]
    fn namespaces_are_isolated_and_overwrites_move_rows() {
        let mut idx = FlatIndex::new(4, VectorDtype::Float32).unwrap();
        idx.append(1, &[1.0, 0.0, 0.0, 0.0], "a").unwrap();
        idx.append(2, &[0.0, 1.0, 0.0, 0.0], "b").unwrap();
        assert_eq!(idx.search(&[1.0, 0.0, 0.0, 0.0], "b", 3)[0].id, 2);
        assert!(idx.search(&[1.0, 0.0, 0.0, 0.0], "c", 3).is_empty());
        idx.append(1, &[0.0, 0.0, 1.0, 0.0], "b").unwrap();
        assert!(idx.search(&[1.0, 0.0, 0.0, 0.0], "a", 3).is_empty());
        let b = idx.search(&[0.0, 0.0, 1.0, 0.0], "b", 3);
        assert_eq!((b[0].id, b.len()), (1, 2));
        assert_eq!(idx.len(), 2);
    }

    #[test]
    fn ties_break_by_insertion_offset_and_k_caps_results() {
        let mut idx = FlatIndex::new(2, VectorDtype::Float32).unwrap();
        for id in [30, 10, 20, 40] {
            idx.append(id, &[1.0, 0.0], "n").unwrap();
        }
        let ids: Vec<i64> = idx
            .search(&[1.0, 0.0], "n", 3)
            .iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(ids, [30, 10, 20]);
        assert!(idx.search(&[1.0, 0.0], "n", 0).is_empty());
    }

    #[test]
    fn every_dtype_keeps_self_match_top_1() {
        for dtype in [
            VectorDtype::Float32,
            VectorDtype::Float16,
            VectorDtype::Int8,
        ] {
            let mut idx = FlatIndex::new(64, dtype).unwrap();
            for id in 1..=300 {
                idx.append(id, &unit(64, id as u64), "default").unwrap();
            }
            let tol = match dtype {
                VectorDtype::Float32 => 1e-5,
                VectorDtype::Float16 => 5e-3,
                VectorDtype::Int8 => 2e-2,
            };
            for id in [1, 150, 300] {
                let top = idx.search(&unit(64, id as u64), "default", 3);
                assert_eq!(top[0].id, id, "{dtype}");
                assert!(
                    (top[0].score - 1.0).abs() < tol,
                    "{dtype}: {}",
                    top[0].score
                );
                let v = unit(64, id as u64);
                assert_eq!(idx.row_matches(id, &v, "default"), Some(true));
                assert_eq!(idx.row_matches(id, &v, "other"), Some(false));
            }
        }
    }

    #[test]
    fn parallel_scan_equals_serial_scan() {
        let dim = 256;
        let mut idx = FlatIndex::new(dim, VectorDtype::Float32).unwrap();
        for id in 1..=9000 {
            idx.append(id, &unit(dim, id as u64), "default").unwrap();
        }
        for id in (1..9000).step_by(7) {
            idx.remove(id);
        }
        let q = unit(dim, 424242);
        idx.set_search_threads(1);
        let serial = idx.search(&q, "default", 3);
        idx.set_search_threads(4);
        assert_eq!(idx.search(&q, "default", 3), serial);
    }

    #[test]
    fn requantize_in_memory_is_lossy_but_keeps_rows() {
        let mut idx = FlatIndex::new(16, VectorDtype::Float32).unwrap();
        for id in 1..=10 {
            idx.append(id, &unit(16, id as u64), "x").unwrap();
        }
        idx.requantize(VectorDtype::Int8).unwrap();
        assert_eq!(idx.dtype(), VectorDtype::Int8);
        assert_eq!(idx.len(), 10);
        assert_eq!(idx.search(&unit(16, 3), "x", 1)[0].id, 3);
    }

    fn le_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn bulk_load_meets_in_the_middle_in_id_order() {
        // Uneven halves, so one of them runs out of budget while the other holds unused slots.
        for (dtype, rows, split) in [
            (VectorDtype::Float32, 100, 50),
            (VectorDtype::Float16, 10_000, 4_000),
            (VectorDtype::Int8, 10_000, 7_000),
        ] {
            let mut idx = FlatIndex::with_capacity(8, dtype, 1).unwrap();
            let ns_of = |id: i64| if id <= split && id % 2 == 0 { "a" } else { "b" };
            let skipped = idx
                .bulk_load(rows as usize, |low, high| {
                    std::thread::scope(|s| {
                        s.spawn(|| {
                            for id in (split + 1..=rows).rev() {
                                assert!(high.push(id, &le_bytes(&unit(8, id as u64)), ns_of(id)));
                            }
                        });
                        for id in 1..=split {
                            assert!(low.push(id, &le_bytes(&unit(8, id as u64)), ns_of(id)));
                        }
                        assert!(!low.push(999, &[0; 7], "a"));
                    });
                    Ok(())
                })
                .unwrap();
            assert_eq!(
                (skipped, idx.len(), idx.capacity()),
                (1, rows as usize, rows as usize)
            );
            assert_eq!(idx.ids, (1..=rows).collect::<Vec<i64>>(), "{dtype}");
            for id in [1, 2, split, split + 1, rows - 3, rows] {
                assert_eq!(
                    idx.search(&unit(8, id as u64), ns_of(id), 1)[0].id,
                    id,
                    "{dtype}"
                );
                assert!(idx.row_matches(id, &unit(8, id as u64), ns_of(id)).unwrap());
            }
            assert_eq!(
                idx.search(&unit(8, 3), "a", rows as usize).len(),
                split as usize / 2
            );
        }
    }

    #[test]
    fn bulk_load_closes_the_gap_and_appends_rows_past_the_reservation() {
        let mut idx = FlatIndex::with_capacity(32, VectorDtype::Float32, 1).unwrap();
        idx.bulk_load(1000, |low, high| {
            for id in 1..=10 {
                low.push(id, &le_bytes(&unit(32, id as u64)), "a");
            }
            for id in (11..=15).rev() {
                high.push(id, &le_bytes(&unit(32, id as u64)), "a");
            }
            Ok(())
        })
        .unwrap();
        assert_eq!((idx.len(), idx.capacity()), (15, 1000));
        assert_eq!(idx.ids, (1..=15).collect::<Vec<i64>>());
        assert_eq!(idx.search(&unit(32, 12), "a", 1)[0].id, 12);
        let mut small = FlatIndex::with_capacity(32, VectorDtype::Int8, 2).unwrap();
        let failed = small.bulk_load(3, |low, high| {
            for id in 1..=600 {
                low.push(id, &le_bytes(&unit(32, id as u64)), "a");
            }
            high.push(700, &le_bytes(&unit(32, 700)), "b");
            low.push(600, &le_bytes(&unit(32, 1)), "a");
            Err(Error::invalid_argument("stopped", "-"))
        });
        assert!(matches!(failed, Err(Error::InvalidArgument(_))));
        assert_eq!(small.len(), 601);
        assert_eq!(small.search(&unit(32, 700), "b", 1)[0].id, 700);
        assert_eq!(small.search(&unit(32, 1), "a", 2)[0].id, 1);
        assert_eq!(
            small.vector(600).map(|v| v[0]),
            small.vector(1).map(|v| v[0])
        );
    }

    #[test]
    fn bad_construction_and_bad_vectors_are_errors() {
        let mut idx = FlatIndex::new(4, VectorDtype::Float32).unwrap();
        assert!(idx.append(1, &[1.0, 0.0], "a").is_err());
        assert_eq!(idx.len(), 0);
        assert!(FlatIndex::new(0, VectorDtype::Float32).is_err());
        assert!(FlatIndex::with_capacity(4, VectorDtype::Float32, 0).is_err());
    }
}
