#!/usr/bin/env bash
# Builds and installs our Python package `mneme` (crates/mneme-py, maturin + PyO3) into its own
# virtual environment (.venv-py) with pytest, exactly as a user would: `pip install <path>`.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=".venv-py"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check pytest redis "psycopg[binary]" prometheus-client opentelemetry-sdk ./crates/mneme-py
