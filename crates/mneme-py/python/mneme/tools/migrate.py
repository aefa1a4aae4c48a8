"""Re-embed migration (mneme-cache 1.0's `mneme.tools.migrate`), on the engine: copy a SQLite
cache with every vector recomputed by a new embedder. The source is never modified; the
destination is replaced atomically only when every row succeeded. Counters and quotas are not
carried over."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import _native
from .._embedding import EmbedderAdapter, as_f32

__all__ = ["reembed", "areembed"]

_log = logging.getLogger("mneme.tools.migrate")


def _require_source(source_path: str | Path) -> None:
    if not os.path.exists(source_path):
        raise FileNotFoundError(f"reembed source not found: {source_path}")


def _reporter(progress: bool):
    def report(done: int, total: int) -> None:
        pct = 100.0 * done / total if total else 100.0
        sys.stderr.write(f"\r  reembed: {done}/{total} ({pct:.1f}%)")
        sys.stderr.flush()

    return report if progress else None


def reembed(
    source_path: str | Path,
    dest_path: str | Path,
    new_embedder: Any,
    *,
    batch_size: int = 64,
    progress: bool = False,
    namespaces: Sequence[str] | None = None,
) -> int:
    """Returns the number of rows migrated."""
    _require_source(source_path)
    adapter = EmbedderAdapter(new_embedder)
    count = _native.reembed(
        os.fspath(source_path), os.fspath(dest_path), adapter, adapter.dim, adapter.fingerprint,
        max(1, int(batch_size)), None if namespaces is None else list(namespaces), _reporter(progress),
    )
    if progress:
        sys.stderr.write("\n")
    _log.info("re-embedded %d rows from %s into %s", count, source_path, dest_path)
    return count


async def areembed(
    source_path: str | Path,
    dest_path: str | Path,
    new_embedder: Any,
    *,
    batch_size: int = 64,
    progress: bool = False,
    concurrency: int = 8,
    namespaces: Sequence[str] | None = None,
) -> int:
    """reembed() with an async embedder: up to `concurrency` embeds in flight, chunks written in
    order."""
    _require_source(source_path)
    session = await asyncio.to_thread(
        _native.NativeMigration, os.fspath(source_path), os.fspath(dest_path),
        str(new_embedder.fingerprint), int(new_embedder.dim), None if namespaces is None else list(namespaces),
    )
    texts = session.texts()
    total, step = len(texts), max(1, int(batch_size))
    limit = asyncio.Semaphore(max(1, int(concurrency)))
    report = _reporter(progress)

    async def embed(text: str):
        async with limit:
            return as_f32(await new_embedder.embed(text))

    for start in range(0, total, step):
        vectors = await asyncio.gather(*(embed(t) for t in texts[start:start + step]))
        await asyncio.to_thread(session.write_next, list(vectors))
        if report:
            report(min(start + step, total), total)
    count = await asyncio.to_thread(session.commit)
    if progress:
        sys.stderr.write("\n")
    _log.info("re-embedded %d rows from %s into %s", count, source_path, dest_path)
    return count
