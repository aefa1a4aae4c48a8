"""The default confidence function and validator (the engine's)."""

from ._native import default_confidence, default_validator

__all__ = ["default_confidence", "default_validator"]
