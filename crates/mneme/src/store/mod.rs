//! Stores: the single source of truth for entries, counters and meta.
//!
//! A store only persists; the cache owns every policy. [`Store`] is object-safe and
//! `Send + Sync`: a small required core with a contract per method, plus provided extras that a
//! backend overrides when it can do them faster (bulk index load, batched access updates,
//! transactional meta merges). Every backend runs the same conformance suite
//! (`tests/store_conformance.rs`).

#[cfg(any(feature = "redis", feature = "postgres"))]
mod link;
mod memory;
#[cfg(feature = "postgres")]
mod postgres_conn;
#[cfg(feature = "postgres")]
mod postgres_store;
#[cfg(feature = "redis")]
mod redis_store;
mod sqlite;

pub use memory::MemoryState;
pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres_store::PostgresStore;
#[cfg(feature = "redis")]
pub use redis_store::RedisStore;
pub use sqlite::SCHEMA_VERSION;
pub use sqlite::{SqliteOptions, SqliteStore};

use crate::error::{Error, Result};
use crate::metadata::Metadata;
use std::path::Path;

/// One persisted cache entry.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEntry {
    /// Store-assigned id (> 0); pass 0 on insert.
    pub id: i64,
    /// The tenant this entry belongs to.
    pub namespace: String,
    /// 64 lowercase hex characters: SHA-256 of the normalised query.
    pub query_hash: String,
    /// The original, un-normalised query.
    pub query: String,
    /// The cached response, verbatim.
    pub response: String,
    /// L2-normalised f32 little-endian bytes, `dim × 4` long.
    pub embedding: Vec<u8>,
    /// Caller metadata.
    pub metadata: Metadata,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; LRU order.
    pub last_accessed_at: i64,
    /// Seconds after `created_at`, or none.
    pub ttl: Option<i64>,
    /// Number of hits.
    pub access_count: i64,
}

impl StoredEntry {
    /// Whether the entry's TTL has elapsed at `now` (the boundary counts as expired).
    pub fn is_expired(&self, now: i64) -> bool {
        // Saturating: any i64 may come from a file or another process.
        self.ttl
            .is_some_and(|ttl| now.saturating_sub(self.created_at) >= ttl)
    }
}

/// A pending `update_access`, possibly several hits folded together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessUpdate {
    /// Row id.
    pub id: i64,
    /// The latest access time.
    pub last_accessed_at: i64,
    /// How many hits to add to `access_count`.
    pub hits: i64,
}

/// What stale-tolerant reconciliation compares: a row's id and its `created_at`, which every
/// overwrite sets. (A row's namespace never changes: an upsert keeps the id only within its
/// namespace, and ids are never reused.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexKey {
    /// Row id.
    pub id: i64,
    /// Row creation time, when the backend has it cheaply.
    pub created_at: Option<i64>,
}

/// Receives rows one by one; return an error to stop early.
pub type EntryVisitor<'a> = dyn FnMut(StoredEntry) -> Result<()> + 'a;

/// Receives `(id, embedding bytes, namespace)` for the fast index load.
pub type IndexRowVisitor<'a> = dyn FnMut(i64, &[u8], &str) -> Result<()> + 'a;

/// An [`IndexRowVisitor`] that may run on another thread.
pub type SendIndexRowVisitor<'a> = dyn FnMut(i64, &[u8], &str) -> Result<()> + Send + 'a;

