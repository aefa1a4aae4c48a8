"""Store classes at the module paths mneme-cache 1.0 documents, for backends this build of
mneme does not have yet. Constructing one works, so imports and configuration code run; open()
(which the cache calls first) raises StoreBackendError, as 1.0 does when a backend's client
library is missing."""

from __future__ import annotations

from typing import Any

from ._exceptions import StoreBackendError


def unavailable_store(name: str) -> type:
    """A class named `name` whose open() raises StoreBackendError with a remediation."""

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        self._args = (args, kwargs)

    def open(self: Any, embedder_fingerprint: str, embedder_dim: int) -> None:
        raise StoreBackendError(
            f"{name} is not available in this build of mneme. Remediation: use SQLiteStore or "
            f"MemoryStore, or mneme-cache's {name} until mneme ships one"
        )

    def close(self: Any) -> None:
        pass

    doc = "Not available in this build: open() raises StoreBackendError."
    return type(name, (), {"__init__": __init__, "open": open, "close": close, "__doc__": doc})
