"""The Spark-like estimator and model (in memory).

Mirrors Spark MLlib's ``BucketedRandomProjectionLSH`` / ``...Model``: the same seed, bucket
length and number of tables give the same unit vectors, hash values, nearest-neighbour rows
and join pairs as Spark 4.3, computed by the Rust engine with the GIL released.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from . import _inputs
from ._native import SPARK_DEFAULT_SEED, Hasher
from ._types import Matrix

__all__ = ["BucketedRandomProjectionLSH", "BucketedRandomProjectionLSHModel"]

Neighbors = list[tuple[int, float]]
Pairs = list[tuple[int, int, float]]


class BucketedRandomProjectionLSH:
    """Euclidean LSH by bucketed random projections, parameterised as in Spark.

    ``h_t(x) = floor((1 / bucket_length) * <u_t, x>)`` (Spark's order of operations, which can
    differ from dividing in the last bit) for ``num_hash_tables`` random unit vectors
    ``u_t`` drawn from ``java.util.Random(seed)`` exactly as Spark draws them. Two rows are
    candidates when they share a bucket in at least one table.

    The default seed is Spark's Scala default (772209414). PySpark's default seed changes
    from one Python process to the next, so pass ``seed`` explicitly to match a PySpark model.
    """

    def __init__(self, bucket_length: float, num_hash_tables: int = 1, seed: int = SPARK_DEFAULT_SEED) -> None:
        self.bucket_length, self.num_hash_tables, self.seed = _inputs.brp_params(bucket_length, num_hash_tables, seed)

    def fit(self, vectors: npt.ArrayLike) -> BucketedRandomProjectionLSHModel:
        """Build the model for the dimension of ``vectors``. Unlike Spark, ``vectors`` are
        checked for NaN and inf (one pass at memory speed), so a bad row fails here and not
        in a later call."""
        arr = _inputs.finite(_inputs.matrix(vectors, "vectors"), "vectors")
        return self.create_model(dim=arr.shape[1])

    def create_model(self, dim: int) -> BucketedRandomProjectionLSHModel:
        """The model for ``dim``-dimensional vectors, without data."""
        return BucketedRandomProjectionLSHModel(self.bucket_length, self.num_hash_tables, self.seed, dim)

    def __repr__(self) -> str:
        return (
            f"BucketedRandomProjectionLSH(bucket_length={self.bucket_length!r}, "
            f"num_hash_tables={self.num_hash_tables}, seed={self.seed})"
        )


class BucketedRandomProjectionLSHModel:
    """A fitted BRP model: Spark's hash functions for one dimension.

    Pickles as its four parameters (the unit vectors are redrawn from the seed).
    """

    def __init__(self, bucket_length: float, num_hash_tables: int, seed: int, dim: int) -> None:
        bl, tables, seed = _inputs.brp_params(bucket_length, num_hash_tables, seed)
        dim = _inputs.positive_int(dim, "dim")
        self._hasher = Hasher(dim, bl, tables, seed)
        self._params = (bl, tables, seed, dim)

    @property
    def bucket_length(self) -> float:
        """Width of a bucket along each projection."""
        return self._params[0]

    @property
    def num_hash_tables(self) -> int:
        """Number of hash tables (OR-amplification)."""
        return self._params[1]

    @property
    def seed(self) -> int:
        """Seed of the ``java.util.Random`` that drew the projections."""
        return self._params[2]

    @property
    def dim(self) -> int:
        """Dimension of the vectors this model hashes."""
        return self._params[3]

    @property
    def rand_unit_vectors(self) -> npt.NDArray[np.float64]:
        """Spark's ``randMatrix``: float64 ``(num_hash_tables, dim)``, row t is ``u_t``."""
        return self._hasher.unit_vectors()

    def transform(self, vectors: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Bucket of every row in every table: int64 ``(n, num_hash_tables)``.

        Equal to the values of Spark's ``transform`` output column (there 1-element vectors of
        doubles holding integers).
        """
        arr = _inputs.matrix(vectors, "vectors", self.dim)
        if arr.shape[0] == 0:
            return np.empty((0, self.num_hash_tables), dtype=np.int64)
        return self._hasher.transform(arr)

    def approx_nearest_neighbors(self, vectors: npt.ArrayLike, query: npt.ArrayLike, k: int) -> Neighbors:
        """The ``k`` rows of ``vectors`` nearest to ``query`` among those sharing one of its
        buckets (Spark's single probe): ``[(row, distance), ...]``, nearest first, at most ``k``.
        Ties are broken by the smaller row.
        """
        q = _inputs.vector(query, "query", self.dim)
        return self._knn(vectors, q, k)[0]

    def batch_approx_nearest_neighbors(self, vectors: npt.ArrayLike, queries: npt.ArrayLike, k: int) -> list[Neighbors]:
        """:meth:`approx_nearest_neighbors` for every row of ``queries``, in parallel."""
        q = _inputs.matrix(queries, "queries", self.dim)
        return self._knn(vectors, q, k)

    def approx_similarity_join(self, vectors_a: npt.ArrayLike, vectors_b: npt.ArrayLike, threshold: float) -> Pairs:
        """Pairs ``(row_a, row_b, distance)`` sharing a bucket in some table with
        ``distance < threshold``, sorted by ``(row_a, row_b)``: Spark's ``approxSimilarityJoin``.

        Passing the same data twice is Spark's self-join: every row pairs with itself at
        distance 0 and each close pair appears as both ``(a, b)`` and ``(b, a)``.
        """
        return self._join(vectors_a, vectors_b, threshold, None)

    def approx_similarity_join_cms(
        self,
        vectors_a: npt.ArrayLike,
        vectors_b: npt.ArrayLike,
        threshold: float,
        min_collisions: int,
        *,
        sketch_width: int = 1 << 20,
        sketch_depth: int = 4,
    ) -> Pairs:
        """Like :meth:`approx_similarity_join`, keeping only pairs that a Count-Min Sketch
        (``sketch_depth x sketch_width`` 32-bit counters, fixed memory) counts as colliding in
        at least ``min_collisions`` tables. The sketch never undercounts, so no pair that truly
        collides that often is lost; ``min_collisions=1`` gives the plain join.
        """
        cms = (
            _inputs.positive_int(min_collisions, "min_collisions"),
            _inputs.positive_int(sketch_width, "sketch_width"),
            _inputs.positive_int(sketch_depth, "sketch_depth"),
        )
        return self._join(vectors_a, vectors_b, threshold, cms)

    def _knn(self, vectors: npt.ArrayLike, queries: Matrix, k: int) -> list[Neighbors]:
        k = _inputs.positive_int(k, "k")
        base = _inputs.matrix(vectors, "vectors", self.dim)
        if base.shape[0] == 0 or queries.shape[0] == 0:
            return [[] for _ in range(queries.shape[0])]
        base, queries = _inputs.same_dtype(base, queries)
        rows, dist, counts = self._hasher.knn(base, queries, k)
        rows_l, dist_l = rows.tolist(), dist.tolist()
        return [list(zip(rows_l[q][:c], dist_l[q][:c])) for q, c in enumerate(counts.tolist())]

    def _join(self, vectors_a: npt.ArrayLike, vectors_b: npt.ArrayLike, threshold: float, cms: tuple[int, int, int] | None) -> Pairs:
        t = _inputs.threshold(threshold)
        same = vectors_a is vectors_b
        a = _inputs.matrix(vectors_a, "vectors_a", self.dim)
        b = a if same else _inputs.matrix(vectors_b, "vectors_b", self.dim)
        if a.shape[0] == 0 or b.shape[0] == 0:
            return []
        a, b = _inputs.same_dtype(a, b)
        other = None if same else b
        if cms is None:
            ia, ib, dist, _plan = self._hasher.join(a, other, t)
        else:
            ia, ib, dist, _plan = self._hasher.join_cms(a, other, t, *cms)
        if same:
            # A row meets itself in every table, so the sketch cannot rule it out unless
            # min_collisions asks for more tables than there are.
            with_self = t > 0 and (cms is None or cms[0] <= self.num_hash_tables)
            ia, ib, dist = _spark_self_join(a.shape[0], ia, ib, dist, with_self)
        return list(zip(ia.tolist(), ib.tolist(), dist.tolist()))

    def __reduce__(self) -> tuple[Any, ...]:
        return (BucketedRandomProjectionLSHModel, self._params)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BucketedRandomProjectionLSHModel) and self._params == other._params

    def __hash__(self) -> int:
        return hash(self._params)

    def __repr__(self) -> str:
        bl, tables, seed, dim = self._params
        return f"BucketedRandomProjectionLSHModel(bucket_length={bl!r}, num_hash_tables={tables}, seed={seed}, dim={dim})"


def _spark_self_join(
    n: int, ia: npt.NDArray[np.int64], ib: npt.NDArray[np.int64], dist: npt.NDArray[np.float64], with_self: bool
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Expand unordered pairs (i < j) into Spark's self-join rows: (i, i, 0) for every row
    if ``with_self``, and both (i, j) and (j, i); sorted by (a, b)."""
    self_rows = np.arange(n, dtype=np.int64) if with_self else np.empty(0, dtype=np.int64)
    a = np.concatenate([self_rows, ia, ib])
    b = np.concatenate([self_rows, ib, ia])
    d = np.concatenate([np.zeros(self_rows.shape[0]), dist, dist])
    order = np.lexsort((b, a))
    return a[order], b[order], d[order]
