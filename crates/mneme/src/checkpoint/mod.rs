//! Checkpoints: `dumps` writes the whole cache state to one tar.gz, `loads` restores it.
//!
//! The archive holds `manifest.json` (validated before anything is written) and `store`, always
//! a SQLite database in the compatible schema, whatever the source store. Archives written from a
//! SQLite-backed cache load in mneme-cache 1.0 and vice versa. Reading treats the archive as
//! hostile (see [`reader`]); a failed `loads` leaves the destination byte-identical.

mod commit;
mod contents;
mod manifest;
pub mod reader;
mod verify;
mod writer;

pub use manifest::{Manifest, FORMAT_VERSION};
pub use reader::{read_manifest, LoadLimits};
pub use writer::DumpOptions;

use crate::cache::{CacheBuilder, SemanticCache};
use crate::embedder::Embedder;
use crate::error::{Error, Result};
use crate::types::VectorDtype;
use std::path::Path;

fn wrap(e: Error) -> Error {
    match e {
        e @ (Error::Checkpoint { .. } | Error::CacheClosed(_)) => e,
        other => Error::checkpoint_with(
            "producing the checkpoint's store snapshot failed",
            "check free disk space and the store's health; no archive was written",
            other,
        ),
    }
}

impl SemanticCache {
    /// Writes the whole cache state to a tar.gz at `dest` (mode 0600).
    ///
    /// ```
    /// # fn main() -> mneme::Result<()> {
    /// use mneme::{LexicalEmbedder, SemanticCache};
    /// let dir = tempfile::tempdir().unwrap();
    /// let cache = SemanticCache::open(dir.path().join("prod.db"), LexicalEmbedder::new(64))?;
    /// cache.put("how do I cancel?", "Settings → Plan → Cancel.")?;
    /// cache.dumps(dir.path().join("backup.tar.gz"))?;
    ///
    /// let restored = SemanticCache::loads(
    ///     dir.path().join("backup.tar.gz"),
    ///     SemanticCache::builder(LexicalEmbedder::new(64)).path(dir.path().join("restored.db")),
    /// )?;
    /// assert_eq!(restored.stats(None)?.entries, 1);
    /// assert!(restored.get("how do I cancel?")?.is_some());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`SemanticCache::dumps_with`].
    pub fn dumps(&self, dest: impl AsRef<Path>) -> Result<()> {
        self.dumps_with(dest, DumpOptions::default())
    }

    /// [`SemanticCache::dumps`] with a compression level and a progress callback.
    ///
    /// Works on SQLite-backed caches (SQLite's online backup: other threads keep reading and
    /// writing) and memory-backed ones (the state is serialised). Other stores return their
    /// `snapshot_to` error.
    ///
    /// # Errors
    /// [`Error::CacheClosed`]; [`Error::Checkpoint`] when the store cannot snapshot or the
    /// archive cannot be written (no partial archive is left).
    pub fn dumps_with(&self, dest: impl AsRef<Path>, options: DumpOptions<'_>) -> Result<()> {
        let dest = dest.as_ref();
        self.prepare_checkpoint()?;
        let dir = crate::files::parent_dir(dest);
        let snapshot = crate::files::temp_in(dir, ".mneme-snapshot-").map_err(|e| {
            Error::checkpoint_with(
                format!("cannot create a temporary file in {}", dir.display()),
                "make the destination directory writable and check free disk space",
                e,
            )
        })?;
        let store = self.store();
        // A store that can hand over its contents is written into SQLite here; any other is
        // asked for a snapshot file (SQLite's online backup; others refuse with advice).
        match store.export() {
            Some(contents) => contents.and_then(|c| {
                contents::write_sqlite(&c, self.fingerprint(), self.dim(), snapshot.path())
            }),
            None => store.snapshot_to(snapshot.path()),
        }
        .map_err(wrap)?;
        let (index_backend, dtype) = self.index_info();
        let mut namespaces = store.list_namespaces()?;
        namespaces.sort();
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            schema_version: store
                .read_meta("schema_version")?
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(1),
            embedder_fingerprint: Some(self.fingerprint().to_owned()),
            embedder_dim: self.dim() as i64,
            index_backend: index_backend.to_owned(),
            store_backend: store.label(),
            vector_dtype: Some(dtype.as_str().to_owned()),
            created_at: self.clock().now(),
            namespaces,
        };
        writer::write_archive(dest, &manifest, snapshot.path(), options)
            .map_err(|e| e.with_path(dest))
    }

    /// Restores an archive into the SQLite file chosen with `builder.path(…)` and opens it.
    ///
    /// The builder's options win; the dtype defaults to the archive's. The index is rebuilt with
    /// the options given now.
    ///
    /// # Errors
    /// As [`SemanticCache::loads_with`].
    pub fn loads(source: impl AsRef<Path>, builder: CacheBuilder) -> Result<SemanticCache> {
        Self::loads_with(source, builder, LoadLimits::default())
    }

    /// [`SemanticCache::loads`] with explicit read limits.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] (missing, unreadable, unsafe or malformed archive; unsupported
    /// format), [`Error::EmbedderMismatch`] / [`Error::EmbedderDimension`] (checked against the
    /// manifest before anything is written), [`Error::SchemaMigration`], [`Error::CorruptCache`],
    /// and the builder's own errors. On any error the destination is left as it was.
    pub fn loads_with(
        source: impl AsRef<Path>,
        builder: CacheBuilder,
        limits: LoadLimits,
    ) -> Result<SemanticCache> {
        builder.validate()?;
        let dest = builder
            .sqlite_path()
            .ok_or_else(|| {
                Error::invalid_argument(
                    "loads restores into a SQLite file, but the builder has another store",
                    "call .path(destination) on the builder passed to loads",
                )
            })?
            .to_path_buf();
        let embedder = builder.embedder.clone();
        let mut manifest_dtype = None;
        let extracted = extract_validated(
            source.as_ref(),
            &dest,
            embedder.as_ref(),
            &limits,
            &mut |m| {
                if !builder.has_vector_dtype() {
                    manifest_dtype = Some(match &m.vector_dtype {
                        Some(s) => s.parse::<VectorDtype>()?,
                        None => VectorDtype::Float32,
                    });
                }
                Ok(())
            },
        )
        .map_err(|e| e.with_path(source.as_ref()))?;
        let builder = match manifest_dtype {
            Some(d) => builder.default_vector_dtype(d),
            None => builder,
        };
        let committed = commit::commit(extracted.store, &dest)?;
        match builder.open() {
            Ok(cache) => {
                committed.finish();
                Ok(cache)
            }
            Err(e) => {
                committed.rollback();
                Err(e)
            }
        }
    }
}

