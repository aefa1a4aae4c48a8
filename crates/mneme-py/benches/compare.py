"""Runs workload.py under mneme-cache 1.0 (.venv-peer) and under our `mneme` (.venv-py) on the
same seeded files, in one run, and prints p50/p99 for both with the ratio, plus where both
float32 scans stand against the machine's memory-bandwidth bound, measured in the same run.

Usage: python3 compare.py [ROWS] [CALLS]   (scripts/bench-python.sh sets everything up)

To compare two builds of ours instead (before/after a change), point MNEME_PEER_PYTHON at the
other build's interpreter and name it with MNEME_PEER_LABEL; MNEME_OURS_PYTHON overrides ours.
"""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
BENCH = ROOT / "bench-out"
OURS = Path(os.environ.get("MNEME_OURS_PYTHON", ROOT / ".venv-py" / "bin" / "python"))
PEER = Path(os.environ.get("MNEME_PEER_PYTHON", ROOT / ".venv-peer" / "bin" / "python"))
PEER_LABEL = os.environ.get("MNEME_PEER_LABEL", "mneme-cache 1.0")
HERE = Path(__file__).resolve().parent

SEED = r'''
import hashlib, sys, numpy as np, mneme
from mneme import StoredEntry
from mneme._normalize import hash_query, normalize
path, rows, dim = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = mneme.SQLiteStore(path); s.open(f"perf:fp:{dim}", dim)
rng = np.random.default_rng(42)
for i in range(rows):
    v = rng.standard_normal(dim).astype(np.float32); v /= np.linalg.norm(v)
    s.insert(StoredEntry(0, "default", hash_query(normalize(f"q{i}")), f"q{i}", f"r{i}", v.astype("<f4").tobytes(), {}, 1700000000, 1700000000, None, 0))
s.close()
'''


def seed(rows, dim):
    path = BENCH / f"seed-{rows}x{dim}.db"
    if not path.exists():
        print(f"seeding {path.name} ...", file=sys.stderr)
        tmp = str(path) + ".seeding"
        subprocess.run([str(OURS), "-c", SEED, tmp, str(rows), str(dim)], check=True)
        os.replace(tmp, path)


BOUND = r'''
import sys, threading, time, numpy as np
n = int(sys.argv[1])
halves = [h.view(np.uint64) for h in np.array_split(np.ones(n, dtype=np.float32), 2)]
best = float("inf")
for _ in range(10):
    t = time.perf_counter()
    threads = [threading.Thread(target=np.bitwise_or.reduce, args=(h,)) for h in halves]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    best = min(best, time.perf_counter() - t)
print(best * 1e6)
'''


def bandwidth_bound(floats):
    """The fastest plain pass over an array of the index's size with two threads (a numpy OR
    reduction, which releases the GIL and streams at memory speed): what a scan of that many
    bytes cannot beat on this machine."""
    out = subprocess.run([str(OURS), "-c", BOUND, str(floats)], capture_output=True, text=True, check=True)
    return float(out.stdout)


def run(python, rows, calls):
    out = subprocess.run([str(python), str(HERE / "workload.py"), str(BENCH), str(rows), str(calls)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def fmt(us):
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.1f} µs"


def main():
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    calls = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    BENCH.mkdir(exist_ok=True)
    for r, d in ((rows, 768), (rows, 1536), (10_000, 384)):
        seed(r, d)
    print(f"running the workload under {PEER_LABEL} ({PEER}) ...", file=sys.stderr)
    theirs = run(PEER, rows, calls)
    print(f"running the workload under mneme ({OURS}) ...", file=sys.stderr)
    ours = run(OURS, rows, calls)
    print(f"| workload (Python API) | mneme p50 | mneme p99 | {PEER_LABEL} p50 | {PEER_LABEL} p99 | p50 ratio ({PEER_LABEL} / mneme) |")
    print("|---|---|---|---|---|---|")
    for name, a in ours.items():
        b = theirs[name]
        if "ops" in a:
            print(f"| {name} | {a['ops']:.0f} | | {b['ops']:.0f} | | {a['ops'] / b['ops']:.1f}x |")
        else:
            print(f"| {name} | {fmt(a['p50'])} (n={a['n']}) | {fmt(a['p99'])} | {fmt(b['p50'])} (n={b['n']}) | {fmt(b['p99'])} | {b['p50'] / a['p50']:.1f}x |")
    print()
    for dim in (768, 1536):
        name = f"semantic get float32, {rows} x {dim}"
        bound = bandwidth_bound(rows * dim)
        print(f"- memory-bandwidth bound for {name} (two threads reading {rows * dim * 4 / 1e6:.0f} MB): "
              f"{fmt(bound)}; mneme p50 = {ours[name]['p50'] / bound:.2f}x the bound, "
              f"{PEER_LABEL} p50 = {theirs[name]['p50'] / bound:.2f}x")


if __name__ == "__main__":
    main()
