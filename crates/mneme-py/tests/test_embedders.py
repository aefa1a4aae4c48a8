"""The built-in embedders from Python: the local model (needs scripts/fetch-model.sh, which the
test script runs; a missing model fails here, it does not skip) and the remote one against a
local OpenAI-compatible stub server; put_many in the sync and async caches."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

import mneme
from mneme.embedders import LocalEmbedder, RemoteEmbedder, default_model_dir, fetch_model

PARAPHRASES = [
    ("How do I reset my password?", "How can I reset my password?"),
    ("What is the capital of France?", "what's the capital city of france"),
    ("How many ounces are in a pound?", "how many ounces make up one pound"),
]


@pytest.fixture(scope="module")
def local():
    return LocalEmbedder(threads=2)


def test_the_local_model_embeds_unit_vectors(local):
    assert (local.dim, local.max_length) == (384, 256)
    assert local.fingerprint.startswith("local:all-MiniLM-L6-v2:sha256=")
    v = local.embed("hello world")
    assert v.dtype == np.float32 and v.shape == (384,)
    assert abs(float(np.linalg.norm(v)) - 1.0) < 1e-4
    m = local.embed_batch(["hello world", "", "今天天气怎么样？"])
    assert m.shape == (3, 384)
    assert float(m[0] @ v) > 0.99999
    assert local.embed_batch([]).shape == (0, 384)
    assert default_model_dir().name == "all-MiniLM-L6-v2"
    # The folder is complete (the test script fetched it): nothing is downloaded again.
    assert fetch_model(quiet=True) == default_model_dir()


def test_a_semantic_cache_on_the_local_model(tmp_path, local):
    with mneme.SemanticCache(tmp_path / "c.db", local) as cache:
        for q, _ in PARAPHRASES:
            cache.put(q, f"answer to {q}")
        for q, paraphrase in PARAPHRASES:
            hit = cache.get(paraphrase)
            assert hit is not None and hit.layer == "semantic", paraphrase
            assert hit.response == f"answer to {q}"
        assert cache.get("Who painted the Mona Lisa?") is None
        assert cache.stats().embedder_fingerprint == local.fingerprint


def test_bad_input_and_a_missing_model_are_clear_errors(tmp_path, local):
    with pytest.raises(FileNotFoundError, match="fetch-model.sh") as e:
        LocalEmbedder(tmp_path / "nowhere")
    assert e.value.path == str(tmp_path / "nowhere")
    with pytest.raises(UnicodeEncodeError):
        local.embed("bad \ud800 surrogate")
    with pytest.raises(ValueError):
        LocalEmbedder(threads=0)
    with mneme.SemanticCache(tmp_path / "c.db", local) as cache:
        with pytest.raises(UnicodeEncodeError):
            cache.put("bad \ud800", "x")
        assert cache.stats().entries == 0


def test_embedding_releases_the_gil(local):
    texts = ["a fairly long sentence about caching and models " * 20] * 64
    done = threading.Event()
    worker = threading.Thread(target=lambda: (local.embed_batch(texts), done.set()))
    spins = 0
    worker.start()
    while not done.is_set():
        spins += 1
    worker.join()
    assert spins > 10_000, f"the main thread ran only {spins} loops while the model worked"


class _Stub(BaseHTTPRequestHandler):
    """OpenAI's /v1/embeddings, scripted by the server's `script(body, n) -> (status, json)`."""

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        server = self.server
        with server.lock:
            server.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            n = len(server.requests)
        status, answer = server.script(body, n)
        if status is None:
            time.sleep(answer)
            return
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def _vector(text: str, dim: int) -> list[float]:
    v = np.zeros(dim, dtype=np.float32)
    for i, b in enumerate(text.encode()):
        v[(i * 31 + b) % dim] += 1.0
    v[0] += 0.5
    return v.tolist()


def _embeddings(body, dim):
    return 200, {"data": [{"index": i, "embedding": _vector(t, dim)} for i, t in enumerate(body["input"])]}


@pytest.fixture
def stub():
    servers = []

    def start(script):
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
        server.script, server.requests, server.lock = script, [], threading.Lock()
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server, f"http://127.0.0.1:{server.server_port}/v1"

    yield start
    for s in servers:
        s.shutdown()


def test_the_remote_embedder_batches_and_fills_a_cache(tmp_path, stub):
    server, url = stub(lambda body, n: _embeddings(body, 16))
    e = RemoteEmbedder("text-embedding-3-small", url, api_key="sk-test", batch_size=2)
    assert (e.dim, e.fingerprint) == (16, "remote:text-embedding-3-small:16")
    m = e.embed_batch(["a", "b", "c"])
    assert m.shape == (3, 16) and m[2].tolist() == _vector("c", 16)
    paths = [p for p, _, _ in server.requests]
    assert paths == ["/v1/embeddings"] * 3  # the probe, then two batches
    assert server.requests[0][1]["authorization"] == "Bearer sk-test"
    with mneme.SemanticCache(tmp_path / "c.db", e) as cache:
        assert cache.put_many([("q1", "r1"), ("q2", "r2"), ("q3", "r3", {"k": 1})]) == 3
        assert cache.get("q3").metadata == {"k": 1}


def test_remote_failures_are_python_built_in_errors(stub):
    _, url = stub(lambda body, n: (401, {"error": {"message": "Incorrect API key"}}))
    with pytest.raises(PermissionError, match="Incorrect API key"):
        RemoteEmbedder("m", url, api_key_env="MNEME_TEST_NO_SUCH_KEY")
    _, url = stub(lambda body, n: (503, {"error": {"message": "overloaded"}}))
    with pytest.raises(ConnectionError, match="overloaded"):
        RemoteEmbedder("m", url, max_retries=1, initial_backoff=0.01)
    _, url = stub(lambda body, n: (None, 5))
    started = time.monotonic()
    with pytest.raises(ConnectionError):
        RemoteEmbedder("m", url, timeout=0.3, max_retries=0)
    assert time.monotonic() - started < 3
    _, url = stub(lambda body, n: _embeddings(body, 6))
    e = RemoteEmbedder("m", url, dimensions=8)
    with pytest.raises(ValueError) as err:
        e.embed("x")
    assert (err.value.expected_dim, err.value.actual_dim) == (8, 6)


def test_a_failing_endpoint_writes_nothing(tmp_path, stub):
    _, url = stub(lambda body, n: _embeddings(body, 8) if n == 1 else (500, {"error": {"message": "down"}}))
    e = RemoteEmbedder("m", url, max_retries=0)
    with mneme.SemanticCache(tmp_path / "c.db", e) as cache:
        with pytest.raises(ConnectionError):
            cache.put("q", "r")
        with pytest.raises(ConnectionError):
            cache.put_many([("a", "1"), ("b", "2")])
        assert cache.stats().entries == 0
        assert cache.get("q") is None  # a failed embedding on get is a miss


def test_put_many_sync_and_async(tmp_path):
    from conftest import KeywordEmbedder

    emb = KeywordEmbedder()
    with mneme.SemanticCache(tmp_path / "s.db", emb) as cache:
        items = [(f"question {i}", f"answer {i}") for i in range(1000)]
        assert cache.put_many(items, namespace="ns", ttl=3600) == 1000
        assert cache.get("question 999", namespace="ns").response == "answer 999"
        with pytest.raises(ValueError, match="fields"):
            cache.put_many([("only one",)])
        with pytest.raises(ValueError, match="embeddings"):
            cache.put_many([("a", "b")], embeddings=[])
        with pytest.raises(ValueError):
            cache.put_many([("a", "b"), ("c", "x" * 5_000_000)])
        assert cache.stats(namespace="default").entries == 0

    async def run():
        async_emb = mneme.to_async_embedder(KeywordEmbedder())
        async with mneme.AsyncSemanticCache(tmp_path / "a.db", async_emb) as cache:
            assert await cache.put_many([("x y", "1"), ("z w", "2")]) == 2
            assert (await cache.get("x y")).response == "1"

    asyncio.run(run())


def test_the_local_model_serves_the_async_cache_as_it_is(tmp_path, local):
    async def run():
        async with mneme.AsyncSemanticCache(tmp_path / "a.db", local) as cache:
            await cache.put("How do I reset my password?", "Settings")
            hit = await cache.get("How can I reset my password?")
            assert hit is not None and hit.layer == "semantic"
            assert await cache.put_many([("What is the capital of France?", "Paris")]) == 1
            assert (await cache.get("what's the capital city of france")).response == "Paris"

    asyncio.run(run())