/// A recorded embedder fingerprint as messages show it.
pub(super) fn shown_embedder(fingerprint: Option<&str>) -> String {
    match fingerprint {
        Some(f) => format!("embedder {f:?}"),
        None => "no recorded embedder".to_owned(),
    }
}

/// Steps 1–15 of the load sequence: read, check the manifest against the embedder, extract and
/// verify `store`. Nothing outside a temporary file has been written when this returns.
fn extract_validated(
    source: &Path,
    dest: &Path,
    embedder: &dyn Embedder,
    limits: &LoadLimits,
    more_checks: &mut dyn FnMut(&Manifest) -> Result<()>,
) -> Result<reader::Extracted> {
    let dir = crate::files::parent_dir(dest);
    let extracted = reader::extract(source, dir, limits, &mut |m| {
        if m.embedder_fingerprint.as_deref() != Some(embedder.fingerprint()) {
            return Err(Error::embedder_mismatch(
                format!(
                    "the archive was written with {}, but this cache uses embedder {:?}",
                    shown_embedder(m.embedder_fingerprint.as_deref()),
                    embedder.fingerprint()
                ),
                "load it with the original embedder, or restore it there and migrate with reembed",
            ));
        }
        if m.embedder_dim != embedder.dim() as i64 {
            return Err(Error::embedder_dimension(
                format!(
                    "the archive holds {}-dimensional vectors, but the embedder has dim {}",
                    m.embedder_dim,
                    embedder.dim()
                ),
                "load it with an embedder of the archived dimension, or migrate with reembed",
            )
            .with_dimensions(usize::try_from(m.embedder_dim).unwrap_or(0), embedder.dim()));
        }
        if m.format_version != FORMAT_VERSION {
            return Err(Error::checkpoint(
                format!("archive format version {} is not supported (this library reads {FORMAT_VERSION})", m.format_version),
                "upgrade mneme to read this archive",
            ));
        }
        more_checks(m)
    })?;
    verify::verify_store(extracted.store.path(), &extracted.manifest)?;
    Ok(extracted)
}

/// Restores an archive into `dest` without opening a cache; returns its manifest.
///
/// The Rust counterpart of `mneme._checkpoint.restore`: the same validation and the same atomic
/// commit as [`SemanticCache::loads`].
///
/// # Errors
/// As [`SemanticCache::loads_with`].
pub fn restore(
    source: impl AsRef<Path>,
    dest: impl AsRef<Path>,
    embedder: &dyn Embedder,
    limits: LoadLimits,
) -> Result<Manifest> {
    let dest = dest.as_ref();
    let extracted = extract_validated(source.as_ref(), dest, embedder, &limits, &mut |_| Ok(()))?;
    let manifest = extracted.manifest.clone();
    commit::commit(extracted.store, dest)?.finish();
    Ok(manifest)
}
