//! `mmap-shared` mode: the processes of one host search one memory-mapped matrix
//! ([`SharedMatrix`], the sidecar `<base>.vectors`) instead of each holding its own index.
//!
//! Writes follow the sidecar's write protocol: under the exclusive lock, mark the sync record
//! dirty, write the store, update the sidecar, then record the store version the sidecar now
//! reflects and clear the flag. A dirty flag found by the next holder means a writer died
//! mid-write: the sidecar is rebuilt from the store (it is derived data; the store is the
//! truth). Writers that bypass the sidecar (mneme-cache 1.0, a process in another mode) move
//! the store's version counter past the record's; the next `get` anywhere reconciles the file.

use super::options::{Config, StoreChoice};
use super::SemanticCache;
use crate::error::{Error, Result};
use crate::index::shared::{lock::Exclusive, Opened, SharedMatrix, SyncRecord};
use crate::quant;
use crate::store::Store;
use crate::types::VectorDtype;
use parking_lot::{Mutex, MutexGuard};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Version steps behind from which the sidecar is rebuilt rather than patched (as
/// stale-tolerant mode).
const FULL_REBUILD_GAP: u64 = 100;

pub(super) struct MmapState {
    pub(super) matrix: Arc<SharedMatrix>,
    interval: Duration,
    last_check: Mutex<Option<Duration>>,
    min_capacity: usize,
}

/// Where the sidecar lives: `mmap_path`, else the store's file (SQLite).
pub(super) fn base_path(config: &Config, choice: &StoreChoice) -> Result<PathBuf> {
    if let Some(p) = &config.index_options.mmap_path {
        return Ok(p.clone());
    }
    let file = match choice {
        StoreChoice::Path(p, _) => (p.as_os_str() != ":memory:").then(|| p.clone()),
        StoreChoice::Store(store) => store.file_path(),
    };
    match file {
        Some(p) => Ok(p),
        None => Err(Error::invalid_argument(
            "multi_process_mode \"mmap-shared\" needs a file for its sidecar, and this cache has none (an in-memory or non-file store)",
            "pass index_options mmap_path (a path on a local disk shared by the processes), or use \"stale-tolerant\"",
        )),
    }
}

impl MmapState {
    /// Opens (or builds) the sidecar for a cache whose store is open, and brings it up to the
    /// store. A stale sidecar (another dim or embedder, damaged, foreign) is rebuilt with a log
    /// line; another dtype is an error, since this process would rewrite the others' file.
    pub(super) fn open(
        store: &dyn Store,
        config: &Config,
        base: PathBuf,
        dim: usize,
        dtype: VectorDtype,
        fingerprint: &str,
        interval: Duration,
    ) -> Result<MmapState> {
        if config.index_backend == crate::types::IndexBackend::Hnsw {
            return Err(Error::invalid_argument(
                "index_backend \"hnsw\" cannot be used with multi_process_mode \"mmap-shared\"",
                "use index_backend \"flat\" or \"auto\" (mmap-shared always shares a flat matrix), or \"stale-tolerant\" for HNSW",
            ));
        }
        let min_capacity = config.index_options.mmap_initial_capacity.unwrap_or(1024);
        let (matrix, opened) =
            SharedMatrix::open_for_cache(&base, dim, dtype, fingerprint, min_capacity)?;
        match &opened {
            Opened::Existing => {}
            Opened::Created => {
                log::info!(target: "mneme.multiproc", "mmap-shared: building the sidecar {}.vectors from the store", base.display())
            }
            Opened::Replaced(why) => {
                log::warn!(target: "mneme.multiproc", "mmap-shared sidecar {}.vectors was stale ({why}); rebuilding it from the store", base.display())
            }
        }
        let state = MmapState {
            matrix: Arc::new(matrix),
            interval,
            last_check: Mutex::new(None),
            min_capacity,
        };
        {
            let _x = state.matrix.lock_exclusive()?;
            match state.matrix.record() {
                Some(r) if !r.dirty && matches!(opened, Opened::Existing) => {
                    state.catch_up(store, r)?
                }
                Some(r) if r.dirty => {
                    log::warn!(target: "mneme.multiproc", "mmap-shared sidecar {}: a writer died mid-write; rebuilding it from the store", base.display());
                    state.rebuild(store, r.generation)?
                }
                other => state.rebuild(store, other.map_or(0, |r| r.generation))?,
            };
        }
        Ok(state)
    }

    /// Replaces the sidecar with the store's rows. The caller holds the exclusive lock.
    fn rebuild(&self, store: &dyn Store, generation: u64) -> Result<u64> {
        self.rebuild_as(store, generation, self.matrix.dtype())
    }

    /// [`MmapState::rebuild`] at `dtype`: a requantise, from the store's float32 vectors. The
    /// other processes adopt the new file at their next access.
    pub(super) fn rebuild_as(
        &self,
        store: &dyn Store,
        generation: u64,
        dtype: VectorDtype,
    ) -> Result<u64> {
        let version = store.read_version_counter()?;
        let dim = self.matrix.dim();
        let mut rows = Vec::new();
        let mut last_id = 0;
        store.scan_index_rows(&mut |id, bytes, ns| {
            last_id = last_id.max(id);
            if let Some(v) = quant::f32_from_le_bytes(bytes).filter(|v| v.len() == dim) {
                rows.push((id, v, ns.to_owned()));
            }
            Ok(())
        })?;
        self.matrix.rewrite(&rows, self.min_capacity, dtype)?;
        self.matrix.write_record(&SyncRecord {
            dirty: false,
            generation: generation + 1,
            synced_version: version,
            last_seen_id: last_id.max(store.max_id()?),
        })?;
        Ok(rows.len() as u64)
    }

    /// Applies the writes the sidecar missed (8.3 of the formats: new rows from the last id
    /// seen, then deletes when the version moved further), or rebuilds after a large gap.
    /// The caller holds the exclusive lock. Returns the rows added, replaced or removed.
    fn catch_up(&self, store: &dyn Store, mut record: SyncRecord) -> Result<u64> {
        let version = store.read_version_counter()?;
        if version == record.synced_version {
            return Ok(0);
        }
        let gap = version.wrapping_sub(record.synced_version);
        if version < record.synced_version || gap >= FULL_REBUILD_GAP {
            return self.rebuild(store, record.generation);
        }
        let mut changed = 0u64;
        for e in store.iter_since(record.last_seen_id)? {
            record.last_seen_id = record.last_seen_id.max(e.id);
            if let Some(v) =
                quant::f32_from_le_bytes(&e.embedding).filter(|v| v.len() == self.matrix.dim())
            {
                self.matrix.append(e.id, &v, &e.namespace)?;
                changed += 1;
            }
        }
        if gap > changed {
            let live: HashSet<i64> = store.iter_index_keys()?.iter().map(|k| k.id).collect();
            for id in self.matrix.live_ids()? {
                if !live.contains(&id) && self.matrix.remove(id)? {
                    changed += 1;
                }
            }
        }
        record.synced_version = version;
        record.dirty = false;
        self.matrix.write_record(&record)?;
        Ok(changed)
    }
}

/// The writer lock, and in mmap-shared mode the sidecar's write protocol around the writes
/// made under it.
pub(super) struct WriteLock<'a> {
    // Fields drop in order: the session closes before the writer lock is released.
    _session: Option<Session<'a>>,
    _writer: MutexGuard<'a, ()>,
}

