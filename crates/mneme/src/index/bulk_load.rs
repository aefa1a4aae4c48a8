//! Loading a whole store into a [`FlatIndex`](super::FlatIndex) from two threads at once.
//!
//! Opening a cache reads every row once. On a 100k × 768 file, SQLite's row walk and the copy
//! into the arena each take tens of milliseconds of one core, so the load is split: the arena is
//! sized for the counted rows and two [`LoadHalf`] writers fill it from both ends, one with
//! ascending ids from the first slot up, one with descending ids from the last slot down. A
//! shared budget of free slots keeps them apart without locks; rows past the budget (another
//! process inserted after the count) are held back and appended once both are done.

use super::kernels::Kernels;
use crate::quant;
use std::collections::HashMap;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Slots a writer takes from the shared budget at a time, so the two threads rarely touch it.
const BUDGET_CHUNK: usize = 256;

/// The arena's reserved storage, typed by dtype.
#[derive(Clone, Copy)]
pub(super) enum Slots {
    F32(*mut MaybeUninit<f32>),
    F16(*mut MaybeUninit<u16>),
    I8(*mut MaybeUninit<i8>),
}

/// One of the two writers of [`FlatIndex::bulk_load`](super::FlatIndex::bulk_load).
pub(crate) struct LoadHalf<'a> {
    slots: Slots,
    dim: usize,
    capacity: usize,
    pub(super) from_top: bool,
    budget: &'a AtomicUsize,
    reserved: usize,
    /// `(id, namespace number)` of each written slot, in write order.
    pub(super) rows: Vec<(i64, u32)>,
    /// Namespace names by number.
    pub(super) namespaces: Vec<String>,
    numbers: HashMap<String, u32>,
    /// Rows past the shared budget `(id, little-endian bytes, namespace)`, in visit order.
    pub(super) overflow: Vec<(i64, Vec<u8>, String)>,
    /// Rows refused for their length.
    pub(super) skipped: usize,
    scratch: Scratch,
    kernels: Kernels,
}

// SAFETY: a half writes only the slots it took from the shared budget, which the other half
// cannot take, and `FlatIndex::bulk_load` keeps the arena alive and untouched while halves exist.
unsafe impl Send for LoadHalf<'_> {}

impl<'a> LoadHalf<'a> {
    /// A writer over `capacity` rows of `slots`, filling upwards or (`from_top`) downwards.
    pub(super) fn new(
        slots: Slots,
        dim: usize,
        capacity: usize,
        from_top: bool,
        budget: &'a AtomicUsize,
    ) -> Self {
        LoadHalf {
            slots,
            dim,
            capacity,
            from_top,
            budget,
            reserved: 0,
            rows: Vec::new(),
            namespaces: Vec::new(),
            numbers: HashMap::new(),
            overflow: Vec::new(),
            skipped: 0,
            scratch: Scratch {
                floats: vec![0.0; dim],
                halves: vec![0; dim],
                bytes: vec![0; dim],
            },
            kernels: Kernels::detect(),
        }
    }

    /// Writes one row given as little-endian f32 bytes (the stores' embedding format),
    /// quantised to the index's dtype. Returns false, writing nothing, when `le_bytes` is not
    /// `dim` floats long.
    pub(crate) fn push(&mut self, id: i64, le_bytes: &[u8], namespace: &str) -> bool {
        if le_bytes.len() != self.dim * 4 {
            self.skipped += 1;
            return false;
        }
        if !self.take_slot() {
            self.overflow
                .push((id, le_bytes.to_vec(), namespace.to_owned()));
            return true;
        }
        let slot = if self.from_top {
            self.capacity - 1 - self.written()
        } else {
            self.written()
        };
        // SAFETY: `slot` < capacity, and this half took it from the budget (see `take_slot`).
        unsafe { self.place(slot, id, le_bytes, namespace) };
        true
    }

