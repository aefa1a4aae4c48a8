"""Checkpoint restore without opening a cache (the engine's validation and atomic commit)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from . import _native
from ._embedding import EmbedderAdapter

__all__ = ["restore", "CHECKPOINT_FORMAT_VERSION"]

CHECKPOINT_FORMAT_VERSION = 1


def restore(source: str | Path, path: str | Path, embedder: Any, *, max_member_bytes: int | None = None) -> dict[str, Any]:
    """Validates the archive against `embedder`, commits its store to `path`, returns the manifest."""
    adapter = EmbedderAdapter(embedder)
    text = _native.restore_archive(
        os.fspath(source), os.fspath(path), adapter, adapter.dim, adapter.fingerprint, max_member_bytes
    )
    return json.loads(text)
