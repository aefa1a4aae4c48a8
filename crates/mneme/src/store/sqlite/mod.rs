//! `SqliteStore`: the embedded default, one file, shareable with mneme-cache 1.0 processes.
//!
//! Every write is one `BEGIN IMMEDIATE` transaction that also bumps `version_counter`, so other
//! processes (Rust or Python) can detect change cheaply and never hit busy-snapshot errors. One
//! connection serves the process behind a mutex; snapshots use a second connection so readers and
//! writers keep going while a backup runs.

mod checkpoint;
mod errors;
mod options;
mod rows;
mod scan;
mod schema;
mod shm;

pub use options::SqliteOptions;
pub use schema::LATEST_VERSION as SCHEMA_VERSION;

use super::{
    quota_to_i64, AccessUpdate, EntryVisitor, IndexKey, IndexRowVisitor, SendIndexRowVisitor,
    Store, StoreContents, StoredEntry,
};
use crate::error::{Error, Result};
use crate::files::{chmod_owner_only, create_owner_only};
use checkpoint::Checkpointer;
use errors::{backend, not_a_database, retry_busy};
use parking_lot::{Mutex, RwLock};
use rows::{read_entry, upsert, upsert_row, with_metadata, BUMP_VERSION, BUMP_VERSION_BY};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use scan::{scan_rows, scan_rows_split, Rows};
use schema::{ENTRY_COLUMNS, ENTRY_COLUMNS_NO_VECTOR};
use shm::WalIndexWatch;
use std::path::{Path, PathBuf};
use std::time::Duration;

enum Conn {
    NotOpen,
    Open(Connection, Option<Checkpointer>),
    Closed,
}

/// A store in one SQLite file (or `":memory:"`), in mneme-cache 1.0's schema v1.
pub struct SqliteStore {
    path: PathBuf,
    options: SqliteOptions,
    conn: Mutex<Conn>,
    /// The `-shm` header while open (see [`Store::change_token`]); dropped before the
    /// connection it belongs to.
    watch: RwLock<Option<WalIndexWatch>>,
}

