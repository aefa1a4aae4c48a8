//! A Prometheus metrics hook (cargo feature `prometheus`): the metric names, types, labels and
//! buckets of mneme-cache 1.0's `PrometheusMetricsHook`, in a `prometheus-client` registry.
//!
//! ```
//! use mneme::metrics::prometheus::PrometheusHook;
//! use prometheus_client::registry::Registry;
//! let mut registry = Registry::default();
//! let hook = PrometheusHook::register(&mut registry, "mneme");
//! # let dir = tempfile::tempdir().unwrap();
//! let cache = mneme::SemanticCache::builder(mneme::LexicalEmbedder::new(32))
//!     .path(dir.path().join("c.db"))
//!     .metrics_hook(hook.hook())
//!     .open()
//!     .unwrap();
//! cache.put("q", "r").unwrap();
//! cache.get("q").unwrap();
//! let mut text = String::new();
//! prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
//! assert!(text.contains(r#"mneme_hits_total{layer="exact",namespace="default"} 1"#));
//! ```

use super::MetricEvent;
use crate::types::Stats;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

const SIMILARITY_BUCKETS: [f64; 7] = [0.5, 0.7, 0.85, 0.9, 0.95, 0.99, 1.0];
const AGE_BUCKETS: [f64; 5] = [60.0, 600.0, 3600.0, 86400.0, 604800.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HitLabels {
    layer: String,
    namespace: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MissLabels {
    namespace: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NamespaceLabel {
    namespace: String,
}

type Histograms = Family<NamespaceLabel, Histogram, fn() -> Histogram>;

/// The registered metrics; cheap to clone (shared families).
#[derive(Clone)]
pub struct PrometheusHook {
    hits: Family<HitLabels, Counter>,
    misses: Family<MissLabels, Counter>,
    evictions: Family<NamespaceLabel, Counter>,
    expirations: Family<NamespaceLabel, Counter>,
    similarity: Histograms,
    age: Histograms,
    entries: Family<NamespaceLabel, Gauge<f64, AtomicU64>>,
    memory_bytes: Family<NamespaceLabel, Gauge<f64, AtomicU64>>,
}

impl PrometheusHook {
    /// Registers every metric under `prefix` (1.0's default: `mneme`).
    pub fn register(registry: &mut Registry, prefix: &str) -> Self {
        let hook = PrometheusHook {
            hits: Family::default(),
            misses: Family::default(),
            evictions: Family::default(),
            expirations: Family::default(),
            similarity: Family::new_with_constructor(|| Histogram::new(SIMILARITY_BUCKETS)),
            age: Family::new_with_constructor(|| Histogram::new(AGE_BUCKETS)),
            entries: Family::default(),
            memory_bytes: Family::default(),
        };
        let name = |m: &str| format!("{prefix}_{m}");
        // prometheus-client appends `_total` to counters itself.
        registry.register(name("hits"), "Total cache hits.", hook.hits.clone());
        registry.register(name("misses"), "Total cache misses.", hook.misses.clone());
        registry.register(
            name("evictions"),
            "Total entries evicted by LRU.",
            hook.evictions.clone(),
        );
        registry.register(
            name("expirations"),
            "Total entries expired by TTL.",
            hook.expirations.clone(),
        );
        registry.register(
            name("hit_similarity"),
            "Cosine similarity of cache hits.",
            hook.similarity.clone(),
        );
        registry.register(
            name("hit_age_seconds"),
            "Age of cache hits in seconds.",
            hook.age.clone(),
        );
        registry.register(
            name("entries"),
            "Number of entries currently in the cache.",
            hook.entries.clone(),
        );
        registry.register(
            name("memory_bytes"),
            "Approximate index memory footprint in bytes.",
            hook.memory_bytes.clone(),
        );
        hook
    }

    /// Records one event.
    pub fn record(&self, event: &MetricEvent) {
        let ns = NamespaceLabel {
            namespace: event.namespace().to_owned(),
        };
        match event {
            MetricEvent::Hit {
                layer,
                similarity,
                age_seconds,
                ..
            } => {
                self.hits
                    .get_or_create(&HitLabels {
                        layer: layer.as_str().to_owned(),
                        namespace: ns.namespace.clone(),
                    })
                    .inc();
                self.similarity.get_or_create(&ns).observe(*similarity);
                self.age.get_or_create(&ns).observe(*age_seconds as f64);
            }
            MetricEvent::Miss { reason, .. } => {
                self.misses
                    .get_or_create(&MissLabels {
                        namespace: ns.namespace,
                        reason: reason.as_str().to_owned(),
                    })
                    .inc();
            }
            MetricEvent::Eviction { count, .. } if *count > 0 => {
                self.evictions.get_or_create(&ns).inc_by(*count);
            }
            MetricEvent::Expired { count, .. } if *count > 0 => {
                self.expirations.get_or_create(&ns).inc_by(*count);
            }
            _ => {}
        }
    }

    /// Sets the `entries` and `memory_bytes` gauges from `stats` (label `_total` for the
    /// aggregate).
    pub fn update_gauges(&self, stats: &Stats) {
        let label = NamespaceLabel {
            namespace: stats.namespace.clone().unwrap_or_else(|| "_total".into()),
        };
        self.entries.get_or_create(&label).set(stats.entries as f64);
        self.memory_bytes
            .get_or_create(&label)
            .set(stats.memory_bytes_estimate as f64);
    }

    /// The hook to pass to [`CacheBuilder::metrics_hook`](crate::CacheBuilder::metrics_hook).
    pub fn hook(&self) -> impl Fn(&MetricEvent) + Send + Sync + 'static {
        let me = Arc::new(self.clone());
        move |event| me.record(event)
    }
}