struct Session<'a> {
    state: &'a MmapState,
    store: &'a dyn Store,
    v0: u64,
    activity: (u64, i64),
    _exclusive: Exclusive<'a>,
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let finish = || -> Result<()> {
            let Some(mut record) = self.state.matrix.record() else {
                return Ok(());
            };
            let v1 = self.store.read_version_counter()?;
            let (mutations, max_id) = self.state.matrix.activity();
            // The sidecar saw exactly the store's steps: it reflects v1. Otherwise (a batch
            // that bumps once, another writer outside the sidecar) the next get reconciles.
            let steps = v1.checked_sub(self.v0);
            if record.synced_version == self.v0 && steps == Some(mutations - self.activity.0) {
                record.synced_version = v1;
            }
            record.last_seen_id = record.last_seen_id.max(max_id);
            record.dirty = false;
            self.state.matrix.write_record(&record)
        };
        if let Err(e) = finish() {
            log::warn!(target: "mneme.multiproc", "mmap-shared: could not close the write session cleanly ({e}); the next access reconciles the sidecar");
        }
    }
}

impl SemanticCache {
    /// Takes the writer lock; in mmap-shared mode also the sidecar's exclusive lock, marking
    /// the write in progress (repairing first after a writer that died).
    pub(super) fn write_lock(&self) -> Result<WriteLock<'_>> {
        let writer = self.writer.lock();
        let Some(state) = &self.mmap else {
            return Ok(WriteLock {
                _session: None,
                _writer: writer,
            });
        };
        let exclusive = state.matrix.lock_exclusive()?;
        let mut record = match state.matrix.record() {
            Some(r) if !r.dirty => r,
            found => {
                log::warn!(target: "mneme.multiproc", "mmap-shared: the last writer died mid-write (or the sync record is gone); rebuilding the sidecar");
                state.rebuild(self.store.as_ref(), found.map_or(0, |r| r.generation))?;
                state.matrix.record().unwrap_or_default()
            }
        };
        let v0 = self.store.read_version_counter()?;
        record.dirty = true;
        state.matrix.write_record(&record)?;
        Ok(WriteLock {
            _session: Some(Session {
                state,
                store: self.store.as_ref(),
                v0,
                activity: state.matrix.activity(),
                _exclusive: exclusive,
            }),
            _writer: writer,
        })
    }

    /// mmap-shared drift repair on `get`: when the store moved past what the sidecar reflects
    /// (honouring `stale_check_interval`), catch up under the exclusive lock.
    pub(super) fn mmap_refresh(&self, state: &MmapState) -> Result<u64> {
        {
            let now = self.config.clock.monotonic();
            let mut last = state.last_check.lock();
            if let Some(at) = *last {
                if !state.interval.is_zero() && now.saturating_sub(at) < state.interval {
                    return Ok(0);
                }
            }
            *last = Some(now);
        }
        let version = self.store.read_version_counter()?;
        if state
            .matrix
            .record()
            .is_some_and(|r| !r.dirty && r.synced_version == version)
        {
            return Ok(0);
        }
        let _x = state.matrix.lock_exclusive()?;
        let changed = match state.matrix.record() {
            Some(r) if !r.dirty => state.catch_up(self.store.as_ref(), r)?,
            found => state.rebuild(self.store.as_ref(), found.map_or(0, |r| r.generation))?,
        };
        if changed > 0 {
            log::info!(target: "mneme.multiproc", "mmap-shared: reconciled {changed} rows written outside the sidecar");
        }
        Ok(changed)
    }
}
