#!/usr/bin/env bash
# Runs every test: formatting, lints, unit, integration, doc and interop tests of the Rust
# crates, then the Python package's pytest suite (including the compatibility run against
# mneme-cache and the `mneme serve` tests with the real openai client and headless Chromium).
# Installs what the tests need first: the mneme-cache peer from PyPI (.venv-peer), moto_server
# (.venv-moto), our package built from source (.venv-py), Debian's chromium and the embedding
# model; scripts/test-aarch64.sh installs qemu-user and the aarch64 cross compiler for the NEON
# kernels' tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
scripts/setup-peer.sh
scripts/setup-moto.sh                # moto_server: the DynamoDB API the DynamoDB store is tested on
scripts/setup-python.sh
scripts/setup-browser.sh              # Debian's chromium + Playwright, for the dashboard test
scripts/fetch-model.sh > /dev/null   # the local embedding model the embedder tests run
export MNEME_PEER_PYTHON="$PWD/.venv-peer/bin/python"
cargo fmt --all -- --check
# Optional stores are cargo features; the tests build and run them against the real servers.
FEATURES="mneme/redis mneme/postgres mneme/dynamodb mneme/prometheus mneme/otel mneme/testkit mneme/serde"
cargo clippy --workspace --all-targets --features "$FEATURES" -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet --features "$FEATURES"
cargo test --workspace --features "$FEATURES"
scripts/test-aarch64.sh              # the NEON kernels, cross-compiled and run under qemu-user
.venv-py/bin/python -m pytest crates/mneme-py/tests -q -p no:cacheprovider
