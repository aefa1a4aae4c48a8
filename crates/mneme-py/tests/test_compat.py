"""The same scripted workload under mneme-cache 1.0 (from PyPI, in its own virtual environment)
and under this package: identical hits, misses, layers, similarities (1e-5), stats, events and
errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
WORKLOAD = HERE / "compat_workload.py"


def peer_python():
    path = os.environ.get("MNEME_PEER_PYTHON") or str(HERE.parents[2] / ".venv-peer" / "bin" / "python")
    if not Path(path).exists():
        pytest.fail(f"mneme-cache peer missing at {path}: run scripts/test.sh (it installs it)")
    return path


def transcript(python):
    out = subprocess.run([python, str(WORKLOAD)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def close(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-5
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(close(a[k], b[k]) for k in a)
    return a == b


def test_same_workload_same_results():
    theirs = transcript(peer_python())
    ours = transcript(sys.executable)
    assert "mneme-cache" not in sys.executable
    for (name, a), (name_b, b) in zip(ours["steps"], theirs["steps"]):
        assert name == name_b
        assert close(a, b), f"step {name!r}: ours {a!r}, mneme-cache {b!r}"
    assert len(ours["steps"]) == len(theirs["steps"])
    assert close(ours["events"], theirs["events"]), "metrics events differ"


def test_the_two_packages_are_really_different():
    peer = subprocess.run([peer_python(), "-c", "import mneme, sys; print(mneme.__version__, mneme.__file__)"],
                          capture_output=True, text=True, check=True).stdout
    import mneme._native  # ours runs on the engine

    assert peer.startswith("1.0.")
    assert mneme._native.__version__ != peer.split()[0]


def test_public_signatures_match_mneme_cache():
    script = str(HERE / "signatures.py")
    run = lambda py: json.loads(subprocess.run([py, script], capture_output=True, text=True, check=True).stdout)  # noqa: E731
    theirs, ours = run(peer_python()), run(sys.executable)
    missing = sorted(set(theirs) - set(ours))
    assert not missing, f"missing in mneme: {missing}"
    # Our additions: trailing keyword-only parameters whose default keeps 1.0's behaviour.
    for name in ("SemanticCache()", "AsyncSemanticCache()"):
        extra = ours[name][len(theirs[name]):]
        assert extra == [["verifier", "KEYWORD_ONLY", "None"]], extra
        ours[name] = ours[name][: len(theirs[name])]
    different = {k: (ours[k], theirs[k]) for k in theirs if ours[k] != theirs[k]}
    assert not different, different


PEER_WRITER = r'''
import sys, hashlib, numpy as np, mneme
class E:
    dim, fingerprint = 8, "compat:fp:8"
    def embed(self, text):
        v = np.frombuffer(hashlib.sha256(text.encode()).digest()[:32], dtype=np.uint8)[:8].astype(np.float32) + 1
        return v / np.linalg.norm(v)
c = mneme.SemanticCache(path=sys.argv[1], embedder=E())
if sys.argv[2] == "put":
    c.put("q", sys.argv[3])
else:
    c.delete("q")
c.close()
'''


def test_mneme_cache_in_another_process_changes_what_we_just_served_from_memory(tmp_path):
    import hashlib

    import numpy as np

    import mneme

    class E:
        dim, fingerprint = 8, "compat:fp:8"

        def embed(self, text):
            v = np.frombuffer(hashlib.sha256(text.encode()).digest()[:32], dtype=np.uint8)[:8].astype(np.float32) + 1
            return v / np.linalg.norm(v)

    path = str(tmp_path / "shared.db")
    peer = lambda *args: subprocess.run([peer_python(), "-c", PEER_WRITER, path, *args], check=True)  # noqa: E731
    with mneme.SemanticCache(path=path, embedder=E()) as c:
        c.put("q", "r1")
        exact = lambda: (h.response if (h := c.get("q")) and h.layer == "exact" else None)  # noqa: E731
        assert [exact(), exact(), exact()] == ["r1"] * 3  # the repeats come from memory
        peer("put", "r2")
        assert exact() == "r2"
        assert exact() == "r2"
        peer("delete")
        assert exact() is None
