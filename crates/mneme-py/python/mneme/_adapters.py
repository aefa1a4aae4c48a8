"""Adapters between sync and async embedders (dim and fingerprint are preserved)."""

from __future__ import annotations

import asyncio
from typing import Any

from ._types import AsyncEmbedder, Embedder

__all__ = ["to_async_embedder", "to_sync_embedder"]


class _AsyncFromSync:
    __slots__ = ("_inner", "dim", "fingerprint")

    def __init__(self, inner: Embedder) -> None:
        self._inner = inner
        self.dim = inner.dim
        self.fingerprint = inner.fingerprint

    async def embed(self, text: str) -> Any:
        return await asyncio.to_thread(self._inner.embed, text)


class _SyncFromAsync:
    __slots__ = ("_inner", "dim", "fingerprint")

    def __init__(self, inner: AsyncEmbedder) -> None:
        self._inner = inner
        self.dim = inner.dim
        self.fingerprint = inner.fingerprint

    def embed(self, text: str) -> Any:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self._inner.embed(text))
        raise RuntimeError(
            "to_sync_embedder(...).embed was called inside a running event loop; "
            "await the async embedder instead, or use AsyncSemanticCache"
        )


def to_async_embedder(embedder: Embedder) -> AsyncEmbedder:
    """Runs a sync embedder's `embed` on a worker thread."""
    return _AsyncFromSync(embedder)


def to_sync_embedder(embedder: AsyncEmbedder) -> Embedder:
    """Runs an async embedder's coroutine on a fresh event loop per call (not inside a running
    loop: that raises RuntimeError)."""
    return _SyncFromAsync(embedder)
