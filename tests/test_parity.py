"""Bit-for-bit parity with Apache Spark 4.3.0's BucketedRandomProjectionLSH.

Every expected value comes from fixtures/spark_parity (arrays written by a real Spark 4.3.0
run) or from fixtures/java_random (``java.util.Random(seed).nextGaussian()`` bits).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import fast_lsh_ann as fla
from conftest import (
    CASE_NAMES,
    JAVA_RANDOM_SEEDS,
    SPARK_DEFAULT_SEED,
    case_params,
    java_gaussians,
    load_case,
    ref_dist,
    ref_hashes,
    ref_knn,
    ref_row_dists,
    ref_unit_vectors,
)

ANN_CASES = [n for n in CASE_NAMES if "queries" in load_case(n)]
JOIN_CASES = [n for n in CASE_NAMES if "join_idA" in load_case(n)]
B_CASES = [n for n in CASE_NAMES if "XB" in load_case(n)]
DOCS = "docs_2d_seed12345_bl1_nht1"
GRID_BL4 = "suite_grid_seed12345_bl4_nht2"


def make_model(case: dict) -> fla.BucketedRandomProjectionLSHModel:
    p = case_params(case)
    lsh = fla.BucketedRandomProjectionLSH(
        bucket_length=p["bucket_length"], num_hash_tables=p["num_hash_tables"], seed=p["seed"]
    )
    return lsh.create_model(dim=p["dim"])


def test_fixture_inventory() -> None:
    # guards against an empty parametrisation silently passing
    assert len(CASE_NAMES) == 6
    assert DOCS in CASE_NAMES and GRID_BL4 in CASE_NAMES
    assert len(ANN_CASES) == 5 and len(JOIN_CASES) == 5 and len(B_CASES) == 2


# --------------------------------------------------------------------------- unit vectors


@pytest.mark.parametrize("name", CASE_NAMES)
def test_rand_unit_vectors_bit_equal(name: str) -> None:
    case = load_case(name)
    model = make_model(case)
    u = model.rand_unit_vectors
    assert isinstance(u, np.ndarray)
    assert u.dtype == np.float64
    assert u.shape == case["rand_unit_vectors"].shape
    assert np.array_equal(u, case["rand_unit_vectors"])


@pytest.mark.parametrize("name", CASE_NAMES)
def test_fit_gives_the_same_vectors_as_create_model(name: str) -> None:
    case = load_case(name)
    p = case_params(case)
    lsh = fla.BucketedRandomProjectionLSH(
        bucket_length=p["bucket_length"], num_hash_tables=p["num_hash_tables"], seed=p["seed"]
    )
    model = lsh.fit(case["X"])
    assert model.dim == p["dim"]
    assert np.array_equal(model.rand_unit_vectors, case["rand_unit_vectors"])


def test_java_random_oracle_reproduces_spark_fixtures() -> None:
    # the oracle used below is itself checked against Spark's randMatrix
    for name in CASE_NAMES:
        case = load_case(name)
        p = case_params(case)
        ref = ref_unit_vectors(p["seed"], p["num_hash_tables"], p["dim"])
        assert np.array_equal(ref, case["rand_unit_vectors"]), name


@pytest.mark.parametrize("seed", JAVA_RANDOM_SEEDS)
@pytest.mark.parametrize(
    ("num_hash_tables", "dim"),
    [(1, 1), (3, 2), (2, 7), (4, 8), (3, 9), (2, 16), (5, 17), (2, 64), (3, 100), (1, 129), (7, 250)],
)
def test_rand_unit_vectors_match_java_random(seed: int, num_hash_tables: int, dim: int) -> None:
    """Java Random + polar Gaussian + fdlibm log + lane-ordered dnrm2, for many seeds/dims.

    Includes seeds 0, -1 and 2**40 (a Java long above 32 bits) and dims around the 8-lane
    boundary of VectorBLAS.dnrm2.
    """
    model = fla.BucketedRandomProjectionLSH(
        bucket_length=1.0, num_hash_tables=num_hash_tables, seed=seed
    ).create_model(dim=dim)
    assert model.seed == seed
    expected = ref_unit_vectors(seed, num_hash_tables, dim)
    assert np.array_equal(model.rand_unit_vectors, expected)


def test_unit_vectors_depend_only_on_the_seed() -> None:
    def vecs(seed: int, bl: float = 1.0, nht: int = 3, dim: int = 10) -> np.ndarray:
        lsh = fla.BucketedRandomProjectionLSH(bucket_length=bl, num_hash_tables=nht, seed=seed)
        return lsh.create_model(dim=dim).rand_unit_vectors

    a = vecs(42)
    assert np.array_equal(a, vecs(42))
    # bucket length does not enter the random matrix
    assert np.array_equal(a, vecs(42, bl=0.37))
    # fitting on different data of the same dim gives the same matrix
    lsh = fla.BucketedRandomProjectionLSH(bucket_length=1.0, num_hash_tables=3, seed=42)
    m1 = lsh.fit(np.zeros((3, 10), dtype=np.float32))
    m2 = lsh.fit(np.random.default_rng(5).standard_normal((50, 10)))
    assert np.array_equal(m1.rand_unit_vectors, a)
    assert np.array_equal(m2.rand_unit_vectors, a)
    # one more table appends a row: draws are consumed table after table
    assert np.array_equal(vecs(42, nht=4)[:3], a)
    # a different seed gives different vectors
    assert not np.array_equal(a, vecs(43))
    assert not np.array_equal(vecs(0), vecs(-1))


def test_default_seed_is_spark_scala_default() -> None:
    lsh = fla.BucketedRandomProjectionLSH(bucket_length=1.0)
    assert lsh.seed == SPARK_DEFAULT_SEED
    m = lsh.create_model(dim=4)
    assert m.seed == SPARK_DEFAULT_SEED
    explicit = fla.BucketedRandomProjectionLSH(bucket_length=1.0, seed=SPARK_DEFAULT_SEED)
    assert np.array_equal(m.rand_unit_vectors, explicit.create_model(dim=4).rand_unit_vectors)


def test_first_gaussians_are_the_first_table() -> None:
    # dim 1: u_t = g_t * (1/sqrt(g_t*g_t)), so the signs are those of the first draws in order
    g = java_gaussians(12345)[:6]
    m = fla.BucketedRandomProjectionLSH(bucket_length=1.0, num_hash_tables=6, seed=12345)
    u = m.create_model(dim=1).rand_unit_vectors[:, 0]
    assert np.array_equal(np.sign(u), np.sign(np.array(g)))
    assert np.array_equal(u, ref_unit_vectors(12345, 6, 1)[:, 0])
    # two of these are -0.9999999999999999, not -1.0: the reciprocal is multiplied, not divided
    assert (np.abs(u) != 1.0).sum() == 2


# --------------------------------------------------------------------------- transform


@pytest.mark.parametrize("name", CASE_NAMES)
def test_transform_equals_spark_hashes(name: str) -> None:
    case = load_case(name)
    model = make_model(case)
    h = model.transform(case["X"])
    assert isinstance(h, np.ndarray)
    assert h.dtype == np.int64
    assert h.shape == case["hashes"].shape
    assert np.array_equal(h, case["hashes"].astype(np.int64))
    # Spark's values are integers stored as doubles: check we did not lose anything
    assert np.array_equal(h.astype(np.float64), case["hashes"])


@pytest.mark.parametrize("name", B_CASES)
def test_transform_of_second_dataset(name: str) -> None:
    case = load_case(name)
    model = make_model(case)
    h = model.transform(case["XB"])
    # hashesB is only stored for docs_2d; the grid x circle case checks the formula
    if "hashesB" in case:
        assert np.array_equal(h, case["hashesB"].astype(np.int64))
    assert np.array_equal(h, ref_hashes(case["XB"], case["rand_unit_vectors"], float(case["bucket_length"])))


def test_hash_is_alpha_times_dot_not_dot_over_bucket_length() -> None:
    """Spark floors ``(1.0/bl) * dot``; for bl = 0.1 that differs from ``floor(dot/bl)``."""
    bl = 0.1
    seed = next(
        s for s in JAVA_RANDOM_SEEDS if abs(ref_unit_vectors(s, 1, 1)[0, 0]) == 1.0
    )
    u = ref_unit_vectors(seed, 1, 1)[0, 0]
    xs = np.array([k / 10 for k in range(-1000, 1001)], dtype=np.float64)[:, None]
    model = fla.BucketedRandomProjectionLSH(bucket_length=bl, num_hash_tables=1, seed=seed).create_model(dim=1)
    assert model.rand_unit_vectors[0, 0] == u
    spark = np.floor((xs[:, 0] * u) * (1.0 / bl))
    naive = np.floor((xs[:, 0] * u) / bl)
    assert (spark != naive).sum() > 10  # the test can tell the two formulas apart
    assert np.array_equal(model.transform(xs)[:, 0], spark.astype(np.int64))


# --------------------------------------------------------------------------- ANN


def _check_against_spark_ann(ours, exp_ids, exp_dist, X, q, rel=1e-12) -> None:
    """Our single-probe result versus Spark's (ids mapped to row numbers).

    Spark has no secondary sort key, so among rows tied at the same distance any order is
    possible, and at the k-th distance any subset of the tied rows. We compare the distance
    lists, the set of rows in every distance group before the last, and for the last group
    that our rows are at exactly that distance from the query.
    """
    assert len(ours) == len(exp_ids)
    if not ours:
        return
    our_ids = [i for i, _ in ours]
    our_d = [d for _, d in ours]
    assert our_d == pytest.approx(list(exp_dist), rel=rel, abs=1e-300)
    kth = float(exp_dist[-1])
    groups: dict[float, set[int]] = {}
    for i, d in zip(exp_ids, exp_dist):
        groups.setdefault(float(d), set()).add(int(i))
    pos = 0
    for d in sorted(groups):
        size = len(groups[d])
        mine = set(our_ids[pos : pos + size])
        if d != kth:
            assert mine == groups[d], f"rows at distance {d}"
        else:
            for i in mine:
                assert ref_dist(X[i], q) == pytest.approx(kth, rel=rel)
        pos += size
    # (our own tie-break rule, smaller row first, is checked in test_api.py)


@pytest.mark.parametrize("name", ANN_CASES)
def test_ann_single_probe_equals_spark(name: str) -> None:
    case = load_case(name)
    model = make_model(case)
    X = case["X"]
    row_of_id = {int(v): r for r, v in enumerate(case["ids"])}
    for qi, q in enumerate(case["queries"]):
        k = int(case["k"])
        count = int(case["ann_count"][qi])
        exp_rows = [row_of_id[int(v)] for v in case["ann_ids"][qi][:count]]
        exp_dist = case["ann_dist"][qi][:count]
        ours = model.approx_nearest_neighbors(X, q, k)
        _check_against_spark_ann(ours, exp_rows, exp_dist, X, q)
        # and the oracle agrees with Spark too (so test_api's oracle is trustworthy)
        assert [i for i, _ in ref_knn(model, X, q, k)] == [i for i, _ in ours]


@pytest.mark.parametrize("name", ANN_CASES)
def test_ann_distances_bit_exact(name: str) -> None:
    """keyDistance is a sequential float64 sum: Spark's distCol bits are reproducible."""
    case = load_case(name)
    model = make_model(case)
    for qi, q in enumerate(case["queries"]):
        count = int(case["ann_count"][qi])
        ours = model.approx_nearest_neighbors(case["X"], q, int(case["k"]))
        assert [d for _, d in ours] == case["ann_dist"][qi][:count].tolist()


