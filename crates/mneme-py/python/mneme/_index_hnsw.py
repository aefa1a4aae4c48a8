"""HnswIndex: the engine's HNSW (approximate) index with mneme-cache 1.0's API, for all three
dtypes. Scores are raw dot products of what you pass: normalise vectors for cosine similarity."""

from __future__ import annotations

from typing import Any

from ._index import _EngineIndex
from ._native import NativeIndex
from ._types import VectorDtype

__all__ = ["HnswIndex"]

_DEFAULTS = {"M": 16, "ef_construction": 200, "ef": 50, "initial_max_elements": 10_000}


class HnswIndex(_EngineIndex):
    """One graph per namespace; deletes are tombstones until ``compact()``."""

    __slots__ = ()

    def __init__(
        self, dim: int, *, dtype: VectorDtype = "float32", index_options: dict[str, Any] | None = None
    ) -> None:
        options = dict(index_options or {})
        unknown = sorted(set(options) - set(_DEFAULTS))
        if unknown:
            raise TypeError(
                f"HnswIndex: unknown index_options {unknown}. Remediation: use {sorted(_DEFAULTS)}."
            )
        o = {**_DEFAULTS, **options}
        self._native = NativeIndex.hnsw(dim, dtype, o["M"], o["ef_construction"], o["ef"], o["initial_max_elements"])
