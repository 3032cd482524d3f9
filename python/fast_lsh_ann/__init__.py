"""fast_lsh_ann: Bucketed Random Projection LSH with a Rust engine.

Spark MLlib's ``BucketedRandomProjectionLSH``, the same hashes and pairs for the same seed,
on one machine and far faster::

    import fast_lsh_ann as fla
    model = fla.BucketedRandomProjectionLSH(bucket_length=2.0, num_hash_tables=5, seed=42).fit(X)
    model.transform(X)                                  # int64 (n, 5)
    model.approx_nearest_neighbors(X, X[0], k=5)        # [(row, distance), ...]
    model.approx_similarity_join(X, X, threshold=1.5)   # [(row_a, row_b, distance), ...]
"""

from ._index import Index, Join
from ._model import BucketedRandomProjectionLSH, BucketedRandomProjectionLSHModel
from ._native import SPARK_DEFAULT_SEED, CorruptIndexError, IncompatibleIndexError, LshError, __version__
from ._types import IndexParams, JoinSummary
from .datasets import planted_near_duplicates

__all__ = [
    "BucketedRandomProjectionLSH",
    "BucketedRandomProjectionLSHModel",
    "CorruptIndexError",
    "IncompatibleIndexError",
    "Index",
    "IndexParams",
    "Join",
    "JoinSummary",
    "LshError",
    "SPARK_DEFAULT_SEED",
    "__version__",
    "planted_near_duplicates",
]
