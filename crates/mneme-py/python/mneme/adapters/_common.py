"""The event-to-metric rules shared by the adapters (the names, labels and buckets of mneme-cache 1.0)."""

from __future__ import annotations

from typing import Any

SIMILARITY_BUCKETS = (0.5, 0.7, 0.85, 0.9, 0.95, 0.99, 1.0)
AGE_BUCKETS = (60, 600, 3600, 86400, 604800)

HELP = {
    "hits_total": "Total cache hits.",
    "misses_total": "Total cache misses.",
    "evictions_total": "Total entries evicted by LRU.",
    "expirations_total": "Total entries expired by TTL.",
    "hit_similarity": "Cosine similarity of cache hits.",
    "hit_age_seconds": "Age of cache hits in seconds.",
    "entries": "Number of entries currently in the cache.",
    "memory_bytes": "Approximate index memory footprint in bytes.",
}


def namespace_of(attrs: dict[str, Any]) -> str:
    return str(attrs.get("namespace") or "default")


def gauge_label(stats: Any) -> str:
    return "_total" if stats.namespace is None else str(stats.namespace)
