"""`mneme serve` against the real `openai` client, with a stub upstream that counts calls."""

from __future__ import annotations

import concurrent.futures
import json
import os
import time
import urllib.error
import urllib.request

import openai
import pytest

from serve_support import Server, Upstream


@pytest.fixture(scope="module")
def upstream():
    u = Upstream()
    yield u
    u.close()


@pytest.fixture(scope="module")
def server(upstream, tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("serve") / "cache.db", "--upstream", upstream.url, "--upstream-timeout", "1", "--max-body-bytes", "65536")
    yield s
    assert s.stop() == 0


def client(server, **headers):
    return openai.OpenAI(base_url=f"{server.base}/v1", api_key="sk-test-secret", max_retries=0, default_headers=headers or None)


def chat(c, text, model="gpt-test", system=None, **kwargs):
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]
    raw = c.chat.completions.with_raw_response.create(model=model, messages=messages, **kwargs)
    return raw.headers.get("x-mneme-cache"), raw.parse()


def raw_post(server, path, body: bytes, headers=None):
    request = urllib.request.Request(f"{server.base}{path}", data=body, headers={"content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_it_says_what_decides(server):
    assert any(line.startswith("verifier    recommended") for line in server.banner)


def test_a_miss_then_an_exact_and_a_semantic_hit(server, upstream):
    c = client(server)
    outcome, first = chat(c, "How do I reset my password?")
    assert outcome == "miss" and first.choices[0].message.content == "answer to How do I reset my password?"
    outcome, again = chat(c, "How do I reset my password?")
    assert outcome == "hit-exact" and again.choices[0].message.content == first.choices[0].message.content
    outcome, para = chat(c, "How can I reset my password?")
    assert outcome == "hit-semantic" and para.choices[0].message.content == first.choices[0].message.content
    assert upstream.calls["How do I reset my password?"] == 1 and upstream.calls["How can I reset my password?"] == 0
    assert "Bearer sk-test-secret" in upstream.authorizations, "the client's key goes to the upstream"
    assert "sk-test-secret" not in server.log.read_text(), "and is never logged"
    # One JSON object per request on stderr, as the Rust binary writes them (not through
    # Python's logging, which would take the GIL per request).
    access = [json.loads(line) for line in server.log.read_text().splitlines() if '"mneme.serve.access"' in line]
    assert {"level": "INFO", "target": "mneme.serve.access"}.items() <= access[-1].items()
    assert access[-1]["fields"]["cache"] == "hit-semantic" and access[-1]["fields"]["path"] == "/v1/chat/completions"


def test_another_model_or_system_prompt_is_a_miss(server, upstream):
    c = client(server)
    chat(c, "What is the capital of Peru?")
    assert chat(c, "What is the capital of Peru?", model="other-model")[0] == "miss"
    assert chat(c, "What is the capital of Peru?", system="Answer in French.")[0] == "miss"
    assert upstream.calls["What is the capital of Peru?"] == 3


def test_streaming_miss_and_hit_parse_in_the_client(server, upstream):
    c = client(server)
    for expected in ("miss", "hit-exact"):
        raw = c.chat.completions.with_raw_response.create(model="gpt-test", stream=True,
                                                           messages=[{"role": "user", "content": "Stream me a haiku"}])
        assert raw.headers.get("x-mneme-cache") == expected
        chunks = list(raw.parse())
        text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
        assert text == "answer to Stream me a haiku"
        assert chunks[-1].choices[0].finish_reason == "stop"
    assert upstream.calls["Stream me a haiku"] == 1


def test_text_completions_are_cached_too(server, upstream):
    c = client(server)
    for expected in ("miss", "hit-exact"):
        raw = c.completions.with_raw_response.create(model="gpt-test", prompt="Say hello")
        assert raw.headers.get("x-mneme-cache") == expected and raw.parse().choices[0].text == "answer to Say hello"
    assert upstream.calls["Say hello"] == 1


def test_concurrent_identical_misses_make_one_upstream_call(server, upstream):
    c = client(server)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda _: chat(c, "WAIT: what is the tallest mountain?")[0], range(8)))
    assert upstream.calls["WAIT: what is the tallest mountain?"] == 1
    assert set(outcomes) <= {"hit-exact", "hit-semantic", "miss", "miss-coalesced"} and outcomes.count("miss") == 1


