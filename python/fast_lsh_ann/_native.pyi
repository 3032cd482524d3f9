"""Type stubs of the Rust extension (kept true by ``mypy.stubtest`` in CI)."""

from typing import final

import numpy as np
import numpy.typing as npt

__all__ = ["Hasher", "SPARK_DEFAULT_SEED", "__version__"]

SPARK_DEFAULT_SEED: int
__version__: str

_Matrix = npt.NDArray[np.float32] | npt.NDArray[np.float64]

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