@pytest.mark.parametrize("name", ANN_CASES)
def test_batch_ann_equals_spark(name: str) -> None:
    case = load_case(name)
    model = make_model(case)
    k = int(case["k"])
    batch = model.batch_approx_nearest_neighbors(case["X"], case["queries"], k)
    assert isinstance(batch, list) and len(batch) == len(case["queries"])
    row_of_id = {int(v): r for r, v in enumerate(case["ids"])}
    for qi, (q, ours) in enumerate(zip(case["queries"], batch)):
        count = int(case["ann_count"][qi])
        exp_rows = [row_of_id[int(v)] for v in case["ann_ids"][qi][:count]]
        _check_against_spark_ann(ours, exp_rows, case["ann_dist"][qi][:count], case["X"], q)


def test_suite_ann_k100_equals_spark() -> None:
    case = load_case(GRID_BL4)
    model = make_model(case)
    X = case["X"]
    q = case["queries"][0]
    assert q.tolist() == [1.2, 3.4]
    row_of_id = {int(v): r for r, v in enumerate(case["ids"])}
    exp_rows = [row_of_id[int(v)] for v in case["suite_ann_k100_ids"]]
    exp_dist = case["suite_ann_k100_dist"]
    ours = model.approx_nearest_neighbors(X, q, 100)
    assert len(ours) == 100
    _check_against_spark_ann(ours, exp_rows, exp_dist, X, q)
    # Spark's set of rows, allowing for the rows tied at the 100th distance
    kth = float(exp_dist[-1])
    inside = {r for r, d in zip(exp_rows, exp_dist) if d < kth}
    assert inside <= {i for i, _ in ours}


