//! A vector matrix that the processes of one host share through one memory-mapped file: the
//! mmap-shared primitive, with mneme-cache 1.0's API (`MmapSharedCoordinator`) and file format
//! (MNEMEMSC v1, [`format`]), so 1.0's processes and ours read each other's files.
//!
//! Every process maps `<base>.vectors` read-only (`MAP_SHARED`: one copy in the page cache,
//! whatever the number of processes) and writes with `pwrite` under the exclusive lock of
//! `<base>.vectors.lock`; searches hold it shared. Growth and compaction write a new file and
//! rename it over the old one, so a mapping never shrinks under a reader: a process notices the
//! new file (another inode) on its next operation and maps it. Each process keeps a private
//! `id → slot` map, extended from the slots other processes appended.
//!
//! Fixes of 1.0: growth reads `count` at offset 16; appending a live id overwrites its slot;
//! removing a removed id returns `false`.

pub(crate) mod format;
mod index;
pub(crate) mod lock;
mod peek;

pub use index::SharedIndex;
pub use peek::{peek, SidecarStatus};

pub use format::Header;
pub use lock::SyncRecord;

use crate::error::{Error, Result};
use crate::index::flat::PARALLEL_MIN_ELEMENTS;
use crate::index::kernels::Kernels;
use crate::index::top_k::TopK;
use crate::quant;
use crate::types::VectorDtype;
use format::{bytes_per_element, fingerprint_hash, namespace_token, Layout, HEADER, TOKEN};
use lock::LockFile;
use parking_lot::RwLock;
use rayon::prelude::*;
use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// A row as the file holds it: id, namespace token, encoded vector.
type RawRow = (i64, [u8; TOKEN], Vec<u8>);

/// What opening found.
pub(crate) enum Opened {
    /// A valid file.
    Existing,
    /// No file (or an empty one): a new one was created.
    Created,
    /// A damaged or stale file, replaced by a new one; why.
    Replaced(String),
}

/// One process's view of the sidecar: its mapping and its private `id → slot` map.
struct View {
    file: File,
    map: memmap2::Mmap,
    inode: (u64, u64),
    layout: Layout,
    /// The element type the file holds (a cache adopts a requantised file's).
    dtype: VectorDtype,
    /// Slots scanned into `slots`.
    scanned: usize,
    /// Live slot of each id, as far as this process knows (the bitmap has the last word).
    slots: HashMap<i64, u32>,
}

/// The shared matrix (1.0's `MmapSharedCoordinator`).
pub struct SharedMatrix {
    data_path: PathBuf,
    lock: LockFile,
    dim: usize,
    /// The dtype asked for at open: new files are created with it.
    dtype: VectorDtype,
    /// Whether a replaced file at another dtype is adopted (a cache's matrix: another process
    /// requantised it) rather than refused (the standalone primitive, 1.0's rule).
    adopts_dtype: bool,
    fingerprint: [u8; 32],
    kernels: Kernels,
    view: RwLock<Option<View>>,
    /// Appends and removals made through this handle (a write session compares them with the
    /// store's version steps).
    mutations: AtomicU64,
    /// The largest id appended through this handle.
    max_appended: AtomicI64,
}

fn io_error(path: &Path, what: &str, e: std::io::Error) -> Error {
    Error::multi_process_lock(
        format!(
            "cannot {what} the mmap-shared sidecar {}: {e}",
            path.display()
        ),
        "check free disk space and that this user may write in the sidecar's directory",
    )
}

