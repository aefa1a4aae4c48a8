"""Query normalisation and hashing (the engine's, byte-identical to mneme-cache 1.0)."""

from ._native import hash_query, normalize

__all__ = ["normalize", "hash_query"]
