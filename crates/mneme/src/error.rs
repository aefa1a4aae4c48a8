//! One error type for the whole crate.
//!
//! Each variant mirrors one exception class of mneme-cache 1.0 (see [`Error::python_class`]),
//! so the Python binding maps errors in one place. Every message names the problem and ends with
//! `Remediation: …`, the next thing the caller should do.

use std::fmt;
use std::path::{Path, PathBuf};

/// The boxed error an embedder or a backend client returns.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Shorthand for `std::result::Result<T, mneme::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A message that already carries its remediation hint.
///
/// Kept as a separate type so that every variant prints `problem. Remediation: fix.` the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    problem: String,
    remediation: String,
    /// Boxed so an error stays three words wide on the happy path's `Result`.
    details: Option<Box<Details>>,
}

/// Facts a caller can act on without parsing the message: which dimensions disagreed, which
/// file, which namespace. Every field is optional; an error sets those it knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Details {
    /// The dimension the cache (or its store) expects.
    pub expected_dim: Option<usize>,
    /// The dimension it was given.
    pub actual_dim: Option<usize>,
    /// The file the error is about.
    pub path: Option<PathBuf>,
    /// The namespace of the operation that failed.
    pub namespace: Option<String>,
}

impl Message {
    /// Builds a message from what went wrong and what to do about it.
    pub fn new(problem: impl Into<String>, remediation: impl Into<String>) -> Self {
        Self {
            problem: problem.into(),
            remediation: remediation.into(),
            details: None,
        }
    }

    /// The structured facts attached to this message, if any.
    pub fn details(&self) -> Option<&Details> {
        self.details.as_deref()
    }

    fn details_mut(&mut self) -> &mut Details {
        self.details.get_or_insert_with(Box::default)
    }

    /// What went wrong.
    pub fn problem(&self) -> &str {
        &self.problem
    }

    /// What to do next.
    pub fn remediation(&self) -> &str {
        &self.remediation
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let problem = self.problem.trim_end_matches('.');
        write!(f, "{problem}. Remediation: {}", self.remediation)
    }
}

