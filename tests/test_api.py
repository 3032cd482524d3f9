"""The public API of the in-memory estimator and model, checked against the numpy oracle."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

import fast_lsh_ann as fla
from conftest import (
    SPARK_DEFAULT_SEED,
    assert_join_equal,
    assert_join_result_shape,
    assert_knn_equal,
    assert_knn_result_shape,
    collision_counts,
    gaussian_data,
    grid_2d,
    ref_dist,
    ref_hashes,
    ref_join,
    ref_knn,
    ref_pair_dists,
    ref_unit_vectors,
)


def model_for(dim: int, bucket_length: float = 1.0, num_hash_tables: int = 3, seed: int = 42):
    return fla.BucketedRandomProjectionLSH(
        bucket_length=bucket_length, num_hash_tables=num_hash_tables, seed=seed
    ).create_model(dim=dim)


def queries_for(X: np.ndarray, seed: int, n_near: int = 8, n_random: int = 4) -> np.ndarray:
    """Rows of X (exact), rows of X plus noise, and unrelated Gaussian points (float64)."""
    rng = np.random.default_rng(seed + 1000)
    dim = X.shape[1]
    rows = rng.choice(len(X), size=n_near, replace=False)
    exact = X[rows[:2]].astype(np.float64)
    near = X[rows[2:]].astype(np.float64) + rng.normal(0, 0.1, (n_near - 2, dim))
    far = rng.standard_normal((n_random, dim))
    return np.vstack([exact, near, far])


# --------------------------------------------------------------------------- estimator


def test_estimator_properties() -> None:
    lsh = fla.BucketedRandomProjectionLSH(bucket_length=2.5, num_hash_tables=7, seed=-3)
    assert lsh.bucket_length == 2.5
    assert isinstance(lsh.bucket_length, float)
    assert lsh.num_hash_tables == 7
    assert isinstance(lsh.num_hash_tables, int)
    assert lsh.seed == -3
    assert isinstance(lsh.seed, int)


def test_estimator_defaults() -> None:
    lsh = fla.BucketedRandomProjectionLSH(bucket_length=2.0)
    assert lsh.num_hash_tables == 1
    assert lsh.seed == SPARK_DEFAULT_SEED == 772209414


def test_estimator_accepts_integer_bucket_length_and_big_seed() -> None:
    lsh = fla.BucketedRandomProjectionLSH(bucket_length=2, num_hash_tables=2, seed=1 << 40)
    assert lsh.bucket_length == 2.0 and isinstance(lsh.bucket_length, float)
    m = lsh.create_model(dim=5)
    assert m.seed == 1 << 40
    assert np.array_equal(m.rand_unit_vectors, ref_unit_vectors(1 << 40, 2, 5))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fit_equals_create_model(dtype) -> None:
    X = gaussian_data(1, 40, 12, dtype)
    lsh = fla.BucketedRandomProjectionLSH(bucket_length=1.5, num_hash_tables=4, seed=9)
    fitted = lsh.fit(X)
    created = lsh.create_model(dim=12)
    assert isinstance(fitted, fla.BucketedRandomProjectionLSHModel)
    assert isinstance(created, fla.BucketedRandomProjectionLSHModel)
    for m in (fitted, created):
        assert m.dim == 12 and isinstance(m.dim, int)
        assert m.bucket_length == 1.5 and isinstance(m.bucket_length, float)
        assert m.num_hash_tables == 4 and isinstance(m.num_hash_tables, int)
        assert m.seed == 9 and isinstance(m.seed, int)
    assert np.array_equal(fitted.rand_unit_vectors, created.rand_unit_vectors)
    assert np.array_equal(fitted.transform(X), created.transform(X))


def test_rand_unit_vectors_shape_and_norm() -> None:
    m = model_for(33, num_hash_tables=6, seed=5)
    u = m.rand_unit_vectors
    assert isinstance(u, np.ndarray)
    assert u.dtype == np.float64 and u.shape == (6, 33)
    assert np.allclose(np.linalg.norm(u, axis=1), 1.0, rtol=0, atol=1e-14)
    # independent draws: the tables are different directions
    assert np.abs(u @ u.T - np.eye(6)).max() < 0.9


# --------------------------------------------------------------------------- transform


@pytest.mark.parametrize(
    ("seed", "n", "dim", "nht", "bl", "dtype"),
    [
        (0, 1, 1, 1, 1.0, np.float32),
        (1, 257, 3, 2, 0.5, np.float64),
        (2, 1000, 17, 5, 0.3, np.float32),
        (3, 5003, 130, 3, 1.7, np.float32),
        (4, 999, 64, 8, 4.0, np.float64),
    ],
)
def test_transform_equals_formula(seed, n, dim, nht, bl, dtype) -> None:
    X = gaussian_data(seed, n, dim, dtype) * 3.0
    m = model_for(dim, bucket_length=bl, num_hash_tables=nht, seed=seed)
    h = m.transform(X)
    assert isinstance(h, np.ndarray)
    assert h.dtype == np.int64
    assert h.shape == (n, nht)
    assert np.array_equal(h, ref_hashes(X, m.rand_unit_vectors, bl).astype(np.int64))
    # row by row gives the same as the batch
    for r in (0, n // 2, n - 1):
        assert np.array_equal(m.transform(X[r : r + 1]), h[r : r + 1])


def test_transform_large_values_and_negatives() -> None:
    m = model_for(4, bucket_length=0.001, num_hash_tables=3, seed=7)
    X = np.array([[1e5, -1e5, 3e4, 0.0], [-2.5, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    h = m.transform(X)
    assert np.array_equal(h, ref_hashes(X, m.rand_unit_vectors, 0.001).astype(np.int64))
    assert np.array_equal(h[2], [0, 0, 0])  # floor(0) = 0
    assert np.abs(h[0]).max() > 1e7  # far beyond int32 bucket counts is fine


# --------------------------------------------------------------------------- k nearest neighbours

KNN_CONFIGS = [
    # seed, dim, tables, dtype, bucket_length
    (0, 3, 1, np.float32, 1.0),
    (1, 5, 2, np.float64, 1.0),
    (2, 8, 3, np.float32, 2.0),
    (3, 16, 4, np.float64, 2.0),
    (4, 32, 6, np.float32, 3.0),
    (5, 64, 5, np.float64, 4.0),
    (6, 9, 6, np.float32, 0.7),
    (7, 17, 2, np.float64, 1.3),
]


@pytest.mark.parametrize(("seed", "dim", "nht", "dtype", "bl"), KNN_CONFIGS)
def test_knn_equals_oracle(seed, dim, nht, dtype, bl) -> None:
    X = gaussian_data(seed, 500, dim, dtype)
    m = model_for(dim, bucket_length=bl, num_hash_tables=nht, seed=seed)
    Q = queries_for(X, seed)
    nonempty = 0
    for qi, q in enumerate(Q):
        for k in (1, 7, 600):
            res = m.approx_nearest_neighbors(X, q, k)
            assert_knn_result_shape(res, k, len(X))
            expected = ref_knn(m, X, q, k)
            assert_knn_equal(res, expected)
            nonempty += bool(res)
        if qi < 2:  # an exact row of X: found at distance 0 first
            i, d = m.approx_nearest_neighbors(X, q, 1)[0]
            assert d == 0.0 and np.array_equal(X[i].astype(np.float64), q)
    assert nonempty > 0


@pytest.mark.parametrize(("seed", "dim", "nht", "dtype", "bl"), KNN_CONFIGS[::2])
def test_batch_knn_equals_per_query(seed, dim, nht, dtype, bl) -> None:
    X = gaussian_data(seed, 400, dim, dtype)
    m = model_for(dim, bucket_length=bl, num_hash_tables=nht, seed=seed)
    Q = queries_for(X, seed, n_near=20, n_random=10)
    for k in (1, 10):
        batch = m.batch_approx_nearest_neighbors(X, Q, k)
        assert isinstance(batch, list) and len(batch) == len(Q)
        for q, res in zip(Q, batch):
            assert res == m.approx_nearest_neighbors(X, q, k)
            assert_knn_equal(res, ref_knn(m, X, q, k))


def test_batch_knn_with_no_queries() -> None:
    m = model_for(4)
    X = gaussian_data(0, 10, 4)
    assert m.batch_approx_nearest_neighbors(X, np.empty((0, 4)), 3) == []


def test_knn_returns_at_most_the_candidates() -> None:
    X = gaussian_data(11, 300, 6)
    m = model_for(6, bucket_length=0.5, num_hash_tables=2, seed=11)
    q = X[0].astype(np.float64)
    h = m.transform(X)
    hq = m.transform(q[None, :])[0]
    n_cand = int((h == hq).any(axis=1).sum())
    assert 1 <= n_cand < 300
    res = m.approx_nearest_neighbors(X, q, 1000)
    assert len(res) == n_cand
    assert {i for i, _ in res} == set(np.nonzero((h == hq).any(axis=1))[0].tolist())


def test_knn_no_candidate_gives_empty_list() -> None:
    X = gaussian_data(12, 200, 5)
    m = model_for(5, bucket_length=0.25, num_hash_tables=3, seed=12)
    q = np.full(5, 50.0)
    assert not (m.transform(X) == m.transform(q[None, :])[0]).any()
    assert m.approx_nearest_neighbors(X, q, 5) == []


def test_knn_ties_broken_by_smaller_row_index() -> None:
    base = gaussian_data(13, 6, 4, np.float64)
    # rows 1, 4, 6 identical; rows 0 and 5 identical
    X = np.vstack([base[0], base[1], base[2], base[3], base[1], base[0], base[1]])
    m = model_for(4, bucket_length=2.0, num_hash_tables=2, seed=13)
    res = m.approx_nearest_neighbors(X, base[1], 3)
    assert [i for i, _ in res] == [1, 4, 6]
    assert [d for _, d in res] == [0.0, 0.0, 0.0]
    res = m.approx_nearest_neighbors(X, base[1], 2)
    assert [i for i, _ in res] == [1, 4]
    # equal distances from a point that is not a row: still index order
    q = base[1] + 0.01
    res = m.approx_nearest_neighbors(X, q, 7)
    first = [i for i, _ in res[:3]]
    assert first == [1, 4, 6]
    assert res[0][1] == res[1][1] == res[2][1]


def test_knn_ties_in_reported_distance_broken_by_smaller_row_index() -> None:
    """Rows whose reported (sqrt) distances are equal come in row order.

    On Spark's grid, rows 194 = (-1, 4) and 272 = (3, 2) are both sqrt(5.2) from (1.2, 3.4):
    their float64 squared distances differ in the last bit but their distances are the
    same double. The contract orders by (distance, row), as the oracle does.
    """
    X = grid_2d()
    q = np.array([1.2, 3.4])
    assert ref_dist(X[194], q) == ref_dist(X[272], q)
    m = fla.BucketedRandomProjectionLSH(bucket_length=4.0, num_hash_tables=2, seed=12345).create_model(dim=2)
    for k in (16, 17, 100):
        res = m.approx_nearest_neighbors(X, q, k)
        assert_knn_result_shape(res, k, len(X))
        assert_knn_equal(res, ref_knn(m, X, q, k))
    batch = m.batch_approx_nearest_neighbors(X, np.vstack([q, q]), 100)
    assert batch[0] == batch[1] == ref_knn(m, X, q, 100)


def test_knn_accepts_numpy_integer_k() -> None:
    X = gaussian_data(14, 50, 3)
    m = model_for(3, bucket_length=2.0)
    assert m.approx_nearest_neighbors(X, X[0], np.int64(4)) == m.approx_nearest_neighbors(X, X[0], 4)


# --------------------------------------------------------------------------- similarity join

JOIN_CONFIGS = [
    # seed, dim, tables, dtype, bucket_length
    (20, 3, 1, np.float32, 0.5),
    (21, 6, 3, np.float64, 1.0),
    (22, 16, 4, np.float32, 2.0),
    (23, 40, 6, np.float64, 2.5),
]


def close_threshold(A: np.ndarray, B: np.ndarray, fraction: float) -> float:
    """A threshold admitting about ``fraction`` of all pairs."""
    d = np.sqrt(((A[:, None, :].astype(np.float64) - B[None, :, :]) ** 2).sum(axis=2))
    return float(np.quantile(d, fraction))


@pytest.mark.parametrize(("seed", "dim", "nht", "dtype", "bl"), JOIN_CONFIGS)
def test_join_a_b_equals_oracle(seed, dim, nht, dtype, bl) -> None:
    A = gaussian_data(seed, 300, dim, dtype)
    B = gaussian_data(seed + 100, 250, dim, dtype)
    m = model_for(dim, bucket_length=bl, num_hash_tables=nht, seed=seed)
    t = close_threshold(A, B, 0.02)
    res = m.approx_similarity_join(A, B, t)
    assert_join_result_shape(res, len(A), len(B), t)
    expected = ref_join(m, A, B, t)
    assert len(expected) > 50
    assert_join_equal(res, expected)
    # swapping the sides swaps the pairs
    swapped = m.approx_similarity_join(B, A, t)
    assert sorted((a, b) for b, a, _ in swapped) == [(a, b) for a, b, _ in res]


@pytest.mark.parametrize(("seed", "dim", "nht", "dtype", "bl"), JOIN_CONFIGS)
def test_self_join_equals_oracle_and_is_symmetric(seed, dim, nht, dtype, bl) -> None:
    X = gaussian_data(seed, 300, dim, dtype)
    m = model_for(dim, bucket_length=bl, num_hash_tables=nht, seed=seed)
    t = close_threshold(X, X, 0.02)
    res = m.approx_similarity_join(X, X, t)
    assert_join_result_shape(res, len(X), len(X), t)
    assert_join_equal(res, ref_join(m, X, X, t))
    # Spark's self-join: (a, a, 0.0) for every row, and both (a, b) and (b, a)
    dist = {(a, b): d for a, b, d in res}
    for i in range(len(X)):
        assert dist[(i, i)] == 0.0
    for (a, b), d in dist.items():
        assert dist[(b, a)] == d
    assert len(dist) > len(X)
    # a copy of the same data (a different object) gives the same pairs
    assert m.approx_similarity_join(X, X.copy(), t) == res


def test_join_threshold_zero_is_empty() -> None:
    X = gaussian_data(30, 100, 4)
    m = model_for(4)
    assert m.approx_similarity_join(X, X, 0.0) == []
    assert m.approx_similarity_join(X, X[:10], 0.0) == []
    assert m.approx_similarity_join_cms(X, X, 0.0, 1) == []


@pytest.mark.parametrize("self_join", [False, True])
def test_join_infinite_threshold_gives_all_colliding_pairs(self_join: bool) -> None:
    A = gaussian_data(31, 120, 5, np.float64)
    B = A if self_join else gaussian_data(32, 90, 5, np.float64)
    m = model_for(5, bucket_length=0.8, num_hash_tables=3, seed=31)
    res = m.approx_similarity_join(A, B, math.inf)
    counts = collision_counts(m.transform(A), m.transform(B))
    ia, ib = np.nonzero(counts > 0)
    assert 0 < len(ia) < counts.size  # some pairs collide, some do not
    assert [(a, b) for a, b, _ in res] == list(zip(ia.tolist(), ib.tolist()))
    assert [d for _, _, d in res] == pytest.approx(ref_pair_dists(A, B, ia, ib).tolist(), rel=1e-12)


def test_join_threshold_is_strict() -> None:
    # an integer grid: distances 1.0 exactly between neighbours
    # (far from the origin, so that with a huge bucket length every projection has the
    # same sign and all rows share one bucket)
    X = np.array([[1000 + i, 1000 + j] for i in range(5) for j in range(5)], dtype=np.float64)
    m = model_for(2, bucket_length=1e6, num_hash_tables=1, seed=42)
    assert (m.transform(X) == m.transform(X)[0]).all()  # one bucket: every pair collides
    at_one = m.approx_similarity_join(X, X, 1.0)
    assert [(a, b) for a, b, _ in at_one] == [(i, i) for i in range(25)]
    above = m.approx_similarity_join(X, X, 1.0 + 1e-12)
    assert len(above) == 25 + 2 * 40  # self rows + 40 grid edges both ways
    assert sorted({d for _, _, d in above}) == [0.0, 1.0]


# --------------------------------------------------------------------------- Count-Min-Sketch join


@pytest.mark.parametrize("self_join", [False, True])
def test_join_cms(self_join: bool) -> None:
    nht = 6
    A = gaussian_data(40, 300, 8)
    B = A if self_join else gaussian_data(41, 260, 8)
    m = model_for(8, bucket_length=1.0, num_hash_tables=nht, seed=40)
    t = close_threshold(A, B, 0.05)
    plain = m.approx_similarity_join(A, B, t)
    assert len(plain) > 100
    assert m.approx_similarity_join_cms(A, B, t, 1) == plain

    counts = collision_counts(m.transform(A), m.transform(B))
    plain_pairs = {(a, b): d for a, b, d in plain}
    seen_levels = 0
    for mc in range(2, nht + 1):
        res = m.approx_similarity_join_cms(A, B, t, mc)
        assert_join_result_shape(res, len(A), len(B), t)
        got = {(a, b): d for a, b, d in res}
        # never more than the plain join, with the same distances
        assert set(got) <= set(plain_pairs)
        for pair, d in got.items():
            assert d == plain_pairs[pair]
        # the sketch never undercounts: every pair truly colliding >= mc times is there
        must = {p for p in plain_pairs if counts[p] >= mc}
        assert must <= set(got), f"min_collisions={mc}: missing {sorted(must - set(got))[:5]}"
        seen_levels += bool(must)
    assert seen_levels >= 2  # the test exercised real multi-table collisions
    assert m.approx_similarity_join_cms(A, B, t, nht + 1) == []


# --------------------------------------------------------------------------- pickle


@pytest.mark.parametrize("how", ["create_model", "fit"])
def test_pickle_round_trip(how: str) -> None:
    X = gaussian_data(50, 200, 128)
    lsh = fla.BucketedRandomProjectionLSH(bucket_length=2.0, num_hash_tables=20, seed=50)
    m = lsh.create_model(dim=128) if how == "create_model" else lsh.fit(X)
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        blob = pickle.dumps(m, protocol=protocol)
        assert len(blob) <= 500, f"protocol {protocol}: {len(blob)} bytes"
        m2 = pickle.loads(blob)
        assert isinstance(m2, fla.BucketedRandomProjectionLSHModel)
        assert (m2.dim, m2.bucket_length, m2.num_hash_tables, m2.seed) == (128, 2.0, 20, 50)
        assert np.array_equal(m2.rand_unit_vectors, m.rand_unit_vectors)
        assert np.array_equal(m2.transform(X), m.transform(X))
        assert m2.approx_nearest_neighbors(X, X[3], 5) == m.approx_nearest_neighbors(X, X[3], 5)


# --------------------------------------------------------------------------- planted near-duplicates


def test_planted_dataset_shape() -> None:
    X = fla.planted_near_duplicates(100, dim=16, seed=3)
    assert X.dtype == np.float32 and X.shape == (100, 16) and X.flags.c_contiguous
    assert np.array_equal(X, fla.planted_near_duplicates(100, dim=16, seed=3))
    d = np.linalg.norm(X[:50] - X[50:], axis=1)
    assert d.max() < 0.5


@pytest.fixture(scope="module")
def planted():
    X = fla.planted_near_duplicates(2000, dim=128, noise=0.05, seed=0)
    m = fla.BucketedRandomProjectionLSH(bucket_length=2.0, num_hash_tables=5, seed=42).create_model(dim=128)
    return X, m


def test_planted_partner_is_nearest_neighbour(planted) -> None:
    X, m = planted
    half = len(X) // 2
    partner = np.r_[np.arange(half, 2 * half), np.arange(half)]
    res = m.batch_approx_nearest_neighbors(X, X, 2)
    assert len(res) == len(X)
    for i, r in enumerate(res):
        assert r[0] == (i, 0.0)
        assert r[1][0] == partner[i], f"row {i}: {r}"
    for i in range(0, len(X), 97):  # a sample against the oracle
        assert_knn_equal(res[i], ref_knn(m, X, X[i], 2))


def test_planted_join_finds_every_pair(planted) -> None:
    X, m = planted
    half = len(X) // 2
    res = m.approx_similarity_join(X, X, 1.5)
    pairs = {(a, b) for a, b, _ in res}
    for i in range(half):
        assert (i, i + half) in pairs and (i + half, i) in pairs
    assert_join_equal(res, ref_join(m, X, X, 1.5))
    assert len(res) == len(X) + 2 * half  # random pairs are ~16 apart
    # A x B: row i of the base half meets row i of the noisy half
    ab = m.approx_similarity_join(X[:half], X[half:], 1.5)
    assert [(a, b) for a, b, _ in ab] == [(i, i) for i in range(half)]
    cms = m.approx_similarity_join_cms(X, X, 1.5, 1)
    assert cms == res


# --------------------------------------------------------------------------- harder cases for the planners


@pytest.mark.parametrize(("n", "dim", "nht", "bl", "dtype"), [(3000, 32, 3, 4.0, np.float32), (2500, 12, 2, 1.5, np.float64)])
def test_batch_knn_many_queries_equals_oracle(n, dim, nht, bl, dtype) -> None:
    """More queries than one block, coarse and fine buckets (both search plans)."""
    X = gaussian_data(60 + dim, n, dim, dtype)
    m = model_for(dim, bucket_length=bl, num_hash_tables=nht, seed=60 + dim)
    Q = np.vstack([X[:150].astype(np.float64) + 0.05, gaussian_data(61, 50, dim, np.float64)])
    for k in (1, 10):
        batch = m.batch_approx_nearest_neighbors(X, Q, k)
        assert len(batch) == len(Q)
        for q, res in zip(Q, batch):
            assert_knn_equal(res, ref_knn(m, X, q, k))


def test_knn_on_integer_lattice_with_many_exact_ties() -> None:
    """A 3-D integer lattice: dozens of rows at exactly the same distance."""
    X = np.array([[i, j, l] for i in range(12) for j in range(12) for l in range(12)], dtype=np.float32)
    m = model_for(3, bucket_length=8.0, num_hash_tables=2, seed=42)
    Q = np.array([[5, 5, 5], [0, 0, 0], [11, 3, 7], [6, 6, 2]], dtype=np.float64)
    Q = np.vstack([Q] * 20)  # enough queries for a block
    for k in (1, 7, 30, 100):
        batch = m.batch_approx_nearest_neighbors(X, Q, k)
        for q, res in zip(Q, batch):
            assert_knn_equal(res, ref_knn(m, X, q, k), rel=0)


@pytest.mark.parametrize(
    ("scale", "offset"),
    [(1e-25, 0.0), (1e-20, 0.0), (1e18, 0.0), (0.01, 1000.0)],
    ids=["tiny-1e-25", "tiny-1e-20", "huge-1e18", "offset-1000"],
)
def test_extreme_magnitudes_equal_oracle(scale: float, offset: float) -> None:
    """Spark works in doubles at any magnitude; screening shortcuts must not lose pairs."""
    n, dim = 300, 8
    X = (offset + gaussian_data(70, n, dim, np.float64) * scale).astype(np.float32)
    assert np.isfinite(X).all() and (X != offset).any()
    m = model_for(dim, bucket_length=4.0 * scale, num_hash_tables=2, seed=70)
    # coarse buckets: most pairs collide (so the block-kernel plans run)
    counts = collision_counts(m.transform(X), m.transform(X))
    assert (counts > 0).mean() > 0.5
    Q = X[:100].astype(np.float64) + scale * 0.01
    batch = m.batch_approx_nearest_neighbors(X, Q, 5)
    for q, res in zip(Q, batch):
        assert_knn_equal(res, ref_knn(m, X, q, 5))
    t = close_threshold(X, X, 0.01)
    assert t > 0
    assert_join_equal(m.approx_similarity_join(X, X, t), ref_join(m, X, X, t))
    assert_join_equal(m.approx_similarity_join(X[:150], X[150:], t), ref_join(m, X[:150], X[150:], t))


def test_join_with_duplicate_rows() -> None:
    base = gaussian_data(80, 50, 6, np.float64)
    X = np.vstack([base, base[:20], base[:5]])  # rows 0..4 three times, 5..19 twice
    m = model_for(6, bucket_length=2.0, num_hash_tables=3, seed=80)
    res = m.approx_similarity_join(X, X, 1e-300)
    expected = sorted(
        (a, b) for a in range(len(X)) for b in range(len(X)) if np.array_equal(X[a], X[b])
    )
    assert [(a, b) for a, b, _ in res] == expected
    assert all(d == 0.0 for _, _, d in res)
    assert_join_equal(m.approx_similarity_join(X, X, 0.8), ref_join(m, X, X, 0.8))
    ab = m.approx_similarity_join(X, X.copy(), 1e-300)
    assert [(a, b) for a, b, _ in ab] == expected


def test_concurrent_calls_from_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    X = gaussian_data(90, 2000, 24)
    m = model_for(24, bucket_length=2.0, num_hash_tables=4, seed=90)
    Q = X[:40].astype(np.float64) + 0.01
    want_knn = m.batch_approx_nearest_neighbors(X, Q, 5)
    want_join = m.approx_similarity_join(X[:500], X[500:1000], 4.0)
    want_h = m.transform(X)

    def work(i: int):
        if i % 3 == 0:
            return m.batch_approx_nearest_neighbors(X, Q, 5) == want_knn
        if i % 3 == 1:
            return m.approx_similarity_join(X[:500], X[500:1000], 4.0) == want_join
        return np.array_equal(m.transform(X), want_h)

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert all(pool.map(work, range(12)))
