//! The SQLite schema v1, byte-compatible with mneme-cache 1.0 (Apache-2.0).
//!
//! SQLite keeps each `CREATE` statement's text in `sqlite_master`, so the statements below are
//! spelled exactly as mneme-cache 1.0 spells them (read off files it wrote), in its order:
//! a one-line `schema_meta` bootstrap, then migration v1.

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
