"""An embedder module for the calibrate CLI tests (`--embedder calibrate_embedder:factory`)."""

import hashlib
import re

import numpy as np


class KeywordEmbedder:
    dim = 32
    fingerprint = "kw:32"

    def embed(self, text):
        v = np.zeros(32, dtype=np.float32)
        for w in re.findall(r"\w+", text.lower()):
            v[int.from_bytes(hashlib.sha256(w.encode()).digest()[:4], "little") % 32] += 1
        return v


def factory():
    return KeywordEmbedder()
