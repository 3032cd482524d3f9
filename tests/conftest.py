"""Shared fixtures and the independent numpy oracle for the fast_lsh_ann test suite.

Nothing here imports ``fast_lsh_ann``: the helpers only call the public methods of a
model object handed to them (``transform``), so the oracle stays independent of the
engine's internals.

The oracle follows docs/SPARK.md (the facts about Spark 4.3's BucketedRandomProjectionLSH):

* random unit vectors: ``java.util.Random(seed).nextGaussian()`` draws (stored as raw bits in
  ``fixtures/java_random/next_gaussian.csv``), table ``t`` owning draws ``[t*dim, (t+1)*dim)``,
  each row multiplied by ``1.0 / norm`` where the squared norm is summed the way netlib's
  ``VectorBLAS.dnrm2`` does it with 8 double lanes (lane FMAs, a left-to-right lane reduction,
  then a sequential tail). The FMA is emulated exactly with ``fractions.Fraction``;
* hashes: ``floor((1.0 / bucket_length) * <u_t, x>)``;
* ``keyDistance``: ``sqrt`` of a *sequential* float64 sum of ``(x_i - y_i)**2``;
* single-probe ANN: rows sharing the query's bucket in at least one table, sorted by
  (distance, row index), the first k;
* similarity join: pairs sharing a bucket in at least one table with distance < threshold.
"""

from __future__ import annotations

import csv
import functools
import json
import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

FIXTURES = Path(__file__).parent / "fixtures"
PARITY_DIR = FIXTURES / "spark_parity"
JAVA_RANDOM_CSV = FIXTURES / "java_random" / "next_gaussian.csv"

#: every Spark parity case shipped in fixtures/spark_parity (file stems)
CASE_NAMES: list[str] = sorted(p.stem for p in PARITY_DIR.glob("*.npz"))

#: Spark's Scala default seed: "org.apache.spark.ml.feature.BucketedRandomProjectionLSH".hashCode
SPARK_DEFAULT_SEED = 772209414

#: the seeds for which fixtures/java_random holds nextGaussian() sequences
JAVA_RANDOM_SEEDS = (42, 12345, 7, 0, -1, 1 << 40)


# --------------------------------------------------------------------------- fixture files


def load_case(name: str) -> dict[str, np.ndarray]:
    """Load ``fixtures/spark_parity/<name>.npz`` as a dict of arrays (``.npz`` optional)."""
    stem = name[:-4] if name.endswith(".npz") else name
    with np.load(PARITY_DIR / f"{stem}.npz") as z:
        return {key: z[key] for key in z.files}


@functools.lru_cache(maxsize=1)
def _summary_text() -> str:
    return (PARITY_DIR / "summary.json").read_text()


def load_summary() -> dict[str, Any]:
    """The parsed ``summary.json`` (a fresh copy each call)."""
    return json.loads(_summary_text())


def case_params(case: dict[str, np.ndarray]) -> dict[str, Any]:
    """The model parameters of a parity case as Python scalars."""
    return {
        "seed": int(case["seed"]),
        "bucket_length": float(case["bucket_length"]),
        "num_hash_tables": int(case["num_hash_tables"]),
        "dim": int(case["dim"]),
    }


@functools.lru_cache(maxsize=None)
def _java_gaussians() -> dict[int, tuple[float, ...]]:
    out: dict[int, list[float]] = {}
    with open(JAVA_RANDOM_CSV, newline="") as f:
        for row in csv.DictReader(f):
            bits = int(row["next_gaussian_hex"], 16)
            value = float(np.array([bits], dtype=np.uint64).view(np.float64)[0])
            out.setdefault(int(row["seed"]), []).append(value)
    return {seed: tuple(vals) for seed, vals in out.items()}


def java_gaussians(seed: int) -> list[float]:
    """``java.util.Random(seed).nextGaussian()`` draws 0.. (as stored in the fixture)."""
    return list(_java_gaussians()[seed])


# --------------------------------------------------------------------------- the oracle


def _fma(a: float, b: float, c: float) -> float:
    """Exactly rounded a*b + c (Python 3.11 has no math.fma)."""
    return float(Fraction(a) * Fraction(b) + Fraction(c))