impl SqliteStore {
    /// A store for `path` with default options. Nothing is touched until [`Store::open`].
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self::with_options(path, SqliteOptions::default())
    }

    /// A store for `path` with explicit options.
    pub fn with_options(path: impl Into<PathBuf>, options: SqliteOptions) -> Self {
        SqliteStore {
            path: path.into(),
            options,
            conn: Mutex::new(Conn::NotOpen),
            watch: RwLock::new(None),
        }
    }

    /// The database path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn is_in_memory(&self) -> bool {
        self.path.as_os_str() == ":memory:"
    }

    /// Reads the embedder stamp `(fingerprint, dim)` of a cache file without modifying it.
    ///
    /// Tools that work on a file without the application's model (the CLI, migration) use this
    /// to open the cache with the identity it was written with.
    ///
    /// # Errors
    /// [`Error::StoreBackend`] when the file is missing or unreadable, [`Error::CorruptCache`]
    /// when it is not a mneme cache.
    pub fn peek_stamp(path: &Path) -> Result<(String, usize)> {
        if !path.is_file() {
            return Err(Error::store_backend(
                format!("cache file {} does not exist", path.display()),
                "pass the path of an existing cache file",
            )
            .with_path(path));
        }
        let conn =
            read_only_connection(path, &SqliteOptions::default()).map_err(|e| e.with_path(path))?;
        let meta = |key: &str| -> Option<String> {
            conn.query_row("SELECT value FROM schema_meta WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .ok()
        };
        match (
            meta("embedder_fingerprint"),
            meta("embedder_dim").and_then(|d| d.trim().parse().ok()),
        ) {
            (Some(fp), Some(dim)) => Ok((fp, dim)),
            _ => Err(Error::corrupt_cache(
                format!(
                    "{} is not a mneme cache (no embedder stamp in schema_meta)",
                    path.display()
                ),
                "point the command at a cache file written by mneme or mneme-cache",
            )
            .with_path(path)),
        }
    }

    /// Visits the rows of a cache file without modifying it (read-only connection), in ascending
    /// id order, with their embeddings left empty. For tools that copy a cache (migration).
    ///
    /// # Errors
    /// [`Error::StoreBackend`] when the file cannot be read as a mneme cache.
    pub fn scan_file_rows(path: &Path, visit: &mut EntryVisitor<'_>) -> Result<()> {
        let conn =
            read_only_connection(path, &SqliteOptions::default()).map_err(|e| e.with_path(path))?;
        let sql = format!("SELECT {ENTRY_COLUMNS_NO_VECTOR} FROM entries ORDER BY id");
        let mut st = conn
            .prepare(&sql)
            .map_err(|e| backend("reading entries", e))?;
        let mut rows = st.query([]).map_err(|e| backend("reading entries", e))?;
        while let Some(row) = rows.next().map_err(|e| backend("reading entries", e))? {
            let entry = with_metadata(read_entry(row).map_err(|e| backend("reading entries", e))?)?;
            visit(entry)?;
        }
        Ok(())
    }

    /// Gives the free pages of a cache file back to the filesystem (`VACUUM`, after
    /// checkpointing the WAL into the file) and returns its size on disk, WAL included, before
    /// and after. Other processes may keep the file open; while it runs, their writes wait (up
    /// to `timeout`) and reads go on.
    ///
    /// # Errors
    /// [`Error::StoreBackend`] when the file is missing, busy past `timeout`, or the disk lacks
    /// room for the rewritten copy (VACUUM needs about the file's size free).
    pub fn reclaim_space(path: &Path, timeout: std::time::Duration) -> Result<(u64, u64)> {
        let on_disk = || -> u64 {
            let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
            let mut wal = path.as_os_str().to_owned();
            wal.push("-wal");
            size(path) + size(Path::new(&wal))
        };
        if !path.is_file() {
            return Err(Error::store_backend(
                format!("cache file {} does not exist", path.display()),
                "pass the path of an existing cache file",
            )
            .with_path(path));
        }
        let before = on_disk();
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| backend("opening for VACUUM", e).with_path(path))?;
        conn.busy_timeout(timeout)
            .map_err(|e| backend("busy_timeout", e).with_path(path))?;
        conn.execute_batch(
            "PRAGMA wal_checkpoint(TRUNCATE); VACUUM; PRAGMA wal_checkpoint(TRUNCATE);",
        )
        .map_err(|e| backend("VACUUM", e).with_path(path))?;
        drop(conn);
        Ok((before, on_disk()))
    }

    /// Copies `src` over `dest` with owner-only permissions and returns an unopened store there.
    ///
    /// # Errors
    /// [`Error::StoreBackend`] when `src` is missing or the copy fails.
    pub fn restore_from(src: &Path, dest: impl Into<PathBuf>) -> Result<SqliteStore> {
        let dest = dest.into();
        if !src.is_file() {
            return Err(Error::store_backend(
                format!("snapshot {} does not exist", src.display()),
                "pass the path of a file written by snapshot_to()",
            ));
        }
        let io = |e: std::io::Error| {
            Error::store_backend_with(
                format!("copying {} to {} failed", src.display(), dest.display()),
                "check permissions and free disk space",
                e,
            )
        };
        std::fs::copy(src, &dest).map_err(io)?;
        chmod_owner_only(&dest).map_err(io)?;
        Ok(SqliteStore::new(dest))
    }

    /// Writes another store's [`StoreContents`] into this (freshly opened, empty) store in one
    /// transaction, keeping ids, meta, quotas, the version counter and the id sequence.
    pub(crate) fn import(&self, state: &StoreContents) -> Result<()> {
        self.write("import", |tx| {
            let mut insert = tx.prepare(
                "INSERT INTO entries (id, namespace, query_hash, query, response, embedding, metadata, \
                 created_at, last_accessed_at, ttl, access_count) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            for e in &state.entries {
                insert.execute(params![
                    e.id,
                    e.namespace,
                    e.query_hash,
                    e.query,
                    e.response,
                    e.embedding,
                    e.metadata.to_json(),
                    e.created_at,
                    e.last_accessed_at,
                    e.ttl,
                    e.access_count
                ])?;
            }
            for (key, value) in &state.meta {
                tx.execute(
                    "INSERT OR REPLACE INTO schema_meta (key, value) VALUES (?1, ?2)",
                    params![key, value],
                )?;
            }
            for (ns, quota) in &state.quotas {
                tx.execute(
                    "INSERT OR REPLACE INTO namespace_quotas (namespace, max_entries) VALUES (?1, ?2)",
                    params![ns, quota],
                )?;
            }
            tx.execute(
                "UPDATE multi_process_state SET value = ?1 WHERE key = 'version_counter'",
                [state.version.to_string()],
            )?;
            let max_id = state.entries.iter().map(|e| e.id).max().unwrap_or(0);
            let seq = (state.next_id - 1).max(max_id);
            if seq > 0 && tx.execute("UPDATE sqlite_sequence SET seq = ?1 WHERE name = 'entries'", [seq])? == 0 {
                tx.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('entries', ?1)", [seq])?;
            }
            Ok(())
        })
    }

    /// Names this store's file in an error's [`Details`](crate::Details).
    fn located(&self, e: Error) -> Error {
        if self.is_in_memory() {
            e
        } else {
            e.with_path(&self.path)
        }
    }

    fn with_conn<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        self.with_open(|c, _| f(c))
    }

    fn with_open<T>(
        &self,
        f: impl FnOnce(&mut Connection, Option<&Checkpointer>) -> Result<T>,
    ) -> Result<T> {
        let mut guard = self.conn.lock();
        match &mut *guard {
            Conn::Open(c, checkpointer) => f(c, checkpointer.as_ref()).map_err(|e| self.located(e)),
            Conn::Closed => Err(Error::closed("SQLiteStore")),
            // Used before open: the same error class as after close (mneme-cache 1.0's).
            Conn::NotOpen => Err(Error::cache_closed(
                format!("SQLiteStore {} is not open", self.path.display()),
                "call open(fingerprint, dim) first (SemanticCache does this for you)",
            )),
        }
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction.
    fn write<T>(
        &self,
        what: &str,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T> {
        self.with_open(|c, checkpointer| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| backend(what, e))?;
            let out = f(&tx).map_err(|e| backend(what, e))?;
            tx.commit().map_err(|e| backend(what, e))?;
            if let Some(cp) = checkpointer {
                cp.committed(c);
            }
            Ok(out)
        })
    }

    fn read<T>(&self, what: &str, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        self.with_conn(|c| f(c).map_err(|e| backend(what, e)))
    }

    fn connect_read_only(&self) -> Result<Connection> {
        read_only_connection(&self.path, &self.options)
    }

    fn connect(&self) -> Result<Connection> {
        let open_failed = |e: Box<dyn std::error::Error + Send + Sync>| {
            Error::store_backend_with(
                format!(
                    "failed to open SQLite database at {:?}",
                    self.path.display().to_string()
                ),
                "check file permissions and disk space",
                e,
            )
        };
        if !self.is_in_memory() {
            create_owner_only(&self.path).map_err(|e| open_failed(e.into()))?;
        }
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )
        .map_err(|e| open_failed(e.into()))?;
        conn.set_prepared_statement_cache_capacity(64);
        conn.busy_timeout(self.options.timeout)
            .map_err(|e| backend("busy_timeout", e))?;
        let pragmas = format!(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-{}; \
             PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY; PRAGMA mmap_size={};",
            self.options.cache_size_kb, self.options.mmap_size
        );
        retry_busy(self.options.timeout, || conn.execute_batch(&pragmas)).map_err(|e| {
            match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::NotADatabase) => not_a_database(&self.path, e),
                _ => backend("pragma setup", e),
            }
        })?;
        Ok(conn)
    }

    fn select_by_hash(&self, sql: &str, ns: &str, hash: &str) -> Result<Option<StoredEntry>> {
        let row = self.read("get_by_hash", |c| {
            c.prepare_cached(sql)?
                .query_row(params![ns, hash], read_entry)
                .optional()
        })?;
        row.map(with_metadata).transpose()
    }

    /// Connects, migrates and stamps the file; [`Store::open`] names the file in its errors.
    fn open_connection(&self, fingerprint: &str, dim: usize) -> Result<()> {
        let mut guard = self.conn.lock();
        match &*guard {
            Conn::Closed => return Err(Error::closed("SQLiteStore")),
            Conn::Open(..) => return Ok(()),
            Conn::NotOpen => {}
        }
        if self.options.read_only {
            let conn = self.connect_read_only()?;
            schema::check_read_only(&conn, &self.path, fingerprint, dim)?;
            // SAFETY: as below: `close` drops the watch before the connection.
            *self.watch.write() = unsafe { WalIndexWatch::of(&conn) };
            *guard = Conn::Open(conn, None);
            return Ok(());
        }
        let mut conn = self.connect()?;
        schema::migrate(&mut conn, &self.path, self.options.timeout)?;
        schema::stamp(&mut conn, fingerprint, dim)?;
        let checkpointer = if self.is_in_memory() {
            None
        } else {
            Checkpointer::start(&self.path, self.options.timeout)
        };
        if checkpointer.is_some() {
            conn.execute_batch("PRAGMA wal_autocheckpoint=0")
                .map_err(|e| backend("wal_autocheckpoint", e))?;
        }
        // SAFETY: `close` drops the watch before the connection, and the connection lives in
        // `self.conn` until then.
        *self.watch.write() = unsafe { WalIndexWatch::of(&conn) };
        *guard = Conn::Open(conn, checkpointer);
        Ok(())
    }

    /// A second, read-only connection to the open file, for reads beside the main one.
    fn reader(&self) -> Result<Connection> {
        if self.options.read_only {
            return self.connect_read_only();
        }
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )
        .map_err(|e| backend("opening a second reader", e))?;
        conn.busy_timeout(self.options.timeout)
            .map_err(|e| backend("busy_timeout", e))?;
        conn.execute_batch(&format!("PRAGMA mmap_size={};", self.options.mmap_size))
            .map_err(|e| backend("opening a second reader", e))?;
        Ok(conn)
    }
}

