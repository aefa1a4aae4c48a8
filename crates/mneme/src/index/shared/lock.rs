//! The lock file `<base>.vectors.lock`: `flock`ed shared by searches and exclusively by writers,
//! holding (for the cache-wired mode) a 64-byte sync record that 1.0's primitive never reads.
//!
//! `flock` belongs to an open file description, so threads of one process sharing it cannot
//! exclude each other through it: an in-process count of holders does that, and the file lock
//! is taken by the first holder in and released by the last one out.

use crate::error::{Error, Result};
use parking_lot::{Condvar, Mutex};
use std::fs::File;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::thread::ThreadId;

const MAGIC: &[u8; 8] = b"MNEMELCK";
pub(crate) const RECORD: usize = 64;
const DIRTY: u32 = 1;

/// What the sidecar is known to reflect (cache-wired mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyncRecord {
    /// A writer set this before touching the store and the sidecar, and clears it after: found
    /// set, the last writer died mid-write and the sidecar must be rebuilt.
    pub dirty: bool,
    /// Bumped on every file replacement (grow, compact, requantize, rebuild).
    pub generation: u64,
    /// The store's version counter the sidecar reflects.
    pub synced_version: u64,
    /// The highest row id the sidecar has seen.
    pub last_seen_id: i64,
}

impl SyncRecord {
    fn encode(&self) -> [u8; RECORD] {
        let mut out = [0u8; RECORD];
        out[..8].copy_from_slice(MAGIC);
        out[8..12].copy_from_slice(&1u32.to_le_bytes());
        out[12..16].copy_from_slice(&(if self.dirty { DIRTY } else { 0 }).to_le_bytes());
        out[16..24].copy_from_slice(&self.generation.to_le_bytes());
        out[24..32].copy_from_slice(&self.synced_version.to_le_bytes());
        out[32..40].copy_from_slice(&self.last_seen_id.to_le_bytes());
        out
    }

    pub(crate) fn parse(b: &[u8]) -> Option<SyncRecord> {
        if b.len() < RECORD || &b[..8] != MAGIC || b[8..12] != 1u32.to_le_bytes() {
            return None;
        }
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"));
        Some(SyncRecord {
            dirty: u32::from_le_bytes(b[12..16].try_into().expect("4 bytes")) & DIRTY != 0,
            generation: u64_at(16),
            synced_version: u64_at(24),
            last_seen_id: u64_at(32) as i64,
        })
    }
}

pub(crate) struct LockFile {
    file: File,
    path: PathBuf,
    holders: Mutex<Holders>,
    changed: Condvar,
}

/// Who holds the lock inside this process.
#[derive(Default)]
struct Holders {
    readers: usize,
    /// The thread holding it exclusively, and how many times over (a write session's own
    /// index updates take it again).
    writer: Option<(ThreadId, usize)>,
}

/// Held while searching; other processes may search too, none may write.
pub(crate) struct Shared<'a> {
    lock: &'a LockFile,
}

/// Held while writing; nobody else on the host searches or writes this sidecar.
pub(crate) struct Exclusive<'a> {
    lock: &'a LockFile,
}

/// The turnstile: an open-file-description record lock on one byte past the sync record, taken
/// by a writer while it waits for the exclusive `flock` and by a reader only to pass through to
/// its shared one. Readers of other processes searching back to back would otherwise keep the
/// shared lock held forever and starve every writer (a put seen seconds late). 1.0's
/// primitive does not know it and only uses `flock`, which is independent of record locks.
fn turnstile(file: &File, lock: bool, path: &Path) -> Result<()> {
    // SAFETY: `flock` is a plain C struct for which all-zero bytes are a valid value.
    let mut region: libc::flock = unsafe { std::mem::zeroed() };
    region.l_type = if lock { libc::F_WRLCK } else { libc::F_UNLCK } as libc::c_short;
    region.l_whence = libc::SEEK_SET as libc::c_short;
    region.l_start = RECORD as libc::off_t;
    region.l_len = 1;
    let cmd = if lock {
        libc::F_OFD_SETLKW
    } else {
        libc::F_OFD_SETLK
    };
    let hint = "check that the file system supports record locks (a local disk, not NFS)";
    // SAFETY: fcntl on a descriptor this File owns, with a valid, initialised struct.
    retrying(path, hint, || unsafe {
        libc::fcntl(file.as_raw_fd(), cmd, &region)
    })
}

/// Repeats a locking call that a signal interrupted; any other failure names the file and
/// ends with `hint`.
fn retrying(path: &Path, hint: &str, mut call: impl FnMut() -> libc::c_int) -> Result<()> {
    loop {
        if call() == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(Error::multi_process_lock(
                format!("cannot lock {}: {e}", path.display()),
                hint,
            ));
        }
    }
}

/// `flock` taken through the turnstile.
fn flock_fairly(file: &File, op: libc::c_int, path: &Path) -> Result<()> {
    turnstile(file, true, path)?;
    let taken = flock(file, op, path);
    turnstile(file, false, path)?;
    taken
}

