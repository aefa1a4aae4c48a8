"""AsyncSemanticCache: same results over the same engine, embedder awaited without the lock."""

import asyncio
import logging

import numpy as np
import pytest

import mneme
from conftest import TableEmbedder, axis


class AsyncTable:
    def __init__(self, dim=8, delay=0.0):
        self.inner = TableEmbedder(dim)
        self.dim, self.fingerprint, self.delay = dim, self.inner.fingerprint, delay

    async def embed(self, text):
        if self.delay:
            await asyncio.sleep(self.delay)
        return self.inner.embed(text)


def run(coro):
    return asyncio.run(coro)


def test_exact_hits_skip_the_embedder_and_semantic_embeds_once(db):
    async def main():
        e = AsyncTable()
        e.inner.table.update({"cat": axis(8, 0), "feline": axis(8, 0)})
        async with mneme.AsyncSemanticCache(db, e) as c:
            await c.put("cat", "meow")
            assert (await c.get("cat")).layer == "exact"
            assert len(e.inner.calls) == 1
            assert (await c.get("feline")).layer == "semantic"
            assert len(e.inner.calls) == 2
            hits = await asyncio.gather(*[c.get(f"k{i % 20}") for i in range(100)])
            assert all(h is None for h in hits)
            for i in range(20):
                await c.put(f"k{i}", "v")
            hits = await asyncio.gather(*[c.get(f"k{i % 20}") for i in range(100)])
            assert all(h is not None and h.layer == "exact" for h in hits)
            assert c.stats().entries == 21

    run(main())


def test_failures_cancellation_and_closed(db, caplog):
    async def main():
        e = AsyncTable()
        c = mneme.AsyncSemanticCache(db, e)
        e.inner.fail_from = 1
        with caplog.at_level(logging.WARNING, logger="mneme.async_cache"):
            assert await c.get("q") is None
        assert c.stats().misses == 1
        with pytest.raises(ConnectionError):
            await c.put("q", "r")
        e.inner.fail_from = None
        e.delay = 0.5
        task = asyncio.create_task(c.put("slow", "r"))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert c.stats().entries == 0, "a cancelled put leaves no entry"
        await c.close()
        with pytest.raises(mneme.CacheClosedError):
            await c.put("q", "r")
        assert len(e.inner.calls) == 2, "put on a closed cache does not embed"

    run(main())
    assert any(r.name == "mneme.async_cache" for r in caplog.records)


def test_adapters():
    sync = TableEmbedder(8)
    a = mneme.to_async_embedder(sync)
    assert (a.dim, a.fingerprint) == (8, sync.fingerprint)
    v = asyncio.run(a.embed("x"))
    back = mneme.to_sync_embedder(a)
    assert np.array_equal(back.embed("x"), v)

    async def inside_loop():
        with pytest.raises(RuntimeError, match="running event loop"):
            back.embed("x")

    asyncio.run(inside_loop())


def test_async_checkpoints(tmp_path):
    async def main():
        e = AsyncTable()
        async with mneme.AsyncSemanticCache(str(tmp_path / "a.db"), e) as c:
            await c.put("q", "r")
            await c.dumps(str(tmp_path / "a.tar.gz"))
        r = await mneme.AsyncSemanticCache.loads(str(tmp_path / "a.tar.gz"), str(tmp_path / "r.db"), e)
        assert (await r.get("q")).response == "r"
        await r.close()

    run(main())


def test_repeated_exact_hits_answered_on_the_loop_still_see_other_writers(db):
    async def main():
        async with mneme.AsyncSemanticCache(db, AsyncTable()) as c:
            other = mneme.SemanticCache(db, AsyncTable().inner)
            await c.put("cat", "meow")
            first = await c.get("cat")
            again = [await c.get("  CAT ") for _ in range(3)]  # from memory, no thread hop
            assert first == again[0] and all(h.response == "meow" and h.layer == "exact" for h in again)
            assert c.stats().hits_exact == 4
            other.put("cat", "purr")
            assert (await c.get("cat")).response == "purr"
            assert (await c.get("cat")).response == "purr"
            other.delete("cat")
            assert await c.get("cat", embedding=axis(8, 5)) is None
            other.close()

    run(main())
