//! Batched `update_access` bookkeeping.
//!
//! The exact path must not write to the store on every hit, so hits are folded per row id
//! (latest time, summed count) and flushed in one store transaction: before any LRU query, before
//! vacuum, dumps and close, and at least once a second. A flush leaves exactly the state per-hit
//! calls would have left.

use super::SemanticCache;
use crate::error::Result;
use crate::store::AccessUpdate;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Longest time a hit's bookkeeping may wait before reaching the store.
const MAX_DELAY: Duration = Duration::from_secs(1);

/// Pending access updates.
#[derive(Debug)]
pub(super) struct AccessBatch {
    pending: HashMap<i64, (i64, i64)>,
    last_flush: Instant,
}

impl Default for AccessBatch {
    fn default() -> Self {
        AccessBatch {
            pending: HashMap::new(),
            last_flush: Instant::now(),
        }
    }
}

impl AccessBatch {
    fn record(&mut self, id: i64, now: i64) {
        let slot = self.pending.entry(id).or_insert((now, 0));
        slot.0 = now;
        slot.1 += 1;
    }

    fn take(&mut self) -> Vec<AccessUpdate> {
        self.last_flush = Instant::now();
        let mut updates: Vec<AccessUpdate> = self
            .pending
            .drain()
            .map(|(id, (last, hits))| AccessUpdate {
                id,
                last_accessed_at: last,
                hits,
            })
            .collect();
        updates.sort_unstable_by_key(|u| u.id);
        updates
    }
}

impl SemanticCache {
    /// Records a hit on `id`, flushing if the last flush is a second old.
    pub(super) fn record_access(&self, id: i64, now: i64) {
        self.access.lock().record(id, now);
        self.flush_access_if_due();
    }

    /// Flushes pending hits if the last flush is a second old. Called on every get and put, so
    /// bookkeeping reaches the store (and other processes' LRU decisions) without a timer.
    pub(super) fn flush_access_if_due(&self) {
        let due = {
            let batch = self.access.lock();
            !batch.pending.is_empty() && batch.last_flush.elapsed() >= MAX_DELAY
        };
        if due {
            if let Err(e) = self.flush_access() {
                log::warn!(target: "mneme.cache", "could not flush access times: {e}");
            }
        }
    }

    /// Drops pending hits of a row that was just overwritten or deleted: per-hit writes would
    /// have been overwritten by the upsert too.
    pub(super) fn forget_access(&self, id: i64) {
        self.access.lock().pending.remove(&id);
    }

    /// Writes every pending hit to the store.
    pub(super) fn flush_access(&self) -> Result<()> {
        let updates = self.access.lock().take();
        self.store.update_access_batch(&updates)
    }
}