fn inode_of(meta: &std::fs::Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

impl SharedMatrix {
    /// Opens `<base>.vectors` (creating it with `initial_capacity` slots when missing or empty)
    /// and `<base>.vectors.lock`, both 0600.
    ///
    /// # Errors
    /// [`Error::MultiProcessLock`] for a short or foreign file or another format version;
    /// [`Error::Quantization`] for an unknown dtype code or another dtype;
    /// [`Error::EmbedderDimension`] for another dim; [`Error::EmbedderMismatch`] for another
    /// fingerprint; [`Error::InvalidArgument`] for `dim` or `initial_capacity` 0.
    pub fn open(
        base: impl AsRef<Path>,
        dim: usize,
        dtype: VectorDtype,
        fingerprint: &str,
        initial_capacity: usize,
    ) -> Result<SharedMatrix> {
        Self::open_inner(
            base.as_ref(),
            dim,
            dtype,
            fingerprint,
            initial_capacity,
            false,
        )
        .map(|(m, _)| m)
    }

    /// As [`SharedMatrix::open`], but a missing, damaged or stale file (another dim or
    /// embedder) is replaced by an empty one, saying so; the cache then fills it from the
    /// store. Another dtype stays an error: the other processes use that file.
    pub(crate) fn open_for_cache(
        base: &Path,
        dim: usize,
        dtype: VectorDtype,
        fingerprint: &str,
        initial_capacity: usize,
    ) -> Result<(SharedMatrix, Opened)> {
        Self::open_inner(base, dim, dtype, fingerprint, initial_capacity, true)
    }

    fn open_inner(
        base: &Path,
        dim: usize,
        dtype: VectorDtype,
        fingerprint: &str,
        initial_capacity: usize,
        replace_stale: bool,
    ) -> Result<(SharedMatrix, Opened)> {
        if dim == 0 || initial_capacity == 0 || u32::try_from(dim).is_err() {
            return Err(Error::invalid_argument(
                format!("mmap-shared needs dim and initial_capacity > 0 (got {dim}, {initial_capacity})"),
                "pass positive values",
            ));
        }
        let data_path = PathBuf::from(format!("{}.vectors", base.display()));
        let lock = LockFile::open(Path::new(&format!("{}.vectors.lock", base.display())))?;
        let m = SharedMatrix {
            data_path,
            lock,
            dim,
            dtype,
            adopts_dtype: replace_stale,
            fingerprint: fingerprint_hash(fingerprint),
            kernels: Kernels::detect(),
            view: RwLock::new(None),
            mutations: AtomicU64::new(0),
            max_appended: AtomicI64::new(0),
        };
        let mut opened = Opened::Existing;
        {
            let _x = m.lock.exclusive()?;
            let empty = std::fs::metadata(&m.data_path).map_or(true, |md| md.len() == 0);
            if empty {
                m.create(initial_capacity)?;
                opened = Opened::Created;
            }
            let view = match m.map().and_then(|v| m.check(&v, false).map(|()| v)) {
                Ok(v) => v,
                Err(e) if replace_stale && !matches!(e, Error::Quantization(_)) => {
                    m.create(initial_capacity)?;
                    opened = Opened::Replaced(e.to_string());
                    m.map()?
                }
                Err(e) => return Err(e),
            };
            *m.view.write() = Some(view);
        }
        Ok((m, opened))
    }

    /// Vector length.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Element type of the stored vectors: the file's (after a requantise by another process,
    /// the new one), else (closed, unreadable) the one asked for at open.
    pub fn dtype(&self) -> VectorDtype {
        self.with_view(|v| v.dtype).unwrap_or(self.dtype)
    }

    /// The data file (`<base>.vectors`).
    pub fn data_path(&self) -> &Path {
        &self.data_path
    }

    /// Writes an empty file of `capacity` slots into place (temp file + rename).
    fn create(&self, capacity: usize) -> Result<()> {
        let header = Header {
            dim: self.dim as u32,
            count: 0,
            capacity: u32::try_from(capacity).unwrap_or(u32::MAX),
            dtype: self.dtype,
            fingerprint_sha256: self.fingerprint,
        };
        self.replace_with(&header, |_, _| Ok(()))
    }

    /// Builds a new data file beside the old one (`<base>.vectors.grow`), lets `fill` write its
    /// body, syncs it and renames it over the data file. The caller holds the exclusive lock.
    fn replace_with(
        &self,
        header: &Header,
        fill: impl FnOnce(&File, &Layout) -> std::io::Result<()>,
    ) -> Result<()> {
        let tmp = PathBuf::from(format!("{}.grow", self.data_path.display()));
        let layout = header.layout();
        let written = (|| {
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.set_len(layout.file_size as u64)?;
            f.write_all_at(&header.encode(), 0)?;
            fill(&f, &layout)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.data_path)
        })();
        written.map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io_error(&self.data_path, "write", e)
        })?;
        // Readers notice the new inode anyway; the generation says so to tools.
        if let Some(mut record) = self.lock.record() {
            record.generation += 1;
            self.lock.write_record(&record)?;
        }
        Ok(())
    }

    /// Maps the current data file.
    fn map(&self) -> Result<View> {
        let path = &self.data_path;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| io_error(path, "open", e))?;
        let meta = file.metadata().map_err(|e| io_error(path, "read", e))?;
        let shown = path.display().to_string();
        let mut head = [0u8; HEADER];
        let got = file
            .read_at(&mut head, 0)
            .map_err(|e| io_error(path, "read", e))?;
        let header = Header::parse(&head[..got], &shown)?;
        let layout = header.layout();
        if (meta.len() as usize) < layout.file_size {
            return Err(Error::multi_process_lock(
                format!(
                    "the mmap-shared sidecar {shown} is {} bytes, shorter than its header's {} slots need ({} bytes)",
                    meta.len(),
                    header.capacity,
                    layout.file_size
                ),
                "delete the sidecar (it is derived data: the cache rebuilds it from the store)",
            ));
        }
        // SAFETY: the mapping is read-only and never outlives `file`; the file is only ever
        // replaced by rename (a new inode), never truncated, by this library and by 1.0, so
        // the mapped length stays backed. Reads go through bounds-checked slices of it.
        let map = unsafe { memmap2::MmapOptions::new().len(layout.file_size).map(&file) }
            .map_err(|e| io_error(path, "map", e))?;
        Ok(View {
            file,
            map,
            inode: inode_of(&meta),
            layout,
            dtype: header.dtype,
            scanned: 0,
            slots: HashMap::new(),
        })
    }

    /// Checks a mapped file against this matrix's dim, dtype (unless `any_dtype`) and
    /// fingerprint, in 1.0's order.
    fn check(&self, view: &View, any_dtype: bool) -> Result<()> {
        let h = Header::parse(&view.map[..HEADER], &self.data_path.display().to_string())?;
        let shown = self.data_path.display();
        if h.dim as usize != self.dim {
            return Err(Error::embedder_dimension(
                format!(
                    "the mmap-shared sidecar {shown} holds {}-dimensional vectors, not {}",
                    h.dim, self.dim
                ),
                "open it with the embedder it was built with, or delete it to rebuild",
            )
            .with_dimensions(h.dim as usize, self.dim));
        }
        if h.dtype != self.dtype && !any_dtype {
            return Err(Error::quantization(
                format!(
                    "the mmap-shared sidecar {shown} holds {} vectors, not {}",
                    h.dtype.as_str(),
                    self.dtype.as_str()
                ),
                "open it with its dtype, or delete it to rebuild at the new one",
            ));
        }
        if h.fingerprint_sha256 != self.fingerprint {
            return Err(Error::embedder_mismatch(
                format!("the mmap-shared sidecar {shown} was built by another embedder"),
                "open it with the embedder it was built with, or delete it to rebuild",
            ));
        }
        Ok(())
    }

    /// Brings `view` up to the file on disk: maps a replaced file, and learns the slots other
    /// processes appended.
    fn sync_view(&self, slot: &mut Option<View>) -> Result<()> {
        let Some(view) = slot.as_mut() else {
            return Err(Error::multi_process_lock(
                "the mmap-shared matrix is closed",
                "open a new one; a closed matrix cannot be reused",
            ));
        };
        let current =
            std::fs::metadata(&self.data_path).map_err(|e| io_error(&self.data_path, "read", e))?;
        if inode_of(&current) != view.inode {
            let fresh = self.map()?;
            self.check(&fresh, self.adopts_dtype)?;
            if fresh.dtype != view.dtype {
                log::info!(target: "mneme.multiproc", "mmap-shared sidecar {} was requantised to {}; searching it at that dtype", self.data_path.display(), fresh.dtype.as_str());
            }
            *view = fresh;
        }
        let count = view.count();
        for s in view.scanned..count {
            let id = view.id_at(s);
            if !view.is_dead(s) {
                view.slots.insert(id, s as u32);
            }
        }
        view.scanned = count;
        Ok(())
    }

    /// 1.0's `read_header()`: dim, count, capacity, dtype and the fingerprint's SHA-256.
    ///
    /// # Errors
    /// [`Error::MultiProcessLock`] after close or when the file cannot be read.
    pub fn read_header(&self) -> Result<Header> {
        let _s = self.lock.shared()?;
        let mut v = self.view.write();
        self.sync_view(&mut v)?;
        let view = v.as_ref().expect("synced");
        Header::parse(&view.map[..HEADER], &self.data_path.display().to_string())
    }

    /// Adds `vector` (L2-normalised here) as row `id` in `namespace`; a live `id` in the same
    /// namespace is overwritten in place, in another one its slot is tombstoned first.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a wrong length or non-finite values;
    /// [`Error::MultiProcessLock`] when the file cannot be written.
    pub fn append(&self, id: i64, vector: &[f32], namespace: &str) -> Result<()> {
        quant::validate_vector(vector, self.dim)?;
        let mut v = vector.to_vec();
        quant::l2_normalize(&mut v);
        let _x = self.lock.exclusive()?;
        let mut guard = self.view.write();
        self.sync_view(&mut guard)?;
        self.put_locked(&mut guard, id, &v, namespace)?;
        self.mutations.fetch_add(1, Ordering::Relaxed);
        self.max_appended.fetch_max(id, Ordering::Relaxed);
        Ok(())
    }

    fn put_locked(
        &self,
        guard: &mut Option<View>,
        id: i64,
        v: &[f32],
        namespace: &str,
    ) -> Result<()> {
        let token = namespace_token(namespace);
        let view = guard.as_mut().expect("synced");
        let row = self.encode_row(v, view.dtype);
        if let Some(slot) = view.live_slot(id) {
            if view.token_at(slot) == token {
                let at = view.layout.vectors + slot * view.layout.row_bytes;
                return view
                    .file
                    .write_all_at(&row, at as u64)
                    .map_err(|e| io_error(&self.data_path, "write", e));
            }
            self.tombstone(view, slot)?;
        }
        if view.count() >= view.layout.capacity {
            self.grow(view)?;
            self.sync_view(guard)?;
        }
        let view = guard.as_mut().expect("synced");
        let slot = view.count();
        let l = view.layout;
        let f = &view.file;
        let wrote = f
            .write_all_at(&id.to_le_bytes(), (l.ids + 8 * slot) as u64)
            .and_then(|()| f.write_all_at(&token, (l.tokens + TOKEN * slot) as u64))
            .and_then(|()| f.write_all_at(&row, (l.vectors + slot * l.row_bytes) as u64))
            // The count last: a reader never sees a slot before its row is complete.
            .and_then(|()| f.write_all_at(&(slot as u32 + 1).to_le_bytes(), 16));
        wrote.map_err(|e| io_error(&self.data_path, "write", e))?;
        view.slots.insert(id, slot as u32);
        view.scanned = slot + 1;
        Ok(())
    }

    fn tombstone(&self, view: &mut View, slot: usize) -> Result<()> {
        let at = view.layout.bitmap + slot / 8;
        let byte = view.map[at] | (1 << (slot % 8));
        view.file
            .write_all_at(&[byte], at as u64)
            .map_err(|e| io_error(&self.data_path, "write", e))?;
        let id = view.id_at(slot);
        if view.slots.get(&id) == Some(&(slot as u32)) {
            view.slots.remove(&id);
        }
        Ok(())
    }

    /// Doubles the capacity (1.0's growth, reading `count` at offset 16).
    fn grow(&self, view: &View) -> Result<()> {
        let mut header = Header::parse(&view.map[..HEADER], &self.data_path.display().to_string())?;
        let old = view.layout;
        header.capacity = header.capacity.saturating_mul(2).max(1);
        let map = &view.map;
        self.replace_with(&header, |f, new| {
            f.write_all_at(&map[old.ids..old.tokens], new.ids as u64)?;
            f.write_all_at(&map[old.tokens..old.bitmap], new.tokens as u64)?;
            f.write_all_at(&map[old.bitmap..old.vectors], new.bitmap as u64)?;
            f.write_all_at(&map[old.vectors..old.file_size], new.vectors as u64)
        })
    }

    /// Tombstones row `id`; `false` when it is absent or already removed.
    ///
    /// # Errors
    /// [`Error::MultiProcessLock`] after close or when the file cannot be written.
    pub fn remove(&self, id: i64) -> Result<bool> {
        let _x = self.lock.exclusive()?;
        let mut guard = self.view.write();
        self.sync_view(&mut guard)?;
        let view = guard.as_mut().expect("synced");
        match view.live_slot(id) {
            Some(slot) => {
                self.tombstone(view, slot)?;
                self.mutations.fetch_add(1, Ordering::Relaxed);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Up to `k` best live rows of `namespace` for `query`: `(id, cosine)`, best first, ties to
    /// the earlier slot.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a wrong length; [`Error::MultiProcessLock`] after close.
    pub fn search(&self, query: &[f32], namespace: &str, k: usize) -> Result<Vec<(i64, f32)>> {
        quant::validate_vector(query, self.dim)?;
        let mut q = query.to_vec();
        quant::l2_normalize(&mut q);
        let token = namespace_token(namespace);
        let _s = self.lock.shared()?;
        {
            let mut v = self.view.write();
            self.sync_view(&mut v)?;
        }
        let guard = self.view.read();
        let view = guard.as_ref().expect("synced");
        scale_query(&mut q, view.dtype);
        // int8 rows on a CPU with an integer kernel (VNNI): the query in 8 bits.
        let int = match view.dtype {
            VectorDtype::Int8 => self.kernels.int8_query(&q),
            _ => None,
        };
        let scan = |from: usize, to: usize| {
            let mut top = TopK::new(k);
            let mut scratch = Vec::new();
            for s in from..to {
                if !view.is_dead(s) && view.token_at(s) == token {
                    let score = match &int {
                        Some(q8) => {
                            // SAFETY: every bit pattern is a valid i8, and i8 has u8's size
                            // and alignment.
                            q8.score(unsafe { view.row(s).align_to::<i8>().1 })
                        }
                        None => self.score(&self.kernels, view, s, &q, &mut scratch),
                    };
                    top.offer(score, s as u32);
                }
            }
            top
        };
        let n = view.scanned;
        // Large scans run on the shared pool, as the flat index's do.
        let threads = rayon::current_num_threads().min(n * self.dim / PARALLEL_MIN_ELEMENTS + 1);
        let top = if threads <= 1 {
            scan(0, n)
        } else {
            let chunk = n.div_ceil(threads);
            (0..threads)
                .into_par_iter()
                .map(|t| scan(t * chunk, ((t + 1) * chunk).min(n)))
                .reduce(|| TopK::new(k), TopK::merge)
        };
        Ok(top
            .best
            .into_iter()
            .map(|(score, s)| (view.id_at(s as usize), score))
            .collect())
    }

    // ---- For the cache-wired mode (crate::cache::mmap) ----

    /// The exclusive lock, re-entrant for its thread: a write session holds it across the
    /// store write and the sidecar update.
    pub(crate) fn lock_exclusive(&self) -> Result<lock::Exclusive<'_>> {
        self.lock.exclusive()
    }

    /// `(mutations, largest appended id)` so far through this handle.
    pub(crate) fn activity(&self) -> (u64, i64) {
        (
            self.mutations.load(Ordering::Relaxed),
            self.max_appended.load(Ordering::Relaxed),
        )
    }

    /// The sync record, if the lock file holds one.
    pub(crate) fn record(&self) -> Option<SyncRecord> {
        self.lock.record()
    }

    /// Writes the sync record. The caller holds the exclusive lock.
    pub(crate) fn write_record(&self, record: &SyncRecord) -> Result<()> {
        self.lock.write_record(record)
    }

    /// Runs `f` on the synced view under a shared hold (the caller may hold it exclusively).
    fn with_view<T>(&self, f: impl FnOnce(&View) -> T) -> Result<T> {
        let _s = self.lock.shared()?;
        {
            let mut v = self.view.write();
            self.sync_view(&mut v)?;
        }
        let guard = self.view.read();
        Ok(f(guard.as_ref().expect("synced")))
    }

    /// Replaces the file with one holding exactly `rows` (a rebuild from the store) at a
    /// capacity of at least `min_capacity`. Takes the exclusive lock (re-entrantly).
    /// `dtype` is the file's new element type (another one than now: a requantise).
    pub(crate) fn rewrite(
        &self,
        rows: &[(i64, Vec<f32>, String)],
        min_capacity: usize,
        dtype: VectorDtype,
    ) -> Result<()> {
        let _x = self.lock.exclusive()?;
        let capacity = rows.len().max(min_capacity).max(1).next_power_of_two();
        let raw: Vec<RawRow> = rows
            .iter()
            .map(|(id, v, ns)| (*id, namespace_token(ns), self.encode_row(v, dtype)))
            .collect();
        self.replace_rows(capacity, &raw, dtype)
    }

    /// Rewrites the file without its tombstones (rows copied as stored, tokens included: a long
    /// name's token cannot be turned back into it); returns how many were dropped. Readers in
    /// other processes map the new file on their next call.
    pub(crate) fn compact(&self) -> Result<usize> {
        let _x = self.lock.exclusive()?;
        let (rows, dead, capacity, dtype) = self.with_view(|view| {
            let rows: Vec<RawRow> = (0..view.scanned)
                .filter(|&s| !view.is_dead(s))
                .map(|s| (view.id_at(s), view.token_at(s), view.row(s).to_vec()))
                .collect();
            (rows, view.tombstones(), view.layout.capacity, view.dtype)
        })?;
        if dead == 0 {
            return Ok(0);
        }
        self.replace_rows(capacity, &rows, dtype)?;
        Ok(dead)
    }

    /// Replaces the file with one holding `rows` (already encoded) at `capacity` slots, and
    /// maps it. The caller holds the exclusive lock.
    fn replace_rows(&self, capacity: usize, rows: &[RawRow], dtype: VectorDtype) -> Result<()> {
        let header = Header {
            dim: self.dim as u32,
            count: rows.len() as u32,
            capacity: u32::try_from(capacity).map_err(|_| {
                Error::out_of_memory(
                    format!(
                        "{capacity} rows do not fit an mmap-shared sidecar (at most 2^32 slots)"
                    ),
                    "shard the cache over several files",
                )
            })?,
            dtype,
            fingerprint_sha256: self.fingerprint,
        };
        let mut ids = Vec::with_capacity(8 * rows.len());
        let mut tokens = Vec::with_capacity(TOKEN * rows.len());
        let mut vectors = Vec::with_capacity(header.layout().row_bytes * rows.len());
        for (id, token, row) in rows {
            ids.extend_from_slice(&id.to_le_bytes());
            tokens.extend_from_slice(token);
            vectors.extend_from_slice(row);
        }
        self.replace_with(&header, |f, l| {
            f.write_all_at(&ids, l.ids as u64)?;
            f.write_all_at(&tokens, l.tokens as u64)?;
            f.write_all_at(&vectors, l.vectors as u64)
        })?;
        let mut v = self.view.write();
        self.sync_view(&mut v)
    }

    /// Tombstones every live row of `namespace`; returns how many.
    pub(crate) fn remove_namespace(&self, namespace: &str) -> Result<usize> {
        let token = namespace_token(namespace);
        let _x = self.lock.exclusive()?;
        let mut guard = self.view.write();
        self.sync_view(&mut guard)?;
        let view = guard.as_mut().expect("synced");
        let slots: Vec<usize> = (0..view.scanned)
            .filter(|&s| !view.is_dead(s) && view.token_at(s) == token)
            .collect();
        for &slot in &slots {
            self.tombstone(view, slot)?;
        }
        self.mutations
            .fetch_add(slots.len() as u64, Ordering::Relaxed);
        Ok(slots.len())
    }

    /// The score of row `id` against a query prepared as `search` prepares it, by the deciding
    /// rule ([`Kernels::exact`]).
    pub(crate) fn score_id(&self, id: i64, query: &[f32]) -> Result<Option<f32>> {
        self.with_view(|view| {
            let slot = view.live_slot(id)?;
            let mut q = query.to_vec();
            scale_query(&mut q, view.dtype);
            Some(self.score(&Kernels::exact(), view, slot, &q, &mut Vec::new()))
        })
    }

    /// Whether row `id` holds `vector` (quantised to the dtype) in `namespace`.
    pub(crate) fn row_matches(
        &self,
        id: i64,
        vector: &[f32],
        namespace: &str,
    ) -> Result<Option<bool>> {
        let token = namespace_token(namespace);
        self.with_view(|view| {
            let slot = view.live_slot(id)?;
            let row = self.encode_row(vector, view.dtype);
            Some(view.row(slot) == row.as_slice() && view.token_at(slot) == token)
        })
    }

    /// `(live rows, tombstones, bytes of the vectors' region)`: capacity × dim × the file's
    /// bytes per element, read from one view.
    pub(crate) fn sizes(&self) -> Result<(usize, usize, usize)> {
        self.with_view(|v| {
            (
                v.scanned - v.tombstones(),
                v.tombstones(),
                v.layout.capacity * v.layout.row_bytes,
            )
        })
    }

    /// The live ids.
    pub(crate) fn live_ids(&self) -> Result<Vec<i64>> {
        self.with_view(|view| {
            (0..view.scanned)
                .filter(|&s| !view.is_dead(s))
                .map(|s| view.id_at(s))
                .collect()
        })
    }

    /// Releases the mapping; every later call is [`Error::MultiProcessLock`]. Idempotent.
    pub fn close(&self) {
        *self.view.write() = None;
    }

    fn encode_row(&self, v: &[f32], dtype: VectorDtype) -> Vec<u8> {
        match dtype {
            VectorDtype::Float32 => quant::f32_to_le_bytes(v),
            VectorDtype::Float16 => {
                let mut h = vec![0u16; v.len()];
                (self.kernels.to_f16)(v, &mut h);
                h.iter().flat_map(|x| x.to_le_bytes()).collect()
            }
            VectorDtype::Int8 => {
                let mut q = vec![0i8; v.len()];
                (self.kernels.quantize_i8)(v, &mut q);
                q.iter().map(|x| *x as u8).collect()
            }
        }
    }

    /// Slot `slot`'s score; rows the file does not align for the dtype are copied first.
    fn score(
        &self,
        kernels: &Kernels,
        view: &View,
        slot: usize,
        q: &[f32],
        scratch: &mut Vec<u8>,
    ) -> f32 {
        let row = view.row(slot);
        let bpe = bytes_per_element(view.dtype);
        let bytes: &[u8] = if (row.as_ptr() as usize).is_multiple_of(bpe) {
            row
        } else {
            scratch.clear();
            scratch.extend_from_slice(row);
            scratch
        };
        // `bytes` is aligned for the element type: checked above, or a fresh Vec<u8> whose
        // allocation is at least 8-aligned. `align_to` only reinterprets whole elements, and
        // every bit pattern is a valid f32, u16 or i8.
        match view.dtype {
            VectorDtype::Float32 => {
                // SAFETY: see above.
                (kernels.dot_f32)(unsafe { bytes.align_to::<f32>().1 }, q)
            }
            VectorDtype::Float16 => {
                // SAFETY: see above.
                (kernels.dot_f16)(unsafe { bytes.align_to::<u16>().1 }, q)
            }
            VectorDtype::Int8 => {
                // SAFETY: see above.
                (kernels.dot_i8)(unsafe { bytes.align_to::<i8>().1 }, q)
            }
        }
    }
}

/// Prepares a normalised query for the dtype's kernel (int8 rows hold 127 × the unit vector).
fn scale_query(q: &mut [f32], dtype: VectorDtype) {
    if dtype == VectorDtype::Int8 {
        q.iter_mut().for_each(|x| *x /= 127.0);
    }
}

impl View {
    /// Slots in use, bounded by the capacity (a damaged header cannot send reads past the map).
    fn count(&self) -> usize {
        let c = u32::from_le_bytes(self.map[16..20].try_into().expect("4 bytes")) as usize;
        c.min(self.layout.capacity)
    }

    fn id_at(&self, slot: usize) -> i64 {
        let at = self.layout.ids + 8 * slot;
        i64::from_le_bytes(self.map[at..at + 8].try_into().expect("8 bytes"))
    }

    fn token_at(&self, slot: usize) -> [u8; TOKEN] {
        let at = self.layout.tokens + TOKEN * slot;
        self.map[at..at + TOKEN].try_into().expect("16 bytes")
    }

    fn is_dead(&self, slot: usize) -> bool {
        self.map[self.layout.bitmap + slot / 8] & (1 << (slot % 8)) != 0
    }

    /// Tombstoned slots among those scanned.
    fn tombstones(&self) -> usize {
        format::tombstones(&self.map[self.layout.bitmap..], self.scanned)
    }

    fn row(&self, slot: usize) -> &[u8] {
        let at = self.layout.vectors + slot * self.layout.row_bytes;
        &self.map[at..at + self.layout.row_bytes]
    }

    /// The live slot of `id`, checked against the file (another process may have removed it).
    fn live_slot(&self, id: i64) -> Option<usize> {
        let slot = *self.slots.get(&id)? as usize;
        (slot < self.scanned && !self.is_dead(slot) && self.id_at(slot) == id).then_some(slot)
    }
}

impl std::fmt::Debug for SharedMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedMatrix")
            .field("data_path", &self.data_path)
            .field("dim", &self.dim)
            .field("dtype", &self.dtype)
            .finish_non_exhaustive()
    }
}
