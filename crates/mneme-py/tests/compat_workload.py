"""A scripted workload, run under mneme-cache 1.0 and under this package by test_compat.py.

Prints a JSON transcript: every result, every metrics event, stats, health and the class of
every error. Only behaviour that 1.0 gets right is exercised here; its documented defects
(docs/compatibility.md, "Fixed on purpose") are fixed on purpose and tested elsewhere.
"""

import hashlib
import json
import math
import sys
import tempfile

import numpy as np

import mneme


class Emb:
    dim = 16
    fingerprint = "compat:16"

    def __init__(self):
        self.table = {}

    def embed(self, text):
        if text in self.table:
            return self.table[text]
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
        v = np.random.default_rng(seed).standard_normal(16).astype(np.float32)
        return v / np.linalg.norm(v)


def unit(i, j=None, cos=1.0):
    v = np.zeros(16, dtype=np.float32)
    v[i] = cos
    if j is not None:
        v[j] = math.sqrt(1 - cos * cos)
    return v


def hit(h):
    if h is None:
        return None
    return [h.response, h.layer, round(h.similarity, 5), round(h.confidence, 5), h.namespace, h.metadata]


def stats(s):
    return [s.namespace, s.entries, s.hits_exact, s.hits_semantic, s.misses, s.evictions, s.expirations,
            s.embedder_fingerprint, s.vector_dtype, s.memory_bytes_estimate]


def main():
    out = []
    events = []

    def step(name, fn):
        try:
            out.append([name, fn()])
        except Exception as e:  # noqa: BLE001 - the class is what we compare
            out.append([name, "raised " + type(e).__name__])

    emb = Emb()
    emb.table.update({
        "cat": unit(0), "feline": unit(0), "kitty": unit(0, 1, 0.9), "dog": unit(0, 2, 0.5),
        "e1": unit(3, 4, 0.99), "e2": unit(3, 5, 0.98), "e3": unit(3, 6, 0.97), "e4": unit(3, 7, 0.96),
        "probe": unit(3),
    })
    d = tempfile.mkdtemp()
    c = mneme.SemanticCache(d + "/c.db", emb, metrics_hook=lambda e, a: events.append([e, dict(a)]))
    step("put cat", lambda: c.put("cat", "meow", metadata={"b": 1, "a": [1.5, 2**70], "s": "é"}))
    step("exact", lambda: hit(c.get("  CAT ")))
    step("semantic", lambda: hit(c.get("feline")))
    step("semantic 0.9 below", lambda: hit(c.get("kitty")))
    step("threshold 0.85", lambda: c.set_similarity_threshold(0.85))
    step("below threshold", lambda: hit(c.get("dog")))
    step("bypass", lambda: hit(c.get("cat", bypass=True)))
    step("other ns", lambda: hit(c.get("cat", namespace="other")))
    step("validator rejects", lambda: [c.put(q, "[LLM Error] x") for q in ("e1", "e2", "e3")] and None)
    step("good 4th", lambda: c.put("e4", "good"))
    step("top-3 only", lambda: hit(c.get("probe")))
    step("rejected deleted", lambda: [c.delete(q) for q in ("e1", "e2", "e3", "e4")])
    step("exact skips validator", lambda: (c.put("err", "[ERROR] boom"), hit(c.get("err")))[1])
    step("upsert", lambda: (c.put("cat", "purr"), hit(c.get("cat")), c.stats().entries)[1:])
    step("ttl 0 expires", lambda: (c.put("gone", "x", ttl=0), hit(c.get("gone", embedding=unit(9))))[1])
    step("wrong dim put", lambda: c.put("q", "r", embedding=np.ones(4, dtype=np.float32)))
    step("wrong dim get", lambda: hit(c.get("q", embedding=np.ones(4, dtype=np.float32))))
    step("threshold nan", lambda: c.set_similarity_threshold(float("nan")))
    step("requantize bad", lambda: c.requantize("float64"))
    step("requantize int8", lambda: (c.requantize("int8"), hit(c.get("feline")))[1])
    step("namespaces", lambda: (c.put("x", "y", namespace="zzz"), c.put("x", "y", namespace="aaa"), c.list_namespaces())[2])
    step("clear_namespace", lambda: c.clear_namespace("zzz"))
    step("stats", lambda: stats(c.stats()))
    step("stats ns", lambda: stats(c.stats(namespace="aaa")))
    h = c.health()
    step("health", lambda: [h.healthy, h.schema_version, h.integrity_ok, h.embedder_fingerprint_match, h.entries,
                            h.namespaces, h.index_backend, h.store_backend, h.vector_dtype, h.multi_process_mode])
    step("size limit", lambda: c.put("x" * 40000, "r"))
    step("clear", lambda: c.clear())
    c.close()
    step("closed get", lambda: c.get("cat"))
    step("closed put", lambda: c.put("cat", "r"))

    e2 = mneme.SemanticCache(d + "/e.db", Emb(), max_entries=100)
    step("eviction batch", lambda: ([e2.put(f"q{i}", "r") for i in range(101)], stats(e2.stats()))[1])
    e2.close()
    step("reopen other fp", lambda: mneme.SemanticCache(d + "/e.db", type("E", (), {"dim": 16, "fingerprint": "x", "embed": lambda s, t: unit(0)})()))
    step("constructor both", lambda: mneme.SemanticCache(d + "/z.db", Emb(), store=mneme.MemoryStore()))
    step("dtype bad", lambda: mneme.SemanticCache(d + "/z.db", Emb(), vector_dtype="float64"))

    m = mneme.SemanticCache(store=mneme.MemoryStore(), embedder=Emb(), namespace_quotas={"a": 2})
    step("quota", lambda: ([m.put(f"q{i}", "r", namespace="a") for i in range(5)], m.stats(namespace="a").entries, m.health().store_backend)[1:])
    m.close()
    print(json.dumps({"steps": out, "events": events}, default=str))


if __name__ == "__main__":
    main()
