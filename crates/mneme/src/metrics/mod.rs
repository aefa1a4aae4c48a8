//! Metrics hook events (compat: names and attributes match mneme-cache 1.0).
//!
//! Events are queued while the cache works and delivered after its locks are released, in
//! emission order, before the public call returns; so a hook may call read-only cache methods
//! such as `stats()`. A panicking hook is caught and logged; the operation is unaffected.

#[cfg(feature = "otel")]
pub mod otel;
#[cfg(feature = "prometheus")]
pub mod prometheus;

use crate::types::HitLayer;
use std::sync::Arc;

/// Why a `get` returned nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MissReason {
    /// The caller asked to bypass the cache.
    Bypass,
    /// The embedder failed (the get is a miss, not an error).
    EmbedderFailure,
    /// The query vector had the wrong shape or non-finite values.
    DimMismatch,
    /// The best candidate scored below the similarity threshold.
    BelowThreshold,
    /// No candidate survived expiry, validation and the confidence floor.
    NoMatch,
    /// Candidates above the threshold were refused by the verifier (and none was served).
    VerifierRejected,
}

impl MissReason {
    /// The 1.0 spelling (`bypass`, `embedder_failure`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            MissReason::Bypass => "bypass",
            MissReason::EmbedderFailure => "embedder_failure",
            MissReason::DimMismatch => "dim_mismatch",
            MissReason::BelowThreshold => "below_threshold",
            MissReason::NoMatch => "no_match",
            MissReason::VerifierRejected => "verifier_rejected",
        }
    }
}

/// One event delivered to a metrics hook.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricEvent {
    /// A `get` returned a hit.
    Hit {
        /// The namespace asked for.
        namespace: String,
        /// Which layer answered.
        layer: HitLayer,
        /// 1.0 for exact hits.
        similarity: f64,
        /// The confidence function's value.
        confidence: f64,
        /// Entry age in seconds.
        age_seconds: i64,
    },
    /// A `get` returned nothing.
    Miss {
        /// The namespace asked for.
        namespace: String,
        /// Why.
        reason: MissReason,
    },
    /// A `put` evicted rows (attributed to the putting namespace, compat).
    Eviction {
        /// The putting namespace.
        namespace: String,
        /// Rows evicted (> 0).
        count: u64,
    },
    /// Rows were removed because their TTL elapsed.
    Expired {
        /// Their namespace.
        namespace: String,
        /// Rows removed (> 0).
        count: u64,
    },
}

impl MetricEvent {
    /// `hit`, `miss`, `eviction` or `expired`.
    pub fn name(&self) -> &'static str {
        match self {
            MetricEvent::Hit { .. } => "hit",
            MetricEvent::Miss { .. } => "miss",
            MetricEvent::Eviction { .. } => "eviction",
            MetricEvent::Expired { .. } => "expired",
        }
    }

    /// The event's namespace.
    pub fn namespace(&self) -> &str {
        match self {
            MetricEvent::Hit { namespace, .. }
            | MetricEvent::Miss { namespace, .. }
            | MetricEvent::Eviction { namespace, .. }
            | MetricEvent::Expired { namespace, .. } => namespace,
        }
    }
}

/// A metrics hook: any `Fn(&MetricEvent)` that is `Send + Sync`.
pub type MetricsHook = Arc<dyn Fn(&MetricEvent) + Send + Sync>;

/// Delivers queued events; a panicking hook is logged on `mneme.metrics` and ignored.
pub(crate) fn dispatch(hook: Option<&MetricsHook>, events: Vec<MetricEvent>) {
    let Some(hook) = hook else { return };
    for event in events {
        let call = std::panic::AssertUnwindSafe(|| hook(&event));
        if std::panic::catch_unwind(call).is_err() {
            log::warn!(target: "mneme.metrics", "metrics hook raised on event {:?}", event.name());
        }
    }
}
