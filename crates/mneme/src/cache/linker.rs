//! The thread that finishes an index's deferred work (HNSW: linking the rows puts left in its
//! buffer), so a put costs the store's write, not a graph insert. Each piece is planned under
//! an upgradable read lock, beside searches and puts, and applied under a brief write lock.

use crate::error::Result;
use crate::index::VectorIndex;
use parking_lot::{Condvar, Mutex, RwLock, RwLockUpgradableReadGuard};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;

/// The index the cache searches, shared with the thread.
pub(super) type SharedIndex = Arc<RwLock<Box<dyn VectorIndex>>>;

/// Does `index`'s deferred work piece by piece, searches going on between and beside the
/// pieces, until none is left or `stop` says so.
///
/// # Errors
/// As [`VectorIndex::apply_deferred`]; the work not done stays deferred.
pub(super) fn link_deferred(
    index: &RwLock<Box<dyn VectorIndex>>,
    stop: impl Fn() -> bool,
) -> Result<()> {
    while !stop() {
        let read = index.upgradable_read();
        let Some(work) = read.plan_deferred() else {
            break;
        };
        RwLockUpgradableReadGuard::upgrade(read).apply_deferred(work)?;
    }
    Ok(())
}

#[derive(Default)]
struct Signal {
    /// Work arrived since the thread last looked.
    work: bool,
    stop: bool,
}

#[derive(Default)]
struct Shared {
    signal: Mutex<Signal>,
    wake: Condvar,
}

#[derive(Default)]
enum Thread {
    #[default]
    NotStarted,
    Running(JoinHandle<()>),
    /// The system refused a thread: puts link their own rows once the buffer fills.
    Refused,
}

/// Starts its thread on the first [`Linker::wake`]; stops and joins it on [`Linker::stop`] or
/// drop.
#[derive(Default)]
pub(super) struct Linker {
    shared: Arc<Shared>,
    thread: Mutex<Thread>,
}

impl Linker {
    /// Tells the thread `index` has deferred work, starting it when needed.
    pub(super) fn wake(&self, index: &SharedIndex) {
        {
            let mut signal = self.shared.signal.lock();
            if signal.stop {
                return;
            }
            signal.work = true;
        }
        self.shared.wake.notify_one();
        let mut thread = self.thread.lock();
        if matches!(*thread, Thread::NotStarted) {
            let (shared, index) = (self.shared.clone(), Arc::downgrade(index));
            let spawned = std::thread::Builder::new()
                .name("mneme-linker".into())
                .spawn(move || run(&shared, &index));
            *thread = match spawned {
                Ok(handle) => Thread::Running(handle),
                Err(e) => {
                    log::warn!(target: "mneme.cache", "could not start the thread that links new rows into the HNSW graph ({e}); puts will link their own rows once its buffer fills, which makes them slower: raise the process's thread limit");
                    Thread::Refused
                }
            };
        }
    }

    /// Stops the thread after the piece it is on; the rest of the work stays deferred.
    pub(super) fn stop(&self) {
        self.shared.signal.lock().stop = true;
        self.shared.wake.notify_all();
        if let Thread::Running(handle) = std::mem::take(&mut *self.thread.lock()) {
            let _ = handle.join();
        }
    }
}

impl Drop for Linker {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(shared: &Shared, index: &Weak<RwLock<Box<dyn VectorIndex>>>) {
    crate::background::lower_this_thread_priority();
    let stopped = || shared.signal.lock().stop;
    loop {
        {
            let mut signal = shared.signal.lock();
            while !signal.work && !signal.stop {
                shared.wake.wait(&mut signal);
            }
            if signal.stop {
                return;
            }
            signal.work = false;
        }
        let Some(index) = index.upgrade() else {
            return;
        };
        let linked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            link_deferred(&index, stopped)
        }));
        match linked {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                log::warn!(target: "mneme.cache", "could not link a new row into the HNSW graph ({e}); free memory: the rows wait, still found by searches, and the next put retries")
            }
            Err(_) => {
                log::error!(target: "mneme.cache", "the thread that links new rows into the HNSW graph stopped on a bug (please report it); puts will link their own rows once its buffer fills");
                return;
            }
        }
    }
}
