"""`pip install` gives the operator's tool: the `mneme` console script runs the same program as
the Rust binary."""

import subprocess
import sys
from pathlib import Path

import mneme
from conftest import KeywordEmbedder

MNEME = Path(sys.executable).parent / "mneme"


def run(*args):
    return subprocess.run([str(MNEME), *map(str, args)], capture_output=True, text=True)


def test_the_console_script_is_installed_and_shares_the_version():
    assert MNEME.exists(), "pip install did not create the mneme command"
    out = run("--version")
    assert out.returncode == 0
    assert out.stdout.strip() == f"mneme {mneme.__version__}"


def test_it_works_on_a_cache_written_from_python(tmp_path):
    db = tmp_path / "c.db"
    with mneme.SemanticCache(db, KeywordEmbedder()) as cache:
        cache.put("how do I reset my password", "Settings")
    out = run("inspect", db)
    assert out.returncode == 0 and "entries         1" in out.stdout, out.stderr
    bad = run("stats", db, "--namespace", "nope")
    assert bad.returncode == 1 and "does not exist" in bad.stderr
    usage = run("dump", db, tmp_path / "a.tar.gz", "--level", "12")
    assert usage.returncode == 2 and "0..=9" in usage.stderr