def test_concurrent_near_duplicate_misses_share_one_call_and_traps_do_not(server, upstream):
    c = client(server)
    # Paraphrases the cache serves to each other (checked both ways with `mneme evaluate`).
    same = ["WAIT: How tall is Mount Everest?", "WAIT: How tall is Mount Everest, please?", "WAIT: How tall is the Mount Everest?",
            "WAIT: So, how tall is Mount Everest?"]
    traps = ["WAIT: What is 12 times 7?", "WAIT: What is 12 times 8?"]

    def ask(text):
        raw = c.chat.completions.with_raw_response.create(model="gpt-test", messages=[{"role": "user", "content": text}])
        return raw.headers.get("x-mneme-cache"), raw.headers.get("x-mneme-similarity"), raw.parse().choices[0].message.content

    with concurrent.futures.ThreadPoolExecutor(len(same) + len(traps)) as pool:
        got = dict(zip(same + traps, pool.map(ask, same + traps)))
    # The paraphrases overlap in flight: one upstream call, every one of them gets its answer.
    assert sum(upstream.calls[t] for t in same) == 1, {t: upstream.calls[t] for t in same}
    leader = next(t for t in same if upstream.calls[t] == 1)
    for text in same:
        outcome, similarity, content = got[text]
        assert content == f"answer to {leader}"
        if text != leader:
            assert outcome in ("miss-coalesced", "hit-semantic") and 0.8 <= float(similarity) <= 1.0, got[text]
    # Another number is another question, even in flight at the same time.
    assert [upstream.calls[t] for t in traps] == [1, 1]
    assert [got[t][2] for t in traps] == [f"answer to {t}" for t in traps]


def test_an_answer_asked_with_no_store_is_not_shared_with_near_duplicates(server, upstream):
    first, para = "WAIT: How deep is the Mariana Trench?", "WAIT: How deep is the Mariana Trench, please?"
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        leader = pool.submit(chat, client(server, **{"x-mneme-no-store": "true"}), first)
        time.sleep(0.1)  # the no-store request is in flight first
        follower = pool.submit(chat, client(server), para)
        assert leader.result()[0] == "miss" and follower.result()[0] == "miss"
    assert (upstream.calls[first], upstream.calls[para]) == (1, 1)


def test_upstream_errors_and_timeouts_are_passed_back_and_never_cached(server, upstream):
    c = client(server)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            chat(c, "FAIL500 please")
    assert upstream.calls["FAIL500 please"] == 2
    with pytest.raises(openai.APIStatusError) as e:
        chat(c, "SLOW question")
    assert e.value.status_code == 504 and "did not answer" in str(e.value)


def test_per_request_controls(server, upstream):
    c = client(server)
    chat(c, "Which river is the longest?")
    assert chat(client(server, **{"x-mneme-bypass": "true"}), "Which river is the longest?")[0] == "bypass"
    assert chat(client(server, **{"x-mneme-no-store": "true"}), "Name a prime number")[0] == "miss"
    assert chat(c, "Name a prime number")[0] == "miss", "no-store kept it out"
    strict = client(server, **{"x-mneme-threshold": "0.999"})
    assert chat(strict, "Which river is the longest one?")[0] == "miss", "a caller may raise the threshold"


def test_bad_requests_get_openai_style_errors(server):
    status, body = raw_post(server, "/v1/chat/completions", b"{not json")
    assert status == 400 and body["error"]["type"] == "invalid_request_error" and "Remediation" in body["error"]["message"]
    status, body = raw_post(server, "/v1/chat/completions", json.dumps({"model": "m", "messages": [{"role": "user", "content": "x" * 70000}]}).encode())
    assert status == 413 and "max_body_bytes" in body["error"]["message"]
    status, body = raw_post(server, "/v1/cache/get", json.dumps({"nope": 1}).encode())
    assert status == 400


