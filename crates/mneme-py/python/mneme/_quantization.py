"""Quantisation helpers with NumPy, matching the engine's index (round-half-even int8 at scale
127, IEEE float16)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._exceptions import QuantizationError

__all__ = [
    "quantize",
    "dequantize",
    "quantize_int8",
    "dequantize_int8",
    "quantize_float16",
    "dequantize_float16",
    "np_dtype_for",
    "bytes_per_element",
    "memory_bytes_estimate",
]

_DTYPES = {"float32": np.float32, "float16": np.float16, "int8": np.int8}


def np_dtype_for(dtype: str) -> Any:
    try:
        return _DTYPES[dtype]
    except KeyError:
        raise QuantizationError(
            f"unknown vector_dtype {dtype!r}. Remediation: use 'float32', 'float16' or 'int8'"
        ) from None


def bytes_per_element(dtype: str) -> int:
    return int(np.dtype(np_dtype_for(dtype)).itemsize)


def memory_bytes_estimate(n: int, dim: int, dtype: str) -> int:
    return n * dim * bytes_per_element(dtype)


def quantize_int8(v: Any) -> np.ndarray:
    x = np.asarray(v, dtype=np.float32) * np.float32(127)
    return np.clip(np.rint(x), -128, 127).astype(np.int8)


def dequantize_int8(q: Any) -> np.ndarray:
    return np.asarray(q, dtype=np.int8).astype(np.float32) / np.float32(127)


def quantize_float16(v: Any) -> np.ndarray:
    return np.asarray(v, dtype=np.float32).astype(np.float16)


def dequantize_float16(q: Any) -> np.ndarray:
    return np.asarray(q, dtype=np.float16).astype(np.float32)


def quantize(v: Any, dtype: str) -> np.ndarray:
    np_dtype_for(dtype)
    if dtype == "int8":
        return quantize_int8(v)
    if dtype == "float16":
        return quantize_float16(v)
    return np.asarray(v, dtype=np.float32)


def dequantize(q: Any, dtype: str) -> np.ndarray:
    np_dtype_for(dtype)
    if dtype == "int8":
        return dequantize_int8(q)
    if dtype == "float16":
        return dequantize_float16(q)
    return np.asarray(q, dtype=np.float32)
