"""mneme/_native.pyi against the built native module: the same names, the same members of each
class (methods, static methods, properties), and for every callable the same parameters, kinds
and defaults, read from the binary's text signatures."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import mneme
import mneme._native as native

STUB = ast.parse((Path(mneme.__file__).parent / "_native.pyi").read_text())


def public(names):
    return {n for n in names if not n.startswith("__") or n == "__version__"}


def stub_defs(body) -> dict[str, ast.AST]:
    out = {}
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            out[node.name] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out[node.target.id] = node
    return out


TOP = stub_defs(STUB.body)


def stub_members(cls: ast.ClassDef) -> dict[str, ast.FunctionDef]:
    members = {}
    for base in cls.bases:  # private bases in the stub stand for shared method sets
        members.update(stub_members(TOP[base.id]))
    members.update({n.name: n for n in cls.body if isinstance(n, ast.FunctionDef)})
    return members


def kind_of(fn: ast.FunctionDef) -> str:
    decorators = {d.id for d in fn.decorator_list if isinstance(d, ast.Name)}
    return "property" if "property" in decorators else "static" if "staticmethod" in decorators else "method"


def stub_params(fn: ast.FunctionDef, drop_self: bool) -> list[tuple[str, str, str | None]]:
    a = fn.args
    positional = a.posonlyargs + a.args
    defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    out = [(p.arg, "POSITIONAL_OR_KEYWORD", d) for p, d in zip(positional, defaults)]
    out += [(p.arg, "KEYWORD_ONLY", d) for p, d in zip(a.kwonlyargs, a.kw_defaults)]
    if drop_self:
        out = out[1:]
    return [(n, k, None if d is None else repr(ast.literal_eval(d)) if not (isinstance(d, ast.Constant) and d.value is ...) else "Ellipsis") for n, k, d in out]


def runtime_params(obj) -> list[tuple[str, str, str | None]]:
    sig = inspect.signature(obj)
    return [
        (p.name, p.kind.name, None if p.default is p.empty else repr(p.default))
        for p in sig.parameters.values()
        if p.name not in ("self", "$self")
    ]


def test_the_stub_names_what_the_module_has():
    stubbed = {n for n in TOP if not n.startswith("_") or n == "__version__"}
    assert stubbed == public(dir(native))


def test_every_class_member_and_parameter_matches():
    checked = 0
    for name, node in TOP.items():
        obj = getattr(native, name, None)
        if isinstance(node, ast.FunctionDef):
            assert stub_params(node, drop_self=False) == runtime_params(obj), name
            checked += 1
        elif isinstance(node, ast.ClassDef) and not name.startswith("_"):
            members = stub_members(node)
            runtime = {m: v for m, v in vars(obj).items() if not m.startswith("__")}
            assert set(members) - {"__init__"} == set(runtime), name
            if "__init__" in members:
                assert stub_params(members["__init__"], drop_self=True) == runtime_params(obj), name
            for m, fn in members.items():
                if m == "__init__":
                    continue
                raw = runtime[m]
                kind = "property" if inspect.isgetsetdescriptor(raw) else "static" if isinstance(raw, staticmethod) else "method"
                assert kind_of(fn) == kind, f"{name}.{m}"
                if kind != "property":
                    assert stub_params(fn, drop_self=kind == "method") == runtime_params(getattr(obj, m)), f"{name}.{m}"
                checked += 1
    assert checked > 100


def test_public_signatures_show_real_defaults():
    """No `...` placeholder where a user reads a signature."""
    from mneme import embedders
    from mneme._store_dynamodb import DynamoDBStore
    from mneme._store_postgres import PostgresStore
    from mneme._store_redis import RedisStore

    for obj in [mneme.SemanticCache, mneme.AsyncSemanticCache, mneme.MemoryStore, mneme.SQLiteStore,
                RedisStore, PostgresStore, DynamoDBStore, embedders.LocalEmbedder, embedders.RemoteEmbedder]:
        for p in inspect.signature(obj).parameters.values():
            assert p.default is not Ellipsis, f"{obj.__name__}({p.name}=...)"
    assert inspect.signature(RedisStore).parameters["key_prefix"].default == "mneme"
    assert inspect.signature(PostgresStore).parameters["schema"].default == "mneme"
    assert inspect.signature(DynamoDBStore).parameters["billing_mode"].default == "PAY_PER_REQUEST"
