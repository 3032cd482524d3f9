"""The shapes of what the package hands back: typed dicts and array aliases.

``IndexParams`` and ``JoinSummary`` are public (exported by ``fast_lsh_ann``); the rest names
the arrays passed between the Python layer and the extension.
"""

from __future__ import annotations

from typing import Literal, TypedDict

import numpy as np
import numpy.typing as npt

__all__ = ["IndexParams", "JoinSummary", "Matrix", "Ids", "Distances", "JoinPlan", "StreamSummary"]

#: A matrix as the engine takes it (C-contiguous; float64 keeps Spark's double precision).
Matrix = npt.NDArray[np.float32] | npt.NDArray[np.float64]
#: Row ids: row numbers or the external ids given at build time (-1 in empty k-NN slots).
Ids = npt.NDArray[np.int64]
#: Distances reported by the index (float32; inf in empty k-NN slots).
Distances = npt.NDArray[np.float32]
#: How a join found its pairs: by walking shared buckets, by screening all pairs, or
#: (over several parts of vectors joined to an index) some of each.
JoinPlan = Literal["buckets", "all_pairs", "blocked", "mixed"]


class IndexParams(TypedDict):
    """The build parameters of an index (:attr:`Index.params`), accepted by
    :meth:`Index.build` as they are: ``Index.build(path, X, **idx.params)``."""

    bucket_length: float
    num_hash_tables: int
    projections_per_table: int
    seed: int
    sketch_bits: int


class StreamSummary(TypedDict):
    """What one join stream of the engine did (a part of a :class:`JoinSummary`)."""

    #: Buckets both sides hold (summed over tables; in a self-join, buckets of 2+ rows).
    shared_buckets: int
    #: Rows per shared bucket at the 50th, 90th, 99th and 99.9th percentile.
    bucket_rows_p50_p90_p99_p999: list[int]
    #: The largest shared bucket's rows.
    max_bucket_rows: int
    #: Candidate pairs in the shared buckets.
    candidate_pairs: int
    #: Buckets sampled down by ``max_bucket_rows``.
    capped_buckets: int
    #: Pairs reported.
    pairs: int
    #: Wall time of the join.
    seconds: float
    #: True when the join was stopped before its end.
    stopped: bool
    #: ``"buckets"``, ``"all_pairs"`` or ``"blocked"`` (vectors larger than the budget).
    plan: JoinPlan
    #: With the blocked plan, how many times a block of rows was read, per side.
    block_reads: list[int]


class JoinSummary(StreamSummary):
    """What a join did (:attr:`Join.summary`): the fields of its parts summed (the largest
    for ``max_bucket_rows`` and each percentile, an upper bound), ``plan`` ``"mixed"`` when
    parts differ, and ``parts``: how many engine joins it ran (one per part of vectors that
    fit in ``memory_budget``; 1 for an index)."""

    parts: int
