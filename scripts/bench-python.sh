#!/usr/bin/env bash
# The Python benchmark: the same workload under mneme-cache 1.0 and under our package, in one
# run on this machine (two virtual environments, since both import as `mneme`).
# Usage: scripts/bench-python.sh [ROWS] [CALLS]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-peer.sh
scripts/setup-python.sh
python3 crates/mneme-py/benches/compare.py "$@"
