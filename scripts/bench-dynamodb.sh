#!/usr/bin/env bash
# DynamoDbStore side by side with mneme-cache 1.0's DynamoDBStore on one moto_server, in one run:
# open of a 10k-entry d=384 table, exact get, put, and DynamoDB requests per operation.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-peer.sh
scripts/setup-moto.sh
export MNEME_PEER_PYTHON="$PWD/.venv-peer/bin/python"
cargo bench -p mneme --features dynamodb --bench dynamodb "$@"
