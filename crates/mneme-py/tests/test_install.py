"""Installing mneme-rs as a user would, in throwaway virtual environments: 1.0's extras names,
and a `mneme/` shared with mneme-cache in either order. The wheel is the one
scripts/setup-python.sh built and installed into this environment."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PEER = "mneme-cache==1.0.1"
FIX = "pip uninstall -y mneme-cache mneme-rs && pip install mneme-rs"


@pytest.fixture(scope="module")
def wheel() -> str:
    found = glob.glob(str(ROOT / "target" / "wheels" / "mneme_rs-*.whl"))
    assert len(found) == 1, f"expected the wheel scripts/setup-python.sh builds, found {found}; run scripts/setup-python.sh"
    return found[0]


class Env:
    """A virtual environment without pip of its own, managed with this environment's pip."""

    def __init__(self, path: Path) -> None:
        venv.create(path, with_pip=False)
        self.python = str(path / "bin" / "python")
        self.bin = path / "bin"

    def pip(self, *args: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--python", self.python, *args]
        done = subprocess.run(cmd, capture_output=True, text=True)
        assert done.returncode == 0, f"{cmd}: {done.stdout}{done.stderr}"
        return done

    def run(self, *args: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        return subprocess.run(args, capture_output=True, text=True, env=env, cwd="/")

    def python_code(self, code: str) -> subprocess.CompletedProcess:
        return self.run(self.python, "-c", code)


WORKS = "from mneme import SemanticCache, MemoryStore; print(SemanticCache.__module__, __import__('mneme').__version__)"


def test_extras_of_1_0_install_without_warnings(tmp_path, wheel):
    env = Env(tmp_path / "v")
    done = env.pip("install", f"mneme-rs[redis,postgres,dynamodb,hnsw,prometheus,otel,all] @ file://{wheel}")
    assert "WARNING" not in done.stdout + done.stderr, done.stdout + done.stderr
    ran = env.python_code(WORKS + "; import redis, psycopg, prometheus_client, opentelemetry")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["mneme._cache", "1.1.0"]
    cli = env.run(str(env.bin / "mneme"), "--version")
    assert (cli.returncode, cli.stdout.strip()) == (0, "mneme 1.1.0"), cli.stderr


def test_ours_over_mneme_cache_fails_at_import_with_the_fix(tmp_path, wheel):
    env = Env(tmp_path / "v")
    env.pip("install", PEER)
    env.pip("install", wheel)
    ran = env.python_code("import mneme")
    assert ran.returncode != 0
    assert "ImportError" in ran.stderr and "mneme_cache-1.0.1.dist-info" in ran.stderr and FIX in ran.stderr, ran.stderr

    # Uninstalling one of the two deletes files the other needs: still loud, never a working
    # import of half a package.
    env.pip("uninstall", "-y", "mneme-cache")
    ran = env.python_code(WORKS)
    assert ran.returncode != 0 and "ImportError" in ran.stderr, ran.stdout + ran.stderr

    # The remediation the error gives repairs it.
    env.pip("uninstall", "-y", "mneme-cache", "mneme-rs")
    env.pip("install", wheel)
    ran = env.python_code(WORKS)
    assert ran.returncode == 0 and ran.stdout.split() == ["mneme._cache", "1.1.0"], ran.stderr


def test_mneme_cache_over_ours_keeps_1_0_and_our_tool_refuses(tmp_path, wheel):
    env = Env(tmp_path / "v")
    env.pip("install", wheel)
    env.pip("install", PEER)
    # mneme-cache's own __init__ now runs, over its own complete files: a working 1.0.
    ran = env.python_code("import mneme; print(mneme.__version__)")
    assert (ran.returncode, ran.stdout.strip()) == (0, "1.0.1"), ran.stderr
    # Our console script survived and says what happened instead of running half of each.
    cli = env.run(str(env.bin / "mneme"), "--version")
    assert cli.returncode != 0 and "is not mneme-rs's" in cli.stderr and FIX in cli.stderr, cli.stdout + cli.stderr

    env.pip("uninstall", "-y", "mneme-rs")
    ran = env.python_code("from mneme import SemanticCache")
    assert ran.returncode != 0 and "ImportError" in ran.stderr, ran.stdout + ran.stderr
