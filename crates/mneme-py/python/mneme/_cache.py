"""SemanticCache: mneme-cache 1.0's class on the Rust engine. This module only adapts the
Python surface (arguments, dataclasses); every behaviour is in the engine."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy.typing as npt

from . import _native
from ._embedding import EmbedderAdapter, as_f32
from ._types import (
    AsyncEmbedder,
    ConfidenceFn,
    Embedder,
    Health,
    Hit,
    IndexBackend,
    MetricsHook,
    MultiProcessMode,
    Stats,
    Store,
    Validator,
    VectorDtype,
    Verifier,
)

__all__ = ["SemanticCache"]


def _maybe_f32(embedding: Any) -> Any:
    return None if embedding is None else as_f32(embedding)


def _rows(items: Iterable[tuple[Any, ...]], embeddings: Sequence[Any] | None) -> list[tuple[Any, ...]]:
    """``put_many``'s items as ``(query, response, metadata, embedding)`` tuples."""
    items = list(items)
    if embeddings is not None and len(embeddings) != len(items):
        raise ValueError(f"put_many got {len(items)} items but {len(embeddings)} embeddings; pass one per item")
    rows = []
    for i, item in enumerate(items):
        if len(item) not in (2, 3):
            raise ValueError(f"put_many item {i} has {len(item)} fields; pass (query, response) or (query, response, metadata)")
        metadata = item[2] if len(item) == 3 else None
        vector = None if embeddings is None else as_f32(embeddings[i])
        rows.append((item[0], item[1], metadata, vector))
    return rows


# The engine's defaults; the signature below reads each one from here.
_DEFAULTS = _native.CacheOptions()


class _Configured:
    """The constructor SemanticCache and AsyncSemanticCache share: mneme-cache 1.0's
    signature, spelled once. Subclasses say how to wrap the embedder and keep the native cache."""

    __slots__ = ()

    def __init__(
        self,
        path: str | Path | None = None,
        embedder: Embedder | AsyncEmbedder | None = None,
        *,
        store: Store | None = None,
        similarity_threshold: float = _DEFAULTS.similarity_threshold,
        default_ttl: int | None = None,
        max_entries: int | None = None,
        namespace_quotas: dict[str, int] | None = None,
        confidence_fn: ConfidenceFn | None = None,
        validator: Validator | None = None,
        metrics_hook: MetricsHook | None = None,
        normalize: bool = _DEFAULTS.normalize,
        index_backend: IndexBackend = _DEFAULTS.index_backend,
        index_options: dict[str, Any] | None = None,
        vector_dtype: VectorDtype = _DEFAULTS.vector_dtype,
        multi_process_mode: MultiProcessMode = _DEFAULTS.multi_process_mode,
        stale_check_interval: float = _DEFAULTS.stale_check_interval,
        max_query_bytes: int = _DEFAULTS.max_query_bytes,
        max_response_bytes: int = _DEFAULTS.max_response_bytes,
        max_metadata_bytes: int = _DEFAULTS.max_metadata_bytes,
        verifier: Verifier | str | None = None,
    ) -> None:
        if (path is None) == (store is None):
            raise ValueError("exactly one of path or store is required")
        if embedder is None:
            raise ValueError("embedder is required")
        adapter = self._adapter(embedder)
        options = _native.CacheOptions(
            similarity_threshold=float(similarity_threshold),
            default_ttl=default_ttl,
            max_entries=max_entries,
            namespace_quotas=namespace_quotas,
            confidence_fn=confidence_fn,
            validator=validator,
            metrics_hook=metrics_hook,
            normalize=normalize,
            index_backend=index_backend,
            index_options=index_options,
            vector_dtype=vector_dtype,
            multi_process_mode=multi_process_mode,
            stale_check_interval=stale_check_interval,
            max_query_bytes=max_query_bytes,
            max_response_bytes=max_response_bytes,
            max_metadata_bytes=max_metadata_bytes,
            verifier=verifier,
        )
        native = _native.NativeCache(
            None if path is None else os.fspath(path), store, adapter, adapter.dim, adapter.fingerprint, options
        )
        self._keep(native, embedder, options)

    @staticmethod
    def _adapter(embedder: Any) -> EmbedderAdapter:
        raise NotImplementedError

    def _keep(self, native: Any, embedder: Any, options: Any) -> None:
        raise NotImplementedError

    @classmethod
    def _loads_native(cls, source: str | Path, path: str | Path, embedder: Any, kwargs: dict[str, Any]) -> Any:
        """The native half of `loads`: keyword arguments are the constructor's, plus
        `max_member_bytes`; returns (native cache, options)."""
        max_member_bytes = kwargs.pop("max_member_bytes", None)
        if "store" in kwargs:
            raise ValueError("loads restores into a SQLite file at path; it takes no store")
        adapter = cls._adapter(embedder)
        options = _native.CacheOptions(**kwargs)
        native = _native.NativeCache.loads(
            os.fspath(source), os.fspath(path), adapter, adapter.dim, adapter.fingerprint, options, max_member_bytes
        )
        return native, options


