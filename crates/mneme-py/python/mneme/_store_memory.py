"""MemoryStore: entries in process memory (the engine's MemoryStore)."""

from ._native import MemoryStore

__all__ = ["MemoryStore"]
