//! Time source. Injectable so TTL and LRU tests are deterministic.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// The cache's time: wall-clock seconds for what it stores (creation, access, TTL), and a
/// monotonic reading for the intervals it waits (the stale-tolerant check, the access flush).
pub trait Clock: Send + Sync {
    /// Integer Unix seconds (floor of the wall clock).
    fn now(&self) -> i64;

    /// A monotonic reading: only differences between two readings mean anything. Default: the
    /// process's monotonic clock.
    fn monotonic(&self) -> Duration {
        static START: OnceLock<Instant> = OnceLock::new();
        START.get_or_init(Instant::now).elapsed()
    }
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => d.as_secs() as i64,
            Err(e) => -(e.duration().as_secs_f64().ceil() as i64),
        }
    }
}

/// A clock that only moves when told to. Clones share the same time.
///
/// ```
/// use mneme::{Clock, ManualClock};
/// let clock = ManualClock::new(1_000);
/// clock.advance(10);
/// assert_eq!(clock.now(), 1_010);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock reading `start`.
    pub fn new(start: i64) -> Self {
        ManualClock(Arc::new(AtomicI64::new(start)))
    }

    /// Moves the clock forward by `seconds` (or back, if negative).
    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }

    /// Sets the time.
    pub fn set(&self, now: i64) {
        self.0.store(now, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }

    /// The manual time as a duration since the epoch (0 before it): intervals move only when
    /// the clock is moved.
    fn monotonic(&self) -> Duration {
        Duration::from_secs(self.now().max(0) as u64)
    }
}
