"""One Python benchmark workload, run unchanged under mneme-cache 1.0 and under our `mneme`
(`compare.py` runs it in both virtual environments and prints the table).

Usage: workload.py BENCH_DIR ROWS CALLS   (prints one JSON object of {row: {p50, p99, n}})
Follows mneme-cache's published methodology (its benchmark harness) on seeded files that
compare.py creates; exact gets use the real query hashes.
"""

import asyncio
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np

import mneme

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "mneme", "benches"))
from bench_common import PerfEmbedder, copy_db as copy, hit_throughput, timed  # noqa: E402


class AsyncPerfEmbedder(PerfEmbedder):
    async def embed(self, text):
        return PerfEmbedder.embed(self, text)


def main():
    bench_dir, rows, calls = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    slow = max(calls // 10, 20)  # 1.0's semantic scans and opens are slow: fewer samples there
    tmp = tempfile.mkdtemp(dir=bench_dir)
    rng = np.random.default_rng(7)
    out = {}

    def unit(d):
        v = rng.standard_normal(d).astype(np.float32)
        return v / np.linalg.norm(v)

    for dim in (768, 1536):
        work = os.path.join(tmp, f"w{dim}.db")
        copy(os.path.join(bench_dir, f"seed-{rows}x{dim}.db"), work)
        if dim == 768:
            for dtype in ("float32", "int8"):
                out[f"open {dtype}, {rows} x 768"] = timed(5, lambda i: mneme.SemanticCache(path=work, embedder=PerfEmbedder(dim), vector_dtype=dtype).close())
        c = mneme.SemanticCache(path=work, embedder=PerfEmbedder(dim))
        queries = [unit(dim) for _ in range(100)]
        if dim == 768:
            for i in range(100):
                c.get(f"q{i * 37 % rows}")
            out[f"exact get @ {rows}"] = timed(calls, lambda i: c.get(f"q{(i * 7919) % rows}"))
            # Popular queries repeat: the same 100 keys again and again.
            out[f"exact get, 100 repeated keys @ {rows}"] = timed(calls, lambda i: c.get(f"q{(i % 100) * 37 % rows}"))
            # 1.0's own harness stored no real hashes, so its "exact get" was this (storage §13).
            out[f"exact get as 1.0's harness measured it (Layer-2 miss) @ {rows}"] = timed(slow, lambda i: c.get(f"absent-q{(i * 7919) % rows}"))
        for dtype in ("float32", "int8"):
            c.requantize(dtype)
            for q in queries[:5]:
                c.get("never-existed", embedding=q)
            n = calls if dtype == "float32" and dim == 768 else slow
            out[f"semantic get {dtype}, {rows} x {dim}"] = timed(n, lambda i: c.get("never-existed", embedding=queries[i % 100]))
        if dim == 768:
            c.requantize("float32")
            vecs = [unit(dim) for _ in range(calls)]
            out[f"put @ {rows}, no eviction"] = timed(calls, lambda i: c.put(f"new-{i}", "resp", embedding=vecs[i]))
        c.close()
        os.remove(work)

    work = os.path.join(tmp, "w384.db")
    copy(os.path.join(bench_dir, "seed-10000x384.db"), work)
    capped = mneme.SemanticCache(path=work, embedder=PerfEmbedder(384), max_entries=10_000)
    vecs = [unit(384) for _ in range(calls)]
    out["put with 10% eviction (cap 10k, d 384)"] = timed(calls, lambda i: capped.put(f"evict-{i}", "resp", embedding=vecs[i]))
    out["single-thread throughput, 90% hits, 10k x 384 (ops/s)"] = {"ops": hit_throughput(capped, vecs, 20 * calls)}
    capped.close()

    async def async_throughput():
        ac = mneme.AsyncSemanticCache(path=work, embedder=AsyncPerfEmbedder(384))
        sem = asyncio.Semaphore(100)

        async def one(i):
            async with sem:
                if i % 10 == 9:
                    await ac.get("miss", embedding=vecs[i % len(vecs)])
                else:
                    await ac.get(f"q{5000 + (i * 13) % 5000}")

        n = 5 * calls
        t = time.perf_counter()
        await asyncio.gather(*[one(i) for i in range(n)])
        rate = n / (time.perf_counter() - t)
        await ac.close()
        return rate

    out["async throughput, 100 concurrent (ops/s)"] = {"ops": asyncio.run(async_throughput())}
    shutil.rmtree(tmp)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
