"""NumpyIndex: the engine's flat (exact) index with mneme-cache 1.0's API. Scores are raw dot
products of what you pass: normalise vectors yourself for cosine similarity."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

from ._native import NativeIndex
from ._types import VectorDtype

__all__ = ["NumpyIndex"]


def _f32(v: Any) -> np.ndarray:
    return np.asarray(v, dtype=np.float32)


class _EngineIndex:
    """The 1.0 index API over an engine index (shared by NumpyIndex and HnswIndex)."""

    __slots__ = ("_native",)

    _native: NativeIndex

    def append(self, row_id: int, vec: npt.NDArray[Any], namespace: str) -> None:
        self._native.append(row_id, _f32(vec), namespace)

    def remove(self, row_id: int) -> None:
        self._native.remove(row_id)

    def search(self, query: npt.NDArray[Any], namespace: str, *, k: int = 1) -> list[tuple[int, float]]:
        return self._native.search(_f32(query), namespace, k)

    def rebuild_from(self, rows: Iterable[tuple[int, npt.NDArray[Any], str]]) -> None:
        self._native.rebuild_from([(int(i), _f32(v), ns) for i, v, ns in rows])

    def compact(self) -> None:
        self._native.compact()

    def requantize(self, dtype: VectorDtype) -> None:
        self._native.requantize(dtype)

    @property
    def size(self) -> int:
        return self._native.size

    @property
    def dim(self) -> int:
        return self._native.dim

    @property
    def dtype(self) -> str:
        return self._native.dtype

    @property
    def memory_bytes(self) -> int:
        return self._native.memory_bytes

    @property
    def tombstone_count(self) -> int:
        return self._native.tombstone_count


class NumpyIndex(_EngineIndex):
    """A dense matrix per dtype with per-namespace rows, tombstones and compaction."""

    __slots__ = ()

    def __init__(self, dim: int, *, dtype: VectorDtype = "float32", initial_capacity: int = 256) -> None:
        self._native = NativeIndex.flat(dim, dtype, initial_capacity)
