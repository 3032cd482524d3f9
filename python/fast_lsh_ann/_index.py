"""The on-disk index: built once (external sort into immutable segments), reopened instantly.

An index is a directory of mmap'd segment files and a MANIFEST written last and atomically:
a build that is interrupted leaves no index (or the previous one) at ``path``, never a
half-written one.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable
from typing import Any

import numpy as np

from . import _inputs
from ._model import _check_params
from ._native import Index as _NativeIndex
from ._native import IndexWriter as _NativeWriter

__all__ = ["Index"]

_CHUNK_ROWS = 65_536
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}


def _parse_bytes(budget: int | str) -> int:
    if isinstance(budget, bool):
        raise TypeError("memory_budget must be a number of bytes or a string like '1GB'")
    if isinstance(budget, int):
        value = budget
    elif isinstance(budget, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", budget)
        if not m or m.group(2).lower() not in _UNITS:
            raise ValueError(f"memory_budget {budget!r}: use bytes or a size like '256MB', '1GB', '512MiB'")
        value = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    else:
        raise TypeError("memory_budget must be a number of bytes or a string like '1GB'")
    if value < 10**6:
        raise ValueError(f"memory_budget must be at least 1MB, got {value} bytes")
    return value


def _chunks(vectors: Any) -> Iterable[Any]:
    """One 2-D array split into row chunks, or the caller's iterable of chunks as it is."""
    if isinstance(vectors, np.ndarray) or (isinstance(vectors, list) and vectors and not isinstance(vectors[0], np.ndarray)):
        arr = _inputs.matrix(vectors, "vectors")
        return (arr[i : i + _CHUNK_ROWS] for i in range(0, max(arr.shape[0], 1), _CHUNK_ROWS))
    if isinstance(vectors, Iterable):
        return vectors
    raise TypeError("vectors must be a 2-D array or an iterable of 2-D arrays (chunks)")


class Index:
    """An LSH index directory opened for queries (mmap: opening does not read the data)."""

    def __init__(self, native: _NativeIndex, path: str) -> None:
        self._native = native
        self._path = path

    @classmethod
    def build(
        cls,
        path: str | os.PathLike[str],
        vectors: Any,
        *,
        bucket_length: float,
        num_hash_tables: int,
        seed: int = 42,
        projections_per_table: int = 1,
        ids: Any = None,
        memory_budget: int | str = "1GB",
        progress: bool = False,
        overwrite: bool = False,
    ) -> Index:
        """Build an index at ``path`` from a 2-D array or an iterable of 2-D chunks.

        ``projections_per_table=k`` buckets by ``k`` projections at once (AND-amplification;
        ``k=1`` is Spark's scheme and gives Spark's hashes). ``ids``: optional int64 external
        ids, one per row (default: row numbers). ``memory_budget`` bounds the sort buffers
        (bytes, or a string like ``"256MB"``); what does not fit is spilled to compressed
        runs and merged. Refuses an existing ``path`` unless ``overwrite``. Vectors are
        stored as float32.
        """
        bl, tables, seed = _check_params(bucket_length, num_hash_tables, seed)
        k = _inputs.positive_int(projections_per_table, "projections_per_table")
        budget = _parse_bytes(memory_budget)
        path = os.fspath(path)
        id_array = None if ids is None else np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))
        writer: _NativeWriter | None = None
        bar = _Progress(progress)
        try:
            for chunk in _chunks(vectors):
                arr = _inputs.matrix(chunk, "vectors")
                if writer is None:
                    writer = _NativeWriter(path, arr.shape[1], bl, tables, k, seed, budget, bool(overwrite))
                start = writer.rows()
                chunk_ids = None
                if id_array is not None:
                    chunk_ids = id_array[start : start + arr.shape[0]]
                    if chunk_ids.shape[0] != arr.shape[0]:
                        raise ValueError(f"ids has {id_array.shape[0]} values, fewer than the rows given")
                writer.append(arr, chunk_ids)
                bar.update(arr.shape[0])
            if writer is None:
                raise ValueError("vectors is empty: no chunk to build from")
            if id_array is not None and id_array.shape[0] != writer.rows():
                raise ValueError(f"ids has {id_array.shape[0]} values for {writer.rows()} rows")
            writer.finish()
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        finally:
            bar.close()
        return cls.open(path)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Index:
        """Open the index at ``path``; ``FileNotFoundError`` if there is none,
        ``CorruptIndexError`` if its files are damaged."""
        p = os.fspath(path)
        return cls(_NativeIndex.open(p), p)

    def __len__(self) -> int:
        return len(self._native)

    @property
    def dim(self) -> int:
        """Dimension of the vectors."""
        return self._native.params()[0]

    @property
    def params(self) -> dict[str, Any]:
        """The build parameters, accepted by :meth:`build` as they are."""
        dim, bl, tables, k, seed = self._native.params()
        return {"bucket_length": bl, "num_hash_tables": tables, "projections_per_table": k, "seed": seed}

    @property
    def path(self) -> str:
        """The index directory."""
        return self._path

    def knn(self, queries: Any, k: int = 10, probes: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest rows to each query among those sharing a bucket with it in some
        table, visiting ``probes`` extra buckets per table (query-directed multi-probe).

        Returns ``(ids, distances)``: int64 and float32 arrays of shape ``(q, k)``, nearest
        first; slots beyond what was found hold id -1 and distance inf.
        """
        k = _inputs.positive_int(k, "k")
        if isinstance(probes, bool) or not isinstance(probes, (int, np.integer)) or probes < 0:
            raise ValueError(f"probes must be an integer >= 0, got {probes!r}")
        arr = _inputs.matrix(queries, "queries", self.dim) if np.ndim(queries) != 1 else _inputs.vector(queries, "queries", self.dim)
        if arr.shape[0] == 0:
            return np.empty((0, k), dtype=np.int64), np.empty((0, k), dtype=np.float32)
        return self._native.knn(arr, k, int(probes))

    def verify(self) -> None:
        """Read every file and check its checksum; raises ``CorruptIndexError``."""
        self._native.verify()

    def __repr__(self) -> str:
        return f"Index({self._path!r}, rows={len(self)}, dim={self.dim}, params={self.params})"


class _Progress:
    """A tqdm bar when asked for and tqdm is installed; a plain stderr line otherwise."""

    def __init__(self, enabled: bool) -> None:
        self._bar: Any = None
        self._rows = 0
        self._enabled = enabled
        if enabled:
            try:
                from tqdm import tqdm

                self._bar = tqdm(unit=" rows", desc="building index")
            except ImportError:
                self._bar = None

    def update(self, n: int) -> None:
        self._rows += n
        if self._bar is not None:
            self._bar.update(n)
        elif self._enabled:
            print(f"\rbuilding index: {self._rows:,} rows", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self._enabled:
            print(file=sys.stderr)
