"""Turning whatever an embedder returns into the contiguous 1-D float32 array the engine reads."""

from __future__ import annotations

from typing import Any

import numpy as np

_EMPTY = np.empty(0, dtype=np.float32)


def as_f32(vector: Any) -> np.ndarray:
    """A contiguous 1-D float32 view or copy (no copy for a contiguous float32 array). Any other
    shape gives an empty array, which the engine treats as a wrong shape (a `dim_mismatch` miss on
    get, EmbedderDimensionError on put)."""
    array = np.asarray(vector, dtype=np.float32)
    if array.ndim != 1:
        return _EMPTY
    return np.ascontiguousarray(array)


class EmbedderAdapter:
    """What the engine calls: `embed_f32(text)` for a sync embedder."""

    __slots__ = ("embedder", "dim", "fingerprint")

    def __init__(self, embedder: Any) -> None:
        self.embedder = embedder
        self.dim = int(embedder.dim)
        self.fingerprint = str(embedder.fingerprint)

    def embed_f32(self, text: str) -> np.ndarray:
        return as_f32(self.embedder.embed(text))


class AwaitedEmbedder:
    """For the async cache: the engine never embeds (vectors are awaited and passed in)."""

    __slots__ = ("dim", "fingerprint")

    def __init__(self, embedder: Any) -> None:
        self.dim = int(embedder.dim)
        self.fingerprint = str(embedder.fingerprint)

    def embed_f32(self, text: str) -> np.ndarray:
        raise RuntimeError("the async cache passes awaited embeddings; the engine never embeds")
