//! Cache fixtures: a temp SQLite file, a test embedder, a manual clock, recorded events.

use super::embedders::TestEmbedder;
use mneme::{CacheBuilder, ManualClock, MetricEvent, SemanticCache};
use std::sync::{Arc, Mutex};

pub const DIM: usize = 8;
pub const T0: i64 = 1_700_000_000;

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub embedder: TestEmbedder,
    pub clock: ManualClock,
    pub events: Arc<Mutex<Vec<MetricEvent>>>,
}

impl Fixture {
    pub fn new() -> Self {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
            embedder: TestEmbedder::new(DIM),
            clock: ManualClock::new(T0),
            events: Default::default(),
        }
    }

    pub fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("cache.db")
    }

    /// A builder on the fixture's SQLite file, embedder, clock and event recorder.
    pub fn builder(&self) -> CacheBuilder {
        let events = self.events.clone();
        SemanticCache::builder(self.embedder.clone())
            .path(self.path())
            .clock(self.clock.clone())
            .metrics_hook(move |e| events.lock().unwrap().push(e.clone()))
    }

    pub fn open(&self) -> SemanticCache {
        self.builder().open().unwrap()
    }

    pub fn take_events(&self) -> Vec<MetricEvent> {
        std::mem::take(&mut *self.events.lock().unwrap())
    }

    pub fn event_names(&self) -> Vec<&'static str> {
        self.take_events().iter().map(|e| e.name()).collect()
    }
}
