"""SemanticCache behaviour through the Python API."""

import dataclasses
import logging
import os
import stat
import threading
import time

import numpy as np
import pytest

import mneme
from conftest import TableEmbedder, axis, tilted


def test_exactly_one_of_path_or_store_and_an_embedder(db, emb):
    with pytest.raises(ValueError, match="exactly one"):
        mneme.SemanticCache(embedder=emb)
    with pytest.raises(ValueError, match="exactly one"):
        mneme.SemanticCache(db, emb, store=mneme.MemoryStore())
    with pytest.raises(ValueError, match="embedder"):
        mneme.SemanticCache(db)


def test_path_creates_an_owner_only_sqlite_file(db, emb):
    with mneme.SemanticCache(db, emb) as c:
        assert c.health().store_backend == "sqlite"
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600


def test_exact_hit_and_normalisation(cache, emb):
    cache.put("hello", "world")
    hit = cache.get("hello")
    assert (hit.layer, hit.similarity, hit.response) == ("exact", 1.0, "world")
    cache.put("Hello", "x")
    assert cache.get("  hello ").layer == "exact"
    cache.put("  Hello   World ", "r")
    assert emb.calls[-1] == "hello world"


def test_exact_hits_never_embed(cache, emb):
    cache.put("q", "r")
    emb.fail_from = 2
    assert cache.get("q").layer == "exact"
    assert len(emb.calls) == 1


def test_semantic_threshold_and_miss_reasons(cache, emb, events):
    emb.table.update({"a": axis(8, 0), "b": tilted(8, 0, 1, 0.5), "c": tilted(8, 0, 1, 0.9)})
    cache.put("a", "ra")
    events.clear()
    assert cache.get("b") is None
    assert events == [("miss", {"namespace": "default", "reason": "below_threshold"})]
    cache.set_similarity_threshold(0.99)
    assert cache.get("c") is None
    cache.set_similarity_threshold(0.5)
    assert cache.get("c").layer == "semantic"
    for bad in (-1.5, 1.5, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="similarity_threshold"):
            cache.set_similarity_threshold(bad)


def test_confidence_fn_and_validator_are_python_callables(db, emb):
    emb.table.update({"a": axis(8, 0), "a2": axis(8, 0)})
    with mneme.SemanticCache(db, emb, confidence_fn=lambda s, age, md: 0.5) as c:
        c.put("a", "r")
        assert c.get("a2") is None
        assert c.get("a").confidence == 0.5


def test_validator_rejections_delete_and_only_three_candidates(cache, emb):
    for i, cos in [(1, 0.99), (2, 0.98), (3, 0.97), (4, 0.96)]:
        emb.table[f"q{i}"] = tilted(8, 0, i, cos)
    emb.table["probe"] = axis(8, 0)
    for i in (1, 2, 3):
        cache.put(f"q{i}", "[LLM Error] timeout")
    cache.put("q4", "good")
    assert cache.get("probe") is None
    assert not any(cache.delete(f"q{i}") for i in (1, 2, 3))
    assert cache.get("probe").response == "good"


def test_embeddings_as_arrays_lists_and_bad_shapes(cache, emb):
    v = axis(8, 2)
    cache.put("q", "r", embedding=v)
    assert cache.get("other", embedding=v.astype(np.float64)).layer == "semantic"
    assert emb.calls == []
    emb.table["listy"] = [0.0, 0.0, 1.0, 0, 0, 0, 0, 0]
    assert cache.get("listy").layer == "semantic"
    with pytest.raises(mneme.EmbedderDimensionError) as e:
        cache.put("x", "y", embedding=np.ones(4, dtype=np.float32), namespace="docs")
    assert (e.value.expected_dim, e.value.actual_dim, e.value.namespace) == (8, 4, "docs")
    with pytest.raises(mneme.EmbedderDimensionError):
        cache.put("x", "y", embedding=np.ones((1, 8), dtype=np.float32))
    with pytest.raises(ValueError):
        cache.put("x", "y", embedding=np.array([np.nan] + [0.0] * 7))
    assert cache.get("x", embedding=np.ones(4)) is None
    assert cache.get("x", embedding=np.full(8, np.nan)) is None


