"""mneme: a layered semantic cache for LLM applications, a drop-in replacement for
mneme-cache 1.0 with its engine in Rust (distribution `mneme-rs`)."""

from ._install_check import DISTRIBUTION as _DISTRIBUTION
from ._install_check import check as _check_install

_check_install()  # first: a `mneme/` shared with mneme-cache fails here, with the fix

from ._adapters import to_async_embedder, to_sync_embedder
from ._async_cache import AsyncSemanticCache
from ._cache import SemanticCache
from ._exceptions import (
    CacheClosedError,
    CheckpointError,
    CorruptCacheError,
    EmbedderDimensionError,
    EmbedderMismatchError,
    IndexBackendUnavailableError,
    MnemeError,
    MultiProcessLockError,
    NamespaceQuotaExceededError,
    QuantizationError,
    SchemaMigrationError,
    StoreBackendError,
)
from ._native import __version__
from ._store_memory import MemoryStore
from ._store_sqlite import SQLiteStore
from ._types import (
    AsyncEmbedder,
    ConfidenceFn,
    Embedder,
    Health,
    Hit,
    HitLayer,
    Index,
    IndexBackend,
    MetricsHook,
    MultiProcessMode,
    Stats,
    Store,
    StoredEntry,
    Validator,
    VectorDtype,
)

__all__ = [
    "AsyncEmbedder",
    "AsyncSemanticCache",
    "CacheClosedError",
    "CheckpointError",
    "ConfidenceFn",
    "CorruptCacheError",
    "Embedder",
    "EmbedderDimensionError",
    "EmbedderMismatchError",
    "Health",
    "Hit",
    "HitLayer",
    "Index",
    "IndexBackend",
    "IndexBackendUnavailableError",
    "MemoryStore",
    "MetricsHook",
    "MnemeError",
    "MultiProcessLockError",
    "MultiProcessMode",
    "NamespaceQuotaExceededError",
    "QuantizationError",
    "SQLiteStore",
    "SchemaMigrationError",
    "SemanticCache",
    "Stats",
    "Store",
    "StoreBackendError",
    "StoredEntry",
    "Validator",
    "VectorDtype",
    "__version__",
    "to_async_embedder",
    "to_sync_embedder",
]