# --------------------------------------------------------------------------- joins


def _join_sides(case: dict):
    X = case["X"]
    if bool(case["join_self"]):
        return X, X, case["ids"], case["ids"]
    return X, case["XB"], case["ids"], case["idsB"]


@pytest.mark.parametrize("name", JOIN_CASES)
def test_join_equals_spark(name: str) -> None:
    case = load_case(name)
    model = make_model(case)
    A, B, ids_a, ids_b = _join_sides(case)
    t = float(case["join_threshold"])
    ours = model.approx_similarity_join(A, B, t)  # the same object twice for a self-join
    expected = {
        (int(a), int(b)): float(d)
        for a, b, d in zip(case["join_idA"], case["join_idB"], case["join_dist"])
    }
    got = {(int(ids_a[a]), int(ids_b[b])): d for a, b, d in ours}
    assert len(got) == len(ours), "duplicate pairs"
    assert set(got) == set(expected)
    for pair, d in got.items():
        assert d == pytest.approx(expected[pair], rel=1e-6)
    # sorted by (idx_a, idx_b)
    assert [(a, b) for a, b, _ in ours] == sorted((a, b) for a, b, _ in ours)


@pytest.mark.parametrize("name", JOIN_CASES)
def test_join_distances_bit_exact(name: str) -> None:
    case = load_case(name)
    model = make_model(case)
    A, B, ids_a, ids_b = _join_sides(case)
    ours = model.approx_similarity_join(A, B, float(case["join_threshold"]))
    expected = {
        (int(a), int(b)): float(d)
        for a, b, d in zip(case["join_idA"], case["join_idB"], case["join_dist"])
    }
    for a, b, d in ours:
        assert d == expected[(int(ids_a[a]), int(ids_b[b]))]


