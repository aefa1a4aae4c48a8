"""The founding guide's examples, run as written (with an embedder and a corpus supplied)."""

import datetime
import os
import tarfile

import pytest

import mneme
import mneme._checkpoint
from conftest import KeywordEmbedder

embedder = KeywordEmbedder()
seed_corpus = [
    ("How do I cancel?", "Settings, then Plan, then Cancel."),
    ("What are your opening hours?", "9 to 5."),
    ("Do you ship abroad?", "Yes."),
]


def test_round_trip_example(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    from mneme import SemanticCache

    # Populate a cache
    with SemanticCache(path="prod.db", embedder=embedder) as cache:
        for query, response in seed_corpus:
            cache.put(query, response)
        cache.dumps("prod-backup.tar.gz")

    # Restore on a fresh host
    restored = SemanticCache.loads(
        "prod-backup.tar.gz",
        path="prod-restored.db",
        embedder=embedder,
    )
    try:
        assert restored.stats().entries == len(seed_corpus)
        hit = restored.get("how do I cancel?")  # cached state intact
        assert hit is not None
    finally:
        restored.close()


def test_promotion_workflow(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.makedirs("snapshots")
    with mneme.SemanticCache(path="staging.db", embedder=embedder) as cache:
        for query, response in seed_corpus:
            cache.put(query, response)

    # Nightly job in staging:
    def nightly_snapshot():
        with mneme.SemanticCache(path="staging.db", embedder=embedder) as cache:
            cache.vacuum()  # drop expired entries first
            cache.dumps("snapshots/staging-{:%Y-%m-%d}.tar.gz".format(datetime.datetime.utcnow()))

    # Promotion job in production (manual or scheduled):
    def promote(snapshot_path):
        cache = mneme.SemanticCache.loads(
            snapshot_path,
            path="prod.db",
            embedder=embedder,
            # production-specific settings:
            max_entries=500_000,
            vector_dtype="int8",
        )
        cache.close()

    nightly_snapshot()
    (snapshot,) = os.listdir("snapshots")
    promote(os.path.join("snapshots", snapshot))
    with mneme.SemanticCache(path="prod.db", embedder=embedder, vector_dtype="int8") as cache:
        assert cache.stats().entries == 3


def test_archive_contents_and_validation(tmp_path):
    with mneme.SemanticCache(str(tmp_path / "a.db"), embedder) as c:
        c.put("q", "r")
        c.dumps(str(tmp_path / "a.tar.gz"))
    with tarfile.open(tmp_path / "a.tar.gz") as t:
        assert t.getnames() == ["manifest.json", "store"]
    with pytest.raises(mneme.EmbedderMismatchError):
        mneme.SemanticCache.loads(str(tmp_path / "a.tar.gz"), path=str(tmp_path / "x.db"), embedder=KeywordEmbedder(32))
    assert not (tmp_path / "x.db").exists()
    with pytest.raises(mneme.CheckpointError, match="does not exist"):
        mneme.SemanticCache.loads(str(tmp_path / "missing.tar.gz"), path=str(tmp_path / "x.db"), embedder=embedder)
    manifest = mneme._checkpoint.restore(str(tmp_path / "a.tar.gz"), str(tmp_path / "plain.db"), embedder)
    assert manifest["store_backend"] == "sqlite" and manifest["format_version"] == 1


def test_memory_caches_dump_too(tmp_path):
    with mneme.SemanticCache(store=mneme.MemoryStore(), embedder=embedder) as c:
        c.put("q", "r")
        c.dumps(str(tmp_path / "m.tar.gz"))
    r = mneme.SemanticCache.loads(str(tmp_path / "m.tar.gz"), path=str(tmp_path / "r.db"), embedder=embedder)
    assert r.get("q").response == "r"
    r.close()
