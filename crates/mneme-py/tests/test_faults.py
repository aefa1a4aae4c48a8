"""Hostile sizes reach the caller as typed exceptions, quickly: never an abort or a panic."""

import pytest

import mneme
from conftest import TableEmbedder
from mneme._store_postgres import PostgresStore
from mneme._store_redis import RedisStore


@pytest.mark.parametrize("store", [None, "memory"])
@pytest.mark.parametrize("capacity", [2**40, 2**62])
def test_a_huge_initial_capacity_is_a_memory_error(db, emb, store, capacity):
    kwargs = {"store": mneme.MemoryStore()} if store else {"path": db}
    with pytest.raises(MemoryError, match="initial_capacity"):
        mneme.SemanticCache(embedder=emb, index_options={"initial_capacity": capacity}, **kwargs)


@pytest.mark.parametrize("option", ["M", "initial_max_elements"])
def test_huge_hnsw_options_are_refused(db, emb, option):
    with pytest.raises((ValueError, MemoryError), match=option):
        c = mneme.SemanticCache(db, emb, index_backend="hnsw", index_options={option: 2**40})
        c.put("a", "r")
        c.put("b", "r")


def test_a_huge_embedder_dim_is_refused(db):
    with pytest.raises(ValueError, match="dim"):
        mneme.SemanticCache(db, TableEmbedder(dim=2**40))


def test_oversized_metadata_is_refused_before_it_is_parsed(cache):
    # 100k keys: about 1.5 MB of JSON, over the 64 KiB default. Parsing it key by key with a
    # linear search per key took minutes; it is now measured first.
    metadata = {f"k{i}": i for i in range(100_000)}
    with pytest.raises(ValueError, match="max_metadata_bytes"):
        cache.put("q", "r", metadata=metadata)
    assert cache.get("q") is None


@pytest.fixture
def silent_server():
    """A port whose connections complete (the kernel's backlog) but are never answered."""
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    yield s.getsockname()[1]
    s.close()


def test_a_redis_client_s_timeouts_bound_the_store(silent_server, emb):
    import redis

    client = redis.Redis(host="127.0.0.1", port=silent_server, socket_connect_timeout=0.3, socket_timeout=0.3)
    store = RedisStore(client=client)
    with pytest.raises(mneme.StoreBackendError, match=r"connect_timeout \(300ms\)"):
        mneme.SemanticCache(embedder=emb, store=store)


def test_a_dsn_s_connect_timeout_bounds_the_handshake(silent_server, emb):
    store = PostgresStore(f"host=127.0.0.1 port={silent_server} user=postgres dbname=test connect_timeout=1")
    with pytest.raises(mneme.StoreBackendError, match=r"connect_timeout") as raised:
        mneme.SemanticCache(embedder=emb, store=store)
    assert f"127.0.0.1:{silent_server}" in str(raised.value)


@pytest.mark.parametrize("seconds", [1e300, float("inf"), -1.0])
def test_an_impossible_stale_check_interval_is_a_value_error(db, emb, seconds):
    with pytest.raises(ValueError, match="stale_check_interval"):
        mneme.SemanticCache(db, emb, multi_process_mode="stale-tolerant", stale_check_interval=seconds)
