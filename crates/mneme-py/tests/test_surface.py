"""The public surface: names, module paths, dataclasses, protocols and exceptions of 1.0."""

import dataclasses
import importlib

import pytest

import mneme

EXPECTED_ALL = {
    "SemanticCache", "AsyncSemanticCache", "MemoryStore", "SQLiteStore", "Hit", "Stats", "Health",
    "StoredEntry", "Embedder", "AsyncEmbedder", "Index", "Store", "VectorDtype", "HitLayer",
    "IndexBackend", "MultiProcessMode", "ConfidenceFn", "Validator", "MetricsHook",
    "to_async_embedder", "to_sync_embedder", "MnemeError", "EmbedderMismatchError",
    "EmbedderDimensionError", "CorruptCacheError", "SchemaMigrationError", "CacheClosedError",
    "CheckpointError", "IndexBackendUnavailableError", "StoreBackendError",
    "NamespaceQuotaExceededError", "MultiProcessLockError", "QuantizationError", "__version__",
}


def test_all_is_exactly_the_1_0_list():
    assert set(mneme.__all__) == EXPECTED_ALL
    for name in mneme.__all__:
        assert hasattr(mneme, name)
    assert isinstance(mneme.__version__, str) and mneme.__version__.startswith("1.")


@pytest.mark.parametrize(
    "module, names",
    [
        ("mneme._exceptions", ["MnemeError", "CheckpointError", "StoreBackendError"]),
        ("mneme._types", ["Hit", "Stats", "Health", "StoredEntry", "Embedder", "Store", "CacheClosedError"]),
        ("mneme._store_redis", ["RedisStore"]),
        ("mneme._store_postgres", ["PostgresStore"]),
        ("mneme._store_dynamodb", ["DynamoDBStore"]),
        ("mneme._store_memory", ["MemoryStore"]),
        ("mneme._store_sqlite", ["SQLiteStore"]),
        ("mneme._normalize", ["normalize", "hash_query"]),
        ("mneme._scoring", ["default_confidence", "default_validator"]),
        ("mneme._checkpoint", ["restore", "CHECKPOINT_FORMAT_VERSION"]),
        ("mneme._index", ["NumpyIndex"]),
        ("mneme._index_hnsw", ["HnswIndex"]),
        ("mneme.tools.calibrate", ["find_threshold", "precision_recall_curve", "CalibrationResult", "main"]),
        ("mneme.tools.migrate", ["reembed", "areembed"]),
        ("mneme.adapters.prometheus", ["PrometheusMetricsHook"]),
        ("mneme.adapters.opentelemetry", ["OTelMetricsHook"]),
        ("mneme._quantization", ["quantize_int8", "dequantize_int8", "memory_bytes_estimate", "np_dtype_for"]),
    ],
)
def test_documented_module_paths_resolve(module, names):
    m = importlib.import_module(module)
    for name in names:
        assert hasattr(m, name), f"{module}.{name}"


@pytest.mark.parametrize("cls", [mneme.Hit, mneme.Stats, mneme.Health, mneme.StoredEntry])
def test_records_are_frozen_slotted_dataclasses(cls):
    assert dataclasses.is_dataclass(cls)
    assert hasattr(cls, "__slots__")
    fields = [f.name for f in dataclasses.fields(cls)]
    obj = cls(*[None] * len(fields))
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(obj, fields[0], 1)
    assert dataclasses.replace(obj, **{fields[0]: "x"}).__getattribute__(fields[0]) == "x"


def test_field_orders_match_1_0():
    names = lambda c: [f.name for f in dataclasses.fields(c)]  # noqa: E731
    assert names(mneme.Hit) == ["response", "similarity", "confidence", "age_seconds", "layer", "namespace", "metadata"]
    assert names(mneme.Stats)[-2:] == ["index_memory_bytes", "index_tombstone_count"]
    assert names(mneme.StoredEntry)[:3] == ["id", "namespace", "query_hash"]


def test_exceptions_hierarchy_and_remediation_docstrings():
    subclasses = [n for n in EXPECTED_ALL if n.endswith("Error") and n != "MnemeError"]
    assert len(subclasses) == 11
    for name in subclasses + ["MnemeError"]:
        cls = getattr(mneme, name)
        assert issubclass(cls, mneme.MnemeError)
        assert "remediation" in cls.__doc__.lower(), name


def test_protocols_are_runtime_checkable(emb):
    assert isinstance(emb, mneme.Embedder)
    assert isinstance(mneme.MemoryStore(), mneme.Store)
    assert not isinstance(object(), mneme.Embedder)


def test_normalize_and_hash_are_1_0s():
    from mneme._normalize import hash_query, normalize

    assert normalize("  Hello   World  ") == "hello world"
    assert hash_query(normalize("  Hello   World  ")) == "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
    assert normalize("STRAßE") == "strasse"
    assert normalize("Hello  World", casefold=False) == "Hello World"


