//! What every handler shares: the cache, the settings, the upstream client, in-flight misses,
//! metrics and the recent decisions the dashboard shows.

use crate::config::ServeConfig;
use crate::metrics::Metrics;
use crate::proxy::flights::Flights;
use mneme::SemanticCache;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;

pub struct AppState {
    pub cache: Arc<SemanticCache>,
    /// Cache calls running at once on the blocking pool: about one per core, so a burst of
    /// embeddings and scans queues here instead of thrashing hundreds of threads.
    pub cache_slots: tokio::sync::Semaphore,
    /// The store is in this process or a local file: an exact lookup takes microseconds and
    /// may run on the reactor. Network stores always go through the blocking pool.
    pub inline_exact: bool,
    pub config: ServeConfig,
    pub http: reqwest::Client,
    pub flights: Flights,
    pub metrics: Metrics,
    pub recent: RecentDecisions,
}

/// One decision, as the dashboard lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Decision {
    /// Unix time in milliseconds.
    pub at_ms: u128,
    pub route: &'static str,
    pub namespace: String,
    pub query: String,
    /// `hit-exact`, `hit-semantic`, `miss`, `bypass`.
    pub outcome: String,
    pub similarity: Option<f64>,
    pub millis: f64,
}

/// The recent decisions: bounded, newest last; a std mutex is enough for a few hundred small
/// records.
pub struct RecentDecisions {
    cap: usize,
    items: Mutex<VecDeque<Decision>>,
}

impl RecentDecisions {
    pub fn new(cap: usize) -> Self {
        RecentDecisions {
            cap,
            items: Mutex::new(VecDeque::with_capacity(cap)),
        }
    }

    pub fn push(&self, d: Decision) {
        let mut items = self.items.lock().unwrap_or_else(|p| p.into_inner());
        if items.len() == self.cap {
            items.pop_front();
        }
        if self.cap > 0 {
            items.push_back(d);
        }
    }

    pub fn snapshot(&self) -> Vec<Decision> {
        self.items
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}

impl AppState {
    /// Runs `f` on the cache in the blocking pool, at most `cache_slots` at once.
    pub async fn cache_call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&SemanticCache) -> mneme::Result<T> + Send + 'static,
    ) -> Result<T, crate::error::ApiError> {
        use crate::error::ApiError;
        let _slot = self
            .cache_slots
            .acquire()
            .await
            .map_err(|_| ApiError::unavailable("the server is shutting down"))?;
        let cache = self.cache.clone();
        tokio::task::spawn_blocking(move || f(&cache))
            .await
            .map_err(|e| ApiError::unavailable(format!("cache task failed: {e}")))?
            .map_err(|e| ApiError::from_cache(&e))
    }

    /// Records a decision for the dashboard and the HTTP metrics.
    pub fn record(
        &self,
        route: &'static str,
        namespace: &str,
        query: &str,
        outcome: &str,
        similarity: Option<f64>,
        started: std::time::Instant,
    ) {
        let millis = started.elapsed().as_secs_f64() * 1e3;
        self.metrics.observe(route, outcome, millis / 1e3);
        let at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let query: String = query.chars().take(200).collect();
        self.recent.push(Decision {
            at_ms,
            route,
            namespace: namespace.to_owned(),
            query,
            outcome: outcome.to_owned(),
            similarity,
            millis,
        });
    }
}