/// The read-only connection of [`SqliteOptions::read_only`]: `mode=ro`, and `immutable=1`
/// (no lock, no -shm) when no WAL holds unmerged writes. Also what the tools that only look at a
/// file use, so looking never leaves a -shm or -wal behind.
fn read_only_connection(path: &Path, options: &SqliteOptions) -> Result<Connection> {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let wal_pending = std::fs::metadata(Path::new(&wal)).is_ok_and(|m| m.len() > 0);
    // A file: URI; the characters URIs give meaning to are escaped.
    let mut uri = String::from("file:");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' => uri.push_str("%25"),
            '?' => uri.push_str("%3f"),
            '#' => uri.push_str("%23"),
            c => uri.push(c),
        }
    }
    uri.push_str(if wal_pending {
        "?mode=ro"
    } else {
        "?mode=ro&immutable=1"
    });
    let conn = Connection::open_with_flags(
        &uri,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )
    .map_err(|e| backend("opening read-only", e))?;
    conn.set_prepared_statement_cache_capacity(64);
    conn.busy_timeout(options.timeout)
        .map_err(|e| backend("busy_timeout", e))?;
    conn.execute_batch(&format!(
        "PRAGMA cache_size=-{}; PRAGMA temp_store=MEMORY; PRAGMA mmap_size={};",
        options.cache_size_kb, options.mmap_size
    ))
    .map_err(|e| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => not_a_database(path, e),
        _ => backend("pragma setup", e),
    })?;
    Ok(conn)
}

