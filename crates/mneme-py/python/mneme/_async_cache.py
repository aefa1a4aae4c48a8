"""AsyncSemanticCache: the same engine, with an async embedder awaited between the layers and
store work run off the event loop."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy.typing as npt

from . import _native
from ._adapters import to_async_embedder
from ._cache import SemanticCache, _Configured, _rows
from ._embedding import AwaitedEmbedder, EmbedderAdapter, as_f32
from ._exceptions import CacheClosedError
from ._types import (
    AsyncEmbedder,
    ConfidenceFn,
    Health,
    Hit,
    IndexBackend,
    MetricsHook,
    MultiProcessMode,
    Stats,
    Store,
    Validator,
    VectorDtype,
)

__all__ = ["AsyncSemanticCache"]

_log = logging.getLogger("mneme.async_cache")


class AsyncSemanticCache(_Configured):
    """SemanticCache for asyncio code. Same arguments, results, errors and counters."""

    __slots__ = ("_cache", "_embedder", "_normalize", "__weakref__")

    @staticmethod
    def _adapter(embedder: Any) -> EmbedderAdapter:
        return EmbedderAdapter(AwaitedEmbedder(embedder))

    def _keep(self, native: Any, embedder: Any, options: Any) -> None:
        self._cache = SemanticCache._wrap(native)
        # The built-in embedders are synchronous (and release the GIL): awaited on a worker
        # thread, so they serve as an async embedder as they are.
        if isinstance(embedder, (_native.LocalEmbedder, _native.RemoteEmbedder)):
            embedder = to_async_embedder(embedder)
        self._embedder = embedder
        self._normalize = options.normalize

    @property
    def _store(self) -> Any:
        """The store in use, as on `SemanticCache`."""
        return self._cache._store

    def _key(self, query: str) -> str:
        return _native.normalize(query) if self._normalize else query

    def _check_open(self) -> None:
        if self._cache._native.is_closed():
            raise CacheClosedError("the cache is closed. Remediation: open a new cache instance")

    async def get(
        self,
        query: str,
        *,
        embedding: npt.NDArray[Any] | None = None,
        namespace: str = "default",
        bypass: bool = False,
    ) -> Hit | None:
        native = self._cache._native
        if bypass:
            return await asyncio.to_thread(native.get, query, None, namespace, True)
        # A repeated exact hit is answered from memory in about a microsecond: cheaper here
        # than a hop to a worker thread. Anything that needs the store goes to the thread.
        hit = native.get_exact_in_memory(query, namespace)
        if hit is None:
            hit = await asyncio.to_thread(native.get_exact, query, namespace)
        if hit is not None:
            return hit
        if embedding is None:
            self._check_open()
            try:
                embedding = await self._embedder.embed(self._key(query))
            except Exception:
                _log.warning("Async embedder failed during get; treating as a miss", exc_info=True)
                await asyncio.to_thread(native.record_miss, namespace, "embedder_failure")
                return None
        return await asyncio.to_thread(native.get, query, as_f32(embedding), namespace, False)

    async def put(
        self,
        query: str,
        response: str,
        *,
        embedding: npt.NDArray[Any] | None = None,
        namespace: str = "default",
        metadata: dict[str, Any] | None = None,
        ttl: int | None = None,
    ) -> None:
        self._check_open()
        if embedding is None:
            embedding = await self._embedder.embed(self._key(query))
        await asyncio.to_thread(
            self._cache._native.put, query, response, as_f32(embedding), namespace, metadata, ttl
        )

    async def put_many(
        self,
        items: Iterable[tuple[Any, ...]],
        *,
        namespace: str = "default",
        ttl: int | None = None,
        embeddings: Sequence[Any] | None = None,
    ) -> int:
        """As ``SemanticCache.put_many``; the texts are embedded by awaiting the embedder,
        concurrently, before anything is written."""
        self._check_open()
        items = list(items)
        if embeddings is None:
            embeddings = await asyncio.gather(*(self._embedder.embed(self._key(item[0])) for item in items))
        rows = _rows(items, embeddings)
        return await asyncio.to_thread(self._cache._native.put_many, rows, namespace, ttl)

    async def delete(self, query: str, *, namespace: str = "default") -> bool:
        return await asyncio.to_thread(self._cache.delete, query, namespace=namespace)

    async def vacuum(self, *, namespace: str | None = None, compact: bool = True) -> int:
        return await asyncio.to_thread(self._cache.vacuum, namespace=namespace, compact=compact)

    async def compact(self) -> int:
        return await asyncio.to_thread(self._cache.compact)

    async def dumps(self, dest: str | Path) -> None:
        await asyncio.to_thread(self._cache.dumps, os.fspath(dest))

    async def close(self) -> None:
        await asyncio.to_thread(self._cache.close)

    @classmethod
    async def loads(cls, source: str | Path, path: str | Path, embedder: AsyncEmbedder, **kwargs: Any) -> AsyncSemanticCache:
        native, options = await asyncio.to_thread(cls._loads_native, source, path, embedder, kwargs)
        cache = cls.__new__(cls)
        cache._keep(native, embedder, options)
        return cache

    # Synchronous, as in mneme-cache 1.0.
    def stats(self, *, namespace: str | None = None) -> Stats:
        return self._cache.stats(namespace=namespace)

    def health(self) -> Health:
        return self._cache.health()

    def list_namespaces(self) -> list[str]:
        return self._cache.list_namespaces()

    def clear_namespace(self, namespace: str) -> int:
        return self._cache.clear_namespace(namespace)

    def clear(self) -> int:
        return self._cache.clear()

    def requantize(self, dtype: VectorDtype) -> None:
        self._cache.requantize(dtype)

    def set_similarity_threshold(self, value: float) -> None:
        self._cache.set_similarity_threshold(value)

    def set_namespace_threshold(self, namespace: str, threshold: float | None) -> None:
        self._cache.set_namespace_threshold(namespace, threshold)

    def namespace_thresholds(self) -> dict[str, float]:
        return self._cache.namespace_thresholds()

    def set_namespace_verifier(self, namespace: str, verifier: str | None) -> None:
        self._cache.set_namespace_verifier(namespace, verifier)

    def namespace_verifiers(self) -> dict[str, str]:
        return self._cache.namespace_verifiers()

    @property
    def similarity_threshold(self) -> float:
        return self._cache.similarity_threshold

    def __repr__(self) -> str:
        state = "closed" if self._cache._native.is_closed() else "open"
        return f"<mneme.AsyncSemanticCache {state}>"

    async def __aenter__(self) -> AsyncSemanticCache:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            await self.close()
        except CacheClosedError:
            pass
