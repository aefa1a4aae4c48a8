//! The thread that finishes an index's deferred work (HNSW: linking the rows puts left in its
//! buffer), so a put costs the store's write, not a graph insert. Each piece is planned under
//! an upgradable read lock, beside searches and puts, and applied under a brief write lock.

use crate::index::VectorIndex;
use parking_lot::{Condvar, Mutex, RwLock, RwLockUpgradableReadGuard};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;

/// The index the cache searches, shared with the thread.
pub(super) type SharedIndex = Arc<RwLock<Box<dyn VectorIndex>>>;

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

/// Starts its thread on the first [`Linker::wake`]; stops and joins it on [`Linker::stop`] or
/// drop.
#[derive(Default)]
pub(super) struct Linker {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
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
        if thread.is_none() {
            let (shared, index) = (self.shared.clone(), Arc::downgrade(index));
            let spawned = std::thread::Builder::new()
                .name("mneme-linker".into())
                .spawn(move || run(&shared, &index));
            match spawned {
                Ok(handle) => *thread = Some(handle),
                // The rows wait in the buffer, still found by searches; a full buffer makes
                // puts link their own rows.
                Err(e) => {
                    log::warn!(target: "mneme.cache", "could not start the index's linking thread ({e}); puts will link rows themselves once its buffer fills")
                }
            }
        }
    }

    /// Stops the thread after the piece it is on; the rest of the work stays deferred.
    pub(super) fn stop(&self) {
        self.shared.signal.lock().stop = true;
        self.shared.wake.notify_all();
        if let Some(handle) = self.thread.lock().take() {
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
        while !shared.signal.lock().stop {
            let read = index.upgradable_read();
            let Some(work) = read.plan_deferred() else {
                break;
            };
            let mut write = RwLockUpgradableReadGuard::upgrade(read);
            if let Err(e) = write.apply_deferred(work) {
                log::warn!(target: "mneme.cache", "could not link a row into the index ({e}); it stays in the buffer searches scan");
                break;
            }
        }
    }
}
