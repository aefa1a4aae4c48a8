"""Feeds one event sequence to the installed package's Prometheus and OTel hooks and prints
what each exports (test_adapters.py compares mneme-cache's and ours)."""

import json

import mneme
import prometheus_client as pc
from mneme.adapters.opentelemetry import OTelMetricsHook
from mneme.adapters.prometheus import PrometheusMetricsHook
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

EVENTS = [
    ("hit", {"namespace": "a", "layer": "exact", "similarity": 1.0, "confidence": 1.0, "age_seconds": 5}),
    ("hit", {"namespace": "a", "layer": "semantic", "similarity": 0.91, "confidence": 0.9, "age_seconds": 4000}),
    ("miss", {"namespace": "a", "reason": "no_match"}),
    ("miss", {}),
    ("eviction", {"namespace": "a", "count": 3}),
    ("eviction", {"namespace": "a", "count": 0}),
    ("expired", {"count": 2}),
    ("bogus", {"namespace": "x"}),
]
STATS = [mneme.Stats(None, 5, 0, 0, 0, 0, 0, "fp", "float32", 160), mneme.Stats("a", 2, 0, 0, 0, 0, 0, "fp", "float32", 64)]

registry = pc.CollectorRegistry()
prom = PrometheusMetricsHook(registry=registry, namespace="svc")
reader = InMemoryMetricReader()
otel = OTelMetricsHook(meter=MeterProvider(metric_readers=[reader]).get_meter("test"), namespace="svc")
for hook in (prom, otel):
    for name, attrs in EVENTS:
        hook(name, attrs)
    for s in STATS:
        hook.update_gauges(s)

exposition = [l for l in pc.generate_latest(registry).decode().splitlines() if "_created" not in l]
points = []
for rm in reader.get_metrics_data().resource_metrics:
    for sm in rm.scope_metrics:
        for m in sm.metrics:
            for p in m.data.data_points:
                value = getattr(p, "value", None)
                if value is None:
                    value = [p.count, p.sum]
                points.append([m.name, m.unit, type(m.data).__name__, sorted(p.attributes.items()), value])
print(json.dumps({"prometheus": exposition, "otel": sorted(points, key=str)}))
