"""Input validation and input layouts.

Every method accepting vectors takes any 2-D float array-like; the answer depends only on
the values (a float32 array and its float64 upcast hold the same values). Bad input raises
ValueError (shape, dim, NaN/inf, k < 1, negative threshold, bad parameters) or TypeError
(non-numeric data, non-integer k) with a message naming the problem.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import fast_lsh_ann as fla
from conftest import assert_join_equal, assert_knn_equal, grid_2d, ref_dist, ref_join, ref_knn

DIM = 3
SHAPE_RE = r"(?i)2-?d|two.?dim|dimension|ndim|shape"
DIM_RE = r"(?i)dim"
FINITE_RE = r"(?i)nan|finite|inf"
K_RE = r"(?i)\bk\b|neighbo"
THRESHOLD_RE = r"(?i)threshold"


@pytest.fixture(scope="module")
def model():
    return fla.BucketedRandomProjectionLSH(bucket_length=1.0, num_hash_tables=2, seed=42).create_model(dim=DIM)


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).standard_normal((10, DIM)).astype(np.float32)


# every way to hand vectors to the model: (model, good data X, bad input) -> call
VECTOR_METHODS = {
    "transform": lambda m, X, bad: m.transform(bad),
    "knn_vectors": lambda m, X, bad: m.approx_nearest_neighbors(bad, X[0], 3),
    "batch_vectors": lambda m, X, bad: m.batch_approx_nearest_neighbors(bad, X[:2], 3),
    "batch_queries": lambda m, X, bad: m.batch_approx_nearest_neighbors(X, bad, 3),
    "join_a": lambda m, X, bad: m.approx_similarity_join(bad, X, 1.0),
    "join_b": lambda m, X, bad: m.approx_similarity_join(X, bad, 1.0),
    "cms_a": lambda m, X, bad: m.approx_similarity_join_cms(bad, X, 1.0, 1),
    "cms_b": lambda m, X, bad: m.approx_similarity_join_cms(X, bad, 1.0, 1),
}


def with_value(value: float, dtype=np.float64) -> np.ndarray:
    a = np.random.default_rng(1).standard_normal((10, DIM)).astype(dtype)
    a[7, 2] = value
    return a


BAD_VECTORS = {
    # name: (bad input, exception, regex)
    "1-D": (np.zeros(DIM), ValueError, SHAPE_RE),
    "3-D": (np.zeros((2, 2, DIM)), ValueError, SHAPE_RE),
    "wrong dim": (np.zeros((4, DIM + 2)), ValueError, DIM_RE),
    "wrong dim, one column": (np.zeros((4, 1)), ValueError, DIM_RE),
    "NaN float64": (with_value(math.nan), ValueError, FINITE_RE),
    "NaN float32": (with_value(math.nan, np.float32), ValueError, FINITE_RE),
    "+inf": (with_value(math.inf), ValueError, FINITE_RE),
    "-inf float32": (with_value(-math.inf, np.float32), ValueError, FINITE_RE),
    "NaN in a list": ([[0.0, 1.0, 2.0], [1.0, math.nan, 0.0]], ValueError, FINITE_RE),
    "strings": (np.array([["a", "b", "c"], ["d", "e", "f"]]), TypeError, None),
    "None objects": (np.array([[None] * DIM] * 2, dtype=object), TypeError, None),
}


@pytest.mark.parametrize("method", list(VECTOR_METHODS))
@pytest.mark.parametrize("case", list(BAD_VECTORS))
def test_bad_vectors(model, X, method: str, case: str) -> None:
    bad, exc, regex = BAD_VECTORS[case]
    with pytest.raises(exc, match=regex):
        VECTOR_METHODS[method](model, X, bad)


@pytest.mark.parametrize(
    "case", ["1-D", "3-D", "strings", "None objects", "NaN float64", "NaN float32", "+inf", "-inf float32", "NaN in a list"]
)
def test_fit_bad_vectors(case: str) -> None:
    bad, exc, regex = BAD_VECTORS[case]
    lsh = fla.BucketedRandomProjectionLSH(bucket_length=1.0, num_hash_tables=2, seed=42)
    with pytest.raises(exc, match=regex):
        lsh.fit(bad)


def test_fit_names_the_first_bad_cell_and_accepts_huge_finite_values() -> None:
    lsh = fla.BucketedRandomProjectionLSH(bucket_length=1.0, num_hash_tables=2, seed=42)
    x = np.zeros((5, DIM))
    x[3, 1] = math.nan
    with pytest.raises(ValueError, match="row 3, column 1"):
        lsh.fit(x)
    # Finite values whose sum overflows are finite: the check must not refuse them.
    big = np.full((4, DIM), np.finfo(np.float64).max)
    assert lsh.fit(big).dim == DIM


BAD_QUERIES = {
    "too long": (np.zeros(DIM + 1), ValueError, DIM_RE),
    "too short": (np.zeros(DIM - 1), ValueError, DIM_RE),
    "NaN": (np.array([0.0, math.nan, 1.0]), ValueError, FINITE_RE),
    "inf": (np.array([0.0, 1.0, math.inf]), ValueError, FINITE_RE),
    "-inf float32": (np.array([-math.inf, 1.0, 0.0], dtype=np.float32), ValueError, FINITE_RE),
    "NaN list": ([math.nan, 0.0, 0.0], ValueError, FINITE_RE),
    "strings": (np.array(["a", "b", "c"]), TypeError, None),
    "None objects": (np.array([None] * DIM, dtype=object), TypeError, None),
}


@pytest.mark.parametrize("case", list(BAD_QUERIES))
def test_bad_query(model, X, case: str) -> None:
    bad, exc, regex = BAD_QUERIES[case]
    with pytest.raises(exc, match=regex):
        model.approx_nearest_neighbors(X, bad, 3)


@pytest.mark.parametrize("k", [0, -1, -100])
def test_k_below_one(model, X, k: int) -> None:
    with pytest.raises(ValueError, match=K_RE):
        model.approx_nearest_neighbors(X, X[0], k)
    with pytest.raises(ValueError, match=K_RE):
        model.batch_approx_nearest_neighbors(X, X[:2], k)


@pytest.mark.parametrize("k", [2.5, "3"])
def test_k_not_an_integer(model, X, k) -> None:
    with pytest.raises(TypeError):
        model.approx_nearest_neighbors(X, X[0], k)
    with pytest.raises(TypeError):
        model.batch_approx_nearest_neighbors(X, X[:2], k)


@pytest.mark.parametrize("threshold", [-1.0, -1e-300, math.nan, -math.inf])
def test_bad_threshold(model, X, threshold: float) -> None:
    with pytest.raises(ValueError, match=THRESHOLD_RE):
        model.approx_similarity_join(X, X, threshold)
    with pytest.raises(ValueError, match=THRESHOLD_RE):
        model.approx_similarity_join_cms(X, X, threshold, 1)


@pytest.mark.parametrize("bucket_length", [0.0, -0.0, -1.0, math.nan])
def test_bad_bucket_length(bucket_length: float) -> None:
    # raised by the constructor or, at the latest, when the model is made
    with pytest.raises(ValueError, match=r"(?i)bucket.?length|bucketLength"):
        lsh = fla.BucketedRandomProjectionLSH(bucket_length=bucket_length, num_hash_tables=1, seed=1)
        lsh.create_model(dim=2)


@pytest.mark.parametrize("num_hash_tables", [0, -1])
def test_bad_num_hash_tables(num_hash_tables: int) -> None:
    with pytest.raises(ValueError, match=r"(?i)num.?hash.?tables|hash tables|numHashTables"):
        lsh = fla.BucketedRandomProjectionLSH(bucket_length=1.0, num_hash_tables=num_hash_tables, seed=1)
        lsh.create_model(dim=2)


@pytest.mark.parametrize("dim", [0, -1])
def test_bad_dim_in_create_model(dim: int) -> None:
    lsh = fla.BucketedRandomProjectionLSH(bucket_length=1.0, num_hash_tables=1, seed=1)
    with pytest.raises(ValueError, match=DIM_RE):
        lsh.create_model(dim=dim)


def test_bad_generated_dataset_arguments() -> None:
    with pytest.raises(ValueError, match=r"\bn\b"):
        fla.planted_near_duplicates(-1)
    with pytest.raises(ValueError, match=DIM_RE):
        fla.planted_near_duplicates(4, dim=0)
    with pytest.raises(ValueError, match="noise"):
        fla.planted_near_duplicates(4, noise=math.nan)
    with pytest.raises(TypeError, match=r"\bn\b"):
        fla.planted_near_duplicates(4.0)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- empty inputs


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_empty_inputs(model, X, dtype) -> None:
    empty = np.empty((0, DIM), dtype=dtype)
    h = model.transform(empty)
    assert isinstance(h, np.ndarray)
    assert h.shape == (0, 2) and h.dtype == np.int64
    assert model.approx_nearest_neighbors(empty, X[0], 3) == []
    assert model.batch_approx_nearest_neighbors(empty, X[:2], 3) == [[], []]
    assert model.batch_approx_nearest_neighbors(X, empty, 3) == []
    assert model.batch_approx_nearest_neighbors(empty, empty, 3) == []
    assert model.approx_similarity_join(empty, X, 1.0) == []
    assert model.approx_similarity_join(X, empty, 1.0) == []
    assert model.approx_similarity_join(empty, empty, 1.0) == []
    assert model.approx_similarity_join(empty, empty, math.inf) == []
    assert model.approx_similarity_join_cms(empty, X, 1.0, 1) == []
    assert model.approx_similarity_join_cms(X, empty, 1.0, 2) == []


# --------------------------------------------------------------------------- layouts

N, D = 160, 9


def _base() -> np.ndarray:
    # planted pairs ~0.2 apart so that a join at 0.5 has work to do
    return fla.planted_near_duplicates(N, dim=D, noise=0.05, seed=7)


def _rows_strided(a: np.ndarray) -> np.ndarray:
    big = np.full((2 * a.shape[0], a.shape[1]), 99.0, dtype=np.float32)
    big[::2] = a
    return big[::2]


def _cols_strided(a: np.ndarray) -> np.ndarray:
    big = np.full((a.shape[0], 2 * a.shape[1]), 99.0, dtype=np.float32)
    big[:, ::2] = a
    return big[:, ::2]


def _col_slice(a: np.ndarray) -> np.ndarray:
    n, d = a.shape
    big = np.full((n, d + 5), 99.0, dtype=np.float64)
    big[:, 2 : 2 + d] = a
    return big[:, 2 : 2 + d][:, ::1]


def _negative_strides(a: np.ndarray) -> np.ndarray:
    return a[::-1, ::-1].copy()[::-1, ::-1]


def _readonly(a: np.ndarray) -> np.ndarray:
    b = a.copy()
    b.flags.writeable = False
    return b


LAYOUTS = {
    "float64": lambda a: a.astype(np.float64),
    "fortran float32": lambda a: np.asfortranarray(a),
    "fortran float64": lambda a: np.asfortranarray(a, dtype=np.float64),
    "row-strided view": _rows_strided,
    "column-strided view": _cols_strided,
    "column slice of a wider float64 array": _col_slice,
    "negative strides": _negative_strides,
    "read-only": _readonly,
    "big-endian float64": lambda a: a.astype(">f8"),
    "nested lists": lambda a: a.tolist(),
    "list of row arrays": lambda a: list(a),
    "tuple of tuples": lambda a: tuple(tuple(r) for r in a.tolist()),
}


@pytest.fixture(scope="module")
def layout_case():
    X = _base()
    assert X.dtype == np.float32 and X.flags.c_contiguous
    m = fla.BucketedRandomProjectionLSH(bucket_length=1.0, num_hash_tables=4, seed=7).create_model(dim=D)
    Q = np.vstack([X[:3], X[N // 2 : N // 2 + 2] + 0.01]).astype(np.float32)
    expected = {
        "transform": m.transform(X),
        "knn": [m.approx_nearest_neighbors(X, q, 4) for q in Q],
        "batch": m.batch_approx_nearest_neighbors(X, Q, 4),
        "join": m.approx_similarity_join(X, X, 0.5),
        "cms": m.approx_similarity_join_cms(X, X, 0.5, 2),
    }
    # the reference answer itself is right (so equality below is meaningful)
    assert len(expected["join"]) > N
    for q, res in zip(Q, expected["knn"]):
        assert_knn_equal(res, ref_knn(m, X, q, 4))
    return X, Q, m, expected


def test_layouts_hold_the_same_values() -> None:
    X = _base()
    for name, make in LAYOUTS.items():
        assert np.array_equal(np.asarray(make(X), dtype=np.float64), X.astype(np.float64)), name
    assert not _rows_strided(X).flags.c_contiguous
    assert not _cols_strided(X).flags.c_contiguous
    assert not _col_slice(X).flags.c_contiguous
    assert _negative_strides(X).strides[0] < 0


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_layout_equivalence(layout_case, layout: str) -> None:
    X, Q, m, expected = layout_case
    V = LAYOUTS[layout](X)
    QV = LAYOUTS[layout](Q)
    h = m.transform(V)
    assert h.dtype == np.int64
    assert np.array_equal(h, expected["transform"])
    assert [m.approx_nearest_neighbors(V, q, 4) for q in Q] == expected["knn"]
    assert m.batch_approx_nearest_neighbors(V, QV, 4) == expected["batch"]
    assert m.approx_similarity_join(V, V, 0.5) == expected["join"]
    assert m.approx_similarity_join(X, V, 0.5) == expected["join"]
    assert m.approx_similarity_join(V, X, 0.5) == expected["join"]
    assert m.approx_similarity_join_cms(V, V, 0.5, 2) == expected["cms"]
    lsh = fla.BucketedRandomProjectionLSH(bucket_length=1.0, num_hash_tables=4, seed=7)
    assert np.array_equal(lsh.fit(V).rand_unit_vectors, m.rand_unit_vectors)


QUERY_LAYOUTS = {
    "float32": lambda q: q,
    "float64": lambda q: q.astype(np.float64),
    "list": lambda q: q.tolist(),
    "tuple": lambda q: tuple(q.tolist()),
    "strided view": lambda q: np.asfortranarray(np.vstack([q, q]))[0],
    "reversed view": lambda q: q[::-1].copy()[::-1],
    "big-endian": lambda q: q.astype(">f8"),
    "read-only": _readonly,
}


@pytest.mark.parametrize("layout", list(QUERY_LAYOUTS))
def test_query_layout_equivalence(layout_case, layout: str) -> None:
    X, Q, m, expected = layout_case
    for q, exp in zip(Q, expected["knn"]):
        qv = QUERY_LAYOUTS[layout](q)
        assert np.array_equal(np.asarray(qv, dtype=np.float64), q.astype(np.float64))
        assert m.approx_nearest_neighbors(X, qv, 4) == exp


def test_integer_input_is_numeric() -> None:
    """Integer lists/arrays (e.g. Spark's doc query [1, 2]) act like the same float values."""
    G = grid_2d()
    m = fla.BucketedRandomProjectionLSH(bucket_length=4.0, num_hash_tables=2, seed=12345).create_model(dim=2)
    Gi = G.astype(np.int64)
    assert np.array_equal(m.transform(Gi), m.transform(G))
    assert np.array_equal(m.transform(Gi.tolist()), m.transform(G))
    assert m.approx_nearest_neighbors(Gi, [1, 2], 5) == m.approx_nearest_neighbors(G, [1.0, 2.0], 5)
    assert m.approx_similarity_join(Gi.tolist(), G, 1.5) == m.approx_similarity_join(G, G, 1.5)


def test_float64_keeps_float64_precision() -> None:
    m = fla.BucketedRandomProjectionLSH(bucket_length=10.0, num_hash_tables=1, seed=42).create_model(dim=2)
    tiny = 2.0**-40  # lost if the data went through float32
    X = np.array([[1.0 + tiny, 0.5], [1.0, 0.5]])
    q = np.array([1.0, 0.5])
    assert m.transform(X)[0, 0] == m.transform(X)[1, 0]  # same bucket
    assert m.approx_nearest_neighbors(X, q, 2) == [(1, 0.0), (0, tiny)]
    assert m.approx_similarity_join(X, X, 1e-9) == [(0, 0, 0.0), (0, 1, tiny), (1, 0, tiny), (1, 1, 0.0)]
    # a general float64 dataset: distances computed in float64 (not float32-rounded)
    rng = np.random.default_rng(3)
    Y = rng.standard_normal((200, 2)) * (1 + 1e-9 * rng.standard_normal((200, 2)))
    res = m.approx_nearest_neighbors(Y, Y[0] + 1e-7, 10)
    assert_knn_equal(res, ref_knn(m, Y, Y[0] + 1e-7, 10), rel=1e-13)
    for i, d in res:
        assert d == pytest.approx(ref_dist(Y[i], Y[0] + 1e-7), rel=1e-13)
    assert_join_equal(m.approx_similarity_join(Y, Y, 0.5), ref_join(m, Y, Y, 0.5), rel=1e-13)
