"""Stores from Python: the native ones directly, and a pure-Python store as the cache's store."""

import dataclasses
import os

import pytest

import mneme
import mneme._normalize
from mneme import StoredEntry


def entry(ns="ns", q="q", t=1):
    return StoredEntry(0, ns, mneme._normalize.hash_query(q), q, "r", b"\x00" * 32, {"k": 1}, t, t, None, 0)


@pytest.mark.parametrize("make", [lambda p: mneme.MemoryStore(), lambda p: mneme.SQLiteStore(p)])
def test_store_level_api(tmp_path, make):
    s = make(str(tmp_path / "s.db"))
    s.open("fp", 8)
    a = s.insert(entry(q="a"))
    b = s.insert(entry(q="b", t=2))
    assert 0 < a < b
    assert s.insert(dataclasses.replace(entry(q="a"), response="new")) == a
    assert s.get_by_id(a).response == "new"
    assert s.get_by_hash("ns", mneme._normalize.hash_query("b")).id == b
    assert s.count() == 2 and s.count("ns") == 2 and s.list_namespaces() == ["ns"]
    assert list(s.iter_lru_ids(10)) == [a, b]
    assert [e.id for e in s.iter_all()] == [a, b]
    assert [e.id for e in s.iter_since(a)] == [b]
    v = s.read_version_counter()
    s.update_access(a, 99)
    assert s.read_version_counter() == v and s.get_by_id(a).access_count == 1
    s.write_meta("k", "v")
    assert s.read_meta("k") == "v"
    s.set_namespace_quota("ns", 5)
    assert s.get_namespace_quota("ns") == 5
    assert s.delete_by_id(b) and not s.delete_by_id(b)
    assert s.integrity_check()
    s.close()
    with pytest.raises(mneme.CacheClosedError):
        s.count()


def test_snapshot_semantics(tmp_path):
    with pytest.raises(mneme.CheckpointError):
        m = mneme.MemoryStore()
        m.open("fp", 8)
        m.snapshot_to(str(tmp_path / "x.db"))
    s = mneme.SQLiteStore(str(tmp_path / "a.db"))
    s.open("fp", 8)
    s.insert(entry())
    s.snapshot_to(str(tmp_path / "snap.db"))
    r = mneme.SQLiteStore.restore_from(str(tmp_path / "snap.db"), str(tmp_path / "r.db"))
    r.open("fp", 8)
    assert r.count() == 1


def test_memory_store_cap():
    m = mneme.MemoryStore(max_entries=1)
    m.open("fp", 8)
    m.insert(entry(q="a"))
    with pytest.raises(mneme.StoreBackendError):
        m.insert(entry(q="b"))


class DictStore:
    """A store written in Python, following the Store protocol."""

    def __init__(self):
        self.rows, self.meta, self.quotas, self.next_id, self.version = {}, {}, {}, 1, 0

    def open(self, embedder_fingerprint, embedder_dim):
        self.meta.setdefault("embedder_fingerprint", embedder_fingerprint)
        if self.meta["embedder_fingerprint"] != embedder_fingerprint:
            raise mneme.EmbedderMismatchError("different embedder. Remediation: reembed")

    def close(self):
        pass

    def get_by_hash(self, namespace, query_hash):
        return next((e for e in self.rows.values() if (e.namespace, e.query_hash) == (namespace, query_hash)), None)

    def get_by_id(self, id):
        return self.rows.get(id)

    def count(self, namespace=None):
        return sum(1 for e in self.rows.values() if namespace in (None, e.namespace))

    def list_namespaces(self):
        return sorted({e.namespace for e in self.rows.values()})

    def iter_lru_ids(self, n, namespace=None):
        rows = sorted((e for e in self.rows.values() if namespace in (None, e.namespace)), key=lambda e: (e.last_accessed_at, e.id))
        return iter([e.id for e in rows[:n]])

    def iter_all(self):
        return iter(sorted(self.rows.values(), key=lambda e: e.id))

    def iter_since(self, last_id):
        return iter([e for e in self.iter_all() if e.id > last_id])

    def insert(self, entry):
        old = self.get_by_hash(entry.namespace, entry.query_hash)
        id = old.id if old else self.next_id
        if not old:
            self.next_id += 1
        self.rows[id] = dataclasses.replace(entry, id=id)
        self.version += 1
        return id

    def update_access(self, id, now):
        if id in self.rows:
            e = self.rows[id]
            self.rows[id] = dataclasses.replace(e, last_accessed_at=now, access_count=e.access_count + 1)

    def delete_by_id(self, id):
        gone = self.rows.pop(id, None) is not None
        self.version += gone
        return gone

    def delete_expired(self, now, namespace=None):
        ids = [e.id for e in self.rows.values() if e.ttl is not None and e.created_at + e.ttl <= now and namespace in (None, e.namespace)]
        return sum(self.delete_by_id(i) for i in ids)

    def clear_namespace(self, namespace):
        return sum(self.delete_by_id(e.id) for e in list(self.rows.values()) if e.namespace == namespace)

    def set_namespace_quota(self, namespace, max_entries):
        self.quotas[namespace] = max_entries

    def get_namespace_quota(self, namespace):
        return self.quotas.get(namespace)

    def read_version_counter(self):
        return self.version

    def read_meta(self, key):
        return self.meta.get(key)

    def write_meta(self, key, value):
        self.meta[key] = value

    def integrity_check(self):
        return True

    def snapshot_to(self, dest_path):
        raise mneme.CheckpointError("DictStore cannot snapshot. Remediation: none")

    @classmethod
    def restore_from(cls, source_path, dest_path):
        raise mneme.CheckpointError("no. Remediation: none")