def test_rest_api_round_trip(server):
    status, body = raw_post(server, "/v1/cache/put", json.dumps({"query": "rest question", "response": "rest answer", "namespace": "rest", "metadata": {"k": 1}}).encode())
    assert (status, body) == (200, {"stored": True})
    status, body = raw_post(server, "/v1/cache/get", json.dumps({"query": "rest question", "namespace": "rest"}).encode())
    assert body["hit"] and body["response"] == "rest answer" and body["layer"] == "exact" and body["metadata"] == {"k": 1}
    status, body = raw_post(server, "/v1/cache/delete", json.dumps({"query": "rest question", "namespace": "rest"}).encode())
    assert body == {"deleted": True}
    status, body = raw_post(server, "/v1/cache/get", json.dumps({"query": "rest question", "namespace": "rest"}).encode())
    assert body == {"hit": False}


def test_tenants_are_isolated(upstream, tmp_path):
    config = tmp_path / "serve.toml"
    config.write_text('[[tenants]]\nkey = "alpha-key"\nnamespaces = ["alpha"]\n\n[[tenants]]\nkey = "beta-key"\nnamespaces = ["beta"]\n')
    s = Server(tmp_path / "t.db", "--config", str(config), "--upstream", upstream.url)
    try:
        a, b = client(s, **{"x-mneme-key": "alpha-key"}), client(s, **{"x-mneme-key": "beta-key"})
        assert chat(a, "Tenant question one")[0] == "miss"
        assert chat(a, "Tenant question one")[0] == "hit-exact"
        assert chat(b, "Tenant question one")[0] == "miss", "another tenant never sees alpha's entries"
        with pytest.raises(openai.PermissionDeniedError):
            chat(client(s, **{"x-mneme-key": "beta-key", "x-mneme-namespace": "alpha"}), "Tenant question one")
        with pytest.raises(openai.AuthenticationError):
            chat(client(s), "Tenant question one")
        status, _ = raw_post(s, "/v1/cache/get", json.dumps({"query": "q", "namespace": "alpha"}).encode(), {"x-mneme-key": "beta-key"})
        assert status == 403
    finally:
        assert s.stop() == 0


def test_shutdown_under_load_loses_no_acknowledged_put(tmp_path):
    from mneme import SemanticCache
    from mneme.embedders import LocalEmbedder

    s = Server(tmp_path / "load.db", "--verifier", "off")
    acknowledged = []

    def put(i):
        status, body = raw_post(s, "/v1/cache/put", json.dumps({"query": f"load question {i}", "response": f"r{i}"}).encode())
        if status == 200:
            acknowledged.append(i)

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(put, i) for i in range(400)]
        futures[150].result()
        code = s.stop()
        for f in futures:
            try:
                f.result()
            except Exception:  # noqa: BLE001 - connections refused after shutdown are expected
                pass
    assert code == 0 and len(acknowledged) >= 150
    with SemanticCache(path=tmp_path / "load.db", embedder=LocalEmbedder()) as cache:
        missing = [i for i in acknowledged if cache.get(f"load question {i}") is None]
    assert not missing, f"acknowledged puts lost: {missing[:10]}"


SAMPLES = {
    ("/v1/cache/put", "post"): {"query": "openapi question", "response": "openapi answer"},
    ("/v1/cache/get", "post"): {"query": "openapi question"},
    ("/v1/cache/delete", "post"): {"query": "openapi question"},
    ("/v1/cache/vacuum", "post"): None,
    ("/v1/cache/stats", "get"): None,
    ("/v1/cache/namespaces", "get"): None,
    ("/v1/chat/completions", "post"): {"model": "gpt-test", "messages": [{"role": "user", "content": "openapi chat"}]},
    ("/v1/completions", "post"): {"model": "gpt-test", "prompt": "openapi prompt"},
    ("/healthz", "get"): None,
    ("/readyz", "get"): None,
    ("/metrics", "get"): None,
    ("/dashboard", "get"): None,
    ("/v1/dashboard/data", "get"): None,
    ("/openapi.json", "get"): None,
}


