#!/usr/bin/env bash
# Runs the engine benchmarks side by side with mneme-cache 1.0 on this machine, in one run.
# Seeds bench-out/ (once), installs the peer if needed, prints the p50/p99 table with ratios,
# then the checkpoint table (dumps/restore/loads time and peak RSS), then flat vs HNSW.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-peer.sh
export MNEME_PEER_PYTHON="$PWD/.venv-peer/bin/python"
cargo bench --bench engine "$@"
cargo bench --bench checkpoint
cargo bench --bench index
