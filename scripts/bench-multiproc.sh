#!/usr/bin/env bash
# Several stale-tolerant processes on one SQLite file: mneme-cache 1.0's, then ours, same seeded
# file, same workload, one run. Usage: scripts/bench-multiproc.sh [WORKERS] [SECONDS] [ROWS] [PUTS_IN_10]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-peer.sh
scripts/setup-python.sh
python3 crates/mneme-py/benches/multiproc.py "$@"
