#!/usr/bin/env bash
# Installs the Python peer the interop tests and benchmarks compare against: mneme-cache 1.0
# from PyPI, in its own virtual environment (.venv-peer), so it never shadows our package.
set -euo pipefail
cd "$(dirname "$0")/.."
PEER_VERSION="1.0.1"
VENV=".venv-peer"
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import mneme, redis, psycopg, boto3, prometheus_client, opentelemetry.sdk, hnswlib, sys; sys.exit(mneme.__version__ != '$PEER_VERSION')" 2>/dev/null; then
    exit 0
fi
python3 -m venv "$VENV"
# redis, psycopg, boto3, prometheus-client, opentelemetry-sdk, hnswlib: what mneme-cache's
# RedisStore, PostgresStore, DynamoDBStore, metrics adapters and HNSW index need (its extras),
# for the interop tests and the side-by-side benchmarks.
"$VENV/bin/pip" install --quiet --disable-pip-version-check "mneme-cache==$PEER_VERSION" redis "psycopg[binary]" boto3 prometheus-client opentelemetry-sdk hnswlib
"$VENV/bin/python" -c "import mneme; print('peer mneme-cache', mneme.__version__, 'ready')"
