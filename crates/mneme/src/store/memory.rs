//! `MemoryStore`: everything in process memory behind one lock. Nothing survives the process.

use super::{
    check_stamp, quota_to_i64, AccessUpdate, EntryVisitor, IndexRowVisitor, Store, StoreContents,
    StoredEntry,
};
use crate::error::{Error, Result};
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

/// The whole state of a [`MemoryStore`].
#[derive(Debug, Clone, Default)]
struct MemoryState {
    /// Rows by id.
    pub entries: BTreeMap<i64, StoredEntry>,
    /// Meta keys (fingerprint, dim, schema version, counters, …).
    pub meta: BTreeMap<String, String>,
    /// Persisted quotas.
    pub quotas: BTreeMap<String, i64>,
    /// The next id to assign (ids are never reused).
    pub next_id: i64,
    /// The version counter.
    pub version: u64,
}

#[derive(Default)]
struct Inner {
    state: MemoryState,
    by_hash: HashMap<(String, String), i64>,
    /// `(last_accessed_at, id)` of every row: LRU order without sorting.
    lru: BTreeSet<(i64, i64)>,
    ns_rows: BTreeMap<String, u64>,
    closed: bool,
}

/// An in-process store: fast, and gone with the process.
///
/// `max_entries` is a hard cap separate from the cache's LRU cap: inserting a *new* key into a
/// full store fails with [`Error::StoreBackend`] (compat with mneme-cache 1.0).
pub struct MemoryStore {
    inner: Mutex<Inner>,
    max_entries: Option<usize>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty, unbounded store.
    pub fn new() -> Self {
        Self::with_max_entries(None)
    }

    /// An empty store that refuses new keys beyond `max_entries`.
    pub fn with_max_entries(max_entries: Option<usize>) -> Self {
        let mut inner = Inner::default();
        inner.state.next_id = 1;
        MemoryStore {
            inner: Mutex::new(inner),
            max_entries,
        }
    }

    fn lock(&self) -> Result<parking_lot::MutexGuard<'_, Inner>> {
        let guard = self.inner.lock();
        if guard.closed {
            return Err(Error::closed("MemoryStore"));
        }
        Ok(guard)
    }
}

impl Inner {
    fn remove(&mut self, id: i64) -> Option<StoredEntry> {
        let e = self.state.entries.remove(&id)?;
        self.by_hash
            .remove(&(e.namespace.clone(), e.query_hash.clone()));
        self.lru.remove(&(e.last_accessed_at, id));
        if let Some(n) = self.ns_rows.get_mut(&e.namespace) {
            *n -= 1;
            if *n == 0 {
                self.ns_rows.remove(&e.namespace);
            }
        }
        self.state.version += 1;
        Some(e)
    }

    fn ids_where(&self, pred: impl Fn(&StoredEntry) -> bool) -> Vec<i64> {
        self.state
            .entries
            .values()
            .filter(|e| pred(e))
            .map(|e| e.id)
            .collect()
    }

    fn touch(&mut self, id: i64, now: i64, hits: i64) {
        if let Some(e) = self.state.entries.get_mut(&id) {
            self.lru.remove(&(e.last_accessed_at, id));
            e.last_accessed_at = now;
            e.access_count += hits;
            self.lru.insert((now, id));
        }
    }
}

impl Store for MemoryStore {
    fn open(&self, fingerprint: &str, dim: usize) -> Result<()> {
        let mut g = self.lock()?;
        let meta = &mut g.state.meta;
        check_stamp(
            meta.get("embedder_fingerprint").map(String::as_str),
            meta.get("embedder_dim").map(String::as_str),
            fingerprint,
            dim,
        )?;
        meta.entry("embedder_fingerprint".into())
            .or_insert_with(|| fingerprint.to_owned());
        meta.entry("embedder_dim".into())
            .or_insert_with(|| dim.to_string());
        meta.entry("schema_version".into())
            .or_insert_with(|| "1".into());
        Ok(())
    }

    fn close(&self) -> Result<()> {
        self.inner.lock().closed = true;
        Ok(())
    }

    fn get_by_hash(&self, namespace: &str, query_hash: &str) -> Result<Option<StoredEntry>> {
        let g = self.lock()?;
        let id = g
            .by_hash
            .get(&(namespace.to_owned(), query_hash.to_owned()));
        Ok(id.and_then(|id| g.state.entries.get(id)).cloned())
    }

    fn get_by_id(&self, id: i64) -> Result<Option<StoredEntry>> {
        Ok(self.lock()?.state.entries.get(&id).cloned())
    }

    fn count(&self, namespace: Option<&str>) -> Result<u64> {
        let g = self.lock()?;
        Ok(match namespace {
            None => g.state.entries.len() as u64,
            Some(ns) => g.ns_rows.get(ns).copied().unwrap_or(0),
        })
    }

    fn list_namespaces(&self) -> Result<Vec<String>> {
        Ok(self.lock()?.ns_rows.keys().cloned().collect())
    }

    fn iter_lru_ids(&self, n: usize, namespace: Option<&str>) -> Result<Vec<i64>> {
        let g = self.lock()?;
        let in_ns = |id: &i64| match namespace {
            None => true,
            Some(ns) => g.state.entries.get(id).is_some_and(|e| e.namespace == ns),
        };
        Ok(g.lru
            .iter()
            .map(|&(_, id)| id)
            .filter(in_ns)
            .take(n)
            .collect())
    }

    fn scan_since(&self, last_id: i64, visit: &mut EntryVisitor<'_>) -> Result<()> {
        // Copy out first so a visitor may call back into the store without deadlocking.
        let rows: Vec<StoredEntry> = {
            let g = self.lock()?;
            g.state
                .entries
                .range(last_id.saturating_add(1)..)
                .map(|(_, e)| e.clone())
                .collect()
        };
        rows.into_iter().try_for_each(visit)
    }

