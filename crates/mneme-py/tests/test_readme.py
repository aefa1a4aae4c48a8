"""Every code block of our README, as printed: Python and shell blocks run here in an empty
folder; Rust blocks are whole programs (no rustdoc-hidden lines) that the doctests of
crates/mneme-embed (`ReadmeDoctests`) compile and run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
BLOCK = re.compile(r"^```([\w,]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
BLOCKS = [(m.group(1), m.group(2)) for m in BLOCK.finditer((ROOT / "README.md").read_text())]
# Shell blocks run elsewhere: the test command is what runs this file; installing the package
# is what scripts/setup-python.sh and test_install.py do; the serve walk-through needs an OpenAI
# account, and test_serve.py runs the same flow with the openai client against a stub upstream.
ELSEWHERE = ("scripts/demo.sh", "pip install ./crates/mneme-py", "mneme serve --upstream")


def blocks(*langs: str) -> list[str]:
    return [body for lang, body in BLOCKS if lang.split(",")[0] in langs]


def test_the_readme_has_the_blocks_this_file_checks():
    assert {lang for lang, _ in BLOCKS} <= {"sh", "python", "rust", "rust,no_run", "text"}
    assert len(blocks("rust")) >= 3 and len(blocks("python")) >= 3 and len(blocks("sh")) >= 4


@pytest.mark.parametrize("body", blocks("rust"), ids=lambda b: b.splitlines()[0])
def test_rust_blocks_are_whole_programs(body):
    hidden = [line for line in body.splitlines() if re.match(r"^\s*#(\s|$)", line)]
    assert not hidden, f"rustdoc-hidden lines are not copied by readers: {hidden}"
    assert "fn main()" in body


def env_with_our_tools() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return env


@pytest.mark.parametrize("body", blocks("python"), ids=lambda b: b.splitlines()[0])
def test_python_blocks_run_as_printed(body, tmp_path):
    done = subprocess.run([sys.executable, "-c", body], cwd=tmp_path, capture_output=True, text=True, env=env_with_our_tools())
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), "each example prints what it got"


@pytest.mark.parametrize("body", [b for b in blocks("sh") if not b.startswith(ELSEWHERE)], ids=lambda b: b.splitlines()[-1])
def test_shell_blocks_run_as_printed(body, tmp_path):
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", body], cwd=tmp_path, capture_output=True, text=True, env=env_with_our_tools())
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_first_command_runs_the_demo(tmp_path):
    (first,) = [b for b in blocks("sh") if b.startswith("scripts/demo.sh")]
    command = first.splitlines()[0].split("#")[0].strip()
    done = subprocess.run(["bash", "-c", f"cd {tmp_path} && {ROOT}/{command}"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "exact hit" in done.stdout and "semantic hit" in done.stdout and "miss" in done.stdout, done.stdout
    assert (tmp_path / "mneme-demo.db").is_file(), "the demo writes its cache in the current folder"
