//! Reading every row's vector for an index load: on the store's connection, or split in two
//! halves read concurrently on two short-lived read-only connections.

use crate::error::Result;
use crate::store::{IndexRowVisitor, SendIndexRowVisitor};
use rusqlite::{Connection, OptionalExtension};

/// Below this id span one thread reads everything: a second connection is not worth opening.
const SPLIT_MIN_SPAN: i64 = 4096;

/// Which rows a scan reads, in which order.
#[derive(Debug, Clone, Copy)]
pub(super) enum Rows {
    /// Every row, ascending id.
    All,
    /// Rows with an id below the split, ascending.
    Below(i64),
    /// Rows with an id at or above the split, descending.
    FromTopDownTo(i64),
}

/// Streams `(id, embedding, namespace)`, the blob borrowed from SQLite (no copy of ours).
pub(super) fn scan_rows(c: &Connection, rows: Rows, visit: &mut IndexRowVisitor<'_>) -> Result<()> {
    let (sql, split) = match rows {
        Rows::All => (
            "SELECT id, embedding, namespace FROM entries ORDER BY id",
            None,
        ),
        Rows::Below(split) => (
            "SELECT id, embedding, namespace FROM entries WHERE id < ?1 ORDER BY id",
            Some(split),
        ),
        Rows::FromTopDownTo(split) => (
            "SELECT id, embedding, namespace FROM entries WHERE id >= ?1 ORDER BY id DESC",
            Some(split),
        ),
    };
    let failed = |e| super::errors::backend("iter_index_rows", e);
    let mut st = c.prepare(sql).map_err(failed)?;
    let mut cursor = match split {
        Some(split) => st.query([split]),
        None => st.query([]),
    }
    .map_err(failed)?;
    while let Some(row) = cursor.next().map_err(failed)? {
        let read = || -> rusqlite::Result<(i64, &[u8], &str)> {
            Ok((
                row.get(0)?,
                row.get_ref(1)?.as_blob()?,
                row.get_ref(2)?.as_str()?,
            ))
        };
        let (id, blob, ns) = read().map_err(failed)?;
        visit(id, blob, ns)?;
    }
    Ok(())
}

/// Reads the rows below the middle id while a thread reads the others, top down, each half on
/// a read-only connection `reader` opens. Returns `false`, reading nothing, when the table is
/// small. `conn` only finds the middle.
///
/// The two halves read two snapshots a moment apart. That is as safe as one: a row another
/// process changes in between is repaired by the cache's candidate check, like any row changed
/// after the open.
pub(super) fn scan_rows_split(
    conn: &Connection,
    reader: impl Fn() -> Result<Connection>,
    low: &mut SendIndexRowVisitor<'_>,
    high: &mut SendIndexRowVisitor<'_>,
) -> Result<bool> {
    let span: Option<(i64, i64)> = conn
        .query_row("SELECT min(id), max(id) FROM entries", [], |r| {
            Ok(r.get::<_, Option<i64>>(0)?.zip(r.get::<_, Option<i64>>(1)?))
        })
        .optional()
        .map_err(|e| super::errors::backend("iter_index_rows", e))?
        .flatten();
    let Some((min, max)) = span.filter(|(min, max)| max - min >= SPLIT_MIN_SPAN) else {
        return Ok(false);
    };
    // Without two more connections (a descriptor limit, say), one thread reads it all.
    let (Ok(bottom_reader), Ok(top_reader)) = (reader(), reader()) else {
        return Ok(false);
    };
    let split = min + (max - min + 1) / 2;
    // On the shared pool; a panicking half (a bug) propagates as a panic, as any bug would.
    // Each half owns its connection (a connection is not shared between threads) and hands it
    // back to be closed.
    let ((bottom, bottom_reader), (top, top_reader)) = rayon::join(
        move || {
            (
                scan_rows(&bottom_reader, Rows::Below(split), low),
                bottom_reader,
            )
        },
        move || {
            (
                scan_rows(&top_reader, Rows::FromTopDownTo(split), high),
                top_reader,
            )
        },
    );
    close_in_background(bottom_reader, top_reader);
    bottom.and(top)?;
    Ok(true)
}

/// Closes the readers off the caller's path, on the shared pool: closing unmaps every page the
/// scan touched, ~10 ms at 100k × 768 rows. (The store's own connection is left unmapped too,
/// which makes closing the cache that much faster.) Called after the scan's `join` returned, so
/// no thread waiting in that join picks the job up first.
fn close_in_background(a: Connection, b: Connection) {
    rayon::spawn(move || drop((a, b)));
}
