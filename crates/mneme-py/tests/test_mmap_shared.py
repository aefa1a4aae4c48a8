"""multi_process_mode="mmap-shared" from Python: separate processes on one file search one
shared sidecar and see each other's writes; the primitive at 1.0's module path."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import mneme
from mneme._multiproc import MmapSharedCoordinator

from conftest import KeywordEmbedder

WORKER = textwrap.dedent(
    """
    import json, sys
    import mneme
    sys.path.insert(0, {tests!r})
    from conftest import KeywordEmbedder
    path, me, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    c = mneme.SemanticCache(path=path, embedder=KeywordEmbedder(64), multi_process_mode="mmap-shared")
    for i in range(n):
        c.put(f"{{me}} topic {{i}} alpha", f"{{me}}-{{i}}")
    sys.stdout.write("ready\\n"); sys.stdout.flush()
    sys.stdin.readline()  # every worker has written
    seen = {{}}
    for other in sys.argv[4:]:
        hit = c.get(f"alpha {{other}} topic 0")  # a reordering: a semantic hit, never exact
        seen[other] = None if hit is None else [hit.response, hit.layer]
    print(json.dumps(seen))
    c.close()
    """
)


def test_separate_processes_see_each_others_rows_through_one_sidecar(tmp_path):
    import pathlib

    path = str(tmp_path / "c.db")
    script = WORKER.format(tests=str(pathlib.Path(__file__).parent))
    names = ["w0", "w1", "w2"]
    procs = [
        subprocess.Popen([sys.executable, "-c", script, path, me, "5", *[n for n in names if n != me]],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for me in names
    ]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    outs = [json.loads(p.communicate("go\n", timeout=60)[0]) for p in procs]
    for me, seen in zip(names, outs):
        for other, hit in seen.items():
            assert hit == [f"{other}-0", "semantic"], (me, other, hit)
    assert (tmp_path / "c.db.vectors").exists() and (tmp_path / "c.db.vectors.lock").exists()


SERVANT = textwrap.dedent(
    """
    import json, sys
    import mneme
    sys.path.insert(0, {tests!r})
    from conftest import KeywordEmbedder
    c = mneme.SemanticCache(path=sys.argv[1], embedder=KeywordEmbedder(64), multi_process_mode="mmap-shared")
    for line in sys.stdin:
        op, *args = json.loads(line)
        if op == "get":
            hit = c.get(args[0])
            out = None if hit is None else [hit.response, hit.layer]
        elif op == "dtype":
            out = c.stats().vector_dtype
        else:
            out = getattr(c, op)(*args)
        print(json.dumps(out), flush=True)
    c.close()
    """
)


def test_overwrites_deletes_and_requantize_in_one_process_are_seen_by_another(tmp_path):
    import pathlib

    script = SERVANT.format(tests=str(pathlib.Path(__file__).parent))
    a, b = (subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "c.db")], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True) for _ in range(2))

    def ask(p, *cmd):
        p.stdin.write(json.dumps(cmd) + "\n")
        p.stdin.flush()
        return json.loads(p.stdout.readline())

    for i in range(10):
        ask(a, "put", f"topic {i} alpha", f"a-{i}")
    assert ask(b, "get", "alpha topic 3") == ["a-3", "semantic"]
    ask(b, "put", "topic 3 alpha", "b-3")  # an overwrite
    assert ask(b, "delete", "topic 4 alpha") is True
    assert ask(a, "get", "alpha topic 3") == ["b-3", "semantic"]
    assert ask(a, "get", "alpha topic 4") is None
    # A requantize rewrites the shared sidecar; the other process adopts it on its next call.
    ask(a, "requantize", "int8")
    assert ask(b, "dtype") == "int8"
    assert ask(b, "get", "alpha topic 7") == ["a-7", "semantic"]
    ask(b, "put", "topic 11 alpha", "b-11")
    assert ask(a, "get", "alpha topic 11") == ["b-11", "semantic"]
    for p in (a, b):
        p.communicate("", timeout=60)
        assert p.returncode == 0


def test_mode_options_and_refusals(tmp_path):
    c = mneme.SemanticCache(path=str(tmp_path / "a.db"), embedder=KeywordEmbedder(512), multi_process_mode="mmap-shared",
                            index_options={"mmap_path": str(tmp_path / "side"), "mmap_initial_capacity": 8})
    for i in range(20):
        c.put(f"word{i} thing", str(i))
    assert c.get("thing word7").response == "7"
    assert c.health().index_backend == "numpy"
    assert c.stats().index_memory_bytes == 32 * 512 * 4  # grew 8 -> 16 -> 32 slots
    c.close()
    assert (tmp_path / "side.vectors").exists()
    with pytest.raises(ValueError, match="hnsw"):
        mneme.SemanticCache(path=str(tmp_path / "b.db"), embedder=KeywordEmbedder(32),
                            multi_process_mode="mmap-shared", index_backend="hnsw")
    with pytest.raises(ValueError, match="mmap_path"):
        mneme.SemanticCache(path=":memory:", embedder=KeywordEmbedder(32), multi_process_mode="mmap-shared")


def test_the_primitive_has_1_0_s_api_and_errors(tmp_path):
    base = tmp_path / "m"
    c = MmapSharedCoordinator(base, 4, dtype="int8", embedder_fingerprint="fp", initial_capacity=2)
    assert (c.dim, c.dtype) == (4, "int8")
    for i in range(5):
        v = np.zeros(4, dtype=np.float32)
        v[i % 4] = 1.0
        c.append(10 + i, v, "ns")
    dim, count, capacity, dtype, fp = c.read_header()
    assert (dim, count, capacity, dtype) == (4, 5, 8, "int8") and len(fp) == 32
    top = c.search(np.array([0, 1, 0, 0], dtype=np.float32), "ns", k=2)
    assert top[0][0] == 11 and top[0][1] == pytest.approx(1.0, abs=0.01)
    assert c.remove(11) and not c.remove(11)
    c.close()
    with pytest.raises(mneme.MultiProcessLockError):
        c.search(np.zeros(4, dtype=np.float32), "ns")
    with pytest.raises(mneme.EmbedderDimensionError):
        MmapSharedCoordinator(base, 8, dtype="int8", embedder_fingerprint="fp")
    with pytest.raises(mneme.QuantizationError):
        MmapSharedCoordinator(base, 4, dtype="float32", embedder_fingerprint="fp")
    with pytest.raises(mneme.EmbedderMismatchError):
        MmapSharedCoordinator(base, 4, dtype="int8", embedder_fingerprint="other")
    (tmp_path / "m.vectors").write_bytes(b"NOTMNEME" + bytes(100))
    with pytest.raises(mneme.MultiProcessLockError):
        MmapSharedCoordinator(base, 4, dtype="int8", embedder_fingerprint="fp")
