"""Threshold calibration (mneme-cache 1.0's `mneme.tools.calibrate`), on the engine.

    python -m mneme.tools.calibrate --paraphrases P.jsonl --distractors D.jsonl --embedder mod:attr

Exit codes: 2 file not found, 5 malformed JSONL, 3 embedder import failure, 1 bad --grid,
4 no admissible threshold or empty input, 0 success.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import io
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import _native
from .._embedding import EmbedderAdapter

__all__ = ["CalibrationResult", "find_threshold", "precision_recall_curve", "main"]


@dataclass(frozen=True, slots=True)
class CalibrationResult:
    """The chosen threshold, its precision, recall and F1, and the whole curve."""

    threshold: float
    precision: float
    recall: float
    f1: float
    pr_curve: list[tuple[float, float, float]] = field(default_factory=list)


def _pairs(pairs: Sequence[Sequence[Any]]) -> list[tuple[str, str]]:
    return [(str(a), str(b)) for a, b in pairs]


def precision_recall_curve(
    paraphrase_pairs: Sequence[tuple[str, str]],
    distractor_pairs: Sequence[tuple[str, str]],
    embedder: Any,
    *,
    grid: Sequence[float] | None = None,
    vector_dtype: str = "float32",
) -> list[tuple[float, float, float]]:
    """`(threshold, precision, recall)` at every grid point (default 0.50 … 0.99)."""
    adapter = EmbedderAdapter(embedder)
    return _native.precision_recall_curve(
        _pairs(paraphrase_pairs), _pairs(distractor_pairs), adapter, adapter.dim, adapter.fingerprint,
        None if grid is None else [float(t) for t in grid], vector_dtype,
    )


def find_threshold(
    paraphrase_pairs: Sequence[tuple[str, str]],
    distractor_pairs: Sequence[tuple[str, str]],
    embedder: Any,
    *,
    target_metric: str = "f1",
    min_precision: float | None = None,
    min_recall: float | None = None,
    grid: Sequence[float] | None = None,
    vector_dtype: str = "float32",
) -> CalibrationResult:
    """The grid point with the strictly greatest `target_metric` among those meeting the
    minimums (ties go to the earliest). ValueError when a list is empty or nothing qualifies."""
    adapter = EmbedderAdapter(embedder)
    t, p, r, f1, curve = _native.find_threshold(
        _pairs(paraphrase_pairs), _pairs(distractor_pairs), adapter, adapter.dim, adapter.fingerprint,
        target_metric, min_precision, min_recall, None if grid is None else [float(x) for x in grid], vector_dtype,
    )
    return CalibrationResult(t, p, r, f1, [tuple(point) for point in curve])


class _Exit(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _read_pairs(path: str) -> list[tuple[str, str]]:
    try:
        fh = open(path, encoding="utf-8")
    except FileNotFoundError:
        raise _Exit(2, f"file not found: {path}") from None
    pairs = []
    with fh:
        for lineno, line in enumerate(fh, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as e:
                raise _Exit(5, f"{path}:{lineno}: malformed JSON ({e}).") from None
            if not isinstance(obj, dict) or "a" not in obj or "b" not in obj:
                raise _Exit(5, f"{path}:{lineno}: each line must have 'a' and 'b' string fields.")
            pairs.append((str(obj["a"]), str(obj["b"])))
    return pairs


def _load_embedder(spec: str) -> Any:
    if ":" not in spec:
        raise _Exit(3, f"failed to import embedder: Embedder spec {spec!r} must be 'module:attr'.")
    module_name, attr = spec.split(":", 1)
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # noqa: BLE001 - any import failure is exit code 3
        raise _Exit(3, f"failed to import embedder: Could not import module {module_name!r}: {e}.") from None
    if not hasattr(module, attr):
        raise _Exit(3, f"failed to import embedder: Module {module_name!r} has no attribute {attr!r}.")
    obj = getattr(module, attr)
    # A class is always a factory (its `dim` is a descriptor until instantiated).
    if isinstance(obj, type) or (callable(obj) and not (hasattr(obj, "dim") and hasattr(obj, "fingerprint"))):
        obj = obj()
    return obj


def _parse_grid(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(item) for item in text.split(",") if item.strip()]
    except ValueError as e:
        raise _Exit(1, f"bad --grid: {e}") from None


def _render(result: CalibrationResult, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(
            {"threshold": result.threshold, "precision": result.precision, "recall": result.recall,
             "f1": result.f1, "pr_curve": [list(p) for p in result.pr_curve]},
            indent=2,
        )
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["threshold", "precision", "recall", "f1"])
        for t, p, r in result.pr_curve:
            writer.writerow([t, p, r, 0.0 if p + r == 0 else 2 * p * r / (p + r)])
        return buf.getvalue()
    lines = [
        f"Optimal threshold: {result.threshold:.3f}",
        f"Precision:         {result.precision:.3f}",
        f"Recall:            {result.recall:.3f}",
        f"F1:                {result.f1:.3f}",
        "",
        "Precision-recall curve (every 0.05):",
        "  threshold  precision  recall",
    ]
    for t, p, r in result.pr_curve:
        if round(t * 100) % 5 == 0:
            lines.append(f"   {t:.2f}      {p:.3f}      {r:.3f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mneme.tools.calibrate", description=__doc__.splitlines()[0])
    parser.add_argument("--paraphrases", required=True, help="JSONL of {'a', 'b'} pairs that mean the same")
    parser.add_argument("--distractors", required=True, help="JSONL of {'a', 'b'} pairs that do not")
    parser.add_argument("--embedder", required=True, help="module:attr (an embedder, or a factory of one)")
    parser.add_argument("--target-metric", choices=["f1", "precision", "recall"], default="f1")
    parser.add_argument("--min-precision", type=float, default=None)
    parser.add_argument("--min-recall", type=float, default=None)
    parser.add_argument("--vector-dtype", choices=["float32", "float16", "int8"], default="float32")
    parser.add_argument("--grid", default=None, help='comma-separated thresholds, e.g. "0.6,0.7"')
    parser.add_argument("--output", default=None, help="file to write (default stdout)")
    parser.add_argument("--format", choices=["human", "json", "csv"], default="human")
    args = parser.parse_args(argv)
    try:
        paraphrases = _read_pairs(args.paraphrases)
        distractors = _read_pairs(args.distractors)
        embedder = _load_embedder(args.embedder)
        grid = _parse_grid(args.grid)
        try:
            result = find_threshold(
                paraphrases, distractors, embedder, target_metric=args.target_metric,
                min_precision=args.min_precision, min_recall=args.min_recall, grid=grid,
                vector_dtype=args.vector_dtype,
            )
        except ValueError as e:
            raise _Exit(4, str(e)) from None
    except _Exit as e:
        print(f"error: {e}", file=sys.stderr)
        return e.code
    text = _render(result, args.format)
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as fh:
            print(text, file=fh)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