def test_a_python_store_serves_the_cache(tmp_path, emb):
    store = DictStore()
    with mneme.SemanticCache(store=store, embedder=emb, max_entries=3) as c:
        for i in range(5):
            c.put(f"q{i}", "r", metadata={"i": i})
        assert c.get("q4").metadata == {"i": 4}
        assert c.stats().entries <= 3
        assert c.health().store_backend == "dict"
        with pytest.raises(mneme.CheckpointError):
            c.dumps(str(tmp_path / "x.tar.gz"))
        assert not (tmp_path / "x.tar.gz").exists()
        c.get("q4")
    assert '"default:hits_exact": 2' in store.meta["counters"], "persisted through the Python store"


REDIS_URL = os.environ.get("MNEME_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_prefix():
    import redis  # the test environment has redis-py (scripts/setup-python.sh)

    client = redis.Redis.from_url(REDIS_URL)
    prefix = f"mneme-pytest-{os.getpid()}-{id(client)}"
    yield client, prefix
    keys = client.keys(f"{prefix}:*")
    if keys:
        client.delete(*keys)


def test_redis_store_from_url_and_from_a_client(redis_prefix, emb):
    from mneme._store_redis import RedisStore

    client, prefix = redis_prefix
    s = RedisStore(url=REDIS_URL, key_prefix=prefix)
    s.open("fp", 8)
    a = s.insert(entry(q="a"))
    assert s.get_by_id(a).query == "a" and s.count() == 1
    s.close()
    with pytest.raises(ValueError, match="exactly one"):
        RedisStore()
    with mneme.SemanticCache(store=RedisStore(client=client, key_prefix=prefix + "-c"), embedder=emb) as c:
        c.put("q", "r", metadata={"k": 1})
        assert c.get("q").metadata == {"k": 1}
        assert c.health().store_backend == "redis"
        with pytest.raises(mneme.CheckpointError):
            c.dumps("/tmp/never.tar.gz")
    assert client.hget(f"{prefix}-c:meta", "counters") is not None
    for key in client.keys(f"{prefix}-c:*"):
        client.delete(key)


def test_an_unreachable_redis_is_a_store_backend_error(emb):
    from mneme._store_redis import RedisStore

    with pytest.raises(mneme.StoreBackendError):
        mneme.SemanticCache(store=RedisStore(url="redis://127.0.0.1:1/0"), embedder=emb)


PG_DSN = os.environ.get("MNEME_POSTGRES_DSN", "host=127.0.0.1 user=postgres dbname=test")


def test_postgres_store_from_a_dsn_and_a_psycopg_connection(emb):
    import psycopg

    from mneme._store_postgres import PostgresStore

    schema = f"mneme_pytest_{os.getpid()}"
    try:
        with mneme.SemanticCache(store=PostgresStore(PG_DSN, schema=schema), embedder=emb) as c:
            c.put("q", "r", metadata={"k": 1})
            assert c.get("q").metadata == {"k": 1}
            assert c.health().store_backend == "postgres"
        with psycopg.connect(PG_DSN) as conn:
            s = PostgresStore(connection=conn, schema=schema)
            s.open(emb.fingerprint, emb.dim)
            assert s.count() == 1
            s.close()
        with pytest.raises(ValueError, match="exactly one"):
            PostgresStore()
        with pytest.raises(ValueError):
            PostgresStore(PG_DSN, schema="bad-name")
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
