"""DynamoDBStore at the module path mneme-cache 1.0 documents (not in this build yet: see _unavailable)."""

from ._unavailable import unavailable_store

__all__ = ["DynamoDBStore"]

DynamoDBStore = unavailable_store("DynamoDBStore")
