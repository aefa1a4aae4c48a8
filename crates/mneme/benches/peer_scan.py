"""The mneme-cache 1.0 side of `cargo bench --bench scan`: its numpy index (the scan a semantic
get runs, `search(..., k=3)` as 1.0's get calls it) on seeded clustered vectors of the same
shape as ours. Prints one JSON object: p50 and p99 in µs.

Usage: peer_scan.py ROWS DIM DTYPE CALLS"""

import json
import sys
import time

import numpy as np
from mneme._index import NumpyIndex


def main():
    rows, dim, dtype, calls = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((1000, dim), dtype=np.float32)
    index = NumpyIndex(dim, dtype=dtype, initial_capacity=rows)
    chunk = 10_000
    picked = []

    def rows_of(start):
        n = min(chunk, rows - start)
        v = centres[rng.integers(0, 1000, n)] + 0.5 * rng.standard_normal((n, dim), dtype=np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        picked.append(v[0].copy())
        return ((start + i + 1, v[i], "default") for i in range(n))

    index.rebuild_from(r for start in range(0, rows, chunk) for r in rows_of(start))
    queries = []
    for i in range(calls):
        q = picked[i % len(picked)] + 0.1 * rng.standard_normal(dim, dtype=np.float32)
        queries.append((q / np.linalg.norm(q)).astype(np.float32))
    for q in queries[:5]:
        index.search(q, "default", k=3)
    samples = []
    for q in queries:
        t = time.perf_counter()
        index.search(q, "default", k=3)
        samples.append(time.perf_counter() - t)
    samples.sort()
    print(json.dumps({"p50": samples[len(samples) // 2] * 1e6,
                      "p99": samples[min(len(samples) * 99 // 100, len(samples) - 1)] * 1e6}))


if __name__ == "__main__":
    main()
