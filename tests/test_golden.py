"""The golden indexes committed under ``tests/data/`` (format 1.0, written by
``tools/make_golden.py``) open with this build and answer as recomputed independently.

``golden-k1`` uses Spark's scheme, so its buckets are checked against the numpy oracle's
Spark hashes (conftest: Java's generator and VectorBLAS's order), not against the engine.
``golden-k3`` was written before k > 1 indexes hashed in float32 and is never rewritten;
``golden-k3-f32`` is what a build writes today.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import fast_lsh_ann as fla
from conftest import ref_hashes, ref_unit_vectors

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    return np.load(DATA / "golden-vectors.npy")


def test_golden_k1_matches_the_spark_oracle(vectors: np.ndarray) -> None:
    idx = fla.Index.open(DATA / "golden-k1")
    idx.verify()
    assert len(idx) == vectors.shape[0] and idx.dim == vectors.shape[1]
    assert idx.params == {"bucket_length": 2.0, "num_hash_tables": 4, "projections_per_table": 1, "seed": 42, "sketch_bits": 0}
    hashes = ref_hashes(vectors, ref_unit_vectors(42, 4, vectors.shape[1]), 2.0)
    ids, dist = idx.knn(vectors, k=6)
    x64 = vectors.astype(np.float64)
    for q in range(vectors.shape[0]):
        rows = np.flatnonzero((hashes == hashes[q]).any(axis=1))
        d = np.sqrt(((x64[rows] - x64[q]) ** 2).sum(axis=1))
        order = np.lexsort((rows, d))[:6]
        n = len(order)
        assert ids[q, :n].tolist() == (1000 + 7 * rows[order]).tolist(), q
        np.testing.assert_allclose(dist[q, :n], d[order], rtol=1e-5, atol=1e-6)
        assert (ids[q, n:] == -1).all() and np.isinf(dist[q, n:]).all()


@pytest.mark.parametrize("name", ["golden-k3", "golden-k3-f32"])
def test_golden_k3_opens_and_finds_every_row_itself(vectors: np.ndarray, name: str) -> None:
    idx = fla.Index.open(DATA / name)
    idx.verify()
    assert len(idx) == vectors.shape[0]
    assert idx.params == {"bucket_length": 1.5, "num_hash_tables": 3, "projections_per_table": 3, "seed": 7, "sketch_bits": 0}
    ids, dist = idx.knn(vectors, k=3)
    assert ids[:, 0].tolist() == list(range(vectors.shape[0]))
    assert (dist[:, 0] == 0).all()
    assert (dist[:, 1:] >= dist[:, :-1]).all()


def test_a_rebuild_today_is_byte_identical(vectors: np.ndarray, tmp_path: Path) -> None:
    for name, kw in {
        "golden-k1": dict(bucket_length=2.0, num_hash_tables=4, seed=42, ids=1000 + 7 * np.arange(len(vectors))),
        "golden-k3-f32": dict(bucket_length=1.5, num_hash_tables=3, projections_per_table=3, seed=7),
    }.items():
        fla.Index.build(tmp_path / name, vectors, memory_budget="1MB", **kw)  # type: ignore[arg-type]
        golden = sorted(p.name for p in (DATA / name).iterdir())
        assert sorted(p.name for p in (tmp_path / name).iterdir()) == golden
        for f in golden:
            assert (tmp_path / name / f).read_bytes() == (DATA / name / f).read_bytes(), f"{name}/{f}"