def conforms(value, schema, doc, where="$"):
    """A small JSON-schema check: $ref, type (with unions), required and properties."""
    if "$ref" in schema:
        node = doc
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        return conforms(value, node, doc, where)
    types = schema.get("type")
    python = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}
    if types is not None:
        allowed = types if isinstance(types, list) else [types]
        ok = any(
            (t == "integer" and isinstance(value, int) and not isinstance(value, bool))
            or (t == "number" and isinstance(value, (int, float)) and not isinstance(value, bool))
            or (t in python and isinstance(value, python[t]))
            for t in allowed
        )
        assert ok, f"{where}: {value!r} is not {allowed}"
    for key in schema.get("required", []):
        assert isinstance(value, dict) and key in value, f"{where}: missing {key}"
    for key, sub in schema.get("properties", {}).items():
        if isinstance(value, dict) and key in value and value[key] is not None:
            conforms(value[key], sub, doc, f"{where}.{key}")


def test_every_documented_route_answers_with_its_documented_shape(server):
    with urllib.request.urlopen(f"{server.base}/openapi.json") as r:
        doc = json.loads(r.read())
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert documented == set(SAMPLES), "every route has a sample here, and every sample a route"
    for (path, method), body in SAMPLES.items():
        data = None if method == "get" else json.dumps(body or {}).encode()
        request = urllib.request.Request(f"{server.base}{path}", data=data, method=method.upper(),
                                         headers={"content-type": "application/json", "authorization": "Bearer sk-test"})
        with urllib.request.urlopen(request) as r:
            status, ctype, payload = r.status, r.headers["content-type"], r.read()
        spec = doc["paths"][path][method]["responses"][str(status)]
        (media, content), = spec["content"].items()
        assert ctype.startswith(media), f"{path}: {ctype} is not {media}"
        if media == "application/json":
            conforms(json.loads(payload), content["schema"], doc, path)


def test_metrics_use_1_0_names_and_count_requests(server):
    chat(client(server), "How do I reset my password?")
    with urllib.request.urlopen(f"{server.base}/metrics") as r:
        text = r.read().decode()
    for name in ("mneme_hits_total", "mneme_misses_total", "mneme_entries", "mneme_http_requests_total", "mneme_http_request_duration_seconds_bucket"):
        assert name in text, name
    assert 'route="chat_completions"' in text


def test_the_dashboard_shows_the_counts_in_headless_chromium(server):
    from playwright.sync_api import sync_playwright

    c = client(server)
    chat(c, "Dashboard question")
    chat(c, "Dashboard question")
    with urllib.request.urlopen(f"{server.base}/v1/dashboard/data") as r:
        data = json.loads(r.read())
    errors = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{server.base}/dashboard")
        page.wait_for_function("document.getElementById('hits-exact').textContent !== '–'")
        shown = {k: page.text_content(f"#{k}") for k in ("hits-exact", "hits-semantic", "misses", "entries")}
        recent = page.text_content("#recent")
        namespaces = page.locator("#namespaces tr").count()
        browser.close()
    assert not errors, errors
    assert shown == {"hits-exact": str(data["hits_exact"]), "hits-semantic": str(data["hits_semantic"]),
                     "misses": str(data["misses"]), "entries": str(data["entries"])}
    assert "Dashboard question" in recent and "hit-exact" in recent and namespaces == len(data["namespaces"]) > 0


@pytest.mark.parametrize("store", ["redis://127.0.0.1:6379/0", "postgres://postgres@127.0.0.1:5432/test"])
def test_a_fleet_of_servers_shares_one_store(upstream, tmp_path, store):
    prefix = f"serve_fleet_{os.getpid()}_{time.time_ns()}"
    one = Server(tmp_path / "one.db", "--store", store, "--store-prefix", prefix, "--upstream", upstream.url)
    two = Server(tmp_path / "two.db", "--store", store, "--store-prefix", prefix, "--upstream", upstream.url)
    try:
        question = f"Fleet question for {store.split(':')[0]}"
        assert chat(client(one), question)[0] == "miss"
        assert chat(client(two), question)[0] == "hit-exact", "the second server sees the first one's answer"
        assert upstream.calls[question] == 1
    finally:
        assert one.stop() == 0 and two.stop() == 0
        if store.startswith("redis"):
            import redis

            r = redis.Redis.from_url(store)
            keys = list(r.scan_iter(f"{prefix}*"))
            if keys:
                r.delete(*keys)
        else:
            import psycopg

            with psycopg.connect("host=127.0.0.1 port=5432 dbname=test user=postgres", autocommit=True) as c:
                c.execute(f'DROP SCHEMA IF EXISTS "{prefix}" CASCADE')