/// The persistence contract every backend implements.
///
/// After `close()` every method, `open` included, returns [`Error::CacheClosed`]; `close` itself
/// is idempotent. Backend failures surface as [`Error::StoreBackend`] with the cause chained.
pub trait Store: Send + Sync {
    /// Connects and provisions the schema. The first open stamps `fingerprint` and `dim`; later
    /// opens check them ([`Error::EmbedderMismatch`] first, then [`Error::EmbedderDimension`]).
    fn open(&self, fingerprint: &str, dim: usize) -> Result<()>;
    /// Releases resources. Idempotent.
    fn close(&self) -> Result<()>;
    /// Exact lookup by namespace and query hash.
    fn get_by_hash(&self, namespace: &str, query_hash: &str) -> Result<Option<StoredEntry>>;
    /// Layer 1's lookup: as [`Store::get_by_hash`], but the embedding may come back empty, since
    /// an exact hit never reads it. Stores that can skip reading it override this.
    fn get_hit_by_hash(&self, namespace: &str, query_hash: &str) -> Result<Option<StoredEntry>> {
        self.get_by_hash(namespace, query_hash)
    }
    /// A value that changes whenever anything commits to the store, from this process or another,
    /// read without a round trip; `None` when the store has no such signal or cannot tell right
    /// now. While it holds still, the cache serves repeated exact hits from memory.
    fn change_token(&self) -> Option<u128> {
        None
    }
    /// Lookup by id; `id <= 0` gives `None`.
    fn get_by_id(&self, id: i64) -> Result<Option<StoredEntry>>;
    /// Row count, global or for one namespace.
    fn count(&self, namespace: Option<&str>) -> Result<u64>;
    /// Distinct namespaces holding rows, sorted by code point.
    fn list_namespaces(&self) -> Result<Vec<String>>;
    /// Up to `n` ids by `(last_accessed_at, id)` ascending.
    fn iter_lru_ids(&self, n: usize, namespace: Option<&str>) -> Result<Vec<i64>>;
    /// Visits rows with `id > last_id` in ascending id order.
    fn scan_since(&self, last_id: i64, visit: &mut EntryVisitor<'_>) -> Result<()>;
    /// Upsert on `(namespace, query_hash)`: an existing row keeps its id and takes every other
    /// field; a new row gets a fresh id, never reused. Bumps the version counter atomically.
    fn insert(&self, entry: &StoredEntry) -> Result<i64>;
    /// `last_accessed_at = now`, `access_count += 1`; an unknown id is a no-op; no version bump.
    fn update_access(&self, id: i64, now: i64) -> Result<()>;
    /// Removes one row; `true` if it existed (and then bumps the version).
    fn delete_by_id(&self, id: i64) -> Result<bool>;
    /// Removes rows whose TTL elapsed at `now`; returns how many.
    fn delete_expired(&self, now: i64, namespace: Option<&str>) -> Result<u64>;
    /// Removes every row of `namespace`; returns how many.
    fn clear_namespace(&self, namespace: &str) -> Result<u64>;
    /// Persists a quota (informational; the cache never reads it back).
    fn set_namespace_quota(&self, namespace: &str, max_entries: u64) -> Result<()>;
    /// Reads a quota.
    fn get_namespace_quota(&self, namespace: &str) -> Result<Option<u64>>;
    /// The version counter: strictly increases on every data write; 0 when absent.
    fn read_version_counter(&self) -> Result<u64>;
    /// Reads a meta value.
    fn read_meta(&self, key: &str) -> Result<Option<String>>;
    /// Upserts a meta value.
    fn write_meta(&self, key: &str, value: &str) -> Result<()>;
    /// A fresh store is healthy. SQLite may return [`Error::CorruptCache`] when the check fails
    /// to run at all.
    fn integrity_check(&self) -> Result<bool>;
    /// Writes a consistent SQLite copy of the store to `dest`. Only SQLite supports this;
    /// every other backend returns [`Error::Checkpoint`] with its native backup advice.
    fn snapshot_to(&self, dest: &Path) -> Result<()>;

    /// `Health.store_backend`: `sqlite`, `memory`, …
    fn label(&self) -> String;

    /// Visits every row in ascending id order.
    fn scan_all(&self, visit: &mut EntryVisitor<'_>) -> Result<()> {
        self.scan_since(0, visit)
    }

    /// All rows, ascending id.
    fn iter_all(&self) -> Result<Vec<StoredEntry>> {
        self.iter_since(0)
    }

    /// Rows with `id > last_id`, ascending id.
    fn iter_since(&self, last_id: i64) -> Result<Vec<StoredEntry>> {
        let mut rows = Vec::new();
        self.scan_since(last_id, &mut |e| {
            rows.push(e);
            Ok(())
        })?;
        Ok(rows)
    }

    /// Fast index load: `(id, embedding bytes, namespace)` in ascending id order.
    fn scan_index_rows(&self, visit: &mut IndexRowVisitor<'_>) -> Result<()> {
        self.scan_all(&mut |e| visit(e.id, &e.embedding, &e.namespace))
    }

    /// Fast index load on two threads: `low` receives the rows below a split id in ascending
    /// order while `high` receives the others in descending order. Returns `false`, calling
    /// neither, when the store reads through one connection only; the caller then uses
    /// [`Store::scan_index_rows`].
    fn scan_index_rows_split(
        &self,
        low: &mut SendIndexRowVisitor<'_>,
        high: &mut SendIndexRowVisitor<'_>,
    ) -> Result<bool> {
        let _ = (low, high);
        Ok(false)
    }

    /// `(id, created_at)` of every row, in any order. Called on `get` in stale-tolerant mode
    /// after other processes overwrote or deleted rows: worth a cheap override (SQLite reads
    /// it from an index, not the rows).
    fn iter_index_keys(&self) -> Result<Vec<IndexKey>> {
        let mut keys = Vec::new();
        self.scan_all(&mut |e| {
            keys.push(IndexKey {
                id: e.id,
                created_at: Some(e.created_at),
            });
            Ok(())
        })?;
        Ok(keys)
    }

    /// The largest id in use (0 when empty).
    fn max_id(&self) -> Result<i64> {
        let mut max = 0;
        self.scan_index_rows(&mut |id, _, _| {
            max = max.max(id);
            Ok(())
        })?;
        Ok(max)
    }

    /// The oldest `created_at`, `None` when empty.
    fn oldest_created_at(&self) -> Result<Option<i64>> {
        let mut oldest: Option<i64> = None;
        self.scan_all(&mut |e| {
            oldest = Some(oldest.map_or(e.created_at, |o| o.min(e.created_at)));
            Ok(())
        })?;
        Ok(oldest)
    }

    /// Applies folded access updates. The result must equal one `update_access` per hit.
    fn update_access_batch(&self, updates: &[AccessUpdate]) -> Result<()> {
        for u in updates {
            for _ in 0..u.hits {
                self.update_access(u.id, u.last_accessed_at)?;
            }
        }
        Ok(())
    }

    /// Inserts (upserts) several entries; returns their ids in order. Backends override this to
    /// use one transaction; each entry still counts as one `insert` for the version counter.
    fn insert_batch(&self, entries: &[StoredEntry]) -> Result<Vec<i64>> {
        entries.iter().map(|e| self.insert(e)).collect()
    }

    /// Deletes several rows; returns the ids that existed. Each removal counts as one
    /// `delete_by_id` for the version counter.
    fn delete_by_ids(&self, ids: &[i64]) -> Result<Vec<i64>> {
        let mut removed = Vec::with_capacity(ids.len());
        for &id in ids {
            if self.delete_by_id(id)? {
                removed.push(id);
            }
        }
        Ok(removed)
    }

    /// Like `delete_expired`, also returning `(id, namespace)` of each removed row so the cache
    /// can update its index and per-namespace counters.
    fn delete_expired_ids(&self, now: i64, namespace: Option<&str>) -> Result<Vec<(i64, String)>> {
        let mut expired = Vec::new();
        self.scan_all(&mut |e| {
            if e.is_expired(now) && namespace.is_none_or(|ns| e.namespace == ns) {
                expired.push((e.id, e.namespace));
            }
            Ok(())
        })?;
        let mut removed = Vec::with_capacity(expired.len());
        for (id, ns) in expired {
            if self.delete_by_id(id)? {
                removed.push((id, ns));
            }
        }
        Ok(removed)
    }

    /// Read-modify-write of one meta key, atomically where the backend allows it.
    fn merge_meta(&self, key: &str, merge: &mut dyn FnMut(Option<String>) -> String) -> Result<()> {
        let current = self.read_meta(key)?;
        self.write_meta(key, &merge(current))
    }

    /// Lets the cache's checkpoint code serialise a non-SQLite store (Memory) itself.
    fn as_memory(&self) -> Option<&MemoryStore> {
        None
    }
}

/// The standard fingerprint/dim check every backend runs on open, against stamped values.
///
/// # Errors
/// [`Error::EmbedderMismatch`] (checked first) or [`Error::EmbedderDimension`].
pub fn check_stamp(
    stored_fingerprint: Option<&str>,
    stored_dim: Option<&str>,
    fingerprint: &str,
    dim: usize,
) -> Result<()> {
    if let Some(stored) = stored_fingerprint {
        if stored != fingerprint {
            return Err(Error::embedder_mismatch(
                format!("the store was written with embedder {stored:?}, but this cache uses {fingerprint:?}"),
                "open it with the original embedder, or migrate the cache with reembed to the new one",
            ));
        }
    }
    if let Some(stored) = stored_dim {
        if stored.trim().parse::<usize>().ok() != Some(dim) {
            return Err(Error::embedder_dimension(
                format!("the store holds {stored}-dimensional vectors, but the embedder has dim {dim}"),
                "open it with an embedder of the stored dimension, or migrate the cache with reembed",
            ));
        }
    }
    Ok(())
}

/// Validates constructor input shared by stores: a quota must fit in i64.
pub(crate) fn quota_to_i64(max_entries: u64) -> Result<i64> {
    i64::try_from(max_entries).map_err(|_| {
        Error::invalid_argument(
            format!("quota {max_entries} is too large"),
            "use a quota below 2^63",
        )
    })
}
