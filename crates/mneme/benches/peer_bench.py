"""The mneme-cache 1.0 side of `cargo bench --bench engine`, on the same seeded files.

Usage: peer_bench.py SEED768 SEED384 ROWS CALLS   (prints one JSON object)

Semantic gets and opens are slow in 1.0 (a full NumPy pass per query, a full reload per open), so
they use fewer samples; the count is reported with each row.
"""
import json, os, shutil, sys, tempfile
import numpy as np
import mneme
from bench_common import PerfEmbedder, copy_db, hit_throughput, summary, timed


def main():
    seed768, seed384, rows, calls = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    tmp = tempfile.mkdtemp()
    work = os.path.join(tmp, "work.db")
    copy_db(seed768, work)
    out = {}
    rng = np.random.default_rng(42)

    def unit(d):
        v = rng.standard_normal(d).astype(np.float32)
        return v / np.linalg.norm(v)

    for dtype, key in (("float32", "open_f32"), ("int8", "open_int8")):
        def open_close(_):
            mneme.SemanticCache(path=work, embedder=PerfEmbedder(768), vector_dtype=dtype).close()
        out[key] = timed(5, open_close)

    c = mneme.SemanticCache(path=work, embedder=PerfEmbedder(768))
    for i in range(100):
        c.get(f"q{i * 37 % rows}")
    out["exact_get"] = timed(calls, lambda i: c.get(f"q{(i * 7919) % rows}"))
    queries = [unit(768) for _ in range(100)]
    # 1.0's own harness stored a fake hash, so its "exact get" measured this: a Layer-2 miss.
    out["exact_get_1_0_harness"] = timed(100, lambda i: c.get(f"q{i}-not-hashed", embedding=queries[i % 100]))
    for dtype, key, n in (("float32", "semantic_f32_768", 200), ("int8", "semantic_int8_768", 50)):
        c.requantize(dtype)
        for q in queries[:5]:
            c.get("never-existed", embedding=q)
        out[key] = timed(n, lambda i: c.get("never-existed", embedding=queries[i % 100]))
    c.requantize("float32")
    vecs = [unit(768) for _ in range(200)]
    out["put"] = timed(200, lambda i: c.put(f"new-{i}", "resp", embedding=vecs[i]))
    c.close()

    work384 = os.path.join(tmp, "work384.db")
    copy_db(seed384, work384)
    capped = mneme.SemanticCache(path=work384, embedder=PerfEmbedder(384), max_entries=10_000)
    vecs = [unit(384) for _ in range(calls)]
    out["put_evict"] = timed(calls, lambda i: capped.put(f"evict-{i}", "resp", embedding=vecs[i]))
    out["throughput_ops"] = hit_throughput(capped, vecs, 5000)
    capped.close()
    shutil.rmtree(tmp)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