class SemanticCache(_Configured):
    """A layered semantic cache: exact match on the normalised query's hash, then cosine
    similarity over stored embeddings."""

    __slots__ = ("_native", "__weakref__")

    @staticmethod
    def _adapter(embedder: Any) -> EmbedderAdapter:
        return EmbedderAdapter(embedder)

    def _keep(self, native: Any, embedder: Any, options: Any) -> None:
        self._native = native

    @classmethod
    def _wrap(cls, native: Any) -> SemanticCache:
        cache = cls.__new__(cls)
        cache._native = native
        return cache

    @property
    def _store(self) -> Any:
        """The store in use (the one passed, or the `SQLiteStore` on `path`), as 1.0 code expects."""
        return self._native.store

    def get(
        self,
        query: str,
        *,
        embedding: npt.NDArray[Any] | None = None,
        namespace: str = "default",
        bypass: bool = False,
    ) -> Hit | None:
        return self._native.get(query, _maybe_f32(embedding), namespace, bypass)

    def put(
        self,
        query: str,
        response: str,
        *,
        embedding: npt.NDArray[Any] | None = None,
        namespace: str = "default",
        metadata: dict[str, Any] | None = None,
        ttl: int | None = None,
    ) -> None:
        self._native.put(query, response, _maybe_f32(embedding), namespace, metadata, ttl)

    def put_many(
        self,
        items: Iterable[tuple[Any, ...]],
        *,
        namespace: str = "default",
        ttl: int | None = None,
        embeddings: Sequence[Any] | None = None,
    ) -> int:
        """Caches many ``(query, response)`` or ``(query, response, metadata)`` items as ``put``
        would, embedding the texts in batches and writing one transaction per batch. Every item
        is checked and embedded before anything is written. ``embeddings``, if given, holds one
        vector per item (nothing is embedded then). Returns how many items were written."""
        return self._native.put_many(_rows(items, embeddings), namespace, ttl)

    def delete(self, query: str, *, namespace: str = "default") -> bool:
        return self._native.delete(query, namespace)

    def vacuum(self, *, namespace: str | None = None, compact: bool = True) -> int:
        return self._native.vacuum(namespace, compact)

    def compact(self) -> int:
        return self._native.compact()

    def stats(self, *, namespace: str | None = None) -> Stats:
        return Stats(*self._native.stats(namespace))

    def health(self) -> Health:
        return Health(*self._native.health())

    def list_namespaces(self) -> list[str]:
        return self._native.list_namespaces()

    def clear_namespace(self, namespace: str) -> int:
        return self._native.clear_namespace(namespace)

    def clear(self) -> int:
        return self._native.clear()

    def requantize(self, dtype: VectorDtype) -> None:
        self._native.requantize(dtype)

    def set_similarity_threshold(self, value: float) -> None:
        self._native.set_similarity_threshold(float(value))

    def set_namespace_threshold(self, namespace: str, threshold: float | None) -> None:
        """Beyond 1.0: `namespace`'s own threshold (None removes it), stored with the cache so
        every later open uses it (what `mneme calibrate --max-false-hits --write` sets)."""
        self._native.set_namespace_threshold(namespace, None if threshold is None else float(threshold))

    def namespace_thresholds(self) -> dict[str, float]:
        """Beyond 1.0: the per-namespace thresholds in force."""
        return self._native.namespace_thresholds()

    def set_namespace_verifier(self, namespace: str, verifier: str | None) -> None:
        """Beyond 1.0: `namespace`'s own built-in verifier ("default" or "recommended", "guard",
        "learned", or "off" for similarity alone; None removes it), stored with the cache so
        every later open uses it there instead of the cache's `verifier` (what
        `mneme calibrate --max-false-hits --write` sets)."""
        self._native.set_namespace_verifier(namespace, verifier)

    def namespace_verifiers(self) -> dict[str, str]:
        """Beyond 1.0: the per-namespace verifiers in force, by name."""
        return self._native.namespace_verifiers()

    @property
    def similarity_threshold(self) -> float:
        return self._native.similarity_threshold

    def dumps(self, dest: str | Path) -> None:
        self._native.dumps(os.fspath(dest))

    @staticmethod
    def loads(source: str | Path, path: str | Path, embedder: Embedder, **kwargs: Any) -> SemanticCache:
        """Restores an archive written by dumps() into `path` and opens it. Keyword arguments are
        SemanticCache's (they win over the archive's dtype), plus `max_member_bytes`."""
        native, _ = SemanticCache._loads_native(source, path, embedder, kwargs)
        return SemanticCache._wrap(native)

    def close(self) -> None:
        self._native.close()

    def __enter__(self) -> SemanticCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._native.is_closed() else "open"
        return f"<mneme.SemanticCache {state}>"

