"""OTelMetricsHook: the same metrics as OpenTelemetry instruments (histogram buckets are left to
the SDK's Views)."""

from __future__ import annotations

from typing import Any

from .._exceptions import MnemeError
from ._common import HELP, gauge_label, namespace_of

__all__ = ["OTelMetricsHook"]


class OTelMetricsHook:
    """Pass as `metrics_hook=`; `update_gauges(cache.stats())` sets what the gauges report."""

    def __init__(self, meter: Any | None = None, namespace: str = "mneme") -> None:
        try:
            from opentelemetry import metrics
            from opentelemetry.metrics import Observation
        except ImportError as e:
            raise MnemeError(
                "OTelMetricsHook needs opentelemetry-api. Remediation: pip install opentelemetry-api opentelemetry-sdk"
            ) from e
        self._meter = meter if meter is not None else metrics.get_meter("mneme")
        self._last: dict[str, dict[str, float]] = {"entries": {}, "memory_bytes": {}}

        def name(metric: str) -> str:
            return f"{namespace}_{metric}"

        m = self._meter
        self._hits = m.create_counter(name("hits_total"), unit="1", description=HELP["hits_total"])
        self._misses = m.create_counter(name("misses_total"), unit="1", description=HELP["misses_total"])
        self._evictions = m.create_counter(name("evictions_total"), unit="1", description=HELP["evictions_total"])
        self._expirations = m.create_counter(name("expirations_total"), unit="1", description=HELP["expirations_total"])
        self._similarity = m.create_histogram(name("hit_similarity"), unit="1", description=HELP["hit_similarity"])
        self._age = m.create_histogram(name("hit_age_seconds"), unit="s", description=HELP["hit_age_seconds"])

        def observe(metric: str):
            def callback(_options: Any):
                return [Observation(v, {"namespace": ns}) for ns, v in self._last[metric].items()]

            return callback

        m.create_observable_gauge(name("entries"), callbacks=[observe("entries")], unit="1", description=HELP["entries"])
        m.create_observable_gauge(
            name("memory_bytes"), callbacks=[observe("memory_bytes")], unit="By", description=HELP["memory_bytes"]
        )

    def __call__(self, event: str, attrs: dict[str, Any]) -> None:
        ns = namespace_of(attrs)
        if event == "hit":
            self._hits.add(1, {"layer": str(attrs.get("layer") or "unknown"), "namespace": ns})
            if "similarity" in attrs:
                self._similarity.record(float(attrs["similarity"]), {"namespace": ns})
            if "age_seconds" in attrs:
                self._age.record(float(attrs["age_seconds"]), {"namespace": ns})
        elif event == "miss":
            self._misses.add(1, {"reason": str(attrs.get("reason") or "unknown"), "namespace": ns})
        elif event in ("eviction", "expired"):
            count = int(attrs.get("count", 0))
            if count > 0:
                (self._evictions if event == "eviction" else self._expirations).add(count, {"namespace": ns})

    def update_gauges(self, stats: Any) -> None:
        label = gauge_label(stats)
        self._last["entries"][label] = float(stats.entries)
        self._last["memory_bytes"][label] = float(stats.memory_bytes_estimate)
