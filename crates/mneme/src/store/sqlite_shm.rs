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
//! The store keeps a connection open while a watch exists, so SQLite never deletes or resets
//! the file under it.

use std::path::Path;

/// `iVersion` of the WAL-index header (SQLite's `WALINDEX_MAX_VERSION`).
const WALINDEX_VERSION: u32 = 3_007_000;

/// Size of one copy of the header.
const HEADER: usize = 48;

/// A read-only mapping of the first page of a database's `-shm` file.
pub(super) struct WalIndexWatch {
    addr: *const u8,
}

// SAFETY: the mapping is read-only and only read through volatile loads; it lives as long as the
// watch and is shared by design (other processes write it).
unsafe impl Send for WalIndexWatch {}
unsafe impl Sync for WalIndexWatch {}

impl WalIndexWatch {
    /// Maps `<db>-shm` read-only; `None` where there is none (an in-memory database, a platform
    /// without this file) or it is too short to hold the header.
    pub(super) fn open(db: &Path) -> Option<WalIndexWatch> {
        #[cfg(unix)]
        {
            use std::os::unix::io::AsRawFd;
            let mut shm = db.as_os_str().to_owned();
            shm.push("-shm");
            let file = std::fs::File::open(shm).ok()?;
            if file.metadata().ok()?.len() < 2 * HEADER as u64 {
                return None;
            }
            // SAFETY: a fresh read-only shared mapping of a file we opened; the kernel keeps it
            // valid after the descriptor closes.
            let addr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    4096,
                    libc::PROT_READ,
                    libc::MAP_SHARED,
                    file.as_raw_fd(),
                    0,
                )
            };
            (addr != libc::MAP_FAILED).then_some(WalIndexWatch {
                addr: addr as *const u8,
            })
        }
        #[cfg(not(unix))]
        {
            let _ = db;
            None
        }
    }

    /// The header's change counter, frame count and salts, or `None` while a writer is
    /// rewriting it (or it is not initialised): the caller must then assume a change.
    pub(super) fn token(&self) -> Option<u128> {
        // SAFETY: the first 96 bytes are mapped (checked at open); volatile loads because other
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

impl Drop for WalIndexWatch {
    fn drop(&mut self) {
        #[cfg(unix)]
        // SAFETY: unmaps the mapping made in `open`, once.
        unsafe {
            libc::munmap(self.addr as *mut libc::c_void, 4096);
        }
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
        let watch = WalIndexWatch::open(&path).expect("a WAL file has a -shm");
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
    fn no_shm_no_watch() {
        let dir = tempfile::tempdir().unwrap();
        assert!(WalIndexWatch::open(&dir.path().join("absent.db")).is_none());
    }
}
