"""The mneme-cache 1.0 side of `cargo bench --bench dynamodb`: the same operations on the same
moto table, through the same counting proxy. After each phase it prints one JSON line and waits
for a line on stdin, so the Rust side can read the proxy's request counts for that phase alone.

Usage: peer_dynamodb.py ENDPOINT TABLE DIM ROWS CALLS OPENS
"""
import hashlib, json, sys, time
import numpy as np
import mneme
from mneme._store_dynamodb import DynamoDBStore


class HashEmbedder:
    def __init__(self, dim):
        self.dim, self.fingerprint = dim, f"bench:{dim}"

    def embed(self, text):
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
        v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
        return v / np.linalg.norm(v)


def phase(name, seconds):
    print(json.dumps({"phase": name, "seconds": seconds}), flush=True)
    sys.stdin.readline()


def main():
    endpoint, table, dim, rows, calls, opens = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:7])
    emb = HashEmbedder(dim)

    def open_cache():
        return mneme.SemanticCache(store=DynamoDBStore(table, endpoint_url=endpoint), embedder=emb)

    times = []
    for _ in range(opens):
        t = time.perf_counter()
        c = open_cache()
        times.append(time.perf_counter() - t)
        c.close()
    phase("open", times)

    c = open_cache()
    phase("ready", [])
    times = []
    for i in range(calls):
        q = f"seed query {(i * 7919) % rows}"
        t = time.perf_counter()
        hit = c.get(q)
        times.append(time.perf_counter() - t)
        assert hit is not None and hit.layer == "exact", q
    phase("exact_get", times)

    times = []
    for i in range(calls):
        t = time.perf_counter()
        c.put(f"peer put {i}", f"answer {i}")
        times.append(time.perf_counter() - t)
    phase("put", times)
    c.close()


if __name__ == "__main__":
    main()
