"""MmapSharedCoordinator: the mmap-shared primitive at mneme-cache 1.0's module path, with its
API and file format (`<base>.vectors`, MNEMEMSC v1, and `<base>.vectors.lock`), on the engine.
Processes on one host share one memory-mapped matrix; 1.0's processes read our files and we
read theirs. Vectors are L2-normalised on append and search; scores are cosine similarities."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ._native import NativeSharedMatrix
from ._types import VectorDtype

__all__ = ["MmapSharedCoordinator"]


class MmapSharedCoordinator:
    """A vector matrix shared by the processes of one host through `<base_path>.vectors`."""

    __slots__ = ("_native",)

    def __init__(
        self,
        base_path: str | Path,
        dim: int,
        *,
        dtype: VectorDtype = "float32",
        embedder_fingerprint: str = "",
        initial_capacity: int = 1024,
    ) -> None:
        self._native = NativeSharedMatrix(str(base_path), dim, dtype, embedder_fingerprint, initial_capacity)

    @property
    def dim(self) -> int:
        return self._native.dim

    @property
    def dtype(self) -> VectorDtype:
        return self._native.dtype  # type: ignore[no-any-return]

    def read_header(self) -> tuple[int, int, int, VectorDtype, bytes]:
        """`(dim, count, capacity, dtype, sha256 of the embedder fingerprint)`."""
        return self._native.read_header()  # type: ignore[no-any-return]

    def append(self, row_id: int, vec: npt.NDArray[Any], namespace: str) -> None:
        self._native.append(row_id, np.asarray(vec, dtype=np.float32), namespace)

    def remove(self, row_id: int) -> bool:
        return self._native.remove(row_id)  # type: ignore[no-any-return]

    def search(self, query: npt.NDArray[Any], namespace: str, *, k: int = 1) -> list[tuple[int, float]]:
        return self._native.search(np.asarray(query, dtype=np.float32), namespace, k)  # type: ignore[no-any-return]

    def close(self) -> None:
        self._native.close()
