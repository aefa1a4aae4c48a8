"""SQLiteStore: the embedded default, one file, byte-compatible with mneme-cache 1.0."""

from ._native import SQLiteStore

__all__ = ["SQLiteStore"]
