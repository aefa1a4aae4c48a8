"""The metrics adapters export what mneme-cache 1.0's export: the same Prometheus exposition
(creation timestamps aside) and the same OpenTelemetry instruments and data points."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import mneme
from test_compat import peer_python

HERE = Path(__file__).parent


def exported(python):
    out = subprocess.run([python, str(HERE / "adapters_workload.py")], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_prometheus_and_otel_exports_match_mneme_cache():
    ours, theirs = exported(sys.executable), exported(peer_python())
    assert len(ours["prometheus"]) > 40
    assert ours["prometheus"] == theirs["prometheus"]
    assert ours["otel"] == theirs["otel"]


def test_a_cache_feeds_the_prometheus_hook(tmp_path, emb):
    import prometheus_client as pc

    from mneme.adapters.prometheus import PrometheusMetricsHook

    registry = pc.CollectorRegistry()
    hook = PrometheusMetricsHook(registry=registry)
    with mneme.SemanticCache(str(tmp_path / "c.db"), emb, metrics_hook=hook) as c:
        c.put("q", "r")
        c.get("q")
        c.get("other", bypass=True)
        hook.update_gauges(c.stats())
    text = pc.generate_latest(registry).decode()
    assert 'mneme_hits_total{layer="exact",namespace="default"} 1.0' in text
    assert 'mneme_misses_total{namespace="default",reason="bypass"} 1.0' in text
    assert 'mneme_entries{namespace="_total"} 1.0' in text
