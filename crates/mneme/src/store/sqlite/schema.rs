//! The SQLite schema v1, byte-compatible with mneme-cache 1.0 (Apache-2.0).
//!
//! SQLite keeps each `CREATE` statement's text in `sqlite_master`, so the statements below are
//! spelled exactly as mneme-cache 1.0 spells them (read off files it wrote), in its order:
//! a one-line `schema_meta` bootstrap, then migration v1. Also the migration itself and the
//! embedder stamp.

use super::errors::{backend, not_a_database, retry_busy};
use crate::error::{Error, Result};
use crate::store::check_stamp;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::Path;
use std::time::Duration;

/// Created before migrations run, so the schema version can be read.
pub const BOOTSTRAP: &str =
    "CREATE TABLE IF NOT EXISTS schema_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)";

/// Migration v1, one statement per item.
pub const V1: &[&str] = &[
    "CREATE TABLE entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace TEXT NOT NULL DEFAULT 'default',
    query_hash TEXT NOT NULL,
    query TEXT NOT NULL,
    response TEXT NOT NULL,
    embedding BLOB NOT NULL,
    metadata TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_accessed_at INTEGER NOT NULL,
    ttl INTEGER,
    access_count INTEGER NOT NULL DEFAULT 0,
    UNIQUE(namespace, query_hash)
)",
    "CREATE INDEX idx_entries_ns_hash ON entries(namespace, query_hash)",
    "CREATE INDEX idx_entries_ns_lru ON entries(namespace, last_accessed_at)",
    "CREATE INDEX idx_entries_created_at ON entries(created_at)",
    "CREATE INDEX idx_entries_id ON entries(id)",
    "CREATE TABLE cache_counters (
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (namespace, name)
)",
    "CREATE TABLE namespace_quotas (
    namespace TEXT PRIMARY KEY,
    max_entries INTEGER NOT NULL
)",
    "CREATE TABLE multi_process_state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
)",
];

/// The newest schema this library understands.
pub const LATEST_VERSION: i64 = 1;

/// The column list every entry read selects, in [`StoredEntry`](super::StoredEntry) order.
pub const ENTRY_COLUMNS: &str = "id, namespace, query_hash, query, response, embedding, metadata, \
     created_at, last_accessed_at, ttl, access_count";

/// [`ENTRY_COLUMNS`] with an empty embedding, for reads that never use the vector.
pub const ENTRY_COLUMNS_NO_VECTOR: &str = "id, namespace, query_hash, query, response, X'', \
     metadata, created_at, last_accessed_at, ttl, access_count";

/// Creates or upgrades the schema to the newest version this library knows.
pub(super) fn migrate(conn: &mut Connection, path: &Path, timeout: Duration) -> Result<()> {
    let failed = |e: rusqlite::Error| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => not_a_database(path, e),
        _ => Error::schema_migration_with(
            "migrating the cache schema to v1 failed",
            "check that the file is a mneme cache and is writable",
            e,
        ),
    };
    retry_busy(timeout, || conn.execute_batch(BOOTSTRAP)).map_err(failed)?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(failed)?;
    let version = read_schema_version(&tx).map_err(failed)?;
    if version > LATEST_VERSION {
        return Err(Error::schema_migration(
            format!("the cache schema is v{version}, newer than this library's v{LATEST_VERSION}"),
            "upgrade the library (mneme) to a version that knows this schema",
        ));
    }
    if version < 1 {
        for stmt in V1 {
            tx.execute_batch(stmt).map_err(failed)?;
        }
        tx.execute(
            "INSERT OR REPLACE INTO schema_meta (key, value) VALUES ('schema_version', '1')",
            [],
        )
        .map_err(failed)?;
    }
    tx.commit().map_err(failed)
}

/// For a read-only open: the schema must be the current one and the stamp must match, since
/// nothing may be written to migrate or stamp it.
pub(super) fn check_read_only(
    conn: &Connection,
    path: &Path,
    fingerprint: &str,
    dim: usize,
) -> Result<()> {
    let version = read_schema_version(conn).map_err(|e| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => not_a_database(path, e),
        _ => backend("reading the schema version", e),
    })?;
    if version != LATEST_VERSION {
        return Err(Error::schema_migration(
            format!("the cache schema is v{version}; this library reads v{LATEST_VERSION}, and a read-only open cannot migrate"),
            "open it once without read_only (the schema is migrated then), or use a matching library version",
        ));
    }
    let meta = |k: &str| -> Result<Option<String>> {
        conn.query_row("SELECT value FROM schema_meta WHERE key = ?1", [k], |r| {
            r.get(0)
        })
        .optional()
        .map_err(|e| backend("reading meta", e))
    };
    let (fp, d) = (meta("embedder_fingerprint")?, meta("embedder_dim")?);
    check_stamp(fp.as_deref(), d.as_deref(), fingerprint, dim)
}

/// Stamps the embedder on first open; checks it on every later one.
pub(super) fn stamp(conn: &mut Connection, fingerprint: &str, dim: usize) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| backend("stamping the embedder", e))?;
    let meta = |k: &str| -> Result<Option<String>> {
        tx.query_row("SELECT value FROM schema_meta WHERE key = ?1", [k], |r| {
            r.get(0)
        })
        .optional()
        .map_err(|e| backend("reading meta", e))
    };
    let (fp, d) = (meta("embedder_fingerprint")?, meta("embedder_dim")?);
    check_stamp(fp.as_deref(), d.as_deref(), fingerprint, dim)?;
    let stamp = || -> rusqlite::Result<()> {
        let mut insert =
            tx.prepare("INSERT OR IGNORE INTO schema_meta (key, value) VALUES (?1, ?2)")?;
        insert.execute(params!["embedder_fingerprint", fingerprint])?;
        insert.execute(params!["embedder_dim", dim.to_string()])?;
        tx.execute(
            "INSERT OR IGNORE INTO multi_process_state (key, value) VALUES ('version_counter', '0')",
            [],
        )?;
        Ok(())
    };
    stamp().map_err(|e| backend("stamping the embedder", e))?;
    tx.commit().map_err(|e| backend("stamping the embedder", e))
}

fn read_schema_version(c: &Connection) -> rusqlite::Result<i64> {
    let v: Option<String> = c
        .query_row(
            "SELECT value FROM schema_meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(v.and_then(|s| s.trim().parse().ok()).unwrap_or(0))
}
