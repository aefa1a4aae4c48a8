"""Records, protocols and type aliases of mneme (the shapes of mneme-cache 1.0)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ._exceptions import *  # noqa: F401,F403  (1.0 re-exported them from here too)

VectorDtype = Literal["float32", "float16", "int8"]
HitLayer = Literal["exact", "semantic"]
IndexBackend = Literal["numpy", "hnsw", "auto"]
MultiProcessMode = Literal["single", "stale-tolerant", "mmap-shared"]
ConfidenceFn = Callable[[float, int, dict[str, Any]], float]
Validator = Callable[[str], bool]
# Beyond 1.0: `verifier(query, cached_query, similarity) -> bool` decides whether a semantic
# candidate may be served; SemanticCache(verifier=...) also takes "recommended", "guard" or
# "learned" for the built-in ones.
Verifier = Callable[[str, str, float], bool]
MetricsHook = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class Hit:
    """A cache hit."""

    response: str
    similarity: float
    confidence: float
    age_seconds: int
    layer: HitLayer
    namespace: str
    metadata: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Stats:
    """Counters and sizes, for one namespace or all (namespace None)."""

    namespace: str | None
    entries: int
    hits_exact: int
    hits_semantic: int
    misses: int
    evictions: int
    expirations: int
    embedder_fingerprint: str
    vector_dtype: str
    memory_bytes_estimate: int
    index_memory_bytes: int | None = None
    index_tombstone_count: int | None = None


@dataclass(frozen=True, slots=True)
class Health:
    """A health report; integrity problems are reported, not raised."""

    healthy: bool
    schema_version: int
    integrity_ok: bool
    embedder_fingerprint_match: bool
    entries: int
    namespaces: int
    oldest_entry_age_seconds: int | None
    index_backend: str
    store_backend: str
    vector_dtype: str
    multi_process_mode: str


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """One persisted entry (the store-level record)."""

    id: int
    namespace: str
    query_hash: str
    query: str
    response: str
    embedding: bytes
    metadata: dict[str, Any]
    created_at: int
    last_accessed_at: int
    ttl: int | None
    access_count: int


@runtime_checkable
class Embedder(Protocol):
    """Anything with `dim`, `fingerprint` and `embed(text) -> 1-D vector`."""

    dim: int
    fingerprint: str

    def embed(self, text: str) -> npt.NDArray[np.float32]: ...


@runtime_checkable
class AsyncEmbedder(Protocol):
    """Like Embedder, with `async def embed`."""

    dim: int
    fingerprint: str

    async def embed(self, text: str) -> npt.NDArray[np.float32]: ...


@runtime_checkable
class Index(Protocol):
    """A vector index (the cache's own is native)."""

    dim: int
    dtype: str

    def append(self, id: int, vector: npt.NDArray[Any], namespace: str) -> None: ...
    def remove(self, id: int) -> None: ...
    def search(self, query: npt.NDArray[Any], namespace: str, k: int = 3) -> list[tuple[int, float]]: ...
    def rebuild_from(self, rows: Any) -> None: ...
    def compact(self) -> int: ...
    def requantize(self, dtype: str) -> None: ...
    def size(self) -> int: ...


@runtime_checkable
class Store(Protocol):
    """The persistence contract; any object with these methods can be a cache's store."""

    def open(self, embedder_fingerprint: str, embedder_dim: int) -> None: ...
    def close(self) -> None: ...
    def get_by_hash(self, namespace: str, query_hash: str) -> StoredEntry | None: ...
    def get_by_id(self, id: int) -> StoredEntry | None: ...
    def count(self, namespace: str | None = None) -> int: ...
    def list_namespaces(self) -> list[str]: ...
    def iter_lru_ids(self, n: int, namespace: str | None = None) -> Iterator[int]: ...
    def iter_all(self) -> Iterator[StoredEntry]: ...
    def iter_since(self, last_id: int) -> Iterator[StoredEntry]: ...
    def insert(self, entry: StoredEntry) -> int: ...
    def update_access(self, id: int, now: int) -> None: ...
    def delete_by_id(self, id: int) -> bool: ...
    def delete_expired(self, now: int, namespace: str | None = None) -> int: ...
    def clear_namespace(self, namespace: str) -> int: ...
    def set_namespace_quota(self, namespace: str, max_entries: int) -> None: ...
    def get_namespace_quota(self, namespace: str) -> int | None: ...
    def read_version_counter(self) -> int: ...
    def read_meta(self, key: str) -> str | None: ...
    def write_meta(self, key: str, value: str) -> None: ...
    def integrity_check(self) -> bool: ...
    def snapshot_to(self, dest_path: str | Path) -> None: ...

    @classmethod
    def restore_from(cls, source_path: str | Path, dest_path: str | Path) -> Store: ...
