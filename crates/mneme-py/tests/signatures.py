"""Prints the public call signatures of the installed `mneme` (names, kinds, defaults; not
annotations), for test_compat.py to compare between mneme-cache 1.0 and this package."""

import inspect
import json

import mneme

CLASSES = ["SemanticCache", "AsyncSemanticCache", "MemoryStore", "SQLiteStore"]
FUNCTIONS = ["to_async_embedder", "to_sync_embedder"]


def describe(fn):
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    return [[p.name, str(p.kind), repr(p.default) if p.default is not p.empty else None]
            for p in sig.parameters.values() if p.name != "self"]


out = {}
for name in CLASSES:
    cls = getattr(mneme, name)
    out[f"{name}()"] = describe(cls)
    for attr in sorted(dir(cls)):
        if attr.startswith("_") and attr not in ("__enter__", "__exit__", "__aenter__", "__aexit__"):
            continue
        member = inspect.getattr_static(cls, attr)
        if isinstance(member, property):
            out[f"{name}.{attr}"] = "property"
        elif callable(getattr(cls, attr)):
            out[f"{name}.{attr}"] = [describe(getattr(cls, attr)), inspect.iscoroutinefunction(getattr(cls, attr))]
for name in FUNCTIONS:
    out[name] = describe(getattr(mneme, name))
print(json.dumps(out, sort_keys=True))
