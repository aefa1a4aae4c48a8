"""The HNSW side of `cargo bench --bench index` for mneme-cache 1.0: its HnswIndex (hnswlib under
1.0's wrapper, the API our index is driven through) and hnswlib itself (`add_items` on one
thread), on the vectors and queries the Rust bench wrote. Prints one JSON object.

Usage: peer_hnsw.py VECTORS QUERIES ROWS CALLS DIM M EF_CONSTRUCTION EF"""

import json
import sys
import time

import hnswlib
import numpy as np
from mneme._index_hnsw import HnswIndex


def percentiles(samples):
    s = sorted(samples)
    return s[len(s) // 2] * 1e6, s[min(len(s) * 99 // 100, len(s) - 1)] * 1e6


def main():
    vectors_path, queries_path = sys.argv[1], sys.argv[2]
    rows, calls, dim, m, efc, ef = map(int, sys.argv[3:9])
    vectors = np.fromfile(vectors_path, dtype="<f4").reshape(rows, dim)
    queries = np.fromfile(queries_path, dtype="<f4").reshape(calls, dim)
    out = {}

    index = HnswIndex(dim, index_options={"M": m, "ef_construction": efc, "ef": ef, "initial_max_elements": rows})
    t = time.perf_counter()
    for i in range(rows):
        index.append(i, vectors[i], "default")
    out["wrapper_build_s"] = time.perf_counter() - t
    for k in (1, 5):
        samples = []
        for q in queries:
            t = time.perf_counter()
            index.search(q, "default", k=k)
            samples.append(time.perf_counter() - t)
        out[f"wrapper_k{k}_p50"], out[f"wrapper_k{k}_p99"] = percentiles(samples)

    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    agree = sum(len(set(exact[i]) & {rid for rid, _ in index.search(queries[i], "default", k=10)}) for i in range(calls))
    out["wrapper_recall10"] = agree / (10 * calls)

    raw = hnswlib.Index(space="ip", dim=dim)
    raw.init_index(max_elements=rows, M=m, ef_construction=efc, random_seed=100)
    raw.set_num_threads(1)
    t = time.perf_counter()
    raw.add_items(vectors, np.arange(rows))
    out["hnswlib_build_s"] = time.perf_counter() - t
    raw.set_ef(ef)
    labels, _ = raw.knn_query(queries, k=10)
    out["hnswlib_recall10"] = sum(len(set(exact[i]) & set(labels[i])) for i in range(calls)) / (10 * calls)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
