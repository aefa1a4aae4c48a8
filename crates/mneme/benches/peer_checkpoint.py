"""mneme-cache 1.0's side of `cargo bench --bench checkpoint`. One operation per process.

Usage: peer_checkpoint.py open|dumps|restore|loads ARGS...   (prints the operation's seconds)
"""
import sys, time
import numpy as np
import mneme
from bench_common import PerfEmbedder
from mneme import _checkpoint


def main():
    op, args = sys.argv[1], sys.argv[2:]
    emb = PerfEmbedder(int(args[-1]))
    t = time.perf_counter()
    if op == "open":
        mneme.SemanticCache(path=args[0], embedder=emb).close()
    elif op == "dumps":
        c = mneme.SemanticCache(path=args[0], embedder=emb)
        t = time.perf_counter()
        c.dumps(args[1])
        elapsed = time.perf_counter() - t
        c.close()
        print(elapsed)
        return
    elif op == "restore":
        _checkpoint.restore(args[0], args[1], emb)
    elif op == "loads":
        mneme.SemanticCache.loads(args[0], path=args[1], embedder=emb).close()
    print(time.perf_counter() - t)


if __name__ == "__main__":
    main()