impl Store for SqliteStore {
    fn file_path(&self) -> Option<PathBuf> {
        (self.path() != Path::new(":memory:")).then(|| self.path().to_owned())
    }

    fn open(&self, fingerprint: &str, dim: usize) -> Result<()> {
        self.open_connection(fingerprint, dim)
            .map_err(|e| self.located(e))
    }

    fn close(&self) -> Result<()> {
        let mut guard = self.conn.lock();
        self.watch.write().take();
        if let Conn::Open(c, checkpointer) = std::mem::replace(&mut *guard, Conn::Closed) {
            drop(checkpointer);
            if !self.options.read_only {
                let _ = c.execute_batch("PRAGMA wal_checkpoint(FULL)");
            }
            let _ = c.close();
        }
        Ok(())
    }

    fn get_by_hash(&self, namespace: &str, query_hash: &str) -> Result<Option<StoredEntry>> {
        let sql =
            format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE namespace = ?1 AND query_hash = ?2");
        self.select_by_hash(&sql, namespace, query_hash)
    }

    fn change_token(&self) -> Option<u128> {
        self.watch.read().as_ref()?.token()
    }

    fn get_hit_by_hash(&self, namespace: &str, query_hash: &str) -> Result<Option<StoredEntry>> {
        // Copying a 3 KB vector out of the row is a good part of an exact hit's cost.
        let sql = format!(
            "SELECT {ENTRY_COLUMNS_NO_VECTOR} FROM entries WHERE namespace = ?1 AND query_hash = ?2"
        );
        self.select_by_hash(&sql, namespace, query_hash)
    }

