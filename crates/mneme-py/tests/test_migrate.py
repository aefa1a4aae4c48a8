"""mneme.tools.migrate: reembed and areembed on the engine's migration session."""

import asyncio

import numpy as np
import pytest

import mneme
from conftest import TableEmbedder
from mneme.tools.migrate import areembed, reembed


def seed(path, emb):
    with mneme.SemanticCache(path, emb) as c:
        c.put("  Hello   World ", "hi", metadata={"k": "é"}, ttl=3600)
        c.put("other", "x", namespace="b")
        c.get("hello world")


class AsyncTable:
    def __init__(self, inner):
        self.inner, self.dim, self.fingerprint = inner, inner.dim, inner.fingerprint
        self.in_flight = self.peak = 0

    async def embed(self, text):
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await asyncio.sleep(0.01)
        self.in_flight -= 1
        return self.inner.embed(text)


def test_reembed_moves_rows_to_the_new_model(tmp_path, capsys):
    src, dest = str(tmp_path / "src.db"), str(tmp_path / "dest.db")
    seed(src, TableEmbedder(8))
    before = open(src, "rb").read()
    new = TableEmbedder(16, fingerprint="new-model")
    assert reembed(src, dest, new, batch_size=1, progress=True) == 2
    assert open(src, "rb").read() == before
    assert new.calls == ["hello world", "other"]
    err = capsys.readouterr().err
    assert "\r  reembed: 2/2 (100.0%)" in err and err.endswith("\n")
    with mneme.SemanticCache(dest, new) as c:
        hit = c.get("hello world")
        assert (hit.layer, hit.metadata) == ("exact", {"k": "é"})
        assert c.stats().hits_exact == 1, "counters are not carried over"
        assert c.list_namespaces() == ["b", "default"]


def test_reembed_errors(tmp_path):
    src, dest = str(tmp_path / "src.db"), str(tmp_path / "dest.db")
    seed(src, TableEmbedder(8))
    with pytest.raises(FileNotFoundError):
        reembed(str(tmp_path / "missing.db"), dest, TableEmbedder(16))
    with pytest.raises(ValueError):
        reembed(src, str(tmp_path / "." / "src.db"), TableEmbedder(16))
    bad = TableEmbedder(16, fingerprint="x")
    bad.table["other"] = np.ones(3)
    with pytest.raises(mneme.EmbedderDimensionError):
        reembed(src, dest, bad)
    nan = TableEmbedder(16, fingerprint="x")
    nan.table["other"] = np.full(16, np.nan)
    with pytest.raises(ValueError):
        reembed(src, dest, nan)
    failing = TableEmbedder(16)
    failing.fail_from = 1
    with pytest.raises(ConnectionError):
        reembed(src, dest, failing)
    import os
    assert not os.path.exists(dest)
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".mneme")]


def test_areembed_bounds_concurrency_and_commits(tmp_path):
    src, dest = str(tmp_path / "src.db"), str(tmp_path / "dest.db")
    with mneme.SemanticCache(src, TableEmbedder(8)) as c:
        for i in range(40):
            c.put(f"q{i}", "r", namespace="a" if i % 2 else "b")
    e = AsyncTable(TableEmbedder(16, fingerprint="new"))
    n = asyncio.run(areembed(src, dest, e, batch_size=20, concurrency=4, namespaces=["a"]))
    assert n == 20 and 1 < e.peak <= 4
    with mneme.SemanticCache(dest, TableEmbedder(16, fingerprint="new")) as c:
        assert c.list_namespaces() == ["a"] and c.stats().entries == 20
