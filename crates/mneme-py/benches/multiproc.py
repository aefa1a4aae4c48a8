"""Several processes on one SQLite file, in stale-tolerant mode: mneme-cache 1.0's processes,
then ours, on copies of the same seeded file, in one run. Each worker runs the same mixed
workload for a fixed time (PUTS_IN_10 puts of new keys in every 10 calls, the rest exact gets
of existing keys and semantic gets of new texts, 2:1) and reports its latencies; the table gives total ops/s, p50 and p99 per operation and our
ratio.

Usage: python3 multiproc.py [WORKERS] [SECONDS] [ROWS] [PUTS_IN_10]   (scripts/bench-multiproc.sh)
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
# MNEME_OURS_PYTHON: measure another build of ours (another commit) instead of .venv-py.
OURS = Path(os.environ.get("MNEME_OURS_PYTHON", ROOT / ".venv-py" / "bin" / "python"))
PEER = ROOT / ".venv-peer" / "bin" / "python"
COMMON = ROOT / "crates" / "mneme" / "benches"
DIM = 384

WORKER = r'''
import json, sys, time
sys.path.insert(0, sys.argv[5])
import mneme
from bench_common import PerfEmbedder, summary
path, worker, seconds, rows, puts = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[6])
c = mneme.SemanticCache(path=path, embedder=PerfEmbedder(%d), multi_process_mode="stale-tolerant")
lat = {"exact get": [], "semantic get": [], "put": []}
print("ready", flush=True)
sys.stdin.readline()  # all workers start together
end = time.perf_counter() + seconds
i = 0
while True:
    t = time.perf_counter()
    if t >= end:
        break
    k = i %% 10
    if k >= 10 - puts:
        # Every other put overwrites an existing key (a refreshed answer), the rest add one.
        key = f"q{(i * 31 + worker) %% rows}" if i %% 20 < 10 else f"w{worker} key {i}"
        op = "put"; c.put(key, f"answer {i}")
    elif k %% 3 != 2:
        op = "exact get"; c.get(f"q{(i * 7919 + worker * 104729) %% rows}")
    else:
        op = "semantic get"; c.get(f"new text {worker} {i}")
    lat[op].append(time.perf_counter() - t)
    i += 1
c.close()
print(json.dumps({op: v for op, v in lat.items()}))
''' % DIM

SEED = r'''
import sys, mneme
sys.path.insert(0, sys.argv[3])
from bench_common import PerfEmbedder
c = mneme.SemanticCache(path=sys.argv[1], embedder=PerfEmbedder(%d))
for i in range(int(sys.argv[2])):
    c.put(f"q{i}", f"r{i}")
c.close()
''' % DIM


def run(python, seed, workers, seconds, rows, puts):
    tmp = tempfile.mkdtemp()
    try:
        path = os.path.join(tmp, "shared.db")
        shutil.copy(seed, path)
        procs = [
            subprocess.Popen([str(python), "-c", WORKER, path, str(w), str(seconds), str(rows), str(COMMON), str(puts)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            for w in range(workers)
        ]
        for p in procs:
            assert p.stdout.readline().strip() == "ready"
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        lat = {}
        for p in procs:
            out, _ = p.communicate()
            if p.returncode != 0:
                raise SystemExit(f"{python}: a worker failed with {p.returncode}")
            for op, samples in json.loads(out.strip().splitlines()[-1]).items():
                lat.setdefault(op, []).extend(samples)
        return lat
    finally:
        shutil.rmtree(tmp)


def p(samples, q):
    s = sorted(samples)
    return s[min(int(len(s) * q), len(s) - 1)] * 1e6 if s else float("nan")


def main():
    workers = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10
    rows = int(sys.argv[3]) if len(sys.argv) > 3 else 10_000
    puts = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    seed_dir = tempfile.mkdtemp()
    seed = os.path.join(seed_dir, "seed.db")
    # Seeded once, by the peer, so both sides start from a file 1.0 wrote.
    subprocess.run([str(PEER), "-c", SEED, seed, str(rows), str(COMMON)], check=True)
    results = {}
    for name, python in (("mneme-cache 1.0", PEER), ("mneme (ours)", OURS)):
        results[name] = run(python, seed, workers, seconds, rows, puts)
    shutil.rmtree(seed_dir)
    peer, ours = results["mneme-cache 1.0"], results["mneme (ours)"]
    print(f"{workers} stale-tolerant processes on one SQLite file, {seconds:.0f} s each, "
          f"{rows} rows x {DIM}; of every 10 calls {puts} put, the rest 2:1 exact:semantic get")
    total = lambda lat: sum(len(v) for v in lat.values()) / seconds
    print(f"{'':24} {'mneme-cache 1.0':>22} {'ours':>22} {'ratio':>8}")
    print(f"{'throughput (ops/s)':24} {total(peer):>22.0f} {total(ours):>22.0f} {total(ours) / total(peer):>7.1f}x")
    for op in ("exact get", "semantic get", "put"):
        if not peer[op] or not ours[op]:
            continue
        for q, label in ((0.5, "p50"), (0.99, "p99")):
            a, b = p(peer[op], q), p(ours[op], q)
            print(f"{op + ' ' + label + ' (µs)':24} {a:>22.0f} {b:>22.0f} {a / b:>7.1f}x")


if __name__ == "__main__":
    main()
