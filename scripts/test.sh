#!/usr/bin/env bash
# Runs every test: formatting, lints, unit, integration, doc and interop tests.
# Installs what the tests need first (the mneme-cache peer from PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-peer.sh
export MNEME_PEER_PYTHON="$PWD/.venv-peer/bin/python"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
cargo test --workspace