@pytest.mark.parametrize("name", [n for n in JOIN_CASES if bool(load_case(n)["join_self"])])
def test_self_join_shape_matches_spark_summary(name: str, summary) -> None:
    case = load_case(name)
    s = summary["cases"][name]
    model = make_model(case)
    X = case["X"]
    ours = model.approx_similarity_join(X, X, float(case["join_threshold"]))
    assert len(ours) == s["join_pairs_returned"]
    assert sum(1 for a, b, _ in ours if a == b) == s["join_pairs_with_idA_eq_idB"] == len(X)
    assert all(d == 0.0 for a, b, d in ours if a == b)
    pairs = {(a, b) for a, b, _ in ours}
    assert all((b, a) in pairs for a, b in pairs)


@pytest.mark.parametrize("name", JOIN_CASES)
def test_join_cms_min1_equals_spark(name: str) -> None:
    case = load_case(name)
    model = make_model(case)
    A, B, _, _ = _join_sides(case)
    t = float(case["join_threshold"])
    assert model.approx_similarity_join_cms(A, B, t, 1) == model.approx_similarity_join(A, B, t)


# --------------------------------------------------------------------------- PySpark docstring


def test_docs_example(summary) -> None:
    case = load_case(DOCS)
    doc = summary["cases"][DOCS]
    lsh = fla.BucketedRandomProjectionLSH(bucket_length=1.0, seed=12345)
    assert lsh.num_hash_tables == 1
    A = case["X"]
    B = case["XB"]
    model = lsh.fit(A)

    # transform(A).head().hashes == [DenseVector([-1.0])]
    assert model.transform(A)[0].tolist() == [int(v) for v in doc["doc_transform_head_hashes"]]
    assert model.transform(A)[0].tolist() == case["hashes"][0].astype(np.int64).tolist()

    # approxNearestNeighbors(B, [1, 2], 1): id 4 at distance 1.0
    res = model.approx_nearest_neighbors(B, case["doc_ann_key"], 1)
    assert len(res) == 1
    assert [int(case["idsB"][i]) for i, _ in res] == doc["doc_ann"]["ids"] == case["doc_ann_ids"].tolist()
    assert [d for _, d in res] == doc["doc_ann"]["dist"] == case["doc_ann_dist"].tolist()

    # approxSimilarityJoin(A, B, 3.0): exactly (3, 6, 2.23606797749979)
    join = model.approx_similarity_join(A, B, 3.0)
    mapped = [[int(case["ids"][a]), int(case["idsB"][b]), d] for a, b, d in join]
    assert mapped == doc["doc_join"]
    assert mapped == [[int(case["join_idA"][0]), int(case["join_idB"][0]), float(case["join_dist"][0])]]
    assert mapped[0][2] == math.sqrt(5.0)


def test_docs_single_probe_returns_fewer_than_k() -> None:
    # Spark returned 1 row instead of k=5: only rows sharing the query's bucket count
    case = load_case(DOCS)
    model = make_model(case)
    for qi, q in enumerate(case["queries"]):
        res = model.approx_nearest_neighbors(case["X"], q, int(case["k"]))
        assert len(res) == int(case["ann_count"][qi]) < int(case["k"])


def test_oracle_matches_spark_ann_distances() -> None:
    # sanity of the sequential-sum oracle itself on the 128-d case (bit-exact)
    case = load_case("rand_d128_planted_seed42_bl2_nht5")
    for qi, q in enumerate(case["queries"]):
        rows = case["ann_ids"][qi][: int(case["ann_count"][qi])]
        d = ref_row_dists(case["X"][rows], q)
        assert d.tolist() == case["ann_dist"][qi][: len(rows)].tolist()
