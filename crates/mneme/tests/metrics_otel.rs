//! The Rust OpenTelemetry hook: mneme-cache 1.0's instruments, names, units and attributes,
//! read back through the SDK's in-memory exporter.
#![cfg(feature = "otel")]

use mneme::metrics::otel::OtelHook;
use mneme::{HitLayer, MetricEvent, MissReason, Stats, VectorDtype};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use std::collections::BTreeMap;

fn attrs<'a>(kv: impl Iterator<Item = &'a opentelemetry::KeyValue>) -> String {
    let mut v: Vec<String> = kv.map(|k| format!("{}={}", k.key, k.value)).collect();
    v.sort();
    v.join(",")
}

#[test]
fn events_and_gauges_reach_1_0s_instruments() {
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    let hook = OtelHook::new(&provider.meter("test"), "svc");
    let ns = |n: &str| n.to_owned();
    for e in [
        MetricEvent::Hit {
            namespace: ns("a"),
            layer: HitLayer::Exact,
            similarity: 1.0,
            confidence: 1.0,
            age_seconds: 5,
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
    ] {
        hook.record(&e);
    }
    hook.update_gauges(&Stats {
        namespace: None,
        entries: 5,
        hits_exact: 0,
        hits_semantic: 0,
        misses: 0,
        evictions: 0,
        expirations: 0,
        embedder_fingerprint: "fp".into(),
        vector_dtype: VectorDtype::Float32,
        memory_bytes_estimate: 160,
        index_memory_bytes: None,
        index_graph_bytes: None,
        index_tombstone_count: None,
    });
    provider.force_flush().unwrap();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for rm in exporter.get_finished_metrics().unwrap() {
        for sm in rm.scope_metrics() {
            for m in sm.metrics() {
                let points: Vec<String> = match m.data() {
                    AggregatedMetrics::U64(MetricData::Sum(s)) => s
                        .data_points()
                        .map(|p| format!("{}:{}", attrs(p.attributes()), p.value()))
                        .collect(),
                    AggregatedMetrics::F64(MetricData::Histogram(h)) => h
                        .data_points()
                        .map(|p| format!("{}:{}/{}", attrs(p.attributes()), p.count(), p.sum()))
                        .collect(),
                    AggregatedMetrics::F64(MetricData::Gauge(g)) => g
                        .data_points()
                        .map(|p| format!("{}:{}", attrs(p.attributes()), p.value()))
                        .collect(),
                    other => vec![format!("{other:?}")],
                };
                seen.insert(format!("{} [{}]", m.name(), m.unit()), points.join(" "));
            }
        }
    }
    let want = [
        ("svc_hits_total [1]", "layer=exact,namespace=a:1"),
        ("svc_misses_total [1]", "namespace=a,reason=no_match:1"),
        ("svc_evictions_total [1]", "namespace=a:3"),
        ("svc_hit_similarity [1]", "namespace=a:1/1"),
        ("svc_hit_age_seconds [s]", "namespace=a:1/5"),
        ("svc_entries [1]", "namespace=_total:5"),
        ("svc_memory_bytes [By]", "namespace=_total:160"),
    ];
    for (name, points) in want {
        assert_eq!(
            seen.get(name).map(String::as_str),
            Some(points),
            "{name} in {seen:#?}"
        );
    }
}
