"""What a stale-tolerant reader pays on `get` after another handle's write: a new key (append)
versus an overwrite of an existing key (reconcile), on a 20 000-row file. Prints p50 of 300.

Usage: python3 stale_reconcile.py   (runs under .venv-py; MNEME_OURS_PYTHON picks another build)
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
OURS = Path(os.environ.get("MNEME_OURS_PYTHON", ROOT / ".venv-py" / "bin" / "python"))

WORK = r'''
import os, sys, tempfile, time
sys.path.insert(0, sys.argv[1])
import mneme
from bench_common import PerfEmbedder
path = os.path.join(tempfile.mkdtemp(), "a.db")
seed = mneme.SemanticCache(path=path, embedder=PerfEmbedder(384))
for i in range(20000):
    seed.put(f"q{i}", "r")
seed.close()
writer = mneme.SemanticCache(path=path, embedder=PerfEmbedder(384))
reader = mneme.SemanticCache(path=path, embedder=PerfEmbedder(384), multi_process_mode="stale-tolerant")
for mode in ("new key", "overwrite"):
    samples = []
    for i in range(300):
        writer.put(f"q{i}" if mode == "overwrite" else f"new {i}", f"x{i}")
        t = time.perf_counter()
        reader.get("q5")
        samples.append(time.perf_counter() - t)
    samples.sort()
    print(f"get after another handle's {mode}: p50 {samples[150] * 1e6:.0f} us")
'''

if __name__ == "__main__":
    common = ROOT / "crates" / "mneme" / "benches"
    sys.exit(subprocess.run([str(OURS), "-c", WORK, str(common)]).returncode)
