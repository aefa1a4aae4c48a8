"""Shared by the Python sides of the benchmarks: the harness embedder of mneme-cache's own
benchmarks (a seeded unit vector from the text's SHA-256)."""
import hashlib
import numpy as np


class PerfEmbedder:
    def __init__(self, dim):
        self.dim = dim
        self.fingerprint = f"perf:fp:{dim}"

    def embed(self, text):
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
        v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
        return v / np.linalg.norm(v)
