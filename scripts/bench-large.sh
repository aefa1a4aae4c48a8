#!/usr/bin/env bash
# Large caches: a SQLite cache of 1M clustered vectors (384 dims by default; MNEME_BENCH_DIM=768
# for the other size) with the HNSW index, int8 and float32: first open (graph build), open
# with the saved graph, recall@1/@10 at several ef, get and put p50/p99, peak memory; hnswlib
# on the same vectors and threads beside it. About 30 minutes at 1M x 384 on 2 cores; set
# MNEME_BENCH_LARGE_ROWS for a quicker run. Needs scripts/setup-peer.sh for hnswlib.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p mneme --bench large_cache "$@"