fn flock(file: &File, op: libc::c_int, path: &Path) -> Result<()> {
    let hint = "check that the file system supports flock (a local disk, not NFS) and the \
                process may open the file";
    // SAFETY: flock on a descriptor this File owns; no memory is passed.
    retrying(path, hint, || unsafe { libc::flock(file.as_raw_fd(), op) })
}

impl LockFile {
    pub(crate) fn open(path: &Path) -> Result<LockFile> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(|e| {
                Error::multi_process_lock(
                    format!("cannot open the lock file {}: {e}", path.display()),
                    "check that the directory exists and this user may write in it",
                )
            })?;
        Ok(LockFile {
            file,
            path: path.to_owned(),
            holders: Mutex::new(Holders::default()),
            changed: Condvar::new(),
        })
    }

    /// A shared hold. While a thread of this process holds the lock exclusively, the process
    /// already excludes every other one, so readers here proceed at once: the matrix's own
    /// in-process lock keeps them from seeing a half-written row, and a reader never waits on
    /// a writer that may be waiting on the reader's caller (the cache's index lock).
    pub(crate) fn shared(&self) -> Result<Shared<'_>> {
        let mut h = self.holders.lock();
        if h.readers == 0 && h.writer.is_none() {
            flock_fairly(&self.file, libc::LOCK_SH, &self.path)?;
        }
        h.readers += 1;
        Ok(Shared { lock: self })
    }

    /// An exclusive hold; re-entrant for the thread that holds it.
    pub(crate) fn exclusive(&self) -> Result<Exclusive<'_>> {
        let me = std::thread::current().id();
        let mut h = self.holders.lock();
        if let Some((t, depth)) = &mut h.writer {
            if *t == me {
                *depth += 1;
                return Ok(Exclusive { lock: self });
            }
        }
        while h.readers > 0 || h.writer.is_some() {
            self.changed.wait(&mut h);
        }
        flock_fairly(&self.file, libc::LOCK_EX, &self.path)?;
        h.writer = Some((me, 1));
        Ok(Exclusive { lock: self })
    }

    /// The sync record; `None` when the file holds none (1.0's empty lock file) or another one.
    pub(crate) fn record(&self) -> Option<SyncRecord> {
        let mut b = [0u8; RECORD];
        self.file.read_exact_at(&mut b, 0).ok()?;
        SyncRecord::parse(&b)
    }
}

impl LockFile {
    /// Writes the sync record. The caller holds the exclusive lock.
    pub(crate) fn write_record(&self, record: &SyncRecord) -> Result<()> {
        self.file.write_all_at(&record.encode(), 0).map_err(|e| {
            Error::multi_process_lock(
                format!(
                    "cannot write the sync record of {}: {e}",
                    self.path.display()
                ),
                "check free disk space and permissions",
            )
        })
    }
}

impl Drop for Shared<'_> {
    fn drop(&mut self) {
        let mut h = self.lock.holders.lock();
        h.readers -= 1;
        if h.readers == 0 && h.writer.is_none() {
            let _ = flock(&self.lock.file, libc::LOCK_UN, &self.lock.path);
        }
        self.lock.changed.notify_all();
    }
}

impl Drop for Exclusive<'_> {
    fn drop(&mut self) {
        let mut h = self.lock.holders.lock();
        if let Some((_, depth)) = &mut h.writer {
            *depth -= 1;
            if *depth == 0 {
                h.writer = None;
                // Readers that came in during the write keep a shared hold.
                let op = if h.readers > 0 {
                    libc::LOCK_SH
                } else {
                    libc::LOCK_UN
                };
                let _ = flock(&self.lock.file, op, &self.lock.path);
            }
        }
        self.lock.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_foreign_content_is_unknown() {
        let r = SyncRecord {
            dirty: true,
            generation: 3,
            synced_version: 99,
            last_seen_id: 42,
        };
        assert_eq!(SyncRecord::parse(&r.encode()), Some(r));
        assert_eq!(SyncRecord::parse(&[]), None);
        assert_eq!(SyncRecord::parse(&[0u8; 64]), None);
    }

    #[test]
    fn readers_share_and_writers_exclude_across_descriptors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let a = LockFile::open(&path).unwrap();
        let b = LockFile::open(&path).unwrap(); // another description, as another process has
        let r1 = a.shared().unwrap();
        let r2 = a.shared().unwrap();
        drop(r1);
        // a still holds its shared lock through r2: b cannot take it exclusively.
        // SAFETY: a non-blocking try on b's own descriptor.
        let rc = unsafe { libc::flock(b.file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        assert_eq!(rc, -1);
        drop(r2);
        let w = b.exclusive().unwrap();
        let again = b.exclusive().unwrap(); // re-entrant for its thread
        b.write_record(&SyncRecord::default()).unwrap();
        drop(w);
        // SAFETY: a non-blocking try on a's own descriptor.
        let rc = unsafe { libc::flock(a.file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
        assert_eq!(rc, -1, "still held through the inner guard");
        drop(again);
        assert_eq!(a.record(), Some(SyncRecord::default()));
    }
}
