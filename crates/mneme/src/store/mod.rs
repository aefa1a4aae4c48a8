//! Stores: the single source of truth for entries, counters and meta.
//!
//! A store only persists; the cache owns every policy. [`Store`] is object-safe and
//! `Send + Sync`, in three parts: a required core of twelve methods, each with its contract;
//! operations the trait derives from that core, which a backend overrides when it can do them
//! faster or must keep a compatible layout; and optional capabilities (a change token, a
//! snapshot file, an export of its contents, a two-threaded index load) that the cache asks
//! for through methods returning `None` or an error by default, never by downcasting. Every
//! backend runs the same conformance suite (`tests/store_conformance.rs`).

#[cfg(feature = "dynamodb")]
mod dynamodb;
#[cfg(any(feature = "redis", feature = "postgres"))]
mod link;
mod memory;
#[cfg(any(feature = "postgres", feature = "dynamodb"))]
mod own_runtime;
#[cfg(feature = "postgres")]
mod postgres_conn;
#[cfg(feature = "postgres")]
mod postgres_store;
#[cfg(feature = "redis")]
mod redis_store;
mod sqlite;

#[cfg(feature = "dynamodb")]
pub use dynamodb::{Billing, DynamoDbStore};
pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres_store::PostgresStore;
#[cfg(feature = "redis")]
pub use redis_store::RedisStore;
pub use sqlite::SCHEMA_VERSION;
pub use sqlite::{SqliteOptions, SqliteStore};

use crate::error::{Error, Result};
use crate::metadata::Metadata;
use std::path::{Path, PathBuf};

/// One persisted cache entry.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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

/// Everything a store holds, as plain data: what a checkpoint copies out of a store that can
/// [`Store::export`] it (the memory store) into the archive's SQLite file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreContents {
    /// Every row.
    pub entries: Vec<StoredEntry>,
    /// Meta keys (embedder stamp, schema version, counters…).
    pub meta: Vec<(String, String)>,
    /// Persisted namespace quotas.
    pub quotas: Vec<(String, i64)>,
    /// The version counter.
    pub version: u64,
    /// The next id the store would assign (ids are never reused).
    pub next_id: i64,
}

/// The meta key under which the derived quota methods keep a namespace's quota.
fn quota_key(namespace: &str) -> String {
    format!("namespace_quota:{namespace}")
}

/// The persistence contract every backend implements.
///
/// After `close()` every method, `open` included, returns [`Error::CacheClosed`]; `close` itself
/// is idempotent. Backend failures surface as [`Error::StoreBackend`] with the cause chained.
/// A *data write* (insert, a delete that removed a row) bumps the version counter in the same
/// atomic step as the write; nothing else does, so other processes can tell when to refresh.
///
/// A new backend implements the twelve required methods; everything else has a correct default
/// built on them. `tests/store_conformance.rs` runs the shared battery against each backend.
///
/// ```
/// use mneme::store::{EntryVisitor, Store, StoredEntry};
/// use mneme::{Error, Result};
/// use std::collections::BTreeMap;
/// use std::sync::Mutex;
///
/// /// Rows in a map: enough for the cache, its checkpoints and the conformance battery.
/// #[derive(Default)]
/// struct MapStore {
///     rows: Mutex<BTreeMap<i64, StoredEntry>>,
///     meta: Mutex<BTreeMap<String, String>>,
///     version: Mutex<u64>,
///     last_id: Mutex<i64>,
/// }
///
/// impl Store for MapStore {
///     fn open(&self, fingerprint: &str, dim: usize) -> Result<()> {
///         let mut meta = self.meta.lock().unwrap();
///         let fp = meta.entry("embedder_fingerprint".into()).or_insert(fingerprint.into()).clone();
///         let d = meta.entry("embedder_dim".into()).or_insert(dim.to_string()).clone();
///         mneme::store::check_stamp(Some(&fp), Some(&d), fingerprint, dim)
///     }
///     fn close(&self) -> Result<()> {
///         Ok(())
///     }
///     fn get_by_hash(&self, namespace: &str, query_hash: &str) -> Result<Option<StoredEntry>> {
///         let rows = self.rows.lock().unwrap();
///         Ok(rows.values().find(|e| e.namespace == namespace && e.query_hash == query_hash).cloned())
///     }
///     fn get_by_id(&self, id: i64) -> Result<Option<StoredEntry>> {
///         Ok(self.rows.lock().unwrap().get(&id).cloned())
///     }
///     fn scan_since(&self, last_id: i64, visit: &mut EntryVisitor<'_>) -> Result<()> {
///         let rows: Vec<StoredEntry> =
///             self.rows.lock().unwrap().range(last_id + 1..).map(|(_, e)| e.clone()).collect();
///         rows.into_iter().try_for_each(|e| visit(e))
///     }
///     fn insert(&self, entry: &StoredEntry) -> Result<i64> {
///         let mut rows = self.rows.lock().unwrap();
///         let existing = rows.values()
///             .find(|e| e.namespace == entry.namespace && e.query_hash == entry.query_hash)
///             .map(|e| e.id);
///         let id = existing.unwrap_or_else(|| {
///             let mut last = self.last_id.lock().unwrap();
///             *last += 1; // never reused, even after a delete
///             *last
///         });
///         rows.insert(id, StoredEntry { id, ..entry.clone() });
///         *self.version.lock().unwrap() += 1;
///         Ok(id)
///     }
///     fn update_access(&self, id: i64, now: i64) -> Result<()> {
///         if let Some(e) = self.rows.lock().unwrap().get_mut(&id) {
///             e.last_accessed_at = now;
///             e.access_count += 1;
///         }
///         Ok(())
///     }
///     fn delete_by_id(&self, id: i64) -> Result<bool> {
///         let removed = self.rows.lock().unwrap().remove(&id).is_some();
///         if removed {
///             *self.version.lock().unwrap() += 1;
///         }
///         Ok(removed)
///     }
///     fn read_version_counter(&self) -> Result<u64> {
///         Ok(*self.version.lock().unwrap())
///     }
///     fn read_meta(&self, key: &str) -> Result<Option<String>> {
///         Ok(self.meta.lock().unwrap().get(key).cloned())
///     }
///     fn write_meta(&self, key: &str, value: &str) -> Result<()> {
///         self.meta.lock().unwrap().insert(key.into(), value.into());
///         Ok(())
///     }
///     fn label(&self) -> String {
///         "map".into()
///     }
/// }
///
/// # fn main() -> Result<()> {
/// let cache = mneme::SemanticCache::builder(mneme::LexicalEmbedder::new(64))
///     .store(MapStore::default())
///     .open()?;
/// cache.put("how do I cancel?", "Settings → Plan → Cancel.")?;
/// assert!(cache.get("how do I cancel?")?.is_some());
/// # Ok(()) }
/// ```
pub trait Store: Send + Sync {
    // ---- The required core ----

