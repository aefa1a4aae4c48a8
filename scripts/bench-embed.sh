#!/usr/bin/env bash
# The local embedder side by side with sentence-transformers (torch CPU) and onnxruntime on the
# same model, texts, threads and machine, in one run; then put_many against single puts.
# Usage: scripts/bench-embed.sh [THREADS]   (default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-model.sh > /dev/null
scripts/setup-reference.sh
export MNEME_BENCH_THREADS="${1:-2}"
cargo bench -p mneme-embed --bench embed --no-run --quiet
.venv-ref/bin/python crates/mneme-embed/benches/compare.py
