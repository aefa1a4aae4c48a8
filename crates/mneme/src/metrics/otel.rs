//! An OpenTelemetry metrics hook (cargo feature `otel`): mneme-cache 1.0's instruments, names
//! and units on any `Meter`. Histogram buckets are left to the SDK's views, as in 1.0.

use super::MetricEvent;
use crate::types::Stats;
use opentelemetry::metrics::{Counter, Histogram, Meter, ObservableGauge};
use opentelemetry::KeyValue;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;

type LastValues = Arc<Mutex<BTreeMap<String, f64>>>;

/// The instruments; cheap to clone.
#[derive(Clone)]
pub struct OtelHook {
    hits: Counter<u64>,
    misses: Counter<u64>,
    evictions: Counter<u64>,
    expirations: Counter<u64>,
    similarity: Histogram<f64>,
    age: Histogram<f64>,
    entries: LastValues,
    memory_bytes: LastValues,
    _gauges: Arc<[ObservableGauge<f64>; 2]>,
}

fn gauge(
    meter: &Meter,
    name: String,
    unit: &'static str,
    help: &'static str,
    values: LastValues,
) -> ObservableGauge<f64> {
    meter
        .f64_observable_gauge(name)
        .with_unit(unit)
        .with_description(help)
        .with_callback(move |observer| {
            for (ns, v) in values.lock().iter() {
                observer.observe(*v, &[KeyValue::new("namespace", ns.clone())]);
            }
        })
        .build()
}

impl OtelHook {
    /// Creates every instrument on `meter` under `prefix` (1.0's default: `mneme`).
    pub fn new(meter: &Meter, prefix: &str) -> Self {
        let name = |m: &str| format!("{prefix}_{m}");
        let counter = |m: &str, help: &'static str| {
            meter
                .u64_counter(name(m))
                .with_unit("1")
                .with_description(help)
                .build()
        };
        let (entries, memory_bytes): (LastValues, LastValues) = Default::default();
        OtelHook {
            hits: counter("hits_total", "Total cache hits."),
            misses: counter("misses_total", "Total cache misses."),
            evictions: counter("evictions_total", "Total entries evicted by LRU."),
            expirations: counter("expirations_total", "Total entries expired by TTL."),
            similarity: meter
                .f64_histogram(name("hit_similarity"))
                .with_unit("1")
                .with_description("Cosine similarity of cache hits.")
                .build(),
            age: meter
                .f64_histogram(name("hit_age_seconds"))
                .with_unit("s")
                .with_description("Age of cache hits in seconds.")
                .build(),
            _gauges: Arc::new([
                gauge(
                    meter,
                    name("entries"),
                    "1",
                    "Number of entries currently in the cache.",
                    entries.clone(),
                ),
                gauge(
                    meter,
                    name("memory_bytes"),
                    "By",
                    "Approximate index memory footprint in bytes.",
                    memory_bytes.clone(),
                ),
            ]),
            entries,
            memory_bytes,
        }
    }

    /// Records one event.
    pub fn record(&self, event: &MetricEvent) {
        let ns = KeyValue::new("namespace", event.namespace().to_owned());
        match event {
            MetricEvent::Hit {
                layer,
                similarity,
                age_seconds,
                ..
            } => {
                self.hits
                    .add(1, &[KeyValue::new("layer", layer.as_str()), ns.clone()]);
                self.similarity
                    .record(*similarity, std::slice::from_ref(&ns));
                self.age.record(*age_seconds as f64, &[ns]);
            }
            MetricEvent::Miss { reason, .. } => self
                .misses
                .add(1, &[KeyValue::new("reason", reason.as_str()), ns]),
            MetricEvent::Eviction { count, .. } if *count > 0 => self.evictions.add(*count, &[ns]),
            MetricEvent::Expired { count, .. } if *count > 0 => self.expirations.add(*count, &[ns]),
            _ => {}
        }
    }

    /// Sets what the `entries` and `memory_bytes` gauges report for `stats`' namespace (`_total`
    /// for the aggregate).
    pub fn update_gauges(&self, stats: &Stats) {
        let label = stats.namespace.clone().unwrap_or_else(|| "_total".into());
        self.entries
            .lock()
            .insert(label.clone(), stats.entries as f64);
        self.memory_bytes
            .lock()
            .insert(label, stats.memory_bytes_estimate as f64);
    }

    /// The hook to pass to [`CacheBuilder::metrics_hook`](crate::CacheBuilder::metrics_hook).
    pub fn hook(&self) -> impl Fn(&MetricEvent) + Send + Sync + 'static {
        let me = self.clone();
        move |event| me.record(event)
    }
}
