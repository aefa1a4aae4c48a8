"""mneme-cache 1.0's README examples, verbatim, with `my_embedder` and `call_my_llm` supplied."""

from conftest import KeywordEmbedder

my_embedder = KeywordEmbedder()
llm_calls = []


def call_my_llm(prompt):
    llm_calls.append(prompt)
    return "Click 'Forgot password' on login."


def test_top_example(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        from mneme import SemanticCache

        with SemanticCache(path="cache.db", embedder=my_embedder) as cache:
            hit = cache.get("How do I reset my password?")
            if hit is None:
                response = call_my_llm("How do I reset my password?")
                cache.put("How do I reset my password?", response)
            else:
                response = hit.response
    assert llm_calls == ["How do I reset my password?"], "the second run was served from the cache"


def test_quickstart(capsys):
    from mneme import SemanticCache, MemoryStore

    with SemanticCache(store=MemoryStore(), embedder=my_embedder) as cache:
        cache.put("How do I reset my password?", "Click 'Forgot password' on login.")
        hit = cache.get("Where do I reset my password?")  # paraphrase
        assert hit is not None
        print(hit.layer, hit.similarity, hit.response)
    assert capsys.readouterr().out.startswith("semantic ")
