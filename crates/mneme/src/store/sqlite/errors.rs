//! SQLite errors as the crate's errors, chosen by SQLite's error code (its message text is no
//! guide: a corrupt file's says "disk image").

use crate::error::Error;
use std::path::Path;

/// Maps a SQLite error by its code: a damaged file to [`Error::CorruptCache`], anything else to
/// [`Error::StoreBackend`] with the hint that fits (the message text is no guide: a corrupt
/// file's says "disk image").
pub(super) fn backend(what: &str, e: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode as Code;
    let code = e.sqlite_error_code();
    if matches!(code, Some(Code::DatabaseCorrupt | Code::NotADatabase)) {
        return Error::corrupt_cache_with(
            format!("SQLite {what} failed: {e}: the cache file is damaged"),
            "restore the cache from a dumps() archive, or move the file (with its -wal and -shm) \
             aside to start an empty cache",
            e,
        );
    }
    let hint = match code {
        Some(Code::DiskFull) => "free disk, set max_entries, run vacuum()",
        Some(Code::DatabaseBusy | Code::DatabaseLocked) => {
            "another process holds the write lock; raise the store timeout or reduce write contention"
        }
        Some(Code::ReadOnly | Code::PermissionDenied | Code::CannotOpen) => {
            "make the cache file and its directory writable by this user"
        }
        Some(Code::SystemIoFailure) => {
            "the disk or filesystem reported an I/O error: check it and its free space; restore from a dumps() archive if the file is damaged"
        }
        _ => "check the cache file, its permissions and disk space; restore from a dumps() archive if it is damaged",
    };
    Error::store_backend_with(format!("SQLite {what} failed: {e}"), hint, e)
}

pub(super) fn not_a_database(path: &Path, e: rusqlite::Error) -> Error {
    Error::corrupt_cache_with(
        format!("{} is not a SQLite database, or is damaged", path.display()),
        "point the cache at a mneme cache file (or a new path), or restore it from a dumps() archive",
        e,
    )
    .with_path(path)
}

/// Runs `f` again while SQLite answers busy, until `timeout`: for the busy answers SQLite gives
/// at once, without its busy handler. Switching a new file to WAL upgrades a read lock to an
/// exclusive one, refused while another connection does the same (two processes opening one
/// new file); a write whose read snapshot went stale first (the schema bootstrap beside another
/// opener) is refused too.
pub(super) fn retry_busy<T>(
    timeout: std::time::Duration,
    mut f: impl FnMut() -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked};
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match f() {
            Err(e)
                if matches!(e.sqlite_error_code(), Some(DatabaseBusy | DatabaseLocked))
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            done => return done,
        }
    }
}
