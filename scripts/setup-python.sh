#!/usr/bin/env bash
# Builds our Python package (distribution `mneme-rs`, import package `mneme`; crates/mneme-py,
# maturin + PyO3) into a wheel under target/wheels/ and installs it, with pytest and the optional
# libraries the tests use, into its own virtual environment (.venv-py), exactly as a user would.
# The install tests reuse the same wheel in throwaway environments.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=".venv-py"
WHEELS="target/wheels"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
PIP=("$VENV/bin/pip" --quiet --disable-pip-version-check)
# Before the rename to mneme-rs the package was installed as `mneme`: remove that install.
"${PIP[@]}" uninstall -y mneme 2>/dev/null || true
rm -f "$WHEELS"/mneme_rs-*.whl
"${PIP[@]}" wheel --no-deps --wheel-dir "$WHEELS" ./crates/mneme-py
WHEEL=$(ls "$WHEELS"/mneme_rs-*.whl)
"${PIP[@]}" install pytest redis "psycopg[binary]" prometheus-client opentelemetry-sdk numpy openai
"${PIP[@]}" install --force-reinstall --no-deps "$WHEEL"
echo "installed $WHEEL into $VENV"
