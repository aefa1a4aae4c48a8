//! WAL checkpoints off the write path.
//!
//! SQLite's auto-checkpoint runs inside whichever commit crosses 1 000 WAL pages, copying those
//! pages into the database and fsyncing it: a put that normally takes ~50 µs then takes
//! milliseconds. The store turns auto-checkpointing off on its own connection and asks this
//! helper, which owns a second connection, for a `PASSIVE` checkpoint every
//! [`CHECKPOINT_EVERY`] commits. `PASSIVE` never blocks writers or readers. The helper is an I/O
//! detail of this store; it runs no cache logic and no timers.
//!
//! Under a continuous stream of writes a concurrent checkpoint never catches up with the end of
//! the WAL, so SQLite cannot restart it. The helper reports the WAL length it saw; past
//! [`MAX_WAL_FRAMES`] the writer runs one checkpoint itself, which only has the few frames the
//! helper has not copied yet, and the WAL restarts. Other processes keep their own
//! auto-checkpoint, so the WAL stays bounded even if this process stops.

use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Commits between checkpoint requests (a put writes ~5 WAL pages, so ≈ SQLite's 1 000 pages).
pub(super) const CHECKPOINT_EVERY: u64 = 200;

/// WAL length (frames) past which the writer catches up itself (≈ 40 MB of 4 KiB pages).
pub(super) const MAX_WAL_FRAMES: i64 = 10_000;

pub(super) struct Checkpointer {
    signal: Option<SyncSender<()>>,
    handle: Option<JoinHandle<()>>,
    commits: AtomicU64,
    /// Frames in the WAL at the helper's last pass.
    wal_frames: Arc<AtomicI64>,
}

impl Checkpointer {
    /// Starts the helper for the database at `path`; `None` if its connection cannot open (the
    /// caller then keeps SQLite's own auto-checkpoint).
    pub(super) fn start(path: &Path, busy: Duration) -> Option<Checkpointer> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .ok()?;
        conn.busy_timeout(busy).ok()?;
        let (signal, requests) = sync_channel::<()>(1);
        let wal_frames = Arc::new(AtomicI64::new(0));
        let seen = wal_frames.clone();
        let handle = std::thread::Builder::new()
            .name("mneme-sqlite-checkpoint".into())
            .spawn(move || {
                crate::background::lower_this_thread_priority();
                while requests.recv().is_ok() {
                    // Repeat until a pass finds nothing left, so the WAL can restart; errors
                    // (busy, I/O) only postpone the checkpoint to the next request.
                    for _ in 0..8 {
                        let r: rusqlite::Result<(i64, i64, i64)> =
                            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                            });
                        match r {
                            Ok((busy, log, done)) => {
                                seen.store(log, Ordering::Relaxed);
                                if busy == 0 && log == done {
                                    break;
                                }
                            }
                            Err(_) => break,
                        }
                    }
                }
            })
            .ok()?;
        Some(Checkpointer {
            signal: Some(signal),
            handle: Some(handle),
            commits: AtomicU64::new(0),
            wal_frames,
        })
    }

    /// Counts a commit on `conn`; every [`CHECKPOINT_EVERY`] commits, requests a checkpoint
    /// (coalesced if one is pending); past [`MAX_WAL_FRAMES`], catches up on `conn` itself.
    pub(super) fn committed(&self, conn: &Connection) {
        let n = self.commits.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_multiple_of(CHECKPOINT_EVERY) {
            if let Some(s) = &self.signal {
                let _ = s.try_send(());
            }
        }
        if self.wal_frames.load(Ordering::Relaxed) > MAX_WAL_FRAMES {
            self.wal_frames.store(0, Ordering::Relaxed);
            let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.signal.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
