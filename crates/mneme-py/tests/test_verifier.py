"""The verifier stage from Python (beyond 1.0, off by default): built-in names, a callable, its
errors, and the miss reason it reports."""

import pytest

from conftest import TableEmbedder, axis
from mneme import MemoryStore, SemanticCache


def cache_with(verifier=None, events=None):
    emb = TableEmbedder(dim=8)
    for text in ("what is 2+2?", "what is 2+3?", "what is 2 + 2 ?"):  # the cache embeds normalised text
        emb.table[text] = axis(8, 0)  # the same vector: only a verifier can tell them apart
    hook = (lambda kind, attrs: events.append((kind, attrs))) if events is not None else None
    return SemanticCache(store=MemoryStore(), embedder=emb, verifier=verifier, metrics_hook=hook)


def test_off_by_default_keeps_1_0_decisions():
    with cache_with() as cache:
        cache.put("What is 2+2?", "4")
        assert cache.get("What is 2+3?").response == "4"


@pytest.mark.parametrize("name", ["guard", "recommended"])
def test_built_in_verifiers_refuse_a_changed_number(name):
    events = []
    with cache_with(name, events) as cache:
        cache.put("What is 2+2?", "4")
        assert cache.get("What is 2+3?") is None
        assert events[-1] == ("miss", {"namespace": "default", "reason": "verifier_rejected"})
        assert cache.get("what is 2 + 2 ?").response == "4"


def test_a_callable_sees_both_queries_and_the_similarity():
    seen = []

    def verifier(query, cached_query, similarity):
        seen.append((query, cached_query, round(similarity, 3)))
        return "3" not in query

    with cache_with(verifier) as cache:
        cache.put("What is 2+2?", "4")
        assert cache.get("What is 2+3?") is None
        assert cache.get("what is 2 + 2 ?").response == "4"
    assert seen == [("What is 2+3?", "What is 2+2?", 1.0), ("what is 2 + 2 ?", "What is 2+2?", 1.0)]


def test_a_raising_verifier_raises_from_get_and_serves_nothing():
    def verifier(query, cached_query, similarity):
        raise RuntimeError("verifier down")

    with cache_with(verifier) as cache:
        cache.put("What is 2+2?", "4")
        with pytest.raises(RuntimeError, match="verifier down"):
            cache.get("What is 2+3?")
        assert cache.get("What is 2+2?").response == "4", "the exact layer never asks the verifier"


def test_bad_verifiers_are_refused_with_the_choices():
    with pytest.raises(ValueError, match="recommended"):
        cache_with("strict")
    with pytest.raises(TypeError, match="callable"):
        cache_with(42)


def test_namespace_thresholds_are_stored_with_the_cache(tmp_path):
    from mneme import SQLiteStore

    emb = TableEmbedder(dim=8)
    emb.table["stored"] = axis(8, 0)
    emb.table["asked"] = axis(8, 0) * 0.9 + axis(8, 1) * 0.436  # cosine 0.9
    with SemanticCache(path=tmp_path / "c.db", embedder=emb) as cache:
        cache.put("stored", "answer", namespace="strict")
        assert cache.get("asked", namespace="strict") is not None
        cache.set_namespace_threshold("strict", 0.95)
        assert cache.get("asked", namespace="strict") is None
    with SemanticCache(path=tmp_path / "c.db", embedder=emb) as cache:
        assert cache.namespace_thresholds() == {"strict": 0.95}
        assert cache.get("asked", namespace="strict") is None
        cache.set_namespace_threshold("strict", None)
        assert cache.get("asked", namespace="strict") is not None
        with pytest.raises(ValueError):
            cache.set_namespace_threshold("strict", 2.0)


def test_namespace_verifiers_are_stored_with_the_cache(tmp_path):
    emb = TableEmbedder(dim=8)
    for text in ("what is 2+2?", "what is 2+3?"):
        emb.table[text] = axis(8, 0)  # the same vector: only a verifier can tell them apart
    with SemanticCache(path=tmp_path / "c.db", embedder=emb) as cache:
        for ns in ("checked", "default"):
            cache.put("What is 2+2?", "4", namespace=ns)
        cache.set_namespace_verifier("checked", "guard")
        assert cache.get("What is 2+3?", namespace="checked") is None
        assert cache.get("What is 2+3?", namespace="default").response == "4"
    with SemanticCache(path=tmp_path / "c.db", embedder=emb, verifier="recommended") as cache:
        assert cache.namespace_verifiers() == {"checked": "guard"}
        assert cache.get("What is 2+3?", namespace="checked") is None
        assert cache.get("What is 2+3?", namespace="default") is None
        cache.set_namespace_verifier("default", "off")  # similarity alone there
        assert cache.get("What is 2+3?", namespace="default").response == "4"
        cache.set_namespace_verifier("checked", None)
        assert cache.namespace_verifiers() == {"default": "off"}
        with pytest.raises(ValueError, match="guard"):
            cache.set_namespace_verifier("checked", "strictest")
