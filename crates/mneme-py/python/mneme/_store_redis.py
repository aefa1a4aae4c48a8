"""RedisStore: the module path mneme-cache 1.0's documentation imports from.

The redis backend is not part of this build yet. Constructing the class works, so imports and
configuration code run; open() (which the cache calls first) raises StoreBackendError, as 1.0
does when a backend's client library is missing.
"""

from __future__ import annotations

from typing import Any

from ._exceptions import StoreBackendError

__all__ = ["RedisStore"]


class RedisStore:
    """Not available in this build: open() raises StoreBackendError."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._args = (args, kwargs)

    def open(self, embedder_fingerprint: str, embedder_dim: int) -> None:
        raise StoreBackendError(
            "RedisStore is not available in this build of mneme. "
            "Remediation: use SQLiteStore or MemoryStore, or mneme-cache's RedisStore until mneme ships one"
        )

    def close(self) -> None:
        pass
