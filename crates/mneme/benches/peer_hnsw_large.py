"""The hnswlib side of `cargo bench --bench large_cache`: builds the same float32 vectors on
the same number of threads (M 16, ef_construction 200, as ours), then reports recall@1 and
recall@10 against the exact top 10 the Rust bench computed, and one-query search p50/p99, at
each ef. Prints one JSON object.

Usage: peer_hnsw_large.py VECTORS QUERIES EXACT ROWS CALLS DIM THREADS EFS"""

import json
import sys
import time

import hnswlib
import numpy as np


def main():
    vectors_path, queries_path, exact_path = sys.argv[1:4]
    rows, calls, dim, threads = map(int, sys.argv[4:8])
    efs = [int(e) for e in sys.argv[8].split(",")]
    vectors = np.fromfile(vectors_path, dtype="<f4").reshape(rows, dim)
    queries = np.fromfile(queries_path, dtype="<f4").reshape(calls, dim)
    exact = [[int(x) for x in line.split(",")] for line in open(exact_path).read().splitlines()]
    index = hnswlib.Index(space="ip", dim=dim)
    index.init_index(max_elements=rows, M=16, ef_construction=200, random_seed=100)
    index.set_num_threads(threads)
    t = time.perf_counter()
    index.add_items(vectors, np.arange(rows))
    out = {"build_s": time.perf_counter() - t, "ef": {}}
    index.set_num_threads(1)
    for ef in efs:
        index.set_ef(ef)
        labels, _ = index.knn_query(queries[: len(exact)], k=10)
        at1 = sum(int(labels[i][0] == exact[i][0]) for i in range(len(exact)))
        at10 = sum(len(set(labels[i]) & set(exact[i])) for i in range(len(exact)))
        for q in queries:
            index.knn_query(q, k=1)
        samples = []
        for q in queries:
            t = time.perf_counter()
            index.knn_query(q, k=1)
            samples.append(time.perf_counter() - t)
        samples.sort()
        out["ef"][str(ef)] = {
            "recall1": at1 / len(exact),
            "recall10": at10 / (10 * len(exact)),
            "p50_us": samples[len(samples) // 2] * 1e6,
            "p99_us": samples[min(len(samples) * 99 // 100, len(samples) - 1)] * 1e6,
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
