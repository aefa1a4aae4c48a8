"""The saved HNSW graph from Python: written beside the file at close, loaded (not rebuilt) on
the next open, and brought up to date with what a mneme-cache 1.0 process wrote meanwhile."""

import os
import subprocess
import time

import pytest

import mneme
from test_compat import peer_python

EMBEDDER = r'''
import hashlib, numpy as np
class E:
    """Vectors from the text before any '|': 'row 5|again' is a semantic twin of 'row 5'."""
    dim, fingerprint = 16, "graph-test:16"
    def embed(self, text):
        seed = int.from_bytes(hashlib.sha256(text.split("|")[0].encode()).digest()[:8], "little")
        v = np.random.default_rng(seed).standard_normal(16).astype(np.float32)
        return v / np.linalg.norm(v)
'''
exec(EMBEDDER)

PEER = EMBEDDER + r'''
import sys, mneme
c = mneme.SemanticCache(path=sys.argv[1], embedder=E())
for i in range(400, 440):
    c.put(f"row {i}", f"answer {i}")
for i in range(0, 400, 20):
    c.delete(f"row {i}")
for i in range(5, 400, 40):
    c.put(f"row {i}", f"new answer {i}")
c.close()
'''


def open_hnsw(path, **options):
    return mneme.SemanticCache(path=path, embedder=E(), index_backend="hnsw", index_options=options or None)


def served(cache, i):
    hit = cache.get(f"row {i}|again")
    return hit and (hit.layer, hit.response)


def test_the_graph_is_saved_at_close_loaded_on_open_and_follows_mneme_cache_writes(tmp_path):
    path = str(tmp_path / "big.db")
    with open_hnsw(path) as c:
        for i in range(400):
            c.put(f"row {i}", f"answer {i}")
    graph = path + ".hnsw"
    saved = os.stat(graph)
    with open_hnsw(path) as c:
        assert all(served(c, i) == ("semantic", f"answer {i}") for i in range(0, 400, 7))
    assert os.stat(graph).st_mtime_ns == saved.st_mtime_ns, "loaded as saved, not rebuilt"

    time.sleep(1.1)  # the overwrites get a later created_at
    subprocess.run([peer_python(), "-c", PEER, path], check=True)
    with open_hnsw(path) as c:
        assert os.stat(graph).st_ino == saved.st_ino, "the drift was applied to the loaded graph"
        for i in range(440):
            got = served(c, i)
            if i < 400 and i % 20 == 0:
                assert got is None, (i, got)
            elif i < 400 and i % 40 == 5:
                assert got == ("semantic", f"new answer {i}"), (i, got)
            else:
                assert got == ("semantic", f"answer {i}"), (i, got)
    assert os.stat(graph).st_mtime_ns != saved.st_mtime_ns, "close saved the caught-up graph"


def test_persist_graph_false_writes_no_file_and_bad_values_are_refused(tmp_path):
    path = str(tmp_path / "c.db")
    with open_hnsw(path, persist_graph=False) as c:
        c.put("row 1", "answer 1")
    assert not os.path.exists(path + ".hnsw")
    custom = str(tmp_path / "graphs" / "c.graph")
    os.mkdir(tmp_path / "graphs")
    with open_hnsw(path, graph_path=custom) as c:
        assert served(c, 1) == ("semantic", "answer 1")
    assert os.path.exists(custom)
    with pytest.raises(ValueError, match="persist_graph"):
        open_hnsw(path, persist_graph="yes")


def test_int8_walk_can_be_turned_off_and_serves_the_same_answers(tmp_path):
    """float32 graphs walk an int8 copy of their rows by default; off, they walk the rows."""
    for options in ({}, {"int8_walk": False}):
        path = str(tmp_path / f"walk-{len(options)}.db")
        with open_hnsw(path, **options) as c:
            for i in range(300):
                c.put(f"row {i}", f"answer {i}")
            assert all(served(c, i) == ("semantic", f"answer {i}") for i in range(0, 300, 7))
    with pytest.raises(ValueError, match="int8_walk"):
        open_hnsw(str(tmp_path / "bad.db"), int8_walk=3)
