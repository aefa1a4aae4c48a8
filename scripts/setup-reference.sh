#!/usr/bin/env bash
# The reference implementations of the local embedding model, in their own virtual environment
# (.venv-ref, several GB: torch comes with it): sentence-transformers (torch, CPU) and
# onnxruntime. Used to regenerate the embedder's test fixture
# (crates/mneme-embed/tests/fixtures/reference.py) and by the embedder benchmark
# (scripts/bench-embed.sh); the tests themselves only read the committed fixture.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=".venv-ref"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check sentence-transformers onnxruntime onnx onnxscript
