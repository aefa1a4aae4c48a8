//! Checks on an extracted `store` before it may replace anything (docs/formats.md, "Archives").

use super::manifest::Manifest;
use crate::error::{Error, Result};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::io::Read;
use std::path::Path;

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// A `file:` URI that opens `path` read-only and immutable: no locks, no `-wal`/`-shm` files.
fn immutable_uri(path: &Path) -> String {
    let mut uri = String::from("file:");
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push_str("?immutable=1");
    uri
}

/// The `store` member must be a SQLite database of the manifest's embedder, at a schema this
/// library knows, passing `quick_check`.
///
/// # Errors
/// [`Error::Checkpoint`] (not SQLite, or another embedder), [`Error::SchemaMigration`] (newer
/// schema), [`Error::CorruptCache`] (damaged).
pub(super) fn verify_store(path: &Path, manifest: &Manifest) -> Result<()> {
    let source = &manifest.store_backend;
    let not_a_store = |why: String| {
        Error::checkpoint(
            format!("the archive's store member (from a {source:?} store) {why}"),
            "use an archive written by dumps(); nothing was written",
        )
    };
    let mut magic = [0u8; 16];
    let header = std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic));
    if header.is_err() || &magic != SQLITE_MAGIC {
        return Err(not_a_store("is not a SQLite database".into()));
    }
    let conn = Connection::open_with_flags(
        immutable_uri(path),
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| not_a_store(format!("cannot be opened: {e}")))?;
    let meta = |key: &str| -> Result<Option<String>> {
        conn.query_row("SELECT value FROM schema_meta WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .optional()
        .map_err(|e| not_a_store(format!("has no readable schema_meta: {e}")))
    };
    let fingerprint = meta("embedder_fingerprint")?;
    if fingerprint != manifest.embedder_fingerprint {
        return Err(not_a_store(format!(
            "was written with {}, but the manifest says {}",
            super::shown_embedder(fingerprint.as_deref()),
            super::shown_embedder(manifest.embedder_fingerprint.as_deref())
        )));
    }
    let dim = meta("embedder_dim")?.and_then(|d| d.trim().parse::<i64>().ok());
    if dim != Some(manifest.embedder_dim) {
        return Err(not_a_store(format!(
            "holds {}-dimensional vectors, but the manifest says {}",
            dim.map_or_else(
                || "no recorded dimension for its".to_owned(),
                |d| d.to_string()
            ),
            manifest.embedder_dim
        )));
    }
    let schema = meta("schema_version")?
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(0);
    if schema > crate::store::SCHEMA_VERSION {
        return Err(Error::schema_migration(
            format!("the archive's store is schema v{schema}, newer than this library's"),
            "upgrade mneme to load this archive; nothing was written",
        ));
    }
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| {
            Error::corrupt_cache_with(
                "the archive's store failed SQLite's quick_check",
                "the archive is damaged: use another backup; nothing was written",
                e,
            )
        })?;
    if !check.eq_ignore_ascii_case("ok") {
        return Err(Error::corrupt_cache(
            format!("the archive's store failed SQLite's quick_check: {check}"),
            "the archive is damaged: use another backup; nothing was written",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn uris_escape_what_sqlite_would_parse() {
        let uri = super::immutable_uri(std::path::Path::new("/tmp/a b?c#d%é"));
        assert_eq!(uri, "file:/tmp/a%20b%3Fc%23d%25%C3%A9?immutable=1");
    }
}