def test_hnsw_with_int8_finds_every_stored_vector_first(db, emb):
    cache = mneme.SemanticCache(path=db, embedder=emb, index_backend="hnsw", vector_dtype="int8",
                                index_options={"M": 8, "ef_construction": 64})
    rng = np.random.default_rng(3)
    vecs = rng.normal(size=(200, 8)).astype(np.float32)
    for i, v in enumerate(vecs):
        cache.put(f"q{i}", f"r{i}", embedding=v)
    assert cache.health().index_backend == "hnsw"
    hits = [cache.get("something else", embedding=v) for v in vecs]
    assert sum(h is not None and h.response == f"r{i}" for i, h in enumerate(hits)) >= 198
    cache.close()


def test_a_failing_embedder(cache, emb, events, caplog):
    emb.fail_from = 1
    with caplog.at_level(logging.WARNING, logger="mneme.cache"):
        assert cache.get("anything") is None
    assert events[-1] == ("miss", {"namespace": "default", "reason": "embedder_failure"})
    assert any(r.name == "mneme.cache" and r.levelno == logging.WARNING for r in caplog.records)
    with pytest.raises(ConnectionError, match="embedder down"):
        cache.put("q", "r")


def test_size_limits_come_before_embedding(db, emb):
    with mneme.SemanticCache(db, emb, max_query_bytes=10, max_metadata_bytes=14) as c:
        with pytest.raises(ValueError, match="max_query_bytes"):
            c.put("x" * 20, "r")
        with pytest.raises(ValueError, match="max_metadata_bytes"):
            c.put("q", "r", metadata={"k": "é"})
        assert emb.calls == []
        with pytest.raises(TypeError):
            c.put("q", "r", metadata={"k": object()})


def test_metadata_round_trips_exactly(cache):
    md = {"b": 1, "a": [1.5, float("nan"), 2**70], "n": {"z": None}}
    cache.put("q", "r", metadata=md)
    got = cache.get("q").metadata
    assert list(got) == ["b", "a", "n"] and got["a"][2] == 2**70 and np.isnan(got["a"][1])


def test_namespaces_ttl_eviction_and_quotas(db, emb):
    with mneme.SemanticCache(db, emb, max_entries=5) as c:
        for i in range(8):
            c.put(f"q{i}", "r")
        s = c.stats()
        assert s.entries <= 5 and s.evictions > 0
    os.remove(db)
    with mneme.SemanticCache(db, emb, namespace_quotas={"a": 2}, max_entries=100) as c:
        for i in range(5):
            c.put(f"q{i}", "r", namespace="a")
        c.put("keep", "r", namespace="b")
        assert c.stats(namespace="a").entries <= 2
        assert c.list_namespaces() == ["a", "b"]
        assert c.get("q4", namespace="b") is None


def test_ttl_expiry_and_vacuum(cache, events):
    cache.put("q", "r", ttl=0)
    events.clear()
    assert cache.get("q") is None
    assert ("expired", {"namespace": "default", "count": 1}) in events
    cache.put("a", "r", ttl=-1)
    cache.put("b", "r")
    assert cache.vacuum() == 1
    assert cache.stats().index_tombstone_count == 0


def test_stats_health_clear_and_requantize(cache, emb):
    cache.put("q", "r", namespace="t1")
    cache.put("q2", "r", namespace="t2")
    cache.get("q", namespace="t1")
    cache.get("zz", namespace="t2", bypass=True)
    assert (cache.stats(namespace="t1").hits_exact, cache.stats(namespace="t2").misses) == (1, 1)
    assert cache.stats().memory_bytes_estimate == 2 * 8 * 4
    h = cache.health()
    assert (h.healthy, h.entries, h.namespaces, h.index_backend, h.embedder_fingerprint_match) == (True, 2, 2, "numpy", True)
    cache.requantize("int8")
    assert cache.stats().vector_dtype == "int8"
    with pytest.raises(mneme.QuantizationError):
        cache.requantize("float64")
    assert cache.clear_namespace("t1") == 1
    assert cache.clear() == 1