/// Every failure the cache, its stores and its tools can report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store was created with a different embedder fingerprint.
    #[error("{0}")]
    EmbedderMismatch(Message),
    /// A vector or a store has a different dimension than the embedder.
    #[error("{0}")]
    EmbedderDimension(Message),
    /// The store failed its integrity check, or the check itself failed.
    #[error("{message}")]
    CorruptCache {
        /// What happened and what to do.
        message: Message,
        /// The backend error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// The stored schema is newer than this library, or a migration failed.
    #[error("{message}")]
    SchemaMigration {
        /// What happened and what to do.
        message: Message,
        /// The backend error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// The cache or store was used after `close()`.
    #[error("{0}")]
    CacheClosed(Message),
    /// A checkpoint could not be written, read or committed.
    #[error("{message}")]
    Checkpoint {
        /// What happened and what to do.
        message: Message,
        /// The underlying error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// The requested index backend is not compiled into this build. Never returned today (every
    /// build has both backends); kept so the Python exception class maps one to one.
    #[error("{0}")]
    IndexBackendUnavailable(Message),
    /// A store backend failed: connect, read, write, full, missing table…
    #[error("{message}")]
    StoreBackend {
        /// What happened and what to do.
        message: Message,
        /// The backend error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// Kept for compatibility with mneme-cache 1.0, which never raises it either.
    #[error("{0}")]
    NamespaceQuotaExceeded(Message),
    /// The `mmap-shared` sidecar or its lock failed: a short, foreign or unreadable file, a lock
    /// the file system refuses, or the shared matrix used after close.
    #[error("{0}")]
    MultiProcessLock(Message),
    /// An unknown or mismatched vector dtype.
    #[error("{0}")]
    Quantization(Message),
    /// A caller passed an invalid argument (Python `ValueError`).
    #[error("{0}")]
    InvalidArgument(Message),
    /// Metadata cannot be encoded as JSON (Python `TypeError`).
    #[error("{0}")]
    InvalidMetadata(Message),
    /// The embedder's own error, passed through unchanged from `put`.
    #[error("embedder failed: {0}")]
    Embedder(#[source] BoxError),
    /// A size taken from an option or input needs more memory than the process can get
    /// (Python `MemoryError`).
    #[error("{0}")]
    OutOfMemory(Message),
    /// A confidence function or validator called back into the cache that is running it.
    #[error("{0}")]
    Reentrant(Message),
}

/// The `Message` inside an error (shared or mutable, as `$e` is), `None` for `Embedder`.
macro_rules! message_of {
    ($e:expr) => {
        match $e {
            Error::EmbedderMismatch(m)
            | Error::EmbedderDimension(m)
            | Error::CacheClosed(m)
            | Error::IndexBackendUnavailable(m)
            | Error::NamespaceQuotaExceeded(m)
            | Error::MultiProcessLock(m)
            | Error::Quantization(m)
            | Error::InvalidArgument(m)
            | Error::InvalidMetadata(m)
            | Error::OutOfMemory(m)
            | Error::Reentrant(m) => Some(m),
            Error::CorruptCache { message, .. }
            | Error::SchemaMigration { message, .. }
            | Error::Checkpoint { message, .. }
            | Error::StoreBackend { message, .. } => Some(message),
            Error::Embedder(_) => None,
        }
    };
}

macro_rules! plain_ctor {
    ($(#[$doc:meta])* $name:ident => $variant:ident) => {
        $(#[$doc])*
        pub fn $name(problem: impl Into<String>, remediation: impl Into<String>) -> Self {
            Error::$variant(Message::new(problem, remediation))
        }
    };
}

macro_rules! sourced_ctor {
    ($(#[$doc:meta])* $name:ident, $with:ident => $variant:ident) => {
        $(#[$doc])*
        pub fn $name(problem: impl Into<String>, remediation: impl Into<String>) -> Self {
            Error::$variant { message: Message::new(problem, remediation), source: None }
        }

        /// Same, chaining the underlying cause.
        pub fn $with(
            problem: impl Into<String>,
            remediation: impl Into<String>,
            source: impl Into<BoxError>,
        ) -> Self {
            Error::$variant { message: Message::new(problem, remediation), source: Some(source.into()) }
        }
    };
}

impl Error {
    plain_ctor!(
        /// An [`Error::EmbedderMismatch`].
        embedder_mismatch => EmbedderMismatch
    );
    plain_ctor!(
        /// An [`Error::EmbedderDimension`].
        embedder_dimension => EmbedderDimension
    );
    plain_ctor!(
        /// An [`Error::CacheClosed`].
        cache_closed => CacheClosed
    );
    plain_ctor!(
        /// An [`Error::IndexBackendUnavailable`].
        index_backend_unavailable => IndexBackendUnavailable
    );
    plain_ctor!(
        /// An [`Error::MultiProcessLock`].
        multi_process_lock => MultiProcessLock
    );
    plain_ctor!(
        /// An [`Error::Quantization`].
        quantization => Quantization
    );
    plain_ctor!(
        /// An [`Error::InvalidArgument`].
        invalid_argument => InvalidArgument
    );
    plain_ctor!(
        /// An [`Error::InvalidMetadata`].
        invalid_metadata => InvalidMetadata
    );
    plain_ctor!(
        /// An [`Error::OutOfMemory`].
        out_of_memory => OutOfMemory
    );
    plain_ctor!(
        /// An [`Error::Reentrant`].
        reentrant => Reentrant
    );
    sourced_ctor!(
        /// An [`Error::StoreBackend`].
        store_backend, store_backend_with => StoreBackend
    );
    sourced_ctor!(
        /// An [`Error::Checkpoint`].
        checkpoint, checkpoint_with => Checkpoint
    );
    sourced_ctor!(
        /// An [`Error::CorruptCache`].
        corrupt_cache, corrupt_cache_with => CorruptCache
    );
    sourced_ctor!(
        /// An [`Error::SchemaMigration`].
        schema_migration, schema_migration_with => SchemaMigration
    );

    /// The standard error for any use after `close()`.
    pub fn closed(what: &str) -> Self {
        Error::cache_closed(
            format!("the {what} is closed"),
            "open a new cache (or store) instance; a closed one cannot be reused",
        )
    }

    /// The message of every variant but [`Error::Embedder`] (which carries the embedder's own).
    fn message_mut(&mut self) -> Option<&mut Message> {
        message_of!(self)
    }

    /// The structured facts this error carries ([`Details`]), if any.
    pub fn details(&self) -> Option<&Details> {
        let message: Option<&Message> = message_of!(self);
        message.and_then(Message::details)
    }

    fn with_details(mut self, set: impl FnOnce(&mut Details)) -> Self {
        if let Some(m) = self.message_mut() {
            set(m.details_mut());
        }
        self
    }

    /// Records the dimension expected and the one given.
    pub fn with_dimensions(self, expected: usize, actual: usize) -> Self {
        self.with_details(|d| {
            d.expected_dim = Some(expected);
            d.actual_dim = Some(actual);
        })
    }

    /// Records the file the error is about (kept if one is already recorded: the innermost
    /// path is the most precise).
    pub fn with_path(self, path: &Path) -> Self {
        self.with_details(|d| {
            d.path.get_or_insert_with(|| path.to_path_buf());
        })
    }

    /// Records the namespace of the failed operation (kept if one is already recorded).
    pub fn in_namespace(self, namespace: &str) -> Self {
        self.with_details(|d| {
            d.namespace.get_or_insert_with(|| namespace.to_owned());
        })
    }

    /// The first error of type `T` in this error's chain of causes, if any: how a caller finds
    /// the backend's own error (a timeout, a dropped connection, a Python exception) behind it.
    pub fn cause<T: std::error::Error + 'static>(&self) -> Option<&T> {
        let mut source = std::error::Error::source(self);
        while let Some(s) = source {
            if let Some(found) = s.downcast_ref::<T>() {
                return Some(found);
            }
            source = s.source();
        }
        None
    }

    /// The mneme-cache 1.0 Python exception class this error maps to.
    ///
    /// `ValueError`, `TypeError`, `MemoryError` and `RuntimeError` are Python built-ins; `Embedder` maps to the
    /// embedder's own exception, which the binding re-raises unchanged.
    pub fn python_class(&self) -> &'static str {
        match self {
            Error::EmbedderMismatch(_) => "EmbedderMismatchError",
            Error::EmbedderDimension(_) => "EmbedderDimensionError",
            Error::CorruptCache { .. } => "CorruptCacheError",
            Error::SchemaMigration { .. } => "SchemaMigrationError",
            Error::CacheClosed(_) => "CacheClosedError",
            Error::Checkpoint { .. } => "CheckpointError",
            Error::IndexBackendUnavailable(_) => "IndexBackendUnavailableError",
            Error::StoreBackend { .. } => "StoreBackendError",
            Error::NamespaceQuotaExceeded(_) => "NamespaceQuotaExceededError",
            Error::MultiProcessLock(_) => "MultiProcessLockError",
            Error::Quantization(_) => "QuantizationError",
            Error::InvalidArgument(_) => "ValueError",
            Error::InvalidMetadata(_) => "TypeError",
            Error::Embedder(_) => "EmbedderError",
            Error::OutOfMemory(_) => "MemoryError",
            Error::Reentrant(_) => "RuntimeError",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_ends_with_a_remediation() {
        let e = Error::invalid_argument("threshold is NaN.", "pass a finite value in [-1, 1]");
        assert_eq!(
            e.to_string(),
            "threshold is NaN. Remediation: pass a finite value in [-1, 1]"
        );
        assert_eq!(e.python_class(), "ValueError");
    }

    #[test]
    fn details_are_kept_and_the_innermost_path_wins() {
        let e = Error::embedder_dimension("dim 3 != 4", "use the right embedder")
            .with_dimensions(4, 3)
            .with_path(Path::new("/inner.db"))
            .with_path(Path::new("/outer.db"))
            .in_namespace("docs");
        let d = e.details().expect("details");
        assert_eq!((d.expected_dim, d.actual_dim), (Some(4), Some(3)));
        assert_eq!(d.path.as_deref(), Some(Path::new("/inner.db")));
        assert_eq!(d.namespace.as_deref(), Some("docs"));
        assert_eq!(
            e.to_string(),
            "dim 3 != 4. Remediation: use the right embedder"
        );
        assert!(Error::invalid_argument("x", "y").details().is_none());
    }

    #[test]
    fn sourced_errors_chain_their_cause() {
        let io = std::io::Error::other("disk on fire");
        let e = Error::store_backend_with("write failed", "free disk", io);
        let src = std::error::Error::source(&e).expect("a source");
        assert_eq!(src.to_string(), "disk on fire");
    }
}

/// What the operating system refused, when a failure comes down to the disk: a front can then
/// say which refusal, and where, instead of a backend's wording ("disk I/O error", "unable to
/// open database file").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OsRefusal {
    /// No space, or no quota, left on the disk.
    DiskFull,
    /// This user may not read or write the file or its directory.
    PermissionDenied,
    /// The file system is mounted read-only.
    ReadOnlyFileSystem,
}

impl OsRefusal {
    /// The refusal an I/O error stands for, if it is one.
    pub fn of_io(e: &std::io::Error) -> Option<Self> {
        use std::io::ErrorKind as Kind;
        match e.kind() {
            Kind::StorageFull | Kind::QuotaExceeded => Some(Self::DiskFull),
            Kind::PermissionDenied => Some(Self::PermissionDenied),
            Kind::ReadOnlyFilesystem => Some(Self::ReadOnlyFileSystem),
            _ => None,
        }
    }

    /// The first refusal named along an error's source chain: an I/O error, or a SQLite
    /// result code (`SQLITE_FULL`, `SQLITE_PERM`).
    pub fn find(e: &(dyn std::error::Error + 'static)) -> Option<Self> {
        use rusqlite::ErrorCode as Code;
        let mut next = Some(e);
        while let Some(e) = next {
            if let Some(found) = e.downcast_ref::<std::io::Error>().and_then(Self::of_io) {
                return Some(found);
            }
            match e
                .downcast_ref::<rusqlite::Error>()
                .and_then(rusqlite::Error::sqlite_error_code)
            {
                Some(Code::DiskFull) => return Some(Self::DiskFull),
                Some(Code::PermissionDenied) => return Some(Self::PermissionDenied),
                _ => {}
            }
            next = e.source();
        }
        None
    }
}
