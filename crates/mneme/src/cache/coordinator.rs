//! `stale-tolerant` mode: other processes' writes reach this process's index on `get`.
//!
//! The store's version counter rises with every data write, in every process. At the start of
//! each `get` (bypass included; never on put, delete or stats) the coordinator compares it with
//! the value it last saw. A large gap (≥ 100 bumps) means a full rebuild. Otherwise it appends the
//! rows inserted since the last id it saw, and, when the gap shows deletes or overwrites as well,
//! reconciles against the store's `(id, created_at)` keys (docs/architecture.md, "Several
//! processes"). Candidate verification in the lookup covers whatever slips between refreshes.

use super::SemanticCache;
use crate::error::Result;
use crate::quant;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// Version bumps from which a refresh rebuilds instead of syncing (compat).
const FULL_REBUILD_GAP: u64 = 100;

/// What the coordinator knows of the store.
pub(super) struct StaleState {
    interval: Duration,
    /// [`Clock::monotonic`](crate::Clock::monotonic) at the last check.
    last_check: Option<Duration>,
    local_version: u64,
    last_seen_id: i64,
    /// `id → created_at` of the rows the index holds.
    known: HashMap<i64, Option<i64>>,
}

impl StaleState {
    pub(super) fn new(interval: Duration) -> Self {
        StaleState {
            interval,
            last_check: None,
            local_version: 0,
            last_seen_id: 0,
            known: HashMap::new(),
        }
    }
}

impl SemanticCache {
    /// Records the store's state after the index was (re)built from it.
    pub(super) fn attach_coordinator(&self) -> Result<()> {
        let Some(state) = &self.stale else {
            return Ok(());
        };
        let version = self.store.read_version_counter()?;
        let keys = self.store.iter_index_keys()?;
        let mut s = state.lock();
        s.local_version = version;
        s.last_seen_id = keys
            .iter()
            .map(|k| k.id)
            .fold(self.store.max_id()?, i64::max);
        s.known = keys.into_iter().map(|k| (k.id, k.created_at)).collect();
        Ok(())
    }

    /// Brings the index up to date with other processes' writes (stale-tolerant mode only);
    /// returns how many rows were added or replaced (the row count after a full rebuild).
    /// `get` calls this itself; it is public for callers that want to refresh eagerly.
    ///
    /// # Errors
    /// [`Error::CacheClosed`](crate::Error::CacheClosed) or a store failure.
    pub fn refresh(&self) -> Result<u64> {
        self.enter()?;
        if let Some(m) = &self.mmap {
            return self.mmap_refresh(m);
        }
        let Some(state) = &self.stale else {
            return Ok(0);
        };
        {
            let now = self.config.clock.monotonic();
            let mut s = state.lock();
            if let Some(last) = s.last_check {
                if !s.interval.is_zero() && now.saturating_sub(last) < s.interval {
                    return Ok(0);
                }
            }
            s.last_check = Some(now);
        }
        let version = self.store.read_version_counter()?;
        let local = state.lock().local_version;
        if version <= local {
            return Ok(0);
        }
        let _w = self.writer.lock();
        let gap = version - local;
        if gap >= FULL_REBUILD_GAP {
            let (backend, dtype) = {
                let index = self.index.read();
                (super::backend_of(&**index), index.dtype())
            };
            let rows = self.rebuild_index(backend, dtype)?;
            self.attach_coordinator()?;
            state.lock().local_version = version;
            log::info!(target: "mneme.multiproc", "stale-tolerant refresh: {gap} writes behind, rebuilt {rows} rows");
            return Ok(rows);
        }
        let mut s = state.lock();
        let mut changed = 0u64;
        let appended = self.sync_new_rows(&mut s)?;
        changed += appended;
        if gap > appended {
            changed += self.reconcile(&mut s)?;
        }
        s.local_version = version;
        if changed > 0 {
            log::info!(target: "mneme.multiproc", "stale-tolerant refresh: {changed} rows added or replaced");
        }
        Ok(changed)
    }

    /// Appends (or overwrites in place) every row with an id above the last one seen.
    fn sync_new_rows(&self, s: &mut StaleState) -> Result<u64> {
        let mut index = self.index.write();
        let mut n = 0;
        for e in self.store.iter_since(s.last_seen_id)? {
            s.last_seen_id = s.last_seen_id.max(e.id);
            // Known even when its vector is unusable, so reconciling does not re-read it.
            s.known.insert(e.id, Some(e.created_at));
            if let Some(v) = quant::f32_from_le_bytes(&e.embedding).filter(|v| v.len() == self.dim)
            {
                index.append(e.id, &v, &e.namespace)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Removes rows deleted elsewhere and re-reads rows overwritten elsewhere (a changed
    /// `created_at`), from the store's `(id, created_at)` listing.
    fn reconcile(&self, s: &mut StaleState) -> Result<u64> {
        let keys = self.store.iter_index_keys()?;
        let mut index = self.index.write();
        let mut still_known = 0;
        let mut stale = Vec::new();
        for k in &keys {
            match s.known.get(&k.id) {
                Some(known) => {
                    still_known += 1;
                    if k.created_at.is_some() && k.created_at != *known {
                        stale.push(k.id);
                    }
                }
                None => stale.push(k.id),
            }
        }
        if still_known < s.known.len() {
            let live: HashSet<i64> = keys.iter().map(|k| k.id).collect();
            s.known.retain(|id, _| {
                let keep = live.contains(id);
                if !keep {
                    index.remove(*id);
                }
                keep
            });
        }
        let mut replaced = 0;
        for id in stale {
            if let Some(e) = self.store.get_by_id(id)? {
                s.known.insert(e.id, Some(e.created_at));
                match quant::f32_from_le_bytes(&e.embedding).filter(|v| v.len() == self.dim) {
                    Some(v) => {
                        index.append(e.id, &v, &e.namespace)?;
                        replaced += 1;
                    }
                    None => {
                        index.remove(e.id);
                    }
                }
            }
        }
        Ok(replaced)
    }
}
