"""mneme.tools.calibrate: the library API on the engine, and its CLI byte-for-byte against
mneme-cache 1.0's (stdout and exit codes)."""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mneme.tools.calibrate import CalibrationResult, find_threshold, precision_recall_curve
from test_compat import peer_python

HERE = Path(__file__).parent


class CosineEmbedder:
    """Text "x:<cos>" embeds at that cosine to the anchor "anchor"."""

    dim = 2
    fingerprint = "cos:2"

    def embed(self, text):
        if text == "anchor":
            return np.array([1.0, 0.0], dtype=np.float32)
        c = float(text.split(":")[1])
        return np.array([c, np.sqrt(1 - c * c)])


def test_the_reference_example():
    e = CosineEmbedder()
    r = find_threshold([("anchor", "x:0.9"), ("anchor", "x:0.8")], [("anchor", "x:0.6")], e)
    assert (r.threshold, r.precision, r.recall, r.f1) == (0.61, 1.0, 1.0, 1.0)
    assert len(r.pr_curve) == 50 and r.pr_curve[0][0] == 0.5
    assert dataclasses.is_dataclass(r) and hasattr(CalibrationResult, "__slots__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.threshold = 0.5
    curve = precision_recall_curve([("anchor", "x:0.9")], [], e, grid=[0.5, 0.95])
    assert curve == [(0.5, 1.0, 1.0), (0.95, 1.0, 0.0)]


def test_errors():
    e = CosineEmbedder()
    with pytest.raises(ValueError, match="cannot be empty"):
        find_threshold([], [("anchor", "x:0.6")], e)
    with pytest.raises(ValueError, match="relax the constraints"):
        find_threshold([("anchor", "x:0.9")], [("anchor", "x:0.6")], e, min_precision=1.1)
    with pytest.raises(ValueError):
        find_threshold([("anchor", "x:0.9")], [("anchor", "x:0.6")], e, target_metric="bogus")


@pytest.fixture
def inputs(tmp_path):
    (tmp_path / "p.jsonl").write_text(
        '{"a": "how do I reset my password", "b": "password reset please"}\n# comment\n\n'
        '{"a": "cancel plan", "b": "cancel my plan"}\n{"a": "ship abroad", "b": "international shipping abroad"}\n'
    )
    (tmp_path / "d.jsonl").write_text('{"a": "reset password", "b": "opening hours"}\n{"a": "cancel plan", "b": "weather today"}\n')
    (tmp_path / "bad.jsonl").write_text('{"a": 1\n')
    (tmp_path / "empty.jsonl").write_text("")
    return tmp_path


SCENARIOS = [
    [],
    ["--format", "csv", "--grid", "0.5,,0.75,0.8"],
    ["--format", "json", "--grid", "0.5,0.6"],
    ["--target-metric", "recall", "--vector-dtype", "int8"],
    ["--vector-dtype", "float16", "--min-recall", "0.5"],
    ["--grid", "x"],
    ["--min-precision", "1.1"],
    ["--paraphrases", "nope.jsonl"],
    ["--paraphrases", "bad.jsonl"],
    ["--paraphrases", "empty.jsonl"],
    ["--embedder", "nomod:x"],
    ["--embedder", "calibrate_embedder:nothere"],
]


@pytest.mark.parametrize("extra", SCENARIOS, ids=lambda a: " ".join(a) or "defaults")
def test_cli_matches_mneme_cache(inputs, extra):
    base = {"--paraphrases": "p.jsonl", "--distractors": "d.jsonl", "--embedder": "calibrate_embedder:factory"}
    for flag, value in zip(extra[::2], extra[1::2]):
        base.pop(flag, None)
    args = [x for kv in base.items() for x in kv] + extra
    env = dict(os.environ, PYTHONPATH=str(HERE))
    run = lambda py: subprocess.run([py, "-m", "mneme.tools.calibrate", *args], cwd=inputs, env=env, capture_output=True)  # noqa: E731
    ours, theirs = run(sys.executable), run(peer_python())
    assert ours.returncode == theirs.returncode, (ours.stderr, theirs.stderr)
    assert ours.stdout == theirs.stdout
    if ours.returncode:
        assert ours.stderr.startswith(b"error: ")
