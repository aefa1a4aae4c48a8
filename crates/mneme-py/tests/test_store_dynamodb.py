"""DynamoDBStore from Python, on a real DynamoDB API: moto_server (scripts/setup-moto.sh installs
it into .venv-moto; this module starts it on a free port and stops it). A missing moto fails
these tests; they never skip."""

import os
import pathlib
import socket
import subprocess
import time
import uuid

import numpy as np
import pytest

import mneme
from mneme._store_dynamodb import DynamoDBStore

from conftest import KeywordEmbedder

ROOT = pathlib.Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def endpoint():
    server = pathlib.Path(os.environ.get("MNEME_MOTO_SERVER", ROOT / ".venv-moto/bin/moto_server"))
    assert server.exists(), f"moto_server is not installed at {server}: run scripts/setup-moto.sh"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.time() < deadline, "moto_server did not start within 60 s"
            time.sleep(0.05)
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1")
    yield f"http://127.0.0.1:{port}"
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    proc.terminate()
    proc.wait(timeout=10)


def table():
    return f"py-{uuid.uuid4().hex[:12]}"


def test_constructor_raises_1_0_s_value_errors():
    cases = [
        (dict(table_name=""), "table_name must be a non-empty string"),
        (dict(table_name="t", billing_mode="PROVISIONED"), "provisioned_capacity=(rcu, wcu) is required"),
        (dict(table_name="t", provisioned_capacity=(1, 1)), "only valid with billing_mode='PROVISIONED'"),
        (dict(table_name="t", billing_mode="ON_DEMAND"), "is not 'PAY_PER_REQUEST' or 'PROVISIONED'"),
    ]
    for kwargs, text in cases:
        with pytest.raises(ValueError, match=text.replace("(", r"\(").replace(")", r"\)")):
            DynamoDBStore(**kwargs)


def test_a_cache_on_dynamodb_puts_gets_and_reports(endpoint):
    store = DynamoDBStore(table(), endpoint_url=endpoint, create_table=True)
    with mneme.SemanticCache(embedder=KeywordEmbedder(16), store=store) as c:
        c.put("How do I reset my password?", "Settings, then Security.", metadata={"k": [1, 2]}, ttl=600)
        hit = c.get("how do I reset my password?")
        assert (hit.response, hit.layer, hit.metadata) == ("Settings, then Security.", "exact", {"k": [1, 2]})
        near = c.get("Where can I reset the password?")  # the same content words
        assert near is not None and near.layer == "semantic"
        assert c.get("something else") is None
        assert c.stats().entries == 1
        assert c.health().store_backend == "dynamodb"
        assert c.delete("How do I reset my password?")
        assert c.get("How do I reset my password?") is None


def test_the_store_level_api_and_the_stamp(endpoint):
    name = table()
    store = DynamoDBStore(name, endpoint_url=endpoint, create_table=True)
    store.open("fp:py", 4)
    assert store.read_meta("embedder_fingerprint") == "fp:py"
    assert store.read_meta("embedder_dim") == "4"
    assert store.read_version_counter() == 0
    store.set_namespace_quota("ns", 7)
    assert store.get_namespace_quota("ns") == 7
    assert store.integrity_check()
    store.close()
    again = DynamoDBStore(name, endpoint_url=endpoint)
    with pytest.raises(mneme.EmbedderMismatchError):
        again.open("fp:other", 4)
    with pytest.raises(mneme.EmbedderDimensionError):
        again.open("fp:py", 8)
    again.open("fp:py", 4)
    with pytest.raises(mneme.CacheClosedError):
        store.read_version_counter()


def test_dumps_names_backup_and_pitr_and_writes_nothing(endpoint, tmp_path):
    store = DynamoDBStore(table(), endpoint_url=endpoint, create_table=True)
    with mneme.SemanticCache(embedder=KeywordEmbedder(16), store=store) as c:
        c.put("q", "r")
        with pytest.raises(mneme.CheckpointError, match="point-in-time recovery"):
            c.dumps(tmp_path / "a.tar.gz")
    assert not (tmp_path / "a.tar.gz").exists()
    with pytest.raises(mneme.CheckpointError):
        DynamoDBStore.restore_from(tmp_path / "a", tmp_path / "b")


def test_a_missing_table_names_the_schema(endpoint):
    store = DynamoDBStore(table(), endpoint_url=endpoint)
    with pytest.raises(mneme.StoreBackendError, match="gsi_hash") as e:
        mneme.SemanticCache(embedder=KeywordEmbedder(16), store=store)
    assert "create_table" in str(e.value)


def test_an_oversize_response_is_refused_and_nothing_is_written(endpoint):
    store = DynamoDBStore(table(), endpoint_url=endpoint, create_table=True)
    with mneme.SemanticCache(embedder=KeywordEmbedder(16), store=store) as c:
        with pytest.raises(mneme.StoreBackendError, match="400 KB"):
            c.put("big", "x" * (400 * 1024))
        assert c.stats().entries == 0
        assert c.get("big") is None


def test_an_unreachable_endpoint_fails_fast_with_its_address():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = DynamoDBStore("t", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1")
    started = time.time()
    with pytest.raises(mneme.StoreBackendError, match=f"127.0.0.1:{port}"):
        mneme.SemanticCache(embedder=KeywordEmbedder(16), store=store)
    assert time.time() - started < 30


def test_the_cli_reports_a_dynamodb_cache(endpoint):
    import json
    import sys

    name = table()
    store = DynamoDBStore(name, endpoint_url=endpoint, create_table=True)
    with mneme.SemanticCache(embedder=KeywordEmbedder(16), store=store) as c:
        c.put("one", "1", namespace="a")
        c.put("two", "2", namespace="b")
        c.get("one", namespace="a")
    cli = str(pathlib.Path(sys.executable).parent / "mneme")  # the console script pip installed
    url = f"dynamodb://{name}?endpoint={endpoint}&region=us-east-1"
    stats = json.loads(subprocess.run([cli, "--json", "stats", url], check=True, capture_output=True, text=True).stdout)
    assert (stats["entries"], stats["hits_exact"]) == (2, 1)
    info = json.loads(subprocess.run([cli, "--json", "inspect", url], check=True, capture_output=True, text=True).stdout)
    assert info["embedder_fingerprint"] == "keyword:16" and info["namespaces"] == ["a", "b"]
    missing = subprocess.run([cli, "stats", f"dynamodb://nope?endpoint={endpoint}"], capture_output=True, text=True)
    assert missing.returncode != 0 and "does not exist" in missing.stderr and "gsi_hash" in missing.stderr
    bad = subprocess.run([cli, "stats", f"dynamodb://{name}?colour=red"], capture_output=True, text=True)
    assert bad.returncode != 0 and "unknown parameter" in bad.stderr
