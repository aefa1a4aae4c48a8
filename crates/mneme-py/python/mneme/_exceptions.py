"""Exceptions of mneme (names and hierarchy of mneme-cache 1.0). Messages end with a
"Remediation: ..." hint."""

__all__ = [
    "MnemeError",
    "EmbedderMismatchError",
    "EmbedderDimensionError",
    "CorruptCacheError",
    "SchemaMigrationError",
    "CacheClosedError",
    "CheckpointError",
    "IndexBackendUnavailableError",
    "StoreBackendError",
    "NamespaceQuotaExceededError",
    "MultiProcessLockError",
    "QuantizationError",
]


class MnemeError(Exception):
    """Base class of every mneme error. The message carries its remediation."""


class EmbedderMismatchError(MnemeError):
    """The store was written with another embedder. Remediation: open it with the original
    embedder, or migrate with mneme.tools.migrate.reembed."""


class EmbedderDimensionError(MnemeError):
    """A vector or store has another dimension than the embedder. Remediation: use an embedder
    of the stored dimension, or migrate with reembed."""


class CorruptCacheError(MnemeError):
    """The store failed (or could not run) its integrity check. Remediation: restore from a
    dumps() archive."""


class SchemaMigrationError(MnemeError):
    """The stored schema is newer than this library, or a migration failed. Remediation: upgrade
    mneme."""


class CacheClosedError(MnemeError):
    """The cache or store was used after close(). Remediation: open a new instance."""


class CheckpointError(MnemeError):
    """A checkpoint could not be written, read or committed. Remediation: see the message; use an
    archive written by dumps()."""


class IndexBackendUnavailableError(MnemeError):
    """The requested index backend is not available. Remediation: use index_backend="auto" or
    "numpy"."""


class StoreBackendError(MnemeError):
    """A store backend failed (connect, read, write, full). Remediation: see the message and the
    chained cause."""


class NamespaceQuotaExceededError(MnemeError):
    """Kept for compatibility; never raised (quotas evict instead). Remediation: none needed."""


class MultiProcessLockError(MnemeError):
    """A multi-process lock or sidecar file failed. Remediation: see the message."""


class QuantizationError(MnemeError):
    """An unknown or mismatched vector dtype. Remediation: use "float32", "float16" or "int8"."""
