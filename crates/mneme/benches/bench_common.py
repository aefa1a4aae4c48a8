"""Shared by the Python sides of the benchmarks: mneme-cache's harness embedder (a seeded unit
vector from the text's SHA-256) and the timing helpers (p99 = sorted[int(n × 0.99)])."""
import hashlib
import os
import shutil
import time

import numpy as np


class PerfEmbedder:
    def __init__(self, dim):
        self.dim = dim
        self.fingerprint = f"perf:fp:{dim}"

    def embed(self, text):
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
        v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
        return v / np.linalg.norm(v)


def summary(samples):
    s = sorted(samples)
    n = len(s)
    return {"p50": s[n // 2] * 1e6, "p99": s[min(int(n * 0.99), n - 1)] * 1e6, "n": n}


def timed(n, f):
    out = []
    for i in range(n):
        t = time.perf_counter()
        f(i)
        out.append(time.perf_counter() - t)
    return summary(out)


def hit_throughput(cache, vecs, ops):
    """1.0's throughput row: ops/s of `ops` gets on a 10k-row cache, 90% exact hits on the
    keys q5000..q9999 and every tenth a semantic miss with a precomputed embedding."""
    t = time.perf_counter()
    for i in range(ops):
        if i % 10 == 9:
            cache.get("miss", embedding=vecs[i % len(vecs)])
        else:
            cache.get(f"q{5000 + (i * 13) % 5000}")
    return ops / (time.perf_counter() - t)


def copy_db(src, dst):
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(dst + suffix):
            os.remove(dst + suffix)
    shutil.copy(src, dst)
