"""Drives the real mneme-cache 1.0 (from PyPI) for the interop tests. Never imported by mneme.

A DB argument is a SQLite path, `redis://host:port/db#prefix` for mneme-cache's RedisStore,
`postgresql://…#schema` for its PostgresStore, or `dynamodb://TABLE?endpoint=URL` for its
DynamoDBStore (the table is created if missing; credentials and region from the environment).

Commands (all print JSON on stdout):
  workload DB WORKLOAD DIM   run the ops, print the get results and stats
  verify DB WORKLOAD DIM     open, look up every live entry exactly and semantically
  describe DB                the file's contents, timestamps aside
  hashes                     stdin: JSON list of strings -> [[key, hash], ...]
  casefold                   every code point that normalize() changes -> [[cp, key], ...]
  dumps DB ARCHIVE DIM       open DB and dumps() it
  delete DB DIM NS QUERY     open DB and delete one entry
  loads ARCHIVE DB WORKLOAD DIM
                             loads() the archive (errors print {"error": class name}), then verify
  mmap-write BASE DTYPE CAP N  1.0's MmapSharedCoordinator (dim 8, fingerprint "interop"):
                             append rows 100+i (namespace ns-{i%2}), remove 103, append 999 in
                             a namespace longer than 16 bytes
  mmap-read BASE DTYPE       the top-1 id of eight such queries, and of the long one
"""
import hashlib, json, sqlite3, sys
import numpy as np
import mneme
from mneme import _normalize


class HashEmbedder:
    def __init__(self, dim):
        self.dim = dim
        self.fingerprint = f"interop:{dim}"

    def embed(self, text):
        out, counter = [], 0
        while len(out) < self.dim:
            d = hashlib.sha256(text.encode() + counter.to_bytes(4, "little")).digest()
            out.extend(np.frombuffer(d, dtype="<u2").astype(np.float32) / np.float32(32768) - np.float32(1))
            counter += 1
        return np.array(out[: self.dim], dtype=np.float32)


LONG_NAMESPACE = "a-namespace-longer-than-sixteen-bytes"


def mmap_unit(i):
    """The vectors tests/mmap_primitive.rs uses (dim 8)."""
    v = np.zeros(8, dtype=np.float32)
    v[i % 8] = 1.0
    v[(i + 1) % 8] = 0.25
    return v


def open_cache(target, embedder):
    if target.startswith("redis://"):
        from mneme._store_redis import RedisStore

        url, prefix = target.split("#", 1)
        return mneme.SemanticCache(store=RedisStore(url=url, key_prefix=prefix), embedder=embedder)
    if target.startswith("postgresql://"):
        from mneme._store_postgres import PostgresStore

        dsn, schema = target.split("#", 1)
        return mneme.SemanticCache(store=PostgresStore(dsn, schema=schema), embedder=embedder)
    if target.startswith("dynamodb://"):
        from mneme._store_dynamodb import DynamoDBStore

        table, endpoint = target[len("dynamodb://"):].split("?endpoint=", 1)
        store = DynamoDBStore(table, endpoint_url=endpoint, create_table=True)
        return mneme.SemanticCache(store=store, embedder=embedder)
    return mneme.SemanticCache(path=target, embedder=embedder)


def stats(c):
    s = c.stats()
    return {k: getattr(s, k) for k in ("entries", "hits_exact", "hits_semantic", "misses", "evictions", "expirations")}


def live_puts(ops):
    live = {}
    for op in ops:
        ns = op.get("ns", "default")
        key = (ns, _normalize.normalize(op["q"]))
        if op["op"] == "put":
            live[key] = op
        elif op["op"] == "delete":
            live.pop(key, None)
    return list(live.values())


def lookups(c, ops, emb):
    """Exact and semantic lookups of every live entry, as the Rust tests do them."""
    out = {"stats_on_open": stats(c), "namespaces": c.list_namespaces(), "exact": [], "semantic": []}
    for op in live_puts(ops):
        ns = op.get("ns", "default")
        out["exact"].append(hit_json(c.get(op["q"], namespace=ns)))
        vec = emb.embed(_normalize.normalize(op["q"]))
        out["semantic"].append(hit_json(c.get("a query never stored", namespace=ns, embedding=vec)))
    return out


def hit_json(h):
    return None if h is None else [h.response, h.layer, round(h.similarity, 5)]