def test_scoring_and_quantisation_helpers():
    from mneme._quantization import dequantize_int8, quantize_int8
    from mneme._scoring import default_confidence, default_validator

    assert default_confidence(1.0, 86400, {}) == 0.5
    assert default_confidence(1.0, -100, {}) == 1.0
    assert [default_validator(x) for x in ["", "  ", "[LLM Error] x", "[ERROR]", "[INFO] ok", "Error: x"]] == [False] * 4 + [True] * 2
    assert quantize_int8([1, -1, 0.5, -0.5, 0, 2, -2]).tolist() == [127, -127, 64, -64, 0, 127, -128]
    assert abs(float(dequantize_int8([127])[0]) - 1.0) < 1e-7


def test_numpy_index_direct_use():
    import numpy as np

    from mneme._index import NumpyIndex

    ix = NumpyIndex(4)
    ix.append(1, np.array([2, 0, 0, 0]), "a")
    ix.append(2, [0, 1, 0, 0], "a")
    assert ix.search(np.array([3, 0, 0, 0]), "a", k=3) == [(1, 6.0), (2, 0.0)]
    assert (ix.size, ix.dim, ix.dtype, ix.memory_bytes, ix.tombstone_count) == (2, 4, "float32", 4096, 0)
    assert ix.remove(5) is None and ix.remove(1) is None
    assert (ix.size, ix.tombstone_count) == (1, 1)
    ix.compact()
    assert ix.tombstone_count == 0
    for bad in (lambda: ix.append(3, np.ones(3), "a"), lambda: NumpyIndex(0), lambda: NumpyIndex(4, initial_capacity=0),
                lambda: ix.search(np.ones((1, 4)), "a")):
        with pytest.raises(ValueError):
            bad()
    with pytest.raises(mneme.QuantizationError):
        NumpyIndex(4, dtype="x")
    ix.rebuild_from([(7, np.ones(4) / 2, "b")])
    assert ix.size == 1 and ix.search(np.ones(4) / 2, "b") == [(7, 1.0)] and ix.search(np.ones(4), "zz") == []
    ix.requantize("int8")
    assert ix.dtype == "int8" and ix.search(np.ones(4) / 2, "b")[0][0] == 7


def test_hnsw_index_direct_use_in_every_dtype():
    import numpy as np

    from mneme._index_hnsw import HnswIndex

    rng = np.random.default_rng(7)
    vecs = rng.normal(size=(400, 16)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    for dtype in ("float32", "float16", "int8"):
        ix = HnswIndex(16, dtype=dtype, index_options={"M": 8, "ef": 40})
        for i, v in enumerate(vecs):
            ix.append(i, v, "even" if i % 2 == 0 else "odd")
        assert (ix.size, ix.dim, ix.dtype) == (400, 16, dtype)
        found = [ix.search(v, "even" if i % 2 == 0 else "odd", k=3) for i, v in enumerate(vecs)]
        assert sum(f[0][0] == i for i, f in enumerate(found)) >= 396
        assert all(r[0] % 2 == 0 for r in ix.search(vecs[0], "even", k=20))
        ix.remove(0)
        assert ix.tombstone_count == 1 and all(r[0] != 0 for r in ix.search(vecs[0], "even", k=5))
        ix.compact()
        assert (ix.size, ix.tombstone_count) == (399, 0)
    ix.requantize("float32")
    assert ix.dtype == "float32" and ix.search(vecs[2], "even")[0][0] == 2
    ix.rebuild_from([(7, vecs[3], "b")])
    assert ix.size == 1 and ix.search(vecs[3], "b")[0][0] == 7
    with pytest.raises(TypeError):
        HnswIndex(16, index_options={"initial_capacity": 5})
    for bad in (lambda: HnswIndex(0), lambda: HnswIndex(16, index_options={"M": 0}), lambda: ix.append(1, np.ones(3), "a")):
        with pytest.raises(ValueError):
            bad()


def test_private_attributes_1_0_code_reaches_for(tmp_path, emb):
    path = tmp_path / "c.db"
    with mneme.SemanticCache(path=path, embedder=emb) as cache:
        assert isinstance(cache._store, mneme.SQLiteStore)
        assert str(cache._store._path) == str(path)
        cache.put("how do I reset my password?", "Settings")
        assert cache._store.count() == 1, "the store object is the one the cache uses, open"
        cache.dumps(tmp_path / "a.tar.gz")
    restored = mneme.SemanticCache.loads(tmp_path / "a.tar.gz", tmp_path / "r.db", emb)
    assert str(restored._store._path) == str(tmp_path / "r.db") and restored._store.count() == 1
    restored.close()
    store = mneme.MemoryStore()
    with mneme.SemanticCache(store=store, embedder=emb) as cache:
        assert cache._store is store
    acache = mneme.AsyncSemanticCache(store=mneme.MemoryStore(), embedder=emb)
    assert isinstance(acache._store, mneme.MemoryStore)