    fn insert(&self, entry: &StoredEntry) -> Result<i64> {
        let mut g = self.lock()?;
        let key = (entry.namespace.clone(), entry.query_hash.clone());
        let id = match g.by_hash.get(&key) {
            Some(&id) => {
                let old = g.state.entries.get(&id).map(|e| e.last_accessed_at);
                if let Some(old) = old {
                    g.lru.remove(&(old, id));
                }
                id
            }
            None => {
                if self
                    .max_entries
                    .is_some_and(|cap| g.state.entries.len() >= cap)
                {
                    return Err(Error::store_backend(
                        format!(
                            "MemoryStore is full: capacity {} entries (its max_entries) reached",
                            g.state.entries.len()
                        ),
                        "raise MemoryStore max_entries, or set the cache's max_entries below it so LRU eviction keeps room",
                    ));
                }
                let id = g.state.next_id;
                g.state.next_id += 1;
                g.by_hash.insert(key, id);
                *g.ns_rows.entry(entry.namespace.clone()).or_insert(0) += 1;
                id
            }
        };
        let mut row = entry.clone();
        row.id = id;
        g.lru.insert((row.last_accessed_at, id));
        g.state.entries.insert(id, row);
        g.state.version += 1;
        Ok(id)
    }

    fn update_access(&self, id: i64, now: i64) -> Result<()> {
        self.lock()?.touch(id, now, 1);
        Ok(())
    }

    fn update_access_batch(&self, updates: &[AccessUpdate]) -> Result<()> {
        let mut g = self.lock()?;
        for u in updates {
            g.touch(u.id, u.last_accessed_at, u.hits);
        }
        Ok(())
    }

    fn delete_by_id(&self, id: i64) -> Result<bool> {
        Ok(self.lock()?.remove(id).is_some())
    }

    fn delete_expired(&self, now: i64, namespace: Option<&str>) -> Result<u64> {
        Ok(self.delete_expired_ids(now, namespace)?.len() as u64)
    }

    fn delete_expired_ids(&self, now: i64, namespace: Option<&str>) -> Result<Vec<(i64, String)>> {
        let mut g = self.lock()?;
        let ids =
            g.ids_where(|e| e.is_expired(now) && namespace.is_none_or(|ns| e.namespace == ns));
        Ok(ids
            .into_iter()
            .filter_map(|id| g.remove(id).map(|e| (id, e.namespace)))
            .collect())
    }

    fn delete_by_ids(&self, ids: &[i64]) -> Result<Vec<i64>> {
        let mut g = self.lock()?;
        Ok(ids
            .iter()
            .copied()
            .filter(|&id| g.remove(id).is_some())
            .collect())
    }

    fn clear_namespace(&self, namespace: &str) -> Result<u64> {
        let mut g = self.lock()?;
        let ids = g.ids_where(|e| e.namespace == namespace);
        for id in &ids {
            g.remove(*id);
        }
        Ok(ids.len() as u64)
    }

    fn set_namespace_quota(&self, namespace: &str, max_entries: u64) -> Result<()> {
        let q = quota_to_i64(max_entries)?;
        self.lock()?.state.quotas.insert(namespace.to_owned(), q);
        Ok(())
    }

    fn get_namespace_quota(&self, namespace: &str) -> Result<Option<u64>> {
        Ok(self.lock()?.state.quotas.get(namespace).map(|&q| q as u64))
    }

    fn read_version_counter(&self) -> Result<u64> {
        Ok(self.lock()?.state.version)
    }

    fn read_meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self.lock()?.state.meta.get(key).cloned())
    }

    fn write_meta(&self, key: &str, value: &str) -> Result<()> {
        self.lock()?
            .state
            .meta
            .insert(key.to_owned(), value.to_owned());
        Ok(())
    }

    fn merge_meta(&self, key: &str, merge: &mut dyn FnMut(Option<String>) -> String) -> Result<()> {
        let mut g = self.lock()?;
        let merged = merge(g.state.meta.get(key).cloned());
        g.state.meta.insert(key.to_owned(), merged);
        Ok(())
    }

    fn integrity_check(&self) -> Result<bool> {
        let g = self.lock()?;
        Ok(g.by_hash.iter().all(|((ns, hash), id)| {
            g.state
                .entries
                .get(id)
                .is_some_and(|e| &e.namespace == ns && &e.query_hash == hash)
        }) && g.by_hash.len() == g.state.entries.len())
    }

    fn snapshot_to(&self, _dest: &Path) -> Result<()> {
        let _open = self.lock()?;
        Err(Error::checkpoint(
            "MemoryStore cannot snapshot itself",
            "call dumps() on the cache instead: it serialises the in-memory state into the archive",
        ))
    }

    fn label(&self) -> String {
        "memory".into()
    }

    fn scan_index_rows(&self, visit: &mut IndexRowVisitor<'_>) -> Result<()> {
        let g = self.lock()?;
        g.state
            .entries
            .values()
            .try_for_each(|e| visit(e.id, &e.embedding, &e.namespace))
    }

    fn max_id(&self) -> Result<i64> {
        Ok(self
            .lock()?
            .state
            .entries
            .keys()
            .next_back()
            .copied()
            .unwrap_or(0))
    }

    fn export(&self) -> Option<Result<StoreContents>> {
        let contents = self.lock().map(|inner| {
            let state = &inner.state;
            StoreContents {
                entries: state.entries.values().cloned().collect(),
                meta: state.meta.clone().into_iter().collect(),
                quotas: state.quotas.clone().into_iter().collect(),
                version: state.version,
                next_id: state.next_id,
            }
        });
        Some(contents)
    }
}
