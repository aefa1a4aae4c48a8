#!/usr/bin/env bash
# mmap-shared against single mode: 4 worker processes on one 100k x 768 file (float32, int8),
# memory of the four together (PSS), semantic get and put p50/p99, and write visibility.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p mneme --bench mmap_shared "$@"
