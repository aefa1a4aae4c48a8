"""Shared embedders and fixtures for the Python test suite of `mneme`."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pytest

STOP_WORDS = {"how", "where", "what", "when", "why", "who", "do", "does", "i", "my", "the", "a", "an", "is", "to", "can", "you", "your"}


class KeywordEmbedder:
    """Deterministic and lexical: hashed content words (stop words dropped). Paraphrases that
    share their content words embed identically; unrelated questions are near-orthogonal."""

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim
        self.fingerprint = f"keyword:{dim}"
        self.calls: list[str] = []

    def embed(self, text: str) -> np.ndarray:
        self.calls.append(text)
        v = np.zeros(self.dim, dtype=np.float32)
        for word in re.findall(r"\w+", text.lower()):
            if word not in STOP_WORDS:
                h = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "little")
                v[h % self.dim] += 1.0
        if not v.any():
            v[0] = 1.0
        return v


class TableEmbedder:
    """Fixed vectors for chosen texts, hashed unit vectors otherwise; can be told to fail."""

    def __init__(self, dim: int = 8, fingerprint: str | None = None) -> None:
        self.dim = dim
        self.fingerprint = fingerprint or f"table:{dim}"
        self.table: dict[str, object] = {}
        self.calls: list[str] = []
        self.fail_from: int | None = None

    def embed(self, text: str):
        self.calls.append(text)
        if self.fail_from is not None and len(self.calls) >= self.fail_from:
            raise ConnectionError("embedder down")
        if text in self.table:
            return self.table[text]
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
        v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
        return v / np.linalg.norm(v)


def axis(dim: int, i: int) -> np.ndarray:
    v = np.zeros(dim, dtype=np.float32)
    v[i] = 1.0
    return v


def tilted(dim: int, i: int, j: int, cos: float) -> np.ndarray:
    v = np.zeros(dim, dtype=np.float32)
    v[i] = cos
    v[j] = np.sqrt(1 - cos * cos)
    return v


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "cache.db")


@pytest.fixture
def emb():
    return TableEmbedder()


@pytest.fixture
def events():
    return []


@pytest.fixture
def cache(db, emb, events):
    import mneme

    c = mneme.SemanticCache(db, emb, metrics_hook=lambda name, attrs: events.append((name, dict(attrs))))
    yield c
    c.close()
