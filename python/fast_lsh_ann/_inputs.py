"""Turning what users pass into what the engine takes, with errors that name the problem.

The engine accepts C-contiguous float32 or float64 matrices. float32 C-order arrays pass
through without a copy; float64 keeps its precision (Spark computes in doubles); any other
real dtype, layout or nested list is converted once.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

_REAL_KINDS = "fiub"


def matrix(x: Any, name: str, dim: int | None = None) -> np.ndarray:
    """Return ``x`` as a C-contiguous float32/float64 2-D array, or raise ValueError/TypeError."""
    arr = _as_array(x, name)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (rows, dim); got shape {arr.shape}")
    if dim is not None and arr.shape[1] != dim and arr.shape[0] > 0:
        raise ValueError(f"dim mismatch: the model has dim {dim} but {name} has {arr.shape[1]} columns")
    return _float_c_order(arr)


def vector(x: Any, name: str, dim: int) -> np.ndarray:
    """Return one vector (1-D, or a single row) as a C-contiguous (1, dim) matrix."""
    arr = _as_array(x, name)
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D vector of length {dim}; got shape {arr.shape}")
    if arr.shape[0] != dim:
        raise ValueError(f"dim mismatch: the model has dim {dim} but {name} has length {arr.shape[0]}")
    return _float_c_order(arr.reshape(1, dim))


def same_dtype(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Upcast to float64 if any array is float64 (exact for float32 values)."""
    if any(a.dtype == np.float64 for a in arrays):
        return tuple(a if a.dtype == np.float64 else a.astype(np.float64) for a in arrays)
    return arrays


def positive_int(value: Any, name: str) -> int:
    """An int >= 1 (``TypeError`` for non-integers, ``ValueError`` below 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return int(value)


def threshold(value: Any) -> float:
    """A distance threshold: a real number >= 0 (inf allowed)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"threshold must be a number, got {type(value).__name__} {value!r}")
    t = float(value)
    if math.isnan(t) or t < 0:
        raise ValueError(f"threshold must be a number >= 0, got {t}")
    return t


def _as_array(x: Any, name: str) -> np.ndarray:
    if isinstance(x, np.ndarray):
        arr = x
    else:
        try:
            arr = np.asarray(x)
        except (ValueError, TypeError) as e:  # ragged lists and the like
            raise ValueError(f"{name} is not a rectangular array of numbers: {e}") from None
    if arr.dtype.kind not in _REAL_KINDS:
        raise TypeError(f"{name} must hold real numbers; got dtype {arr.dtype}")
    return arr


def _float_c_order(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.float32 or arr.dtype == np.float64:
        return np.ascontiguousarray(arr)
    return np.ascontiguousarray(arr, dtype=np.float64)
