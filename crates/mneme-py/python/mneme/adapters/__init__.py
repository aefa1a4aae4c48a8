"""Metrics hooks for Prometheus and OpenTelemetry (metric names and labels of mneme-cache 1.0).
Each is a callable to pass as `metrics_hook=`; the client library is needed only when one is
constructed."""
