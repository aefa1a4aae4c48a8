//! Batched `update_access` bookkeeping.
//!
//! The exact path must not write to the store on every hit, so hits are folded per row id
//! (latest time, summed count) and flushed in one store transaction: before any LRU query, before
//! vacuum, dumps and close, at least once a second, and as soon as [`MAX_PENDING_ROWS`] rows
//! wait. A flush leaves exactly the state per-hit calls would have left.
//!
//! Each flushed row is an `UPDATE` that rewrites the row (vector included) and its LRU index
//! entry, ~20 µs on SQLite. Hits spread over a large table at full speed would otherwise gather
//! ~100 000 rows in a second and stall the one `get` that flushes them for about two seconds;
//! the cap bounds that stall to ~0.1 s without writing more in total.

use super::SemanticCache;
use crate::clock::Clock;
use crate::error::Result;
use crate::store::AccessUpdate;
use std::collections::HashMap;
use std::time::Duration;

/// Longest time a hit's bookkeeping may wait before reaching the store.
const MAX_DELAY: Duration = Duration::from_secs(1);

/// Distinct rows that may wait for a flush.
const MAX_PENDING_ROWS: usize = 4096;

/// Pending access updates.
#[derive(Debug)]
pub(super) struct AccessBatch {
    pending: HashMap<i64, (i64, i64)>,
    /// [`Clock::monotonic`](crate::Clock::monotonic) at the last flush.
    last_flush: Duration,
}

impl AccessBatch {
    /// An empty batch whose first delay counts from monotonic time `now`.
    pub(super) fn since(now: Duration) -> Self {
        AccessBatch {
            pending: HashMap::new(),
            last_flush: now,
        }
    }

    pub(super) fn record(&mut self, id: i64, now: i64) {
        let slot = self.pending.entry(id).or_insert((now, 0));
        slot.0 = now;
        slot.1 += 1;
    }

    /// Whether to flush now; the clock is read only when something waits.
    pub(super) fn is_due(&self, clock: &dyn Clock) -> bool {
        !self.pending.is_empty()
            && (self.pending.len() >= MAX_PENDING_ROWS
                || clock.monotonic().saturating_sub(self.last_flush) >= MAX_DELAY)
    }

    fn take(&mut self, now: Duration) -> Vec<AccessUpdate> {
        self.last_flush = now;
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
    /// Records a hit on `id`, flushing if the batch is full or a second old.
    pub(super) fn record_access(&self, id: i64, now: i64) {
        self.access.lock().record(id, now);
        self.flush_access_if_due();
    }

    /// Flushes pending hits if the batch is full or a second old. Called on every get and put,
    /// so bookkeeping reaches the store (and other processes' LRU decisions) without a timer.
    pub(super) fn flush_access_if_due(&self) {
        let due = self.access.lock().is_due(self.clock());
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
        let updates = self.access.lock().take(self.clock().monotonic());
        self.store.update_access_batch(&updates)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_due_when_full_or_a_second_old_and_folds_hits_per_row() {
        let clock = crate::ManualClock::new(100);
        let t0 = clock.monotonic();
        let mut batch = AccessBatch::since(t0);
        clock.advance(1);
        assert!(!batch.is_due(&clock), "an empty batch is never due");
        clock.set(100);
        for id in 1..MAX_PENDING_ROWS as i64 {
            batch.record(id, 100);
            batch.record(id, 101);
        }
        assert!(
            !batch.is_due(&clock),
            "{} rows, fresh",
            MAX_PENDING_ROWS - 1
        );
        batch.record(MAX_PENDING_ROWS as i64, 102);
        assert!(batch.is_due(&clock), "full");
        let updates = batch.take(t0);
        assert_eq!(updates.len(), MAX_PENDING_ROWS);
        assert_eq!(
            (updates[0].id, updates[0].last_accessed_at, updates[0].hits),
            (1, 101, 2)
        );
        assert!(!batch.is_due(&clock));
        batch.record(7, 103);
        assert!(!batch.is_due(&clock), "fresh");
        clock.advance(1);
        assert!(batch.is_due(&clock), "a second old");
    }
}
