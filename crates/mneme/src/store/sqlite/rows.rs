//! Rows in and out of the `entries` table: reading one into a [`StoredEntry`], and the upsert
//! every write uses.

use crate::error::{Error, Result};
use crate::metadata::Metadata;
use crate::store::StoredEntry;
use rusqlite::{params, OptionalExtension, Row};

/// Every data write runs this in its transaction: other processes watch the counter.
pub(super) const BUMP_VERSION: &str = "UPDATE multi_process_state \
     SET value = CAST(value AS INTEGER) + 1 WHERE key = 'version_counter'";

/// [`BUMP_VERSION`] by `?1` at once: a batch of n writes counts as n.
pub(super) const BUMP_VERSION_BY: &str = "UPDATE multi_process_state \
     SET value = CAST(value AS INTEGER) + ?1 WHERE key = 'version_counter'";

/// A row of [`ENTRY_COLUMNS`](super::schema::ENTRY_COLUMNS), with its metadata still as text
/// (parsed by [`with_metadata`] outside the statement's borrow).
pub(super) fn read_entry(row: &Row<'_>) -> rusqlite::Result<(StoredEntry, String)> {
    let metadata_text: String = row.get(6)?;
    Ok((
        StoredEntry {
            id: row.get(0)?,
            namespace: row.get(1)?,
            query_hash: row.get(2)?,
            query: row.get(3)?,
            response: row.get(4)?,
            embedding: row.get(5)?,
            metadata: Metadata::new(),
            created_at: row.get(7)?,
            last_accessed_at: row.get(8)?,
            ttl: row.get(9)?,
            access_count: row.get(10)?,
        },
        metadata_text,
    ))
}

/// Parses the metadata text [`read_entry`] left.
pub(super) fn with_metadata((mut entry, text): (StoredEntry, String)) -> Result<StoredEntry> {
    entry.metadata = Metadata::from_json(&text).map_err(|e| {
        Error::corrupt_cache_with(
            format!("entry {} has unreadable metadata JSON", entry.id),
            "delete the entry, or restore the cache from a dumps() archive",
            e,
        )
    })?;
    Ok(entry)
}

/// Upsert on `(namespace, query_hash)` plus the version bump, inside the caller's transaction.
///
/// Select-then-write, not `INSERT … ON CONFLICT DO UPDATE`: the latter advances
/// `sqlite_sequence` on every conflict, and files must stay byte-equal to mneme-cache 1.0's.
pub(super) fn upsert(tx: &rusqlite::Transaction<'_>, e: &StoredEntry) -> rusqlite::Result<i64> {
    let id = upsert_row(tx, e)?;
    tx.prepare_cached(BUMP_VERSION)?.execute([])?;
    Ok(id)
}

/// [`upsert`] without the version bump, for a batch that bumps once by its length.
pub(super) fn upsert_row(tx: &rusqlite::Transaction<'_>, e: &StoredEntry) -> rusqlite::Result<i64> {
    let metadata = e.metadata.to_json();
    let existing: Option<i64> = tx
        .prepare_cached("SELECT id FROM entries WHERE namespace = ?1 AND query_hash = ?2")?
        .query_row(params![e.namespace, e.query_hash], |r| r.get(0))
        .optional()?;
    let id = match existing {
        Some(id) => {
            tx.prepare_cached(
                "UPDATE entries SET query = ?1, response = ?2, embedding = ?3, metadata = ?4, \
                 created_at = ?5, last_accessed_at = ?6, ttl = ?7, access_count = ?8 WHERE id = ?9",
            )?
            .execute(params![
                e.query,
                e.response,
                e.embedding,
                metadata,
                e.created_at,
                e.last_accessed_at,
                e.ttl,
                e.access_count,
                id
            ])?;
            id
        }
        None => {
            tx.prepare_cached(
                "INSERT INTO entries (namespace, query_hash, query, response, embedding, metadata, \
                 created_at, last_accessed_at, ttl, access_count) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                e.namespace, e.query_hash, e.query, e.response, e.embedding, metadata,
                e.created_at, e.last_accessed_at, e.ttl, e.access_count
            ])?;
            tx.last_insert_rowid()
        }
    };
    Ok(id)
}
