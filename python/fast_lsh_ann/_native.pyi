"""Type stubs of the Rust extension (kept true by ``mypy.stubtest`` in CI)."""

from collections.abc import Callable
from typing import final

import os

import numpy as np
import numpy.typing as npt

from ._types import Distances, Ids, StreamSummary
from ._types import Matrix as _Matrix

__all__ = [
    "CorruptIndexError",
    "Hasher",
    "IncompatibleIndexError",
    "Index",
    "IndexWriter",
    "JoinStream",
    "LshError",
    "SPARK_DEFAULT_SEED",
    "__version__",
]

SPARK_DEFAULT_SEED: int
__version__: str


@final
class Hasher:
    """The hash functions of one Spark BRP model."""

    def __new__(cls, dim: int, bucket_length: float, num_hash_tables: int, seed: int) -> Hasher: ...
    def unit_vectors(self) -> npt.NDArray[np.float64]: ...
    def transform(self, x: _Matrix) -> npt.NDArray[np.int64]: ...
    def knn(
        self, base: _Matrix, queries: _Matrix, k: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.int64]]: ...
    def join(
        self, a: _Matrix, b: _Matrix | None, threshold: float
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64], str]: ...
    def join_cms(
        self, a: _Matrix, b: _Matrix | None, threshold: float, min_collisions: int, width: int, depth: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64], str]: ...

class LshError(Exception):
    """Base class of fast_lsh_ann's own errors."""

class CorruptIndexError(LshError):
    """An index file is damaged or truncated: rebuild the index."""

class IncompatibleIndexError(LshError):
    """An index written by an incompatible version of fast_lsh_ann."""

@final
class IndexWriter:
    """Builds an index directory chunk by chunk."""

    def __new__(
        cls,
        path: str | os.PathLike[str],
        dim: int,
        bucket_length: float,
        num_hash_tables: int,
        projections_per_table: int,
        seed: int,
        sketch_bits: int,
        memory_budget: int,
        overwrite: bool,
    ) -> IndexWriter: ...
    def append(self, x: _Matrix, ids: npt.NDArray[np.int64] | None) -> None: ...
    def rows(self) -> int: ...
    def finish(self) -> None: ...
    def abort(self) -> None: ...

@final
class Index:
    """An opened index directory."""

    @staticmethod
    def open(path: str | os.PathLike[str]) -> Index: ...
    def __len__(self) -> int: ...
    def params(self) -> tuple[int, float, int, int, int, int]:
        """(dim, bucket_length, num_hash_tables, projections_per_table, seed, sketch_bits)"""
    def knn(
        self, queries: _Matrix, k: int, probes: int, rerank: int | None
    ) -> tuple[Ids, Distances]: ...
    def verify(self) -> None: ...
    def external_ids(self, start: int, end: int) -> npt.NDArray[np.int64]: ...
    def knn_join(
        self, other: Index | None, start: int, end: int, k: int, probes: int, rerank: int | None
    ) -> tuple[Ids, Distances]: ...
    def knn_join_blocked(
        self, other: Index | None, k: int, memory_budget: int, sink: Callable[[int, Ids, Distances], object]
    ) -> None: ...
    def join(
        self,
        other: Index | None,
        threshold: float,
        min_collisions: int,
        max_bucket_rows: int | None,
        max_hamming: int | None,
        memory_budget: int | None,
        batch_rows: int,
        count_only: bool,
    ) -> JoinStream: ...
    def join_rows(
        self,
        vectors: _Matrix,
        first_id: int,
        threshold: float,
        min_collisions: int,
        max_bucket_rows: int | None,
        max_hamming: int | None,
        memory_budget: int | None,
        batch_rows: int,
        count_only: bool,
    ) -> JoinStream: ...

@final
class JoinStream:
    """A join running in the background; iterating yields chunks of pairs."""

    def __iter__(self) -> JoinStream: ...
    def __next__(self) -> tuple[Ids, Ids, Distances]: ...
    def stop(self) -> None: ...
    def summary(self) -> StreamSummary | None: ...
