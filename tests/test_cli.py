"""The command line (``python -m fast_lsh_ann``, ``fast-lsh``): build, knn, info and verify over
the on-disk index, and the one-line errors (exit status 2) for mistakes a user can make.

Most tests call ``main([...])`` in-process; one runs ``python -m fast_lsh_ann`` as a subprocess.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import fast_lsh_ann as fla
from fast_lsh_ann import _files
from fast_lsh_ann.__main__ import main

PARAMS = ["--bucket-length", "2.0", "--tables", "3", "--projections-per-table", "2", "--seed", "7"]


def data(n: int, dim: int, seed: int, dtype: Any = np.float32) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(dtype)


def run(capsys: pytest.CaptureFixture[str], *argv: Any) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """x.npy (1500 x 12 float64), q.npy (its first 30 rows, float32) and a built index."""
    X = data(1500, 12, 0, np.float64)
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "q.npy", X[:30].astype(np.float32))
    code = main(["build", str(tmp_path / "idx"), "--input", str(tmp_path / "x.npy"), *PARAMS])
    assert code == 0
    return {"x": tmp_path / "x.npy", "q": tmp_path / "q.npy", "idx": tmp_path / "idx"}


def test_build_prints_rows_dim_time_and_equals_the_python_build(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    X = data(2000, 16, 1, np.float64)
    np.save(tmp_path / "x.npy", X)
    code, out, err = run(capsys, "build", tmp_path / "idx", "--input", tmp_path / "x.npy", *PARAMS)
    assert (code, err) == (0, "")
    assert re.fullmatch(r"built .*idx: 2,000 rows, dim 16, in \d+\.\d{3} s\n", out), out
    idx = fla.Index.open(tmp_path / "idx")
    assert len(idx) == 2000 and idx.dim == 16
    assert idx.params == {"bucket_length": 2.0, "num_hash_tables": 3, "projections_per_table": 2, "seed": 7, "sketch_bits": 0}
    ref = fla.Index.build(tmp_path / "ref", X, bucket_length=2.0, num_hash_tables=3, projections_per_table=2, seed=7)
    for got, want in zip(idx.knn(X[:50], k=5, probes=1), ref.knn(X[:50], k=5, probes=1)):
        assert np.array_equal(got, want)


def test_build_feeds_memory_mapped_row_chunks_and_ids(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    X = data(1000, 8, 2)
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "ids.npy", np.arange(1000, dtype=np.int64) * 10 + 5)
    monkeypatch.setattr(_files, "CHUNK_BYTES", 8 * 4 * 128)  # 128 rows per chunk
    seen: list[Any] = []
    real_build = fla.Index.build

    def spy(path: Any, vectors: Any, **kw: Any) -> fla.Index:
        chunks = list(vectors)
        seen.extend(chunks)
        return real_build(path, chunks, **kw)

    monkeypatch.setattr(fla.Index, "build", spy)
    argv = ["build", tmp_path / "idx", "--input", tmp_path / "x.npy", "--ids", tmp_path / "ids.npy",
            "--bucket-length", "1.5", "--tables", "2", "--memory-budget", "1MB"]
    code, out, _ = run(capsys, *argv)
    assert code == 0 and "1,000 rows, dim 8" in out
    assert [c.shape[0] for c in seen] == [128] * 7 + [104]
    assert all(isinstance(c, np.memmap) for c in seen)  # read through mmap, not loaded whole
    ids, dist = fla.Index.open(tmp_path / "idx").knn(X[[10, 999]], k=1)
    assert ids[:, 0].tolist() == [105, 9995] and dist[:, 0].tolist() == [0.0, 0.0]


def test_knn_out_equals_index_knn(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "r.npz"
    code, out, err = run(capsys, "knn", files["idx"], "--queries", files["q"], "-k", "7", "--probes", "2", "--out", out_file)
    assert (code, err) == (0, "")
    assert out.startswith("30 queries, k=7, probes=2: ") and f"to {out_file}" in out
    want_ids, want_dist = fla.Index.open(files["idx"]).knn(np.load(files["q"]), k=7, probes=2)
    with np.load(out_file) as z:
        assert sorted(z.files) == ["distances", "ids"]
        assert z["ids"].dtype == np.int64 and z["distances"].dtype == np.float32
        assert np.array_equal(z["ids"], want_ids) and np.array_equal(z["distances"], want_dist)


def test_sketch_bits_and_rerank(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "build", tmp_path / "sk", "--input", files["x"], *PARAMS, "--sketch-bits", "128")
    assert (code, err) == (0, "")
    idx = fla.Index.open(tmp_path / "sk")
    assert idx.params["sketch_bits"] == 128
    out_file = tmp_path / "r.npz"
    code, _, err = run(capsys, "knn", tmp_path / "sk", "--queries", files["q"], "-k", "5", "--rerank", "20", "--out", out_file)
    assert (code, err) == (0, "")
    want_ids, want_dist = idx.knn(np.load(files["q"]), k=5, rerank=20)
    with np.load(out_file) as z:
        assert np.array_equal(z["ids"], want_ids) and np.array_equal(z["distances"], want_dist)


def test_knn_prints_a_table_of_the_first_queries(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "knn", files["idx"], "--queries", files["q"], "-k", "3", "--show", "2")
    assert code == 0
    ids, dist = fla.Index.open(files["idx"]).knn(np.load(files["q"]), k=3)
    lines = out.splitlines()
    assert lines[0].startswith("30 queries, k=3, probes=0: ")
    for q in (0, 1):
        row = lines[2 + q].split()
        assert row[0] == str(q)
        assert [int(i) for i in row[1::2]] == ids[q][np.isfinite(dist[q])].tolist()
        assert row[1] == str(q)  # each query is an indexed row: found first
    assert lines[4] == "... 28 more queries (--out FILE.npz saves them all)"
    assert len(lines) == 5


def test_info_shows_rows_dim_params_and_file_sizes(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "info", files["idx"])
    assert code == 0
    assert re.search(r"^rows +1,500$", out, re.M) and re.search(r"^dim +12$", out, re.M)
    assert "bucket_length=2.0  num_hash_tables=3  projections_per_table=2  seed=7" in out
    sizes = {p.name: p.stat().st_size for p in files["idx"].iterdir()}
    assert {"MANIFEST", "vectors.seg"} <= set(sizes) and len(sizes) > 3
    for name, size in {**sizes, "total": sum(sizes.values())}.items():
        assert re.search(rf"^  {re.escape(name)} +{size:,} B\b", out, re.M), (name, out)


def test_verify_ok_then_damage_exits_1(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "verify", files["idx"]) == (0, "ok\n", "")
    seg = files["idx"] / "vectors.seg"
    b = bytearray(seg.read_bytes())
    b[64 + 100] ^= 0x01  # a payload byte: the header is intact, so the index still opens
    seg.write_bytes(bytes(b))
    code, out, err = run(capsys, "verify", files["idx"])
    assert code == 1 and out == ""
    assert err.startswith("fast-lsh verify: error: ") and "vectors.seg" in err and err.count("\n") == 1
    seg.write_bytes(bytes(b[:-200]))  # truncated: opening fails already
    code, out, err = run(capsys, "verify", files["idx"])
    assert code == 1 and out == "" and "vectors.seg" in err


def test_build_refuses_an_existing_index_unless_overwrite(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    np.save(tmp_path / "small.npy", data(10, 12, 3))
    argv = ["build", files["idx"], "--input", tmp_path / "small.npy", *PARAMS]
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert err == f"fast-lsh build: error: {files['idx']} already exists; pass --overwrite to replace it\n"
    assert len(fla.Index.open(files["idx"])) == 1500
    code, out, _ = run(capsys, *argv, "--overwrite")
    assert code == 0 and "10 rows" in out and len(fla.Index.open(files["idx"])) == 10


def _user_error_cases(f: dict[str, Path], tmp: Path) -> list[tuple[list[Any], str]]:
    np.save(tmp / "cube.npy", np.zeros((4, 3, 2)))
    np.save(tmp / "q5.npy", np.zeros((2, 5)))
    np.save(tmp / "ids.npy", np.arange(7))
    (tmp / "notes.txt").write_text("not an index")
    build = ["--bucket-length", "1.0", "--tables", "2"]
    new = tmp / "new"
    return [
        (["build", new, "--input", tmp / "missing.npy", *build], "missing.npy: no such file"),
        (["build", new, "--input", tmp / "x.csv", *build], "unsupported input format '.csv'"),
        (["build", new, "--input", tmp / "cube.npy", *build], "2-D array"),
        (["build", new, "--input", f["x"], "--ids", tmp / "ids.npy", *build], "7 ids for the 1,500 rows"),
        (["build", new, "--input", f["x"], "--bucket-length", "-1", "--tables", "2"], "bucket_length"),
        (["build", new, "--input", f["x"], *build, "--memory-budget", "lots"], "memory_budget"),
        (["build", tmp / "no" / "such" / "dir", "--input", f["x"], *build], "does not exist"),
        (["build", tmp / "notes.txt", "--input", f["x"], *build, "--overwrite"], "not a directory"),
        (["knn", f["idx"], "--queries", tmp / "q5.npy"], "dim mismatch"),
        (["knn", f["idx"], "--queries", f["q"], "-k", "0"], "k must be at least 1"),
        (["knn", f["idx"], "--queries", f["q"], "--out", tmp / "r.csv"], ".npz"),
        (["knn", tmp / "nothing", "--queries", f["q"]], "no index at"),
        (["knn", f["idx"], "--queries", f["q"], "--rerank", "50"], "sketch"),
        (["build", new, "--input", f["x"], *build, "--sketch-bits", "100"], "sketch_bits"),
        (["info", tmp / "nothing"], "no index at"),
        (["verify", tmp / "nothing"], "no index at"),
    ]


def test_user_errors_exit_2_with_one_line(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = _user_error_cases(files, tmp_path)
    for argv, message in cases:
        code, out, err = run(capsys, *argv)
        assert (code, out) == (2, ""), (argv, out, err)
        assert err.startswith(f"fast-lsh {argv[0]}: error: ") and err.count("\n") == 1, (argv, err)
        assert message in err, (argv, err)
    assert not (tmp_path / "new").exists() and not (tmp_path / "nothing").exists()
    assert (tmp_path / "notes.txt").read_text() == "not an index"


def test_parquet_without_pyarrow_is_a_clear_error(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "x.parquet").write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow -> ImportError
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    code, out, err = run(capsys, "build", tmp_path / "idx2", "--input", tmp_path / "x.parquet", "--bucket-length", "1", "--tables", "2")
    assert (code, out) == (2, "")
    assert err == "fast-lsh build: error: reading .parquet files needs pyarrow: pip install pyarrow\n"
    code, out, err = run(capsys, "join", files["idx"], "--threshold", "1", "--out", tmp_path / "pairs.parquet")
    assert (code, out) == (2, "")
    assert err == "fast-lsh join: error: writing Parquet needs pyarrow: pip install pyarrow\n"


def test_parquet_input(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    X = np.load(files["x"])
    table = pa.table({"id": np.arange(len(X)), "embedding": pa.array(list(X))})
    pq.write_table(table, tmp_path / "x.parquet", row_group_size=400)
    code, out, _ = run(capsys, "build", tmp_path / "pidx", "--input", tmp_path / "x.parquet", *PARAMS)
    assert code == 0 and "1,500 rows, dim 12" in out
    Q = np.load(files["q"])
    for got, want in zip(fla.Index.open(tmp_path / "pidx").knn(Q, k=4), fla.Index.open(files["idx"]).knn(Q, k=4)):
        assert np.array_equal(got, want)
    ragged = pa.table({"v": pa.array([[1.0, 2.0], [3.0]])})
    pq.write_table(ragged, tmp_path / "ragged.parquet")
    code, _, err = run(capsys, "build", tmp_path / "r", "--input", tmp_path / "ragged.parquet", "--bucket-length", "1", "--tables", "2")
    assert code == 2 and "different lengths" in err


def test_missing_required_option_is_an_argparse_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["build", str(tmp_path / "idx"), "--input", "x.npy", "--tables", "2"])
    assert e.value.code == 2
    assert "--bucket-length" in capsys.readouterr().err


def test_as_a_subprocess(tmp_path: Path) -> None:
    X = data(800, 6, 4)
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "q.npy", X[:20])
    cmd = [sys.executable, "-m", "fast_lsh_ann"]
    build = [*cmd, "build", str(tmp_path / "idx"), "--input", str(tmp_path / "x.npy"), "--bucket-length", "1", "--tables", "4"]
    done = subprocess.run(build, capture_output=True, text=True)
    assert done.returncode == 0 and "800 rows, dim 6" in done.stdout, done.stderr
    knn = [*cmd, "knn", str(tmp_path / "idx"), "--queries", str(tmp_path / "q.npy"), "-k", "3", "--out", str(tmp_path / "r.npz")]
    assert subprocess.run(knn, capture_output=True).returncode == 0
    want_ids, want_dist = fla.Index.open(tmp_path / "idx").knn(X[:20], k=3)
    with np.load(tmp_path / "r.npz") as z:
        assert np.array_equal(z["ids"], want_ids) and np.array_equal(z["distances"], want_dist)
    again = subprocess.run(build, capture_output=True, text=True)
    assert again.returncode == 2 and again.stdout == ""
    assert again.stderr.splitlines() == [f"fast-lsh build: error: {tmp_path / 'idx'} already exists; pass --overwrite to replace it"]


def test_console_script(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("fast-lsh")
    assert script.exists(), "the package installs the fast-lsh console script next to its Python"
    fla.Index.build(tmp_path / "idx", data(50, 4, 5), bucket_length=1.0, num_hash_tables=2)
    done = subprocess.run([str(script), "verify", str(tmp_path / "idx")], capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (0, "ok\n"), done.stderr


def test_join_counts_writes_parquet_and_knn_joins(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import pyarrow.parquet as pq
    x = data(1500, 6, 3)
    np.save(tmp_path / "x.npy", x)
    idx_path = tmp_path / "idx"
    assert run(capsys, "build", idx_path, "--input", tmp_path / "x.npy", *PARAMS)[0] == 0
    idx = fla.Index.open(idx_path)
    want = idx.join(threshold=1.2, count_only=True).summary
    assert want is not None and want["pairs"] > 0
    code, out, _ = run(capsys, "join", idx_path, "--threshold", "1.2")
    assert code == 0 and out.startswith(f"{want['pairs']:,} pairs closer than 1.2")
    code, out, _ = run(capsys, "join", idx_path, "--threshold", "1.2", "--out", tmp_path / "p.parquet")
    assert code == 0 and pq.read_table(tmp_path / "p.parquet").num_rows == want["pairs"]
    # Against the same vectors from a file: every self pair (distance 0) and both orders.
    code, out, _ = run(capsys, "join", idx_path, "--other", tmp_path / "x.npy", "--threshold", "1.2")
    assert code == 0 and out.startswith(f"{2 * want['pairs'] + len(x):,} pairs")
    code, _, _ = run(capsys, "join", idx_path, "--knn", "3", "--out", tmp_path / "k.parquet")
    ids, _ = idx.knn_join(k=3)
    assert code == 0 and pq.read_table(tmp_path / "k.parquet")["neighbors"].to_pylist() == ids.tolist()
    no_sketches = ["--threshold", "1", "--max-hamming", "5"]
    for bad in (["--knn", "3"], [], ["--threshold", "1", "--knn", "2"], ["--threshold", "1", "--out", tmp_path / "p.parquet"], no_sketches):
        code, _, err = run(capsys, "join", idx_path, *bad)
        assert code == 2 and err.count("\n") == 1, (bad, err)
