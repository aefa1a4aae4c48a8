//! Detecting commits to a WAL-mode file without a read transaction.
//!
//! Every commit, by any connection in any process, rewrites the WAL-index header in the
//! `-shm` file that all connections map: its change counter, frame count and salts
//! (<https://www.sqlite.org/walformat.html>, "The WAL-Index Header"). Readers of every SQLite
//! version since 3.7.0 share that file, so its layout is fixed. Reading it the way SQLite's own
//! readers do (first copy, barrier, second copy, equal or unknown) costs tens of nanoseconds,
//! where `PRAGMA data_version` needs a read transaction: two `fcntl` locks and an `fstat`,
//! ~2 µs. An unchanged header means no transaction committed, exactly as a read transaction
//! started now would find.
//!
//! The header is read through SQLite's own mapping of the WAL index, obtained from the
//! connection's VFS file (`xShmMap`), never through a descriptor of ours: POSIX locks belong to
//! the process, and closing any descriptor on `-shm` would drop the locks SQLite holds there.
//! Another process would then believe it was alone, reset the WAL index and truncate the file
//! under our mapping (SIGBUS). SQLite keeps the mapping as long as the connection is open.

use rusqlite::{ffi, Connection};
use std::os::raw::{c_int, c_void};

/// `iVersion` of the WAL-index header (SQLite's `WALINDEX_MAX_VERSION`).
const WALINDEX_VERSION: u32 = 3_007_000;

/// Size of one copy of the header.
const HEADER: usize = 48;

/// Size of a WAL-index region, as SQLite's WAL code asks for it (`WALINDEX_PGSZ`).
const REGION: c_int = 32 * 1024;

/// SQLite's mapping of the first region of a connection's WAL index.
pub(super) struct WalIndexWatch {
    addr: *const u8,
}

// SAFETY: the mapping is only read, through volatile loads; it is shared by design (other
// connections and processes write it) and SQLite keeps it while the connection is open.
unsafe impl Send for WalIndexWatch {}
// SAFETY: as for `Send`: shared reads of memory SQLite keeps mapped.
unsafe impl Sync for WalIndexWatch {}

impl WalIndexWatch {
    /// The WAL index `conn` has mapped; `None` where there is none (an in-memory database, a
    /// connection not in WAL mode or that has not read yet, a VFS without shared memory).
    ///
    /// # Safety
    /// The watch must be dropped, and `token` no longer called, before `conn` closes.
    pub(super) unsafe fn of(conn: &Connection) -> Option<WalIndexWatch> {
        // Mapping asks the VFS to open `-shm`: only for a connection that uses it already.
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .ok()?;
        if !mode.eq_ignore_ascii_case("wal") {
            return None;
        }
        let mut file: *mut ffi::sqlite3_file = std::ptr::null_mut();
        // SAFETY: `conn` is open; FILE_POINTER writes the main database's VFS file.
        let rc = unsafe {
            ffi::sqlite3_file_control(
                conn.handle(),
                c"main".as_ptr(),
                ffi::SQLITE_FCNTL_FILE_POINTER,
                (&mut file as *mut *mut ffi::sqlite3_file).cast::<c_void>(),
            )
        };
        if rc != ffi::SQLITE_OK || file.is_null() {
            return None;
        }
        // SAFETY: `file` is the connection's open file; its methods table outlives it.
        let map = unsafe { (*file).pMethods.as_ref()?.xShmMap? };
        let mut region: *mut c_void = std::ptr::null_mut();
        // SAFETY: maps (or returns the existing mapping of) region 0 without extending the file,
        // exactly as SQLite's WAL code does; `region` stays null if the file is shorter.
        let rc = unsafe { map(file, 0, REGION, 0, &mut region) };
        (rc == ffi::SQLITE_OK && !region.is_null()).then_some(WalIndexWatch {
            addr: region as *const u8,
        })
    }

    /// The header's change counter, frame count and salts, or `None` while a writer is
    /// rewriting it (or it is not initialised): the caller must then assume a change.
    pub(super) fn token(&self) -> Option<u128> {
        // SAFETY: the region (32 KiB) is mapped while the connection is open; volatile loads because other
        // processes write them.
        let (first, second) = unsafe {
            let first = std::ptr::read_volatile(self.addr as *const [u8; HEADER]);
            std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
            let second = std::ptr::read_volatile(self.addr.add(HEADER) as *const [u8; HEADER]);
            (first, second)
        };
        let word = |at: usize| {
            u32::from_ne_bytes([first[at], first[at + 1], first[at + 2], first[at + 3]])
        };
        let is_init = first[12] != 0;
        if first != second || !is_init || word(0) != WALINDEX_VERSION {
            return None;
        }
        // iChange (8), mxFrame (16), aSalt[0..2] (32, 36).
        Some(
            word(8) as u128
                | (word(16) as u128) << 32
                | (word(32) as u128) << 64
                | (word(36) as u128) << 96,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_changes_with_every_commit_from_any_connection_and_only_then() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let a = rusqlite::Connection::open(&path).unwrap();
        a.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t (x INTEGER)")
            .unwrap();
        // SAFETY: `watch` is dropped before `a`.
        let watch = unsafe { WalIndexWatch::of(&a) }.expect("a WAL connection has an index");
        let t0 = watch.token().expect("an idle header is readable");
        let count = |c: &rusqlite::Connection| -> i64 {
            c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(count(&a), 0);
        assert_eq!(watch.token(), Some(t0), "reads change nothing");

        let b = rusqlite::Connection::open(&path).unwrap();
        b.execute("INSERT INTO t VALUES (1)", []).unwrap();
        let t1 = watch.token().unwrap();
        assert_ne!(t1, t0, "another connection's commit");
        a.execute("INSERT INTO t VALUES (2)", []).unwrap();
        let t2 = watch.token().unwrap();
        assert_ne!(t2, t1, "the watching process's own commit");

        b.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .unwrap();
        assert_eq!(watch.token(), Some(t2), "a checkpoint changes no content");
        b.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
        let t3 = watch.token().unwrap();
        a.execute("INSERT INTO t VALUES (3)", []).unwrap();
        assert_ne!(
            watch.token(),
            Some(t3),
            "the first commit after a WAL reset"
        );
        assert_eq!(count(&b), 3);
    }

    #[test]
    fn no_wal_no_watch() {
        let memory = rusqlite::Connection::open_in_memory().unwrap();
        // SAFETY: dropped at once.
        assert!(unsafe { WalIndexWatch::of(&memory) }.is_none());
    }
}
