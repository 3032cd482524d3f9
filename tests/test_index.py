"""The on-disk index from Python: build, reopen elsewhere, query, and fail loudly on damage."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import fast_lsh_ann as fla


def data(n: int, dim: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def brute_knn(X: np.ndarray, hashes: np.ndarray, q: int, k: int) -> list[int]:
    """Rows sharing a bucket with row q in some table, nearest first (ties by row)."""
    collide = (hashes == hashes[q]).any(axis=1)
    rows = np.flatnonzero(collide)
    d = np.sqrt(((X[rows].astype(np.float64) - X[q]) ** 2).sum(axis=1))
    order = np.lexsort((rows, d))
    return rows[order][:k].tolist()


def test_build_open_knn_matches_brute_force(tmp_path: Path) -> None:
    X = data(3000, 16, 0)
    idx = fla.Index.build(tmp_path / "idx", X, bucket_length=2.0, num_hash_tables=3, seed=7)
    assert len(idx) == 3000 and idx.dim == 16
    assert idx.params == {"bucket_length": 2.0, "num_hash_tables": 3, "projections_per_table": 1, "seed": 7, "sketch_bits": 0}
    # With projections_per_table=1 the buckets are Spark's: the in-memory model's hashes.
    hashes = fla.BucketedRandomProjectionLSH(2.0, 3, seed=7).fit(X).transform(X)
    ids, dist = idx.knn(X[:40], k=5)
    assert ids.dtype == np.int64 and dist.dtype == np.float32 and ids.shape == (40, 5)
    for q in range(40):
        want = brute_knn(X, hashes, q, 5)
        assert ids[q, : len(want)].tolist() == want
        assert dist[q, 0] == 0.0
    idx.verify()


def test_reopened_in_another_process_answers_identically(tmp_path: Path) -> None:
    X = data(2000, 8, 1)
    path = tmp_path / "idx"
    fla.Index.build(path, X, bucket_length=1.0, num_hash_tables=4, projections_per_table=2, seed=3, sketch_bits=128)
    np.save(tmp_path / "q.npy", X[:25])
    script = (
        "import sys, numpy as np, fast_lsh_ann as fla\n"
        "i, d = fla.Index.open(sys.argv[1]).knn(np.load(sys.argv[2]), k=7, probes=2, rerank=30)\n"
        "np.save(sys.argv[3], i); np.save(sys.argv[4], d)\n"
    )
    out_i, out_d = tmp_path / "i.npy", tmp_path / "d.npy"
    subprocess.run([sys.executable, "-c", script, str(path), str(tmp_path / "q.npy"), str(out_i), str(out_d)], check=True)
    ids, dist = fla.Index.open(path).knn(X[:25], k=7, probes=2, rerank=30)
    assert np.array_equal(np.load(out_i), ids) and np.array_equal(np.load(out_d), dist)


def test_chunks_ids_and_probes(tmp_path: Path) -> None:
    X = data(5000, 12, 2)
    ids = np.arange(5000, dtype=np.int64) * 10 + 5
    chunks = (X[i : i + 777] for i in range(0, 5000, 777))
    idx = fla.Index.build(tmp_path / "idx", chunks, bucket_length=1.5, num_hash_tables=2,
                          projections_per_table=3, ids=ids, memory_budget="1MB")
    got, dist = idx.knn(X[[10, 4000]], k=3)
    assert got[:, 0].tolist() == [105, 40005]
    # Multi-probe finds at least as good neighbours as the single probe, for every query,
    # and raises recall against the exact 10 nearest.
    Q = X[:200] + 0.05
    exact = np.argsort(((Q[:, None, :] - X[None, :, :]) ** 2).sum(axis=2), axis=1)[:, :10] * 10 + 5
    i0, d0 = idx.knn(Q, k=10, probes=0)
    i8, d8 = idx.knn(Q, k=10, probes=8)
    assert np.all(d8 <= d0)
    recall = lambda found: np.mean([len(set(f) & set(e)) / 10 for f, e in zip(found.tolist(), exact.tolist())])
    assert recall(i8) > recall(i0) + 0.05, (recall(i0), recall(i8))


def test_errors(tmp_path: Path) -> None:
    X = data(500, 4, 3)
    path = tmp_path / "idx"
    with pytest.raises(FileNotFoundError):
        fla.Index.open(path)
    bad = X.copy()
    bad[123, 2] = np.nan
    with pytest.raises(ValueError, match="NaN|inf"):
        fla.Index.build(path, bad, bucket_length=1.0, num_hash_tables=2)
    assert not path.exists() and list(tmp_path.iterdir()) == []
    idx = fla.Index.build(path, X, bucket_length=1.0, num_hash_tables=2)
    with pytest.raises(FileExistsError):
        fla.Index.build(path, X, bucket_length=1.0, num_hash_tables=2)
    assert len(fla.Index.build(path, X[:10], bucket_length=1.0, num_hash_tables=2, overwrite=True)) == 10
    with pytest.raises(ValueError, match="dim"):
        idx.knn(np.zeros((2, 5)), k=1)
    with pytest.raises(ValueError, match="k"):
        idx.knn(X[:1], k=0)
    with pytest.raises(ValueError, match="memory_budget"):
        fla.Index.build(tmp_path / "x", X, bucket_length=1.0, num_hash_tables=2, memory_budget="lots")
    with pytest.raises(ValueError, match="bucket_length"):
        fla.Index.build(tmp_path / "x", X, bucket_length=-1.0, num_hash_tables=2)
    # overwrite=True replaces an index, never a file or a directory holding other data.
    for victim in (tmp_path / "notes.txt", tmp_path / "data"):
        if victim.suffix:
            victim.write_text("keep me")
        else:
            victim.mkdir()
            (victim / "keep.txt").write_text("keep me")
        before = sorted(p.name for p in tmp_path.iterdir())
        with pytest.raises(ValueError, match="not an index"):
            fla.Index.build(victim, X, bucket_length=1.0, num_hash_tables=2, overwrite=True)
        assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_argument_checks(tmp_path: Path) -> None:
    """Integer options refuse non-integers with TypeError and values out of range with
    ValueError naming the option; None means the default where the signature allows it."""
    X = data(300, 4, 5)
    idx = fla.Index.build(tmp_path / "idx", X, bucket_length=1.0, num_hash_tables=2)
    assert idx.params == {"bucket_length": 1.0, "num_hash_tables": 2, "projections_per_table": 1, "seed": 42, "sketch_bits": 0}
    assert set(idx.params) == fla.IndexParams.__required_keys__
    calls = {
        "probes": lambda v: idx.knn(X[:2], k=1, probes=v),
        "rerank": lambda v: idx.knn(X[:2], k=1, rerank=v),
        "chunk_rows": lambda v: idx.knn_join(k=1, chunk_rows=v),
        "min_collisions": lambda v: idx.join(threshold=1.0, min_collisions=v),
        "max_bucket_rows": lambda v: idx.join(threshold=1.0, max_bucket_rows=v),
        "max_hamming": lambda v: idx.join(threshold=1.0, max_hamming=v),
        "batch_rows": lambda v: idx.join(threshold=1.0, batch_rows=v),
        "sketch_bits": lambda v: fla.Index.build(tmp_path / "x", X, bucket_length=1.0, num_hash_tables=2, sketch_bits=v),
        "projections_per_table": lambda v: fla.Index.build(tmp_path / "x", X, bucket_length=1.0, num_hash_tables=2, projections_per_table=v),
    }
    at_least_zero = {"probes", "max_hamming", "sketch_bits"}
    for name, call in calls.items():
        for bad in (1.5, "2", True):
            with pytest.raises(TypeError, match=name):
                call(bad)
        with pytest.raises(ValueError, match=name):
            call(-1 if name in at_least_zero else 0)
    with pytest.raises(TypeError, match="threshold"):
        idx.join(threshold="1")
    with pytest.raises(ValueError, match="threshold"):
        idx.join(threshold=float("nan"))
    with pytest.raises(TypeError, match="memory_budget"):
        idx.join(threshold=1.0, memory_budget=1.5e9)
    with pytest.raises(ValueError, match="memory_budget"):
        idx.join(threshold=1.0, memory_budget=1000)
    with pytest.raises(TypeError, match="vectors"):
        fla.Index.build(tmp_path / "x", 3, bucket_length=1.0, num_hash_tables=2)
    with pytest.raises(TypeError, match="seed"):
        fla.Index.build(tmp_path / "x", X, bucket_length=1.0, num_hash_tables=2, seed=1.0)
    assert not (tmp_path / "x").exists()
    # numpy integers are integers
    ids, _ = idx.knn(X[:2], k=np.int64(2), probes=np.int32(1))
    assert ids.shape == (2, 2) and ids.dtype == np.int64


def test_damage_raises_corrupt_index_error(tmp_path: Path) -> None:
    X = data(1000, 8, 4)
    for victim in ("vectors.seg", "table-001.seg", "sketches.seg", "sketch-planes.seg"):
        path = tmp_path / victim
        fla.Index.build(path, X, bucket_length=1.0, num_hash_tables=2, sketch_bits=64)
        f = path / victim
        b = bytearray(f.read_bytes())
        b[64 + 100] ^= 0x01
        f.write_bytes(bytes(b))
        if victim == "sketch-planes.seg":
            # The small segments that steer every query are checksummed at open.
            with pytest.raises(fla.CorruptIndexError, match=victim):
                fla.Index.open(path)
        else:
            idx = fla.Index.open(path)  # headers are intact: opens
            with pytest.raises(fla.CorruptIndexError, match=victim):
                idx.verify()
        f.write_bytes(bytes(b[:-200]))
        with pytest.raises(fla.CorruptIndexError, match=victim):
            fla.Index.open(path)
    assert issubclass(fla.CorruptIndexError, fla.LshError)


def test_sketches_screen_candidates(tmp_path: Path) -> None:
    # Clustered rows, so the buckets hold many candidates and the screen has work to do.
    rng = np.random.default_rng(6)
    centres = rng.standard_normal((30, 24)).astype(np.float32) * 3
    X = (centres[rng.integers(0, 30, 3000)] + rng.standard_normal((3000, 24)).astype(np.float32)).astype(np.float32)
    Q = X[:100] + np.float32(0.1)
    common = dict(bucket_length=4.0, num_hash_tables=4, projections_per_table=2, seed=9)
    plain = fla.Index.build(tmp_path / "plain", X, **common)
    sketched = fla.Index.build(tmp_path / "sketched", X, **common, sketch_bits=256)
    assert sketched.params == {**common, "sketch_bits": 256}
    assert sorted(p.name for p in (tmp_path / "sketched").iterdir()) == sorted(
        [p.name for p in (tmp_path / "plain").iterdir()] + ["sketches.seg", "sketch-planes.seg"]
    )
    # Measuring every candidate, the sketched index answers exactly as the plain one.
    want_i, want_d = plain.knn(Q, k=10, probes=1)
    got_i, got_d = sketched.knn(Q, k=10, probes=1, rerank=len(X))
    assert np.array_equal(got_i, want_i) and np.array_equal(got_d, want_d)
    # A screen of 60 candidates: answers are true rows at their true distances, never
    # better than measuring everything, and still mostly the same rows.
    ids, dist = sketched.knn(Q, k=10, probes=1, rerank=60)
    true = np.sqrt(((X[ids].astype(np.float64) - Q[:, None, :]) ** 2).sum(axis=2))
    np.testing.assert_allclose(dist, true, rtol=1e-5)
    assert np.all(dist >= want_d - 1e-6)
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids.tolist(), want_i.tolist())])
    assert 0.8 < overlap < 1.0, overlap
    # The default screen is 20 x k candidates.
    assert np.array_equal(sketched.knn(Q, k=3, probes=1)[0], sketched.knn(Q, k=3, probes=1, rerank=60)[0])
    # knn_join screens too, and never answers a row with itself.
    kj_i, _ = sketched.knn_join(k=5, rerank=40)
    assert kj_i.shape == (3000, 5) and not np.any(kj_i == np.arange(3000)[:, None])
    with pytest.raises(ValueError, match="sketch"):
        plain.knn(Q, k=10, rerank=50)
    for bad in (100, -64, 8192):
        with pytest.raises(ValueError, match="sketch_bits"):
            fla.Index.build(tmp_path / "bad", X, **common, sketch_bits=bad)
    with pytest.raises(ValueError, match="rerank"):
        sketched.knn(Q, k=10, rerank=0)


BUILD_FOREVER = """
import sys, numpy as np, fast_lsh_ann as fla
rng = np.random.default_rng(0)
chunks = (rng.standard_normal((20_000, 32), dtype=np.float32) for _ in range(40))
fla.Index.build(sys.argv[1], chunks, bucket_length=1.0, num_hash_tables=4, memory_budget="8MB")
print("done", flush=True)
"""


@pytest.mark.parametrize("delay", [0.3, 0.8, 1.5, 2.5])
def test_kill_9_leaves_no_index_or_a_complete_one(tmp_path: Path, delay: float) -> None:
    path = tmp_path / "idx"
    proc = subprocess.Popen([sys.executable, "-c", BUILD_FOREVER, str(path)], stdout=subprocess.DEVNULL)
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    if path.exists():
        idx = fla.Index.open(path)  # complete: opens and verifies
        idx.verify()
        assert len(idx) == 800_000
    # Whatever was left behind, the next build at this path succeeds and cleans it up.
    fla.Index.build(path, data(100, 32, 5), bucket_length=1.0, num_hash_tables=4, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]


def test_verify_covers_every_segment_the_manifest_lists(tmp_path: Path) -> None:
    X = data(600, 8, 3)
    src = tmp_path / "idx"
    fla.Index.build(src, X, bucket_length=1.0, num_hash_tables=2, projections_per_table=2, sketch_bits=64, ids=np.arange(600) * 3)
    text = (src / "MANIFEST").read_bytes().decode("utf-8", "replace")
    listed = [line.split()[2] for line in text.splitlines() if line.startswith("segment = ")]
    assert {"vectors.seg", "projections.seg", "sketch-planes.seg", "ids.seg"} <= set(listed)
    assert sorted(listed) == sorted(p.name for p in src.iterdir() if p.name != "MANIFEST")
    for name in listed:
        bad = tmp_path / f"bad-{name}"
        shutil.copytree(src, bad)
        raw = bytearray((bad / name).read_bytes())
        raw[len(raw) // 2] ^= 0x40  # a byte of the body (segments frame it with 64 bytes each side)
        (bad / name).write_bytes(bytes(raw))
        with pytest.raises(fla.CorruptIndexError, match=name.replace(".", r"\.")):
            fla.Index.open(bad).verify()


def test_knn_join_beyond_memory_answers_as_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    X = fla.planted_near_duplicates(6000, 64, noise=0.05, seed=2)
    Y = fla.planted_near_duplicates(4000, 64, noise=0.05, seed=3)
    common = dict(bucket_length=1.0, num_hash_tables=4, projections_per_table=3)
    a = fla.Index.build(tmp_path / "a", X, **common)
    b = fla.Index.build(tmp_path / "b", Y, ids=np.arange(4000) * 7 + 1, **common)
    plans: list[bool] = []
    parts = fla.Index._knn_join_parts

    def spy(self: fla.Index, *args: object) -> None:
        plans.append(bool(args[5]))  # the `blocked` argument
        parts(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(fla.Index, "_knn_join_parts", spy)
    for other in (None, b):
        want_i, want_d = a.knn_join(other, k=6)  # vectors fit the default budget
        # The vectors (1.5 MB, 2.6 MB with the other index) exceed a 1 MB budget: blocked.
        got_i, got_d = a.knn_join(other, k=6, memory_budget="1MB", chunk_rows=1000)
        assert np.array_equal(got_i, want_i) and np.array_equal(got_d, want_d)
        out = tmp_path / f"knn-{other is None}.parquet"
        assert a.knn_join(other, k=6, memory_budget="1MB", out=out) is None
        assert out.exists()
    # Each copy's nearest other row is its planted original.
    ids, _ = a.knn_join(k=1, memory_budget="1MB")
    assert np.mean(ids[3000:, 0] == np.arange(3000)) > 0.95
    assert plans == [False, True, True, False, True, True, True]
    assert [p.name for p in tmp_path.iterdir() if "join" in p.name] == []
