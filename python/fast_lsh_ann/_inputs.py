"""Every check of what users pass, and the conversion into what the engine takes.

One function per kind of argument; each returns the value as the engine takes it or raises
``TypeError`` (not the right kind of value: a float where an integer is due, a string, a
non-numeric array) or ``ValueError`` (the right kind, out of its domain) with a message that
names the argument.

The engine accepts C-contiguous float32 or float64 matrices. float32 C-order arrays pass
through without a copy; float64 keeps its precision (Spark computes in doubles); any other
real dtype, layout or nested list is converted once.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

from ._types import Matrix

_REAL_KINDS = "fiub"
_INT64 = (-(2**63), 2**63 - 1)
_BYTE_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}

# --------------------------------------------------------------------------- arrays


def matrix(x: Any, name: str, dim: int | None = None) -> Matrix:
    """Return ``x`` as a C-contiguous float32/float64 2-D array, or raise ValueError/TypeError."""
    arr = _as_array(x, name)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (rows, dim); got shape {arr.shape}")
    if dim is not None and arr.shape[1] != dim and arr.shape[0] > 0:
        raise ValueError(f"dim mismatch: the model has dim {dim} but {name} has {arr.shape[1]} columns")
    return _float_c_order(arr)


def finite(arr: Matrix, name: str) -> Matrix:
    """``arr`` if every value is finite, else the ValueError the engine raises for NaN/inf.

    One summing pass at memory speed; only a sum that is not finite (a NaN or inf, or
    finite values so large that they overflow) pays for a second pass that finds the cell.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.add.reduce(arr, axis=None, dtype=np.float64)
    if np.isfinite(total):
        return arr
    bad = np.argwhere(~np.isfinite(arr))
    if len(bad):
        row, col = (int(v) for v in bad[0])
        raise ValueError(
            f"{name} contains NaN or inf at row {row}, column {col}; LSH needs finite values (drop or impute them first)"
        )
    return arr


def vector(x: Any, name: str, dim: int) -> Matrix:
    """Return one vector (1-D, or a single row) as a C-contiguous (1, dim) matrix."""
    arr = _as_array(x, name)
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D vector of length {dim}; got shape {arr.shape}")
    if arr.shape[0] != dim:
        raise ValueError(f"dim mismatch: the model has dim {dim} but {name} has length {arr.shape[0]}")
    return _float_c_order(arr.reshape(1, dim))


def same_dtype(*arrays: Matrix) -> tuple[Matrix, ...]:
    """Upcast to float64 if any array is float64 (exact for float32 values)."""
    if any(a.dtype == np.float64 for a in arrays):
        return tuple(a if a.dtype == np.float64 else a.astype(np.float64) for a in arrays)
    return arrays


def chunks(vectors: Any, name: str, chunk_rows: int) -> Iterable[Any]:
    """One 2-D array split into chunks of ``chunk_rows`` rows, or the caller's iterable of
    chunks as it is (each chunk is checked by :func:`matrix` when it is taken)."""
    if isinstance(vectors, np.ndarray) or (isinstance(vectors, list) and vectors and not isinstance(vectors[0], np.ndarray)):
        arr = matrix(vectors, name)
        return (arr[i : i + chunk_rows] for i in range(0, max(arr.shape[0], 1), chunk_rows))
    if isinstance(vectors, Iterable):
        return vectors
    raise TypeError(f"{name} must be a 2-D array or an iterable of 2-D arrays (chunks)")


def ids(value: Any) -> npt.NDArray[np.int64]:
    """External ids: any array-like of integers, as a C-contiguous 1-D int64 array."""
    return np.ascontiguousarray(np.asarray(value, dtype=np.int64).reshape(-1))


# --------------------------------------------------------------------------- integers


def positive_int(value: Any, name: str) -> int:
    """An int >= 1 (``TypeError`` for non-integers, ``ValueError`` below 1)."""
    n = _integer(value, name)
    if n < 1:
        raise ValueError(f"{name} must be at least 1, got {n}")
    return n


def non_negative_int(value: Any, name: str) -> int:
    """An int >= 0 (``TypeError`` for non-integers, ``ValueError`` below 0)."""
    n = _integer(value, name)
    if n < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {n}")
    return n


def optional_positive_int(value: Any, name: str) -> int | None:
    """``None`` (the default chosen by the engine), or an int >= 1."""
    return None if value is None else positive_int(value, name)


def optional_non_negative_int(value: Any, name: str) -> int | None:
    """``None`` (no limit), or an int >= 0."""
    return None if value is None else non_negative_int(value, name)


def java_long(value: Any, name: str) -> int:
    """An integer that fits in a Java long (a seed of ``java.util.Random``)."""
    n = _integer(value, name)
    if not _INT64[0] <= n <= _INT64[1]:
        raise ValueError(f"{name} must fit in a signed 64-bit integer (Java long), got {n}")
    return n


def byte_size(value: Any, name: str = "memory_budget") -> int:
    """A number of bytes >= 1MB: an int, or a string like ``"256MB"``, ``"1GB"``, ``"512MiB"``."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, str)):
        raise TypeError(f"{name} must be a number of bytes or a string like '1GB'")
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", value)
        if not m or m.group(2).lower() not in _BYTE_UNITS:
            raise ValueError(f"{name} {value!r}: use bytes or a size like '256MB', '1GB', '512MiB'")
        n = int(float(m.group(1)) * _BYTE_UNITS[m.group(2).lower()])
    else:
        n = int(value)
    if n < 10**6:
        raise ValueError(f"{name} must be at least 1MB, got {n} bytes")
    return n


# --------------------------------------------------------------------------- real numbers


def positive_finite(value: Any, name: str) -> float:
    """A finite real number > 0 (a bucket length)."""
    x = _real(value, name)
    if not (math.isfinite(x) and x > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {x}")
    return x


def non_negative(value: Any, name: str) -> float:
    """A real number >= 0, inf allowed (NaN is refused)."""
    x = _real(value, name)
    if math.isnan(x) or x < 0:
        raise ValueError(f"{name} must be a number >= 0, got {x}")
    return x


def threshold(value: Any) -> float:
    """A distance threshold: a real number >= 0 (inf allowed)."""
    return non_negative(value, "threshold")


def brp_params(bucket_length: Any, num_hash_tables: Any, seed: Any) -> tuple[float, int, int]:
    """The three parameters of a Spark BRP model: ``(bucket_length, num_hash_tables, seed)``."""
    return (
        positive_finite(bucket_length, "bucket_length"),
        positive_int(num_hash_tables, "num_hash_tables"),
        java_long(seed, "seed"),
    )


# --------------------------------------------------------------------------- helpers


def _integer(value: Any, name: str) -> int:
    """A Python or numpy integer (not a bool) as an int; ``TypeError`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    return int(value)


def _real(value: Any, name: str) -> float:
    """A Python or numpy real number (not a bool) as a float; ``TypeError`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    return float(value)


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


def _float_c_order(arr: np.ndarray) -> Matrix:
    if arr.dtype == np.float32 or arr.dtype == np.float64:
        return np.ascontiguousarray(arr)
    return np.ascontiguousarray(arr, dtype=np.float64)