def main():
    cmd = sys.argv[1]
    if cmd == "workload":
        db, ops, dim = sys.argv[2], json.load(open(sys.argv[3])), int(sys.argv[4])
        gets = []
        with open_cache(db, HashEmbedder(dim)) as c:
            for op in ops:
                ns = op.get("ns", "default")
                if op["op"] == "put":
                    c.put(op["q"], op["r"], namespace=ns, metadata=op.get("meta"), ttl=op.get("ttl"))
                elif op["op"] == "get":
                    gets.append(hit_json(c.get(op["q"], namespace=ns)))
                elif op["op"] == "delete":
                    c.delete(op["q"], namespace=ns)
            out = {"gets": gets, "stats": stats(c)}
        print(json.dumps(out))
    elif cmd == "verify":
        db, ops, dim = sys.argv[2], json.load(open(sys.argv[3])), int(sys.argv[4])
        emb = HashEmbedder(dim)
        with open_cache(db, emb) as c:
            print(json.dumps(lookups(c, ops, emb)))
    elif cmd == "describe":
        con = sqlite3.connect(sys.argv[2])
        out = {
            "sqlite_master": con.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid").fetchall(),
            "journal_mode": con.execute("PRAGMA journal_mode").fetchone()[0],
            "schema_meta": con.execute("SELECT key, value FROM schema_meta ORDER BY key").fetchall(),
            "multi_process_state": con.execute("SELECT key, value FROM multi_process_state").fetchall(),
            "sqlite_sequence": con.execute("SELECT name, seq FROM sqlite_sequence").fetchall(),
            "entries": [
                [r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], [round(float(x), 6) for x in np.frombuffer(r[8], dtype="<f4")]]
                for r in con.execute(
                    "SELECT id, namespace, query_hash, query, response, metadata, ttl, access_count, embedding "
                    "FROM entries ORDER BY id"
                )
            ],
        }
        print(json.dumps(out, ensure_ascii=False))
    elif cmd == "hashes":
        strings = json.load(sys.stdin)
        print(json.dumps([[_normalize.normalize(s), _normalize.hash_query(_normalize.normalize(s))] for s in strings]))
    elif cmd == "casefold":
        changed = []
        for cp in range(0x110000):
            if 0xD800 <= cp < 0xE000:
                continue
            key = _normalize.normalize("x" + chr(cp) + "y")
            if key != "x" + chr(cp) + "y":
                changed.append([cp, key])
        print(json.dumps(changed))
    elif cmd == "delete":
        db, dim, ns, query = sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
        with mneme.SemanticCache(path=db, embedder=HashEmbedder(dim)) as c:
            print(json.dumps({"deleted": c.delete(query, namespace=ns)}))
    elif cmd == "dumps":
        db, archive, dim = sys.argv[2], sys.argv[3], int(sys.argv[4])
        with mneme.SemanticCache(path=db, embedder=HashEmbedder(dim)) as c:
            c.dumps(archive)
        print(json.dumps({"ok": True}))
    elif cmd == "loads":
        archive, db, ops, dim = sys.argv[2], sys.argv[3], json.load(open(sys.argv[4])), int(sys.argv[5])
        emb = HashEmbedder(dim)
        try:
            c = mneme.SemanticCache.loads(archive, path=db, embedder=emb)
        except mneme.MnemeError as e:
            print(json.dumps({"error": type(e).__name__}))
            return
        with c:
            print(json.dumps(lookups(c, ops, emb)))
    elif cmd == "mmap-write":
        from mneme._multiproc import MmapSharedCoordinator

        base, dtype, cap, n = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
        c = MmapSharedCoordinator(base, 8, dtype=dtype, embedder_fingerprint="interop", initial_capacity=cap)
        for i in range(n):
            c.append(100 + i, mmap_unit(i), f"ns-{i % 2}")
        c.remove(103)
        c.append(999, mmap_unit(7), LONG_NAMESPACE)
        dim, count, capacity, dt, fp = c.read_header()
        c.close()
        print(json.dumps({"count": count, "capacity": capacity}))
    elif cmd == "mmap-read":
        from mneme._multiproc import MmapSharedCoordinator

        base, dtype = sys.argv[2], sys.argv[3]
        c = MmapSharedCoordinator(base, 8, dtype=dtype, embedder_fingerprint="interop")
        tops = []
        for i in range(8):
            found = [rid for rid, _ in c.search(mmap_unit(i), f"ns-{i % 2}", k=1)]
            tops.append(found[0] if found and found[0] == 100 + i else None)
        long = c.search(mmap_unit(7), LONG_NAMESPACE, k=1)
        c.close()
        print(json.dumps({"tops": tops, "long": long[0][0] if long else None}))
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