    fn get_by_id(&self, id: i64) -> Result<Option<StoredEntry>> {
        if id <= 0 {
            return Ok(None);
        }
        let row = self.read("get_by_id", |c| {
            let sql = format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE id = ?1");
            c.prepare_cached(&sql)?
                .query_row([id], read_entry)
                .optional()
        })?;
        row.map(with_metadata).transpose()
    }

    fn count(&self, namespace: Option<&str>) -> Result<u64> {
        self.read("count", |c| {
            let n: i64 = match namespace {
                None => c
                    .prepare_cached("SELECT COUNT(*) FROM entries")?
                    .query_row([], |r| r.get(0))?,
                Some(ns) => c
                    .prepare_cached("SELECT COUNT(*) FROM entries WHERE namespace = ?1")?
                    .query_row([ns], |r| r.get(0))?,
            };
            Ok(n as u64)
        })
    }

    fn list_namespaces(&self) -> Result<Vec<String>> {
        self.read("list_namespaces", |c| {
            let mut st =
                c.prepare_cached("SELECT DISTINCT namespace FROM entries ORDER BY namespace")?;
            let rows = st.query_map([], |r| r.get(0))?;
            rows.collect()
        })
    }

    fn iter_lru_ids(&self, n: usize, namespace: Option<&str>) -> Result<Vec<i64>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        self.read("iter_lru_ids", |c| match namespace {
            None => c
                .prepare_cached(
                    "SELECT id FROM entries ORDER BY last_accessed_at ASC, id ASC LIMIT ?1",
                )?
                .query_map([n], |r| r.get(0))?
                .collect(),
            Some(ns) => c
                .prepare_cached(
                    "SELECT id FROM entries WHERE namespace = ?1 \
                     ORDER BY last_accessed_at ASC, id ASC LIMIT ?2",
                )?
                .query_map(params![ns, n], |r| r.get(0))?
                .collect(),
        })
    }

    fn scan_since(&self, last_id: i64, visit: &mut EntryVisitor<'_>) -> Result<()> {
        // Read in pages so a visitor may call back into the store between pages and memory
        // stays bounded for large caches.
        const PAGE: i64 = 512;
        let mut cursor = last_id;
        loop {
            let rows = self.read("iter_since", |c| {
                let sql = format!(
                    "SELECT {ENTRY_COLUMNS} FROM entries WHERE id > ?1 ORDER BY id LIMIT ?2"
                );
                c.prepare_cached(&sql)?
                    .query_map(params![cursor, PAGE], read_entry)?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })?;
            let done = (rows.len() as i64) < PAGE;
            for row in rows {
                let entry = with_metadata(row)?;
                cursor = entry.id;
                visit(entry)?;
            }
            if done {
                return Ok(());
            }
        }
    }

    fn insert(&self, e: &StoredEntry) -> Result<i64> {
        self.write("insert", |tx| upsert(tx, e))
    }

    fn insert_batch(&self, entries: &[StoredEntry]) -> Result<Vec<i64>> {
        self.write("insert_batch", |tx| {
            let ids = entries
                .iter()
                .map(|e| upsert_row(tx, e))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            tx.prepare_cached(BUMP_VERSION_BY)?
                .execute([entries.len() as i64])?;
            Ok(ids)
        })
    }

    fn update_access(&self, id: i64, now: i64) -> Result<()> {
        self.update_access_batch(&[AccessUpdate {
            id,
            last_accessed_at: now,
            hits: 1,
        }])
    }

    fn update_access_batch(&self, updates: &[AccessUpdate]) -> Result<()> {
        if updates.is_empty() {
            return Ok(());
        }
        self.write("update_access", |tx| {
            let mut st = tx.prepare_cached(
                "UPDATE entries SET last_accessed_at = ?1, access_count = access_count + ?2 WHERE id = ?3",
            )?;
            for u in updates {
                st.execute(params![u.last_accessed_at, u.hits, u.id])?;
            }
            Ok(())
        })
    }

    fn delete_by_id(&self, id: i64) -> Result<bool> {
        self.write("delete_by_id", |tx| {
            let n = tx
                .prepare_cached("DELETE FROM entries WHERE id = ?1")?
                .execute([id])?;
            if n > 0 {
                tx.prepare_cached(BUMP_VERSION)?.execute([])?;
            }
            Ok(n > 0)
        })
    }

    fn delete_expired(&self, now: i64, namespace: Option<&str>) -> Result<u64> {
        self.write("delete_expired", |tx| {
            let n = match namespace {
                None => tx.execute(
                    "DELETE FROM entries WHERE ttl IS NOT NULL AND created_at + ttl <= ?1",
                    [now],
                )?,
                Some(ns) => tx.execute(
                    "DELETE FROM entries WHERE ttl IS NOT NULL AND created_at + ttl <= ?1 AND namespace = ?2",
                    params![now, ns],
                )?,
            };
            if n > 0 {
                tx.execute(BUMP_VERSION, [])?;
            }
            Ok(n as u64)
        })
    }

    fn delete_by_ids(&self, ids: &[i64]) -> Result<Vec<i64>> {
        self.write("delete_by_ids", |tx| {
            let mut removed = Vec::with_capacity(ids.len());
            let mut st = tx.prepare_cached("DELETE FROM entries WHERE id = ?1")?;
            for &id in ids {
                if st.execute([id])? > 0 {
                    removed.push(id);
                }
            }
            if !removed.is_empty() {
                tx.execute(
                    "UPDATE multi_process_state SET value = CAST(value AS INTEGER) + ?1 \
                     WHERE key = 'version_counter'",
                    [removed.len() as i64],
                )?;
            }
            Ok(removed)
        })
    }

    fn delete_expired_ids(&self, now: i64, namespace: Option<&str>) -> Result<Vec<(i64, String)>> {
        self.write("delete_expired", |tx| {
            let removed: Vec<(i64, String)> = {
                let mut st = tx.prepare(
                    "DELETE FROM entries WHERE ttl IS NOT NULL AND created_at + ttl <= ?1 \
                     AND (?2 IS NULL OR namespace = ?2) RETURNING id, namespace",
                )?;
                let rows = st.query_map(params![now, namespace], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            if !removed.is_empty() {
                tx.execute(BUMP_VERSION, [])?;
            }
            Ok(removed)
        })
    }

    fn clear_namespace(&self, namespace: &str) -> Result<u64> {
        self.write("clear_namespace", |tx| {
            let n = tx.execute("DELETE FROM entries WHERE namespace = ?1", [namespace])?;
            if n > 0 {
                tx.execute(BUMP_VERSION, [])?;
            }
            Ok(n as u64)
        })
    }

    fn set_namespace_quota(&self, namespace: &str, max_entries: u64) -> Result<()> {
        let q = quota_to_i64(max_entries)?;
        self.write("set_namespace_quota", |tx| {
            tx.execute(
                "INSERT INTO namespace_quotas (namespace, max_entries) VALUES (?1, ?2) \
                 ON CONFLICT(namespace) DO UPDATE SET max_entries = excluded.max_entries",
                params![namespace, q],
            )
            .map(|_| ())
        })
    }

    fn get_namespace_quota(&self, namespace: &str) -> Result<Option<u64>> {
        self.read("get_namespace_quota", |c| {
            c.query_row(
                "SELECT max_entries FROM namespace_quotas WHERE namespace = ?1",
                [namespace],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map(|q| q.map(|q| q.max(0) as u64))
        })
    }

    fn read_version_counter(&self) -> Result<u64> {
        self.read("read_version_counter", |c| {
            let v: Option<String> = c
                .prepare_cached(
                    "SELECT value FROM multi_process_state WHERE key = 'version_counter'",
                )?
                .query_row([], |r| r.get(0))
                .optional()?;
            Ok(v.and_then(|s| s.trim().parse().ok()).unwrap_or(0))
        })
    }

    fn read_meta(&self, key: &str) -> Result<Option<String>> {
        self.read("read_meta", |c| {
            c.prepare_cached("SELECT value FROM schema_meta WHERE key = ?1")?
                .query_row([key], |r| r.get(0))
                .optional()
        })
    }

    fn write_meta(&self, key: &str, value: &str) -> Result<()> {
        self.write("write_meta", |tx| {
            tx.execute(
                "INSERT OR REPLACE INTO schema_meta (key, value) VALUES (?1, ?2)",
                params![key, value],
            )
            .map(|_| ())
        })
    }

    fn merge_meta(&self, key: &str, merge: &mut dyn FnMut(Option<String>) -> String) -> Result<()> {
        self.write("merge_meta", |tx| {
            let current: Option<String> = tx
                .query_row("SELECT value FROM schema_meta WHERE key = ?1", [key], |r| {
                    r.get(0)
                })
                .optional()?;
            tx.execute(
                "INSERT OR REPLACE INTO schema_meta (key, value) VALUES (?1, ?2)",
                params![key, merge(current)],
            )
            .map(|_| ())
        })
    }

    fn integrity_check(&self) -> Result<bool> {
        self.with_conn(|c| {
            let first: String = c
                .query_row("PRAGMA integrity_check", [], |r| r.get(0))
                .map_err(|e| {
                    Error::corrupt_cache_with(
                        "SQLite's integrity check could not run",
                        "restore the cache from a dumps() archive, or delete the file and let it rebuild",
                        e,
                    )
                })?;
            Ok(first.eq_ignore_ascii_case("ok"))
        })
    }

    fn snapshot_to(&self, dest: &Path) -> Result<()> {
        let failed = |e: rusqlite::Error| {
            Error::checkpoint_with(
                format!("SQLite backup to {} failed", dest.display()),
                "check free disk space and that the destination directory is writable",
                e,
            )
        };
        let run = |src: &Connection| -> Result<()> {
            let mut dst = Connection::open(dest).map_err(failed)?;
            let backup = rusqlite::backup::Backup::new(src, &mut dst).map_err(failed)?;
            loop {
                match backup.step(-1).map_err(failed)? {
                    rusqlite::backup::StepResult::Done => break,
                    _ => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            drop(backup);
            dst.close().map_err(|(_, e)| failed(e))?;
            chmod_owner_only(dest).map_err(|e| {
                Error::checkpoint_with(
                    "cannot restrict snapshot permissions",
                    "check the destination",
                    e,
                )
            })
        };
        if self.is_in_memory() {
            return self.with_conn(|c| run(c));
        }
        // Make sure the store is open (and not closed) before starting.
        self.with_conn(|_| Ok(()))?;
        // A second connection: this process's readers and writers keep the main one meanwhile.
        let src = self.reader()?;
        run(&src)
    }

    fn label(&self) -> String {
        "sqlite".into()
    }

    fn scan_index_rows(&self, visit: &mut IndexRowVisitor<'_>) -> Result<()> {
        self.with_conn(|c| scan_rows(c, Rows::All, visit))
    }

    fn scan_index_rows_split(
        &self,
        low: &mut SendIndexRowVisitor<'_>,
        high: &mut SendIndexRowVisitor<'_>,
    ) -> Result<bool> {
        if self.is_in_memory() {
            return Ok(false);
        }
        self.with_conn(|c| scan_rows_split(c, || self.reader(), low, high))
    }

    fn iter_index_keys(&self) -> Result<Vec<IndexKey>> {
        // Without ORDER BY, SQLite reads the covering index on created_at (a few bytes a row)
        // instead of every row with its vector.
        self.read("iter_index_keys", |c| {
            c.prepare_cached("SELECT id, created_at FROM entries")?
                .query_map([], |r| {
                    Ok(IndexKey {
                        id: r.get(0)?,
                        created_at: r.get(1)?,
                    })
                })?
                .collect()
        })
    }

    fn max_id(&self) -> Result<i64> {
        self.read("max_id", |c| {
            c.query_row("SELECT COALESCE(MAX(id), 0) FROM entries", [], |r| r.get(0))
        })
    }

    fn oldest_created_at(&self) -> Result<Option<i64>> {
        self.read("oldest_created_at", |c| {
            c.query_row("SELECT MIN(created_at) FROM entries", [], |r| r.get(0))
        })
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        let _ = self.close();
    }
}