def test_construction_errors_touch_no_file(tmp_path, emb):
    p = str(tmp_path / "never.db")
    with pytest.raises(mneme.QuantizationError):
        mneme.SemanticCache(p, emb, vector_dtype="float64")
    with pytest.raises(ValueError):
        mneme.SemanticCache(p, emb, index_backend="bogus")
    with pytest.raises(ValueError):
        mneme.SemanticCache(p, emb, multi_process_mode="stale_tolerant")
    with pytest.raises(ValueError, match="similarity_threshold"):
        mneme.SemanticCache(p, emb, similarity_threshold=float("nan"))
    with pytest.raises(TypeError):
        mneme.SemanticCache(p, emb, index_options={"bogus": 1})
    assert not os.path.exists(p)
    with mneme.SemanticCache(p, emb, index_options={"M": 32}) as c:
        assert c.health().index_backend == "numpy"


def test_reopen_with_another_embedder(db, emb):
    mneme.SemanticCache(db, emb).close()
    with pytest.raises(mneme.EmbedderMismatchError):
        mneme.SemanticCache(db, TableEmbedder(8, fingerprint="other"))
    with pytest.raises(mneme.EmbedderDimensionError) as e:
        mneme.SemanticCache(db, TableEmbedder(16, fingerprint=emb.fingerprint))
    # What a caller acts on, without parsing the message.
    assert (e.value.expected_dim, e.value.actual_dim) == (8, 16)
    assert e.value.path == str(db)


def test_a_damaged_file_names_itself(tmp_path, emb):
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not a database at all" * 100)
    with pytest.raises(mneme.CorruptCacheError) as e:
        mneme.SemanticCache(bad, emb)
    assert e.value.path == str(bad)
    assert e.value.expected_dim is None


def test_defaults_come_from_the_engine():
    import inspect
    defaults = mneme._native.CacheOptions()
    for cls in (mneme.SemanticCache, mneme.AsyncSemanticCache):
        params = inspect.signature(cls).parameters
        for name in ("similarity_threshold", "normalize", "index_backend", "vector_dtype",
                     "multi_process_mode", "stale_check_interval", "max_query_bytes",
                     "max_response_bytes", "max_metadata_bytes"):
            assert params[name].default == getattr(defaults, name), (cls, name)
    assert (defaults.similarity_threshold, defaults.max_response_bytes) == (0.85, 4194304)


def test_closed_cache_and_context_manager(db, emb):
    with mneme.SemanticCache(db, emb) as c:
        c.put("q", "r")
    with pytest.raises(mneme.CacheClosedError):
        c.get("q")
    with pytest.raises(mneme.CacheClosedError):
        c.put("q", "r")
    c.close()


def test_counters_persist_across_reopen(db, emb):
    with mneme.SemanticCache(db, emb) as c:
        c.put("q", "r", namespace="translate:en-de")
        c.get("q", namespace="translate:en-de")
        c.get("q", namespace="translate:en-de")
    with mneme.SemanticCache(db, emb) as c:
        assert c.stats(namespace="translate:en-de").hits_exact == 2


def test_hooks_may_raise_or_read_stats(db, emb, caplog):
    holder = {}
    seen = []

    def hook(name, attrs):
        seen.append(holder["c"].stats().hits_exact)
        raise RuntimeError("hook bug")

    with caplog.at_level(logging.WARNING, logger="mneme.metrics"):
        with mneme.SemanticCache(db, emb, metrics_hook=hook) as c:
            holder["c"] = c
            c.put("q", "r")
            assert c.get("q") is not None
    assert seen == [1]
    assert any(r.name == "mneme.metrics" for r in caplog.records)


