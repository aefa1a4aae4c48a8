//! The Rust Prometheus hook: mneme-cache 1.0's metric names, labels and buckets.
#![cfg(feature = "prometheus")]

use mneme::metrics::prometheus::PrometheusHook;
use mneme::{HitLayer, MetricEvent, MissReason, Stats, VectorDtype};
use prometheus_client::registry::Registry;

#[test]
fn events_and_gauges_export_1_0s_names_labels_and_buckets() {
    let mut registry = Registry::default();
    let hook = PrometheusHook::register(&mut registry, "svc");
    let ns = |n: &str| n.to_owned();
    for e in [
        MetricEvent::Hit {
            namespace: ns("a"),
            layer: HitLayer::Exact,
            similarity: 1.0,
            confidence: 1.0,
            age_seconds: 5,
        },
        MetricEvent::Hit {
            namespace: ns("a"),
            layer: HitLayer::Semantic,
            similarity: 0.91,
            confidence: 0.9,
            age_seconds: 4000,
        },
        MetricEvent::Miss {
            namespace: ns("a"),
            reason: MissReason::NoMatch,
        },
        MetricEvent::Eviction {
            namespace: ns("a"),
            count: 3,
        },
        MetricEvent::Eviction {
            namespace: ns("b"),
            count: 0,
        },
        MetricEvent::Expired {
            namespace: ns("default"),
            count: 2,
        },
    ] {
        hook.record(&e);
    }
    let stats = |namespace: Option<&str>, entries| Stats {
        namespace: namespace.map(str::to_owned),
        entries,
        hits_exact: 0,
        hits_semantic: 0,
        misses: 0,
        evictions: 0,
        expirations: 0,
        embedder_fingerprint: "fp".into(),
        vector_dtype: VectorDtype::Float32,
        memory_bytes_estimate: entries * 32,
        index_memory_bytes: None,
        index_graph_bytes: None,
        index_tombstone_count: None,
    };
    hook.update_gauges(&stats(None, 5));
    hook.update_gauges(&stats(Some("a"), 2));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    for line in [
        r#"svc_hits_total{layer="exact",namespace="a"} 1"#,
        r#"svc_hits_total{layer="semantic",namespace="a"} 1"#,
        r#"svc_misses_total{namespace="a",reason="no_match"} 1"#,
        r#"svc_evictions_total{namespace="a"} 3"#,
        r#"svc_expirations_total{namespace="default"} 2"#,
        r#"svc_hit_similarity_bucket{le="0.85",namespace="a"} 0"#,
        r#"svc_hit_similarity_bucket{le="0.95",namespace="a"} 1"#,
        r#"svc_hit_similarity_bucket{le="1.0",namespace="a"} 2"#,
        r#"svc_hit_age_seconds_bucket{le="60.0",namespace="a"} 1"#,
        r#"svc_hit_age_seconds_bucket{le="86400.0",namespace="a"} 2"#,
        r#"svc_entries{namespace="_total"} 5.0"#,
        r#"svc_memory_bytes{namespace="a"} 64.0"#,
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(
        !text.contains(r#"namespace="b""#),
        "zero-count events record nothing"
    );
}
