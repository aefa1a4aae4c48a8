//! Re-embed migration: copy a SQLite cache to a new file with every vector
//! recomputed by a new embedder. The source is never modified; the destination is built in a
//! temporary file beside it and renamed into place only when every row succeeded.
//!
//! [`Migration`] is the session (validation, row selection, text choice, vector checks, atomic
//! commit); [`reembed`] drives it with a sync embedder. Front-ends with an async embedder drive
//! the same session themselves.

use crate::embedder::Embedder;
use crate::error::{Error, Result};
use crate::files::chmod_owner_only;
use crate::normalize::{hash_query, normalize};
use crate::quant;
use crate::store::{SqliteStore, Store, StoredEntry};
use std::path::{Path, PathBuf};

/// Options of [`reembed`].
pub struct MigrateOptions<'a> {
    /// Rows embedded and written per transaction (default 64, at least 1).
    pub batch_size: usize,
    /// Only these namespaces (default: all).
    pub namespaces: Option<Vec<String>>,
    /// Called with `(rows done, rows total)` after each chunk.
    pub progress: Option<&'a mut (dyn FnMut(u64, u64) + Send)>,
}

impl Default for MigrateOptions<'_> {
    fn default() -> Self {
        MigrateOptions {
            batch_size: 64,
            namespaces: None,
            progress: None,
        }
    }
}

fn invalid(problem: String, fix: &str) -> Error {
    Error::invalid_argument(problem, fix)
}

/// The same file, by canonical path or by device and inode (1.0 compared path spelling).
fn same_file(a: &Path, b: &Path) -> bool {
    let canon = |p: &Path| {
        p.canonicalize().ok().or_else(|| {
            let parent = crate::files::parent_dir(p);
            Some(parent.canonicalize().ok()?.join(p.file_name()?))
        })
    };
    if canon(a).is_some_and(|x| Some(x) == canon(b)) {
        return true;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return x.dev() == y.dev() && x.ino() == y.ino();
        }
    }
    false
}

/// A migration in progress: source rows selected, destination open in a temporary file.
pub struct Migration {
    rows: Vec<StoredEntry>,
    texts: Vec<String>,
    store: SqliteStore,
    tmp: tempfile::TempPath,
    dest: PathBuf,
    dim: usize,
    written: usize,
}

impl Migration {
    /// Validates the paths, reads the source's rows (read-only) and opens the destination's
    /// temporary file with the new embedder's identity.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a missing source, the same file as destination, or a
    /// source that is not a mneme cache; [`Error::StoreBackend`] for I/O failures.
    pub fn begin(
        source: &Path,
        dest: &Path,
        fingerprint: &str,
        dim: usize,
        namespaces: Option<&[String]>,
    ) -> Result<Migration> {
        if !source.is_file() {
            return Err(invalid(
                format!("migration source {} does not exist", source.display()),
                "pass the path of an existing cache file",
            ));
        }
        if same_file(source, dest) {
            return Err(invalid(
                format!(
                    "source and destination are the same file ({})",
                    source.display()
                ),
                "write the migrated cache to a new path, then swap files once it is verified",
            ));
        }
        SqliteStore::peek_stamp(source).map_err(|e| {
            invalid(
                format!("{} is not a valid mneme cache: {e}", source.display()),
                "pass a cache file written by mneme or mneme-cache",
            )
        })?;
        let mut rows = Vec::new();
        SqliteStore::scan_file_rows(source, &mut |e| {
            if namespaces.is_none_or(|keep| keep.contains(&e.namespace)) {
                rows.push(e);
            }
            Ok(())
        })?;
        // The cache hashed the normalised query when the stored hash says so; embed that text.
        let texts = rows
            .iter()
            .map(|e| {
                let key = normalize(&e.query);
                if hash_query(&key) == e.query_hash {
                    key
                } else {
                    e.query.clone()
                }
            })
            .collect();
        let dir = crate::files::parent_dir(dest);
        let tmp = crate::files::temp_in(dir, ".mneme-reembed-")
            .map_err(|e| {
                Error::store_backend_with(
                    format!("cannot create a temporary file in {}", dir.display()),
                    "make the destination directory writable and check free disk space",
                    e,
                )
            })?
            .into_temp_path();
        let store = SqliteStore::new(tmp.to_path_buf());
        store.open(fingerprint, dim)?;
        Ok(Migration {
            rows,
            texts,
            store,
            tmp,
            dest: dest.to_path_buf(),
            dim,
            written: 0,
        })
    }