def ref_unit_vectors(seed: int, num_hash_tables: int, dim: int, lanes: int = 8) -> np.ndarray:
    """Spark's ``randMatrix`` from the stored Java Gaussians (see module docstring)."""
    g = java_gaussians(seed)
    need = num_hash_tables * dim
    if need > len(g):
        raise ValueError(f"fixture holds {len(g)} draws for seed {seed}, need {need}")
    out = np.empty((num_hash_tables, dim), dtype=np.float64)
    body = (dim // lanes) * lanes
    for t in range(num_hash_tables):
        x = g[t * dim : (t + 1) * dim]
        acc = [0.0] * lanes
        for i in range(body):
            acc[i % lanes] = _fma(x[i], x[i], acc[i % lanes])
        s = acc[0]
        for a in acc[1:]:
            s = s + a
        for i in range(body, dim):
            s = s + x[i] * x[i]
        norm = math.sqrt(s)
        if norm != 0.0:
            scale = 1.0 / norm
            out[t] = [v * scale for v in x]
        else:
            out[t] = x
    return out


def ref_hashes(X: Any, U: np.ndarray, bucket_length: float) -> np.ndarray:
    """``floor((1/bl) * X @ U.T)`` in float64, as float64 (compare with ``==``)."""
    X64 = np.asarray(X, dtype=np.float64)
    U64 = np.asarray(U, dtype=np.float64)
    if X64.shape[0] == 0:
        return np.empty((0, U64.shape[0]), dtype=np.float64)
    return np.floor((X64 @ U64.T) * (1.0 / bucket_length))


def ref_dist(x: Any, y: Any) -> float:
    """Spark's keyDistance: sqrt of a sequential float64 sum of squared differences."""
    diff = np.asarray(x, dtype=np.float64).ravel() - np.asarray(y, dtype=np.float64).ravel()
    s = 0.0
    for d in diff.tolist():
        s += d * d
    return math.sqrt(s)


def ref_row_dists(X: Any, q: Any) -> np.ndarray:
    """keyDistance of every row of X to q; sequential over the coordinates (bit-exact)."""
    X64 = np.asarray(X, dtype=np.float64)
    q64 = np.asarray(q, dtype=np.float64).ravel()
    s = np.zeros(X64.shape[0], dtype=np.float64)
    for j in range(X64.shape[1]):
        d = X64[:, j] - q64[j]
        s += d * d
    return np.sqrt(s)


def ref_pair_dists(A: Any, B: Any, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
    """keyDistance of the pairs (A[ia[p]], B[ib[p]]); sequential over coordinates."""
    A64 = np.asarray(A, dtype=np.float64)
    B64 = np.asarray(B, dtype=np.float64)
    s = np.zeros(len(ia), dtype=np.float64)
    for j in range(A64.shape[1]):
        d = A64[ia, j] - B64[ib, j]
        s += d * d
    return np.sqrt(s)


def _as_hash_array(h: Any) -> np.ndarray:
    return np.asarray(h)


def collision_counts(HA: np.ndarray, HB: np.ndarray) -> np.ndarray:
    """(nA, nB) int array: in how many tables rows a and b share a bucket."""
    HA = np.asarray(HA)
    HB = np.asarray(HB)
    counts = np.zeros((HA.shape[0], HB.shape[0]), dtype=np.int64)
    for t in range(HA.shape[1]):
        counts += HA[:, t][:, None] == HB[:, t][None, :]
    return counts


def ref_knn(model: Any, X: Any, q: Any, k: int) -> list[tuple[int, float]]:
    """Single-probe ANN built on ``model.transform`` (any-table match) + keyDistance."""
    X64 = np.asarray(X, dtype=np.float64)
    q64 = np.asarray(q, dtype=np.float64).ravel()
    if X64.shape[0] == 0:
        return []
    H = _as_hash_array(model.transform(X))
    hq = _as_hash_array(model.transform(q64[None, :]))[0]
    cand = np.nonzero((H == hq).any(axis=1))[0]
    d = ref_row_dists(X64[cand], q64)
    order = np.lexsort((cand, d))[:k]
    return [(int(cand[i]), float(d[i])) for i in order]


def ref_join(model: Any, A: Any, B: Any, threshold: float) -> list[tuple[int, int, float]]:
    """Spark's approxSimilarityJoin pair set, sorted by (idx_a, idx_b)."""
    A64 = np.asarray(A, dtype=np.float64)
    B64 = np.asarray(B, dtype=np.float64)
    if A64.shape[0] == 0 or B64.shape[0] == 0:
        return []
    coll = collision_counts(model.transform(A), model.transform(B)) > 0
    if math.isfinite(threshold):
        # cheap prefilter with a generous margin; the kept pairs are decided exactly below
        na2 = np.einsum("ij,ij->i", A64, A64)
        nb2 = np.einsum("ij,ij->i", B64, B64)
        norms = na2[:, None] + nb2[None, :]
        approx_sq = norms - 2.0 * (A64 @ B64.T)
        coll &= approx_sq <= threshold * threshold + 1e-9 * norms + 1e-12
    ia, ib = np.nonzero(coll)
    d = ref_pair_dists(A64, B64, ia, ib)
    keep = d < threshold
    return list(zip(ia[keep].tolist(), ib[keep].tolist(), d[keep].tolist()))


# --------------------------------------------------------------------------- datasets


def grid_2d() -> np.ndarray:
    """Spark's test-suite grid: (i, j) for i, j in -10..9, row = (i+10)*20 + (j+10)."""
    return np.array([[i, j] for i in range(-10, 10) for j in range(-10, 10)], dtype=np.float64)


def sparse_100d() -> np.ndarray:
    """Spark's high-dimension LSH-property data, densified: e_i * j, j in (-2, -1, 1, 2)."""
    rows = []
    for i in range(100):
        for j in (-2, -1, 1, 2):
            v = np.zeros(100, dtype=np.float64)
            v[i] = float(j)
            rows.append(v)
    return np.array(rows)


def gaussian_data(seed: int, n: int, dim: int, dtype: Any = np.float32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, dim)).astype(dtype)


# --------------------------------------------------------------------------- assertions


def assert_knn_result_shape(res: Any, k: int, n: int) -> None:
    """Type and ordering rules every ANN result obeys."""
    assert isinstance(res, list)
    assert len(res) <= k
    prev: tuple[float, int] | None = None
    seen = set()
    for item in res:
        assert len(item) == 2
        idx, dist = item
        assert isinstance(idx, int) and not isinstance(idx, bool)
        assert isinstance(dist, float)
        assert 0 <= idx < n
        assert dist >= 0.0 and math.isfinite(dist)
        assert idx not in seen
        seen.add(idx)
        key = (dist, idx)
        if prev is not None:
            assert prev < key, f"not sorted by (distance, index): {prev} then {key}"
        prev = key


def assert_join_result_shape(res: Any, na: int, nb: int, threshold: float) -> None:
    assert isinstance(res, list)
    prev: tuple[int, int] | None = None
    for item in res:
        assert len(item) == 3
        a, b, d = item
        assert isinstance(a, int) and isinstance(b, int)
        assert isinstance(d, float)
        assert 0 <= a < na and 0 <= b < nb
        assert d < threshold
        if prev is not None:
            assert prev < (a, b), f"not sorted by (idx_a, idx_b) or duplicated: {prev} then {(a, b)}"
        prev = (a, b)


def assert_knn_equal(ours: list, expected: list, rel: float = 1e-12) -> None:
    """Same row indices in the same order, distances equal to ``rel``."""
    assert [i for i, _ in ours] == [i for i, _ in expected]
    assert [d for _, d in ours] == pytest.approx([d for _, d in expected], rel=rel, abs=1e-300)


def assert_join_equal(ours: list, expected: list, rel: float = 1e-12) -> None:
    assert [(a, b) for a, b, _ in ours] == [(a, b) for a, b, _ in expected]
    assert [d for _, _, d in ours] == pytest.approx([d for _, _, d in expected], rel=rel, abs=1e-300)


# --------------------------------------------------------------------------- pytest fixtures


@pytest.fixture(scope="session")
def summary() -> dict[str, Any]:
    return load_summary()