    /// After both halves are done: writes `rows` into the free slots just above this (upward)
    /// half's, as far as they reach, and returns how many it wrote.
    ///
    /// Whichever half ran out of budget while the other still held unused slots left rows in
    /// overflow and a gap between the two blocks; those rows belong exactly there in id order.
    ///
    /// # Safety
    /// The other half must be done, having written `other_written` slots from the top.
    pub(super) unsafe fn fill_gap(
        &mut self,
        other_written: usize,
        rows: &[(i64, Vec<u8>, String)],
    ) -> usize {
        debug_assert!(!self.from_top);
        let gap = self.capacity - self.written() - other_written;
        for (id, le_bytes, namespace) in &rows[..gap.min(rows.len())] {
            // SAFETY: the slot is below `capacity - other_written`, which the other (finished)
            // half never wrote, and above every slot this half wrote.
            unsafe { self.place(self.written(), *id, le_bytes, namespace) };
        }
        gap.min(rows.len())
    }

    /// Slots written so far (one row recorded per slot).
    pub(super) fn written(&self) -> usize {
        self.rows.len()
    }

    /// # Safety
    /// As [`Self::write`].
    unsafe fn place(&mut self, slot: usize, id: i64, le_bytes: &[u8], namespace: &str) {
        // SAFETY: this function's contract is `write`'s.
        unsafe { self.write(slot, le_bytes) };
        let ns = self.number(namespace);
        self.rows.push((id, ns));
    }

    /// Takes one slot from the budget shared with the other half.
    ///
    /// Both halves start with nothing written and the budget at `capacity`, and a slot is written
    /// only after it is taken, so `low.written + high.written <= capacity`: the upward slots
    /// `[0, low.written)` and the downward ones `[capacity - high.written, capacity)` never meet.
    fn take_slot(&mut self) -> bool {
        if self.reserved == 0 {
            let taken = self
                .budget
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |free| {
                    (free > 0).then(|| free - free.min(BUDGET_CHUNK))
                });
            match taken {
                Ok(free) => self.reserved = free.min(BUDGET_CHUNK),
                Err(_) => return false,
            }
        }
        self.reserved -= 1;
        true
    }

    /// # Safety
    /// `slot` must be below `capacity` and owned by this half.
    unsafe fn write(&mut self, slot: usize, le_bytes: &[u8]) {
        let at = slot * self.dim;
        // SAFETY (every block below): the row `[at, at + dim)` lies inside the reservation, since
        // `slot < capacity` (the caller's contract), and no other writer owns that slot.
        if let (Slots::F32(base), true) = (self.slots, cfg!(target_endian = "little")) {
            // SAFETY: as above; `le_bytes` holds exactly `dim` floats (checked by `push`).
            unsafe {
                let dst = base.add(at).cast::<u8>();
                std::ptr::copy_nonoverlapping(le_bytes.as_ptr(), dst, le_bytes.len());
            }
            return;
        }
        let floats = &mut self.scratch.floats;
        quant::f32_from_le_bytes_into(le_bytes, floats);
        // `MaybeUninit<T>` has `T`'s layout: the converted row is copied in whole.
        match self.slots {
            // SAFETY: as above.
            Slots::F32(base) => unsafe { copy_row(floats, base.add(at).cast()) },
            Slots::F16(base) => {
                (self.kernels.to_f16)(floats, &mut self.scratch.halves);
                // SAFETY: as above.
                unsafe { copy_row(&self.scratch.halves, base.add(at).cast()) };
            }
            Slots::I8(base) => {
                (self.kernels.quantize_i8)(floats, &mut self.scratch.bytes);
                // SAFETY: as above.
                unsafe { copy_row(&self.scratch.bytes, base.add(at).cast()) };
            }
        }
    }

    fn number(&mut self, namespace: &str) -> u32 {
        // Rows of one namespace usually come in runs: check the last one before hashing.
        if let Some(&(_, last)) = self.rows.last() {
            if self.namespaces[last as usize] == namespace {
                return last;
            }
        }
        if let Some(&n) = self.numbers.get(namespace) {
            return n;
        }
        let n = self.namespaces.len() as u32;
        self.namespaces.push(namespace.to_owned());
        self.numbers.insert(namespace.to_owned(), n);
        n
    }
}

/// # Safety
/// `dst` must be valid for `row.len()` writes.
unsafe fn copy_row<T: Copy>(row: &[T], dst: *mut T) {
    // SAFETY: the caller's contract; `row` is a live slice and cannot overlap the reservation.
    unsafe { std::ptr::copy_nonoverlapping(row.as_ptr(), dst, row.len()) };
}

/// One row in each form a conversion passes through.
struct Scratch {
    floats: Vec<f32>,
    halves: Vec<u16>,
    bytes: Vec<i8>,
}