    /// Rows to migrate.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when there is nothing to migrate.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The text to embed for each row, in row order.
    pub fn texts(&self) -> &[String] {
        &self.texts
    }

    /// Writes the next `vectors.len()` rows (in order) with their new vectors, in one
    /// transaction.
    ///
    /// # Errors
    /// [`Error::EmbedderDimension`] / [`Error::InvalidArgument`] for a wrong-length or
    /// non-finite vector (nothing of the chunk is written); store failures.
    pub fn write_next(&mut self, vectors: &[Vec<f32>]) -> Result<()> {
        let chunk = self.written..(self.written + vectors.len()).min(self.rows.len());
        let mut entries = Vec::with_capacity(vectors.len());
        for (row, v) in self.rows[chunk.clone()].iter().zip(vectors) {
            quant::validate_vector(v, self.dim)?;
            let mut v = v.clone();
            quant::l2_normalize(&mut v);
            entries.push(StoredEntry {
                id: 0,
                embedding: quant::f32_to_le_bytes(&v),
                ..row.clone()
            });
        }
        self.store.insert_batch(&entries)?;
        self.written = chunk.end;
        Ok(())
    }

    /// Closes the destination and moves it into place, replacing any file there together with
    /// its `-wal`/`-shm`. Returns the number of rows migrated.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if rows remain unwritten; I/O failures (the temporary file is
    /// removed and the existing destination is left as it was).
    pub fn commit(self) -> Result<u64> {
        if self.written != self.rows.len() {
            return Err(invalid(
                format!(
                    "migration committed after {} of {} rows",
                    self.written,
                    self.rows.len()
                ),
                "write every row before committing",
            ));
        }
        self.store.close()?;
        let io = |e: std::io::Error| {
            Error::store_backend_with(
                format!(
                    "moving the migrated cache to {} failed",
                    self.dest.display()
                ),
                "check that the destination directory is writable",
                e,
            )
        };
        for suffix in ["-wal", "-shm", ""] {
            let mut p = self.dest.as_os_str().to_owned();
            p.push(suffix);
            match std::fs::remove_file(PathBuf::from(p)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
                _ => {}
            }
        }
        let count = self.written as u64;
        self.tmp.persist(&self.dest).map_err(|e| io(e.error))?;
        chmod_owner_only(&self.dest).map_err(io)?;
        Ok(count)
    }
}

/// Copies `source` to `dest` with every vector recomputed by `embedder`; returns the row count.
///
/// Counters and quotas are not carried over (compat). The destination gets new ids.
///
/// # Errors
/// As [`Migration::begin`], [`Migration::write_next`] and [`Migration::commit`], plus the
/// embedder's own failure ([`Error::Embedder`]). On any error the destination is untouched.
pub fn reembed(
    source: &Path,
    dest: &Path,
    embedder: &dyn Embedder,
    mut options: MigrateOptions<'_>,
) -> Result<u64> {
    let mut m = Migration::begin(
        source,
        dest,
        embedder.fingerprint(),
        embedder.dim(),
        options.namespaces.as_deref(),
    )?;
    let total = m.len() as u64;
    let texts = m.texts().to_vec();
    for chunk in texts.chunks(options.batch_size.max(1)) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let vectors = embedder.embed_batch(&refs).map_err(Error::Embedder)?;
        m.write_next(&vectors)?;
        if let Some(report) = options.progress.as_mut() {
            report(m.written as u64, total);
        }
    }
    m.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_file_sees_through_spelling() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.db");
        std::fs::write(&a, b"x").unwrap();
        let spelled = dir.path().join(".").join("a.db");
        assert!(same_file(&a, &spelled));
        assert!(!same_file(&a, &dir.path().join("b.db")));
    }
}
