"""Runs the local embedder's benchmark (cargo bench --bench embed, JSON) and measures
sentence-transformers (torch, CPU) and onnxruntime (the same weights exported to ONNX) on the
same texts with the same number of threads, then prints one table.

Run by scripts/bench-embed.sh under .venv-ref. Environment: MNEME_BENCH_THREADS (default 2),
MNEME_BENCH_CALLS (single-query samples, default 300)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
THREADS = int(os.environ.get("MNEME_BENCH_THREADS", "2"))
CALLS = int(os.environ.get("MNEME_BENCH_CALLS", "300"))
MODEL_DIR = Path(os.environ.get("MNEME_MODEL_DIR", Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mneme/models/all-MiniLM-L6-v2"))
ONNX = ROOT / "bench-out" / "minilm.onnx"


def texts():
    ref = json.loads((ROOT / "crates/mneme-embed/tests/fixtures/reference.json").read_text())
    return ref["texts"]


def short_texts(all_texts):
    # The same rule as benches/embed.rs: 3 to 10 words, ASCII.
    return [t for t in all_texts if 3 <= len(t.split()) <= 10 and t.isascii()]


def percentiles(samples):
    samples = sorted(samples)
    return samples[len(samples) // 2], samples[min(int(len(samples) * 0.99), len(samples) - 1)]


def measure(embed_one, embed_batch, all_texts, short):
    for t in short[:20]:
        embed_one(t)
    samples = []
    for i in range(CALLS):
        t0 = time.perf_counter()
        embed_one(short[i % len(short)])
        samples.append((time.perf_counter() - t0) * 1e6)
    p50, p99 = percentiles(samples)
    t0 = time.perf_counter()
    done = 0
    for _ in range(3):
        for i in range(0, len(all_texts), 32):
            embed_batch(all_texts[i:i + 32])
            done += len(all_texts[i:i + 32])
    corpus_rate = done / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    done = 0
    while done < 1024:
        for i in range(0, len(short), 32):
            embed_batch(short[i:i + 32])
            done += len(short[i:i + 32])
    short_rate = done / (time.perf_counter() - t0)
    return {"single": {"p50_us": p50, "p99_us": p99, "n": CALLS}, "batch32_corpus_per_s": corpus_rate, "batch32_short_per_s": short_rate}


def torch_side(all_texts, short):
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(THREADS)
    m = SentenceTransformer(str(MODEL_DIR), device="cpu")
    r = measure(lambda t: m.encode([t], normalize_embeddings=True),
                lambda b: m.encode(b, batch_size=32, normalize_embeddings=True), all_texts, short)
    r["implementation"] = f"sentence-transformers {__import__('sentence_transformers').__version__} (torch {torch.__version__})"
    return r


def export_onnx():
    if ONNX.exists():
        return
    import torch
    from transformers import AutoModel

    class Wrap(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state

    ONNX.parent.mkdir(exist_ok=True)
    ids = torch.ones(1, 8, dtype=torch.long)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    torch.onnx.export(Wrap(AutoModel.from_pretrained(str(MODEL_DIR)).eval()), (ids, ids, torch.zeros_like(ids)), str(ONNX),
                      input_names=names, output_names=["last_hidden_state"],
                      dynamic_axes={n: {0: "b", 1: "s"} for n in names + ["last_hidden_state"]}, opset_version=17, dynamo=False)


def ort_side(all_texts, short):
    import onnxruntime as ort
    from tokenizers import Tokenizer

    export_onnx()
    tok = Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
    tok.enable_truncation(256)
    tok.enable_padding()
    so = ort.SessionOptions()
    so.intra_op_num_threads = THREADS
    so.inter_op_num_threads = 1
    session = ort.InferenceSession(str(ONNX), so, providers=["CPUExecutionProvider"])

    def embed(batch):
        enc = tok.encode_batch(batch)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        h = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
        m = mask[..., None].astype(np.float32)
        v = (h * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    r = measure(lambda t: embed([t]), embed, all_texts, short)
    r["implementation"] = f"onnxruntime {ort.__version__} (f32, same weights)"
    return r


def ours():
    out = subprocess.run(["cargo", "bench", "--quiet", "-p", "mneme-embed", "--bench", "embed"], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    all_texts = texts()
    short = short_texts(all_texts)
    print(f"running ours, then sentence-transformers, then onnxruntime ({THREADS} threads) ...", file=sys.stderr)
    rows = [ours(), torch_side(all_texts, short), ort_side(all_texts, short)]
    print(f"| implementation ({THREADS} threads) | one short query p50 | p99 | batches of 32, corpus (texts/s) | batches of 32, short queries (texts/s) |")
    print("|---|---|---|---|---|")
    for r in rows:
        s = r["single"]
        print(f"| {r['implementation']} | {s['p50_us'] / 1000:.2f} ms | {s['p99_us'] / 1000:.2f} ms | {r['batch32_corpus_per_s']:.0f} | {r['batch32_short_per_s']:.0f} |")
    o = rows[0]
    print()
    print(f"- {len(short)} short queries (3-10 words) for the single-query rows; the {len(all_texts)}-text fixture corpus (long texts included) for the corpus column; model load {o['load_ms']:.0f} ms (weights hashed)")
    for r in rows[1:]:
        print(f"- ours vs {r['implementation'].split(' (')[0]}: single p50 {r['single']['p50_us'] / o['single']['p50_us']:.2f}x, "
              f"corpus throughput {o['batch32_corpus_per_s'] / r['batch32_corpus_per_s']:.2f}x, short throughput {o['batch32_short_per_s'] / r['batch32_short_per_s']:.2f}x (>1 = ours faster)")
    print(f"- put_many vs single puts, {o['put_entries']} entries with their vectors given: {o['put_many_per_s']:.0f}/s vs {o['put_single_per_s']:.0f}/s = {o['put_many_per_s'] / o['put_single_per_s']:.1f}x")
    print(f"- put_many vs single puts, {o['put_model_entries']} entries embedded by the model: {o['put_many_model_per_s']:.0f}/s vs {o['put_single_model_per_s']:.0f}/s = {o['put_many_model_per_s'] / o['put_single_model_per_s']:.1f}x")


if __name__ == "__main__":
    main()