    /// Connects and provisions the schema. The first open stamps `fingerprint` and `dim`; later
    /// opens check them ([`Error::EmbedderMismatch`] first, then [`Error::EmbedderDimension`];
    /// [`check_stamp`] does both). Opening an open store is a no-op.
    fn open(&self, fingerprint: &str, dim: usize) -> Result<()>;
    /// Releases resources. Idempotent; afterwards every call is [`Error::CacheClosed`].
    fn close(&self) -> Result<()>;
    /// The row with this namespace and query hash, or `None`. Expired rows are returned too:
    /// expiry is the cache's policy.
    fn get_by_hash(&self, namespace: &str, query_hash: &str) -> Result<Option<StoredEntry>>;
    /// The row with this id; `None` for an unknown id or `id <= 0`.
    fn get_by_id(&self, id: i64) -> Result<Option<StoredEntry>>;
    /// Visits the rows with `id > last_id` in ascending id order; an error from `visit` stops
    /// the scan and is returned. Rows written during the scan may or may not be seen.
    fn scan_since(&self, last_id: i64, visit: &mut EntryVisitor<'_>) -> Result<()>;
    /// Upsert on `(namespace, query_hash)`, atomically with the version bump: an existing row
    /// keeps its id and takes every other field; a new row gets a fresh id above every id ever
    /// used (ids are never reused). Returns the id.
    fn insert(&self, entry: &StoredEntry) -> Result<i64>;
    /// `last_accessed_at = now`, `access_count += 1`; an unknown id is a no-op. Not a data
    /// write: no version bump.
    fn update_access(&self, id: i64, now: i64) -> Result<()>;
    /// Removes one row; `true` if it existed, and then bumps the version in the same step.
    fn delete_by_id(&self, id: i64) -> Result<bool>;
    /// The version counter: strictly increases with every data write, from any process; 0 for
    /// a new store.
    fn read_version_counter(&self) -> Result<u64>;
    /// A meta value; `None` when unset.
    fn read_meta(&self, key: &str) -> Result<Option<String>>;
    /// Sets a meta value (an upsert). Not a data write.
    fn write_meta(&self, key: &str, value: &str) -> Result<()>;
    /// `Health.store_backend`: `sqlite`, `memory`, …
    fn label(&self) -> String;

    // ---- Derived from the core; override for speed or a compatible layout ----

    /// Row count, global or for one namespace.
    fn count(&self, namespace: Option<&str>) -> Result<u64> {
        let mut n = 0;
        self.scan_all(&mut |e| {
            n += u64::from(namespace.is_none_or(|ns| e.namespace == ns));
            Ok(())
        })?;
        Ok(n)
    }

    /// Distinct namespaces holding rows, sorted by code point.
    fn list_namespaces(&self) -> Result<Vec<String>> {
        let mut names = std::collections::BTreeSet::new();
        self.scan_all(&mut |e| {
            names.insert(e.namespace);
            Ok(())
        })?;
        Ok(names.into_iter().collect())
    }

    /// Up to `n` ids by `(last_accessed_at, id)` ascending: the eviction order.
    fn iter_lru_ids(&self, n: usize, namespace: Option<&str>) -> Result<Vec<i64>> {
        let mut keyed = Vec::new();
        self.scan_all(&mut |e| {
            if namespace.is_none_or(|ns| e.namespace == ns) {
                keyed.push((e.last_accessed_at, e.id));
            }
            Ok(())
        })?;
        keyed.sort_unstable();
        Ok(keyed.into_iter().take(n).map(|(_, id)| id).collect())
    }

    /// Removes rows whose TTL elapsed at `now`; returns how many.
    fn delete_expired(&self, now: i64, namespace: Option<&str>) -> Result<u64> {
        Ok(self.delete_expired_ids(now, namespace)?.len() as u64)
    }

    /// Removes every row of `namespace`; returns how many.
    fn clear_namespace(&self, namespace: &str) -> Result<u64> {
        let mut ids = Vec::new();
        self.scan_all(&mut |e| {
            if e.namespace == namespace {
                ids.push(e.id);
            }
            Ok(())
        })?;
        Ok(self.delete_by_ids(&ids)?.len() as u64)
    }

    /// Persists a quota (informational; the cache never reads it back). Default: a meta key.
    fn set_namespace_quota(&self, namespace: &str, max_entries: u64) -> Result<()> {
        let q = quota_to_i64(max_entries)?;
        self.write_meta(&quota_key(namespace), &q.to_string())
    }

    /// Reads a quota.
    fn get_namespace_quota(&self, namespace: &str) -> Result<Option<u64>> {
        Ok(self
            .read_meta(&quota_key(namespace))?
            .and_then(|v| v.trim().parse::<u64>().ok()))
    }

    /// Whether the store's own consistency check passes (default: nothing to check). SQLite may
    /// return [`Error::CorruptCache`] when the check fails to run at all.
    fn integrity_check(&self) -> Result<bool> {
        Ok(true)
    }

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

    /// Layer 1's lookup: as [`Store::get_by_hash`], but the embedding may come back empty, since
    /// an exact hit never reads it. Stores that can skip reading it override this.
    fn get_hit_by_hash(&self, namespace: &str, query_hash: &str) -> Result<Option<StoredEntry>> {
        self.get_by_hash(namespace, query_hash)
    }

    /// Fast index load: `(id, embedding bytes, namespace)` in ascending id order.
    fn scan_index_rows(&self, visit: &mut IndexRowVisitor<'_>) -> Result<()> {
        self.scan_all(&mut |e| visit(e.id, &e.embedding, &e.namespace))
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

    // ---- Optional capabilities ----

    /// A value that changes whenever anything commits to the store, from this process or another,
    /// read without a round trip; `None` when the store has no such signal or cannot tell right
    /// now. While it holds still, the cache serves repeated exact hits from memory.
    fn change_token(&self) -> Option<u128> {
        None
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

    /// The file holding the store, for stores that are one (SQLite, not `:memory:`): where
    /// mmap-shared mode puts its sidecar by default. `None` by default.
    fn file_path(&self) -> Option<PathBuf> {
        None
    }

    /// Writes a consistent SQLite copy of the store to `dest` (what a checkpoint archives).
    /// Only SQLite can; the default is [`Error::Checkpoint`] pointing at the backend's own
    /// backup tool.
    fn snapshot_to(&self, dest: &Path) -> Result<()> {
        let _ = dest;
        Err(Error::checkpoint(
            format!(
                "the {} store cannot snapshot into a checkpoint",
                self.label()
            ),
            "use the backend's own backup tools, or migrate the cache to SQLite to use dumps()",
        ))
    }

    /// The whole contents as data, for a checkpoint of a store that cannot snapshot itself into
    /// a file; `None` (the default) when the store does not offer it.
    fn export(&self) -> Option<Result<StoreContents>> {
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
        let parsed = stored.trim().parse::<usize>().ok();
        if parsed != Some(dim) {
            let e = Error::embedder_dimension(
                format!("the store holds {stored}-dimensional vectors, but the embedder has dim {dim}"),
                "open it with an embedder of the stored dimension, or migrate the cache with reembed",
            );
            return Err(match parsed {
                Some(expected) => e.with_dimensions(expected, dim),
                None => e,
            });
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
