"""Joins of on-disk indexes (``Index.join`` / ``Index.knn_join``) against brute force.

Buckets come from the independent numpy oracle (conftest: Spark's hashes), so with
``projections_per_table=1`` the expected pair sets do not depend on the engine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import fast_lsh_ann as fla
from conftest import ref_hashes, ref_unit_vectors

BL, L, SEED = 2.0, 3, 7


def data(n: int, dim: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def oracle_hashes(X: np.ndarray, bl: float = BL) -> np.ndarray:
    return ref_hashes(X, ref_unit_vectors(SEED, L, X.shape[1]), bl)


def brute_pairs(A: np.ndarray, B: np.ndarray | None, threshold: float, min_collisions: int = 1, bl: float = BL) -> dict[tuple[int, int], float]:
    """Every pair colliding in >= min_collisions tables and closer than threshold."""
    symmetric = B is None
    B = A if B is None else B
    ha, hb = oracle_hashes(A, bl), oracle_hashes(B, bl)
    a64, b64 = A.astype(np.float64), B.astype(np.float64)
    out = {}
    for i in range(len(A)):
        d = np.sqrt(((b64 - a64[i]) ** 2).sum(axis=1))
        hits = (hb == ha[i]).sum(axis=1)
        ok = (d < threshold) & (hits >= min_collisions)
        if symmetric:
            ok[: i + 1] = False
        for j in np.flatnonzero(ok):
            out[(i, int(j))] = float(d[j])
    return out


def collect(join: fla.Join) -> dict[tuple[int, int], float]:
    out: dict[tuple[int, int], float] = {}
    for ids_a, ids_b, dist in join:
        assert ids_a.dtype == np.int64 and ids_b.dtype == np.int64 and dist.dtype == np.float32
        for a, b, d in zip(ids_a.tolist(), ids_b.tolist(), dist.tolist()):
            assert (a, b) not in out, f"pair {(a, b)} reported twice"
            out[(a, b)] = d
    return out


def assert_pairs(got: dict[tuple[int, int], float], want: dict[tuple[int, int], float]) -> None:
    assert set(got) == set(want)
    for key, d in want.items():
        assert got[key] == pytest.approx(d, rel=1e-6)


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> tuple[fla.Index, fla.Index, np.ndarray, np.ndarray]:
    root = tmp_path_factory.mktemp("join")
    A, B = data(1500, 8, 1), data(1100, 8, 2)
    kw = dict(bucket_length=BL, num_hash_tables=L, seed=SEED, memory_budget="1MB")
    a = fla.Index.build(root / "a", A, **kw)  # type: ignore[arg-type]
    b = fla.Index.build(root / "b", B, **kw)  # type: ignore[arg-type]
    return a, b, A, B


@pytest.mark.parametrize("threshold", [0.0, 1.5, 2.5])
def test_self_join_each_pair_once(two: tuple, threshold: float) -> None:
    a, _, A, _ = two
    want = brute_pairs(A, None, threshold)
    got = collect(a.join(threshold=threshold))
    assert all(i < j for i, j in got)
    assert_pairs(got, want)
    if threshold > 0:
        assert len(want) > 100


def test_cross_join_with_an_index_an_array_and_chunks(two: tuple) -> None:
    a, b, A, B = two
    want = brute_pairs(A, B, 2.0)
    assert_pairs(collect(a.join(b, threshold=2.0)), want)
    assert_pairs(collect(a.join(B, threshold=2.0)), want)
    chunks = (B[i : i + 300] for i in range(0, len(B), 300))
    assert_pairs(collect(a.join(chunks, threshold=2.0, memory_budget="1MB")), want)
    assert_pairs(collect(a.join(B.astype(np.float64), threshold=2.0)), want)


def test_min_collisions_counts_tables_exactly(two: tuple) -> None:
    a, _, A, _ = two
    for m in (2, 3):
        assert_pairs(collect(a.join(threshold=2.5, min_collisions=m)), brute_pairs(A, None, 2.5, m))


def test_count_only_out_and_summary(two: tuple, tmp_path: Path) -> None:
    a, _, A, _ = two
    want = brute_pairs(A, None, 2.0)
    j = a.join(threshold=2.0, count_only=True)
    assert j.summary is not None and j.summary["pairs"] == len(want)
    assert j.summary["candidate_pairs"] >= len(want) and not j.summary["stopped"]
    p50, p90, p99, p999 = j.summary["bucket_rows_p50_p90_p99_p999"]
    assert 0 < p50 <= p90 <= p99 <= p999 <= j.summary["max_bucket_rows"]
    # The summary has exactly the keys its TypedDict declares (one engine join: one part).
    assert set(j.summary) == fla.JoinSummary.__required_keys__ and j.summary["parts"] == 1
    assert j.summary["plan"] in ("buckets", "all_pairs")
    parts = a.join(A[:300], threshold=2.0, count_only=True, memory_budget="1MB").summary
    assert parts is not None and set(parts) == fla.JoinSummary.__required_keys__
    import pyarrow.parquet as pq
    for out in (tmp_path / "pairs.parquet", tmp_path / "parts"):
        j = a.join(threshold=2.0, out=out, batch_rows=100)
        assert j.summary is not None and j.summary["pairs"] == len(want)
        t = pq.read_table(out)
        assert t.column_names == ["id_a", "id_b", "distance"]
        got = dict(zip(zip(t["id_a"].to_pylist(), t["id_b"].to_pylist()), t["distance"].to_pylist()))
        assert_pairs(got, want)
        with pytest.raises(FileExistsError):
            a.join(threshold=2.0, out=out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pairs.parquet", "parts"]


@pytest.mark.parametrize("bl, plan", [(0.5, "buckets"), (BL, "all_pairs")])
def test_plans_and_the_sketch_screen(tmp_path: Path, bl: float, plan: str) -> None:
    A, B = data(1500, 8, 1), data(600, 8, 2)
    idx = fla.Index.build(tmp_path / "s", A, bucket_length=bl, num_hash_tables=L, seed=SEED, sketch_bits=128)
    # Narrow buckets are walked; when they hold most pairs, every pair is scanned once.
    want = brute_pairs(A, None, 2.0, bl=bl)
    j = idx.join(threshold=2.0)
    assert_pairs(collect(j), want)
    assert j.summary is not None and j.summary["plan"] == plan
    # Every pair of 128-bit sketches is within 128 bits: nothing is screened out.
    assert_pairs(collect(idx.join(threshold=2.0, max_hamming=128)), want)
    # A tighter screen keeps a subset, with exact distances, growing with max_hamming.
    tight = collect(idx.join(threshold=2.0, max_hamming=40))
    loose = collect(idx.join(threshold=2.0, max_hamming=56))
    assert 0.3 * len(want) < len(tight) < len(loose) < len(want)
    assert set(tight) <= set(loose)
    assert_pairs(loose, {key: want[key] for key in loose})
    # Vectors not in the index are sketched with the index's planes.
    want_b = brute_pairs(A, B, 2.0, bl=bl)
    assert_pairs(collect(idx.join(B, threshold=2.0, max_hamming=128)), want_b)
    tight_b = collect(idx.join(B, threshold=2.0, max_hamming=40))
    assert 0.3 * len(want_b) < len(tight_b) < len(want_b)
    assert_pairs(tight_b, {key: want_b[key] for key in tight_b})


def test_join_errors(two: tuple, tmp_path: Path) -> None:
    a, _, A, _ = two
    other = fla.Index.build(tmp_path / "o", A, bucket_length=BL, num_hash_tables=L, seed=SEED + 1)
    with pytest.raises(ValueError, match="other parameters"):
        list(a.join(other, threshold=1.0))
    with pytest.raises(ValueError, match="threshold"):
        a.join(threshold=-1.0)
    with pytest.raises(ValueError, match="min_collisions"):
        list(a.join(threshold=1.0, min_collisions=L + 1))
    with pytest.raises(ValueError, match="dim"):
        list(a.join(np.zeros((3, 5), dtype=np.float32), threshold=1.0))
    bad = A[:10].copy()
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="NaN|inf"):
        list(a.join(bad, threshold=1.0))
    with pytest.raises(ValueError, match="count_only"):
        a.join(threshold=1.0, out=tmp_path / "x.parquet", count_only=True)
    with pytest.raises(ValueError, match="sketch_bits"):
        list(a.join(threshold=1.0, max_hamming=10))
    with pytest.raises(ValueError, match="max_hamming"):
        a.join(threshold=1.0, max_hamming=-1)
    kw = dict(bucket_length=BL, num_hash_tables=L, seed=SEED, sketch_bits=64)
    s1 = fla.Index.build(tmp_path / "s1", A[:500], **kw)  # type: ignore[arg-type]
    s2 = fla.Index.build(tmp_path / "s2", A[500:], **kw)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at most"):
        list(s1.join(threshold=1.0, max_hamming=65))
    with pytest.raises(ValueError, match="planes"):
        list(s1.join(s2, threshold=1.0, max_hamming=10))


def test_leaving_a_join_early_stops_it(two: tuple) -> None:
    a, _, A, _ = two
    j = a.join(threshold=10.0, batch_rows=10)
    next(j)
    j.stop()
    assert j.summary is not None and j.summary["stopped"]
    assert list(j) == []
    for _ in a.join(threshold=10.0, batch_rows=10):
        break  # dropped mid-way: its thread must end, and the next join must work
    assert a.join(threshold=1.0, count_only=True).summary["pairs"] == len(brute_pairs(A, None, 1.0))


def test_skewed_bucket_is_exact_and_bounded(tmp_path: Path) -> None:
    # 500,000 lattice points 10 apart (no pair within 1) and 5,000 copies of one point.
    side = int(np.ceil(500_000 ** (1 / 3)))
    g = np.stack(np.meshgrid(*[np.arange(side)] * 3, indexing="ij"), -1).reshape(-1, 3)[:500_000]
    X = np.zeros((505_000, 4), dtype=np.float32)
    X[:500_000, :3] = g * 10.0
    X[500_000:] = [5.0, 5.0, 5.0, 5.0]
    idx = fla.Index.build(tmp_path / "skew", X, bucket_length=4.0, num_hash_tables=2)
    j = idx.join(threshold=1.0, count_only=True)
    assert j.summary is not None
    assert j.summary["pairs"] == 5000 * 4999 // 2
    assert j.summary["max_bucket_rows"] >= 5000
    capped = idx.join(threshold=1.0, count_only=True, max_bucket_rows=1000).summary
    assert capped is not None and capped["capped_buckets"] >= 1 and capped["pairs"] < j.summary["pairs"]
    largest = max(len(c[0]) for c in idx.join(threshold=1.0, batch_rows=50_000))
    assert largest == 50_000  # a batch is bounded, whatever the bucket


def brute_knn_join(A: np.ndarray, B: np.ndarray | None, k: int) -> list[list[int]]:
    symmetric = B is None
    B = A if B is None else B
    ha, hb = oracle_hashes(A), oracle_hashes(B)
    out = []
    for i in range(len(A)):
        rows = np.flatnonzero((hb == ha[i]).any(axis=1))
        if symmetric:
            rows = rows[rows != i]
        d = np.sqrt(((B[rows].astype(np.float64) - A[i]) ** 2).sum(axis=1))
        out.append(rows[np.lexsort((rows, d))][:k].tolist())
    return out


def test_knn_join_matches_brute_force(two: tuple, tmp_path: Path) -> None:
    a, b, A, B = two
    for other, Bx in ((None, None), (b, B)):
        ids, dist = a.knn_join(other, k=4, chunk_rows=400)
        assert ids.shape == (len(A), 4) and dist.shape == (len(A), 4)
        for i, want in enumerate(brute_knn_join(A, Bx, 4)):
            assert ids[i, : len(want)].tolist() == want, i
            assert (ids[i, len(want) :] == -1).all()
    import pyarrow.parquet as pq
    assert a.knn_join(k=4, out=tmp_path / "knn.parquet", chunk_rows=500) is None
    t = pq.read_table(tmp_path / "knn.parquet")
    ids, dist = a.knn_join(k=4)
    assert t["id"].to_pylist() == list(range(len(A)))
    np.testing.assert_array_equal(np.array(t["neighbors"].to_pylist()), ids)
    np.testing.assert_array_equal(np.array(t["distances"].to_pylist(), dtype=np.float32), dist)


def test_ctrl_c_stops_promptly_leaves_no_output_and_a_rerun_completes(tmp_path: Path) -> None:
    X = np.full((8000, 4), 1.0, dtype=np.float32)  # 32M pairs: seconds of Parquet writing
    fla.Index.build(tmp_path / "idx", X, bucket_length=4.0, num_hash_tables=1)
    out = tmp_path / "pairs.parquet"
    script = textwrap.dedent(
        f"""
        import sys, fast_lsh_ann as fla
        idx = fla.Index.open({str(tmp_path / 'idx')!r})
        print("started", flush=True)
        j = idx.join(threshold=1.0, out={str(out)!r}, overwrite=True)
        print("done", j.summary["pairs"], flush=True)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "started"
    # Interrupt while the output is being written: once its partial file exists.
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(".pairs.parquet.partial") for p in tmp_path.iterdir()):
        assert proc.poll() is None and time.monotonic() < deadline, "the join ended before writing"
        time.sleep(0.005)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    stopped_after = time.monotonic() - sent
    if proc.returncode == 0:
        pytest.fail("the join finished before the interrupt; make it longer")
    assert "KeyboardInterrupt" in err
    assert stopped_after < 5.0, f"took {stopped_after:.1f} s to stop"
    assert sorted(os.listdir(tmp_path)) == ["idx"], "no output, no partial file"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == str(8000 * 7999 // 2)
    assert out.exists()
