"""PrometheusMetricsHook: counters, histograms and gauges in a prometheus_client registry."""

from __future__ import annotations

from typing import Any

from .._exceptions import MnemeError
from ._common import AGE_BUCKETS, HELP, SIMILARITY_BUCKETS, gauge_label, namespace_of

__all__ = ["PrometheusMetricsHook"]


class PrometheusMetricsHook:
    """Pass as `metrics_hook=`; call `update_gauges(cache.stats())` to refresh the gauges."""

    def __init__(self, registry: Any | None = None, namespace: str = "mneme") -> None:
        try:
            import prometheus_client as pc
        except ImportError as e:
            raise MnemeError(
                "PrometheusMetricsHook needs prometheus_client. Remediation: pip install prometheus-client"
            ) from e
        self.registry = registry if registry is not None else pc.REGISTRY
        self._namespace = namespace

        def name(metric: str) -> str:
            return f"{namespace}_{metric}"

        kw = {"registry": self.registry}
        self._hits = pc.Counter(name("hits_total"), HELP["hits_total"], ["layer", "namespace"], **kw)
        self._misses = pc.Counter(name("misses_total"), HELP["misses_total"], ["reason", "namespace"], **kw)
        self._evictions = pc.Counter(name("evictions_total"), HELP["evictions_total"], ["namespace"], **kw)
        self._expirations = pc.Counter(name("expirations_total"), HELP["expirations_total"], ["namespace"], **kw)
        self._similarity = pc.Histogram(
            name("hit_similarity"), HELP["hit_similarity"], ["namespace"], buckets=SIMILARITY_BUCKETS, **kw
        )
        self._age = pc.Histogram(name("hit_age_seconds"), HELP["hit_age_seconds"], ["namespace"], buckets=AGE_BUCKETS, **kw)
        self._entries = pc.Gauge(name("entries"), HELP["entries"], ["namespace"], **kw)
        self._memory_bytes = pc.Gauge(name("memory_bytes"), HELP["memory_bytes"], ["namespace"], **kw)

    def __call__(self, event: str, attrs: dict[str, Any]) -> None:
        ns = namespace_of(attrs)
        if event == "hit":
            self._hits.labels(layer=str(attrs.get("layer") or "unknown"), namespace=ns).inc()
            if "similarity" in attrs:
                self._similarity.labels(namespace=ns).observe(float(attrs["similarity"]))
            if "age_seconds" in attrs:
                self._age.labels(namespace=ns).observe(float(attrs["age_seconds"]))
        elif event == "miss":
            self._misses.labels(reason=str(attrs.get("reason") or "unknown"), namespace=ns).inc()
        elif event in ("eviction", "expired"):
            count = int(attrs.get("count", 0))
            if count > 0:
                (self._evictions if event == "eviction" else self._expirations).labels(namespace=ns).inc(count)

    def update_gauges(self, stats: Any) -> None:
        label = gauge_label(stats)
        self._entries.labels(namespace=label).set(stats.entries)
        self._memory_bytes.labels(namespace=label).set(stats.memory_bytes_estimate)