def test_reentrant_validator_gets_runtime_error(db, emb):
    emb.table.update({"a": axis(8, 0), "b": axis(8, 0)})
    holder = {}

    def validator(response):
        holder["c"].stats()
        return True

    with mneme.SemanticCache(db, emb, validator=validator) as c:
        holder["c"] = c
        c.put("a", "r")
        with pytest.raises(RuntimeError):
            c.get("b")
        assert c.get("a").layer == "exact"


def test_threads_share_one_cache(db, emb):
    with mneme.SemanticCache(db, emb) as c:
        def work(t):
            for i in range(100):
                c.put(f"t{t}-{i}", "r")
                c.get(f"t{t}-{i}")

        threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        s = c.stats()
        assert s.hits_exact == 800 and s.entries == 800


def test_the_gil_is_released_during_engine_work(tmp_path):
    # One semantic get over 10k x 1024 floats (40 MB) takes milliseconds inside the engine. If the
    # GIL were held, no Python bytecode could run on another thread within that call's window.
    emb = TableEmbedder(1024)
    with mneme.SemanticCache(str(tmp_path / "big.db"), emb) as c:
        rng = np.random.default_rng(1)
        for i in range(10_000):
            c.put(f"q{i}", "r", embedding=rng.standard_normal(1024).astype(np.float32))
        ticks = []
        stop = threading.Event()

        def ticker():
            while not stop.is_set():
                ticks.append(time.perf_counter())

        t = threading.Thread(target=ticker)
        t.start()
        time.sleep(0.01)
        windows = []
        for _ in range(5):
            q = rng.standard_normal(1024)
            start = time.perf_counter()
            c.get("never", embedding=q)
            windows.append((start, time.perf_counter()))
        stop.set()
        t.join()
        inside = [sum(1 for x in ticks if a < x < b) for a, b in windows]
        assert max(inside) > 10, f"no Python progress during the engine calls: {inside}"


def test_stale_tolerant_mode_follows_another_writer(db, emb):
    reader = mneme.SemanticCache(db, emb, multi_process_mode="stale-tolerant")
    with mneme.SemanticCache(db, emb) as writer:
        writer.put("late", "r", embedding=axis(8, 5))
    assert reader.get("zz", embedding=axis(8, 5)).response == "r"
    assert reader.health().multi_process_mode == "stale-tolerant"
    reader.close()
    with mneme.SemanticCache(db, emb, multi_process_mode="mmap-shared") as shared:
        assert shared.get("zz", embedding=axis(8, 5)).response == "r"
        assert shared.health().multi_process_mode == "mmap-shared"


def test_fidelity_details_1_0_code_relies_on(tmp_path, emb):
    store = mneme.SQLiteStore(str(tmp_path / "s.db"))
    # Used before open: CacheClosedError, as in 1.0.
    with pytest.raises(mneme.CacheClosedError):
        store.count(None)
    assert store._path == store.path
    with mneme.SemanticCache(tmp_path / "c.db", emb) as c:
        # Dimension errors say "dim", as 1.0's do (user code matches on it).
        with pytest.raises(mneme.EmbedderDimensionError, match="dim"):
            c.put("x", "y", embedding=np.ones(3, dtype=np.float32))
    full = mneme.MemoryStore(max_entries=1)
    with mneme.SemanticCache(store=full, embedder=emb) as c:
        c.put("a", "1")
        with pytest.raises(mneme.StoreBackendError, match="capacity"):
            c.put("b", "2")

    async def run():
        from conftest import KeywordEmbedder
        a = mneme.AsyncSemanticCache(tmp_path / "a.db", mneme.to_async_embedder(KeywordEmbedder()))
        assert repr(a) == "<mneme.AsyncSemanticCache open>"
        await a.close()
        assert repr(a) == "<mneme.AsyncSemanticCache closed>"

    import asyncio
    asyncio.run(run())
