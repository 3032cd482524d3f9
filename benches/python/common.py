"""Shared helpers for the Python benchmark scripts in this directory.

Every script measures ``fast_lsh_ann`` against a peer (numpy, FAISS, Spark) in the same
process and run, and reports the ratio against the issue's target:

* timing: :func:`best_of` (``time.perf_counter``, best of N, garbage collector off while
  timing, as ``timeit`` does);
* the environment: :func:`start` (FAISS's threads, the environment logged, the checks),
  :func:`env_info` / :func:`env_line` (CPU model, cores, RAM, versions);
* data and model: :func:`add_common_args`, :func:`planted`, :func:`make_model` (Spark's
  benchmark parameters by default: planted near-duplicates 128-d, bucket_length 2.0,
  5 tables, seed 42);
* argument helpers: :func:`int_list`, :func:`float_list`, :func:`params_doc`;
* the on-disk index and real data: :func:`build_index` (every script builds its indexes
  through it), :func:`load_debian_base` / :func:`load_debian_queries` (debian-desc),
  :func:`hnsw_index` (the hnswlib peer, built the same way everywhere);
* correctness: :class:`Checks` (recorded, printed, and turned into a non-zero exit code at
  the end; timings are never asserted), :func:`pairs_to_arrays`, :func:`check_distances`,
  :func:`check_self_join_pairs` (an index self-join, each pair once), :func:`check_knn_answer`
  (one k-NN answer), :func:`tie_aware_hits` (recall@k that treats tied neighbours fairly);
* out-of-core runs: :func:`planted_chunks` / :func:`planted_partner_mask` (planted data
  generated chunk by chunk, never whole; :func:`chunk_spec` / :func:`spec_chunks` pass it to
  a child process), :func:`run_child` (a fresh process whose peak
  RssAnon is sampled from here), :func:`rss_anon_mb`, :func:`proc_io`, :func:`dir_bytes`,
  :func:`remove`; :func:`matmul_gflops` (the machine's float32 arithmetic peak);
* output: :class:`Row` and :func:`finish`, which print the markdown table
  ``| benchmark | ours | peer | ratio | target | met |`` and write
  ``benches/python/out/<name>.json``.

The scripts import this module as ``common`` (run them as ``python benches/python/<script>``;
Python puts the script's directory on ``sys.path``), and nothing from each other: what two
scripts share lives here. Their protocols are in ``benches/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE / "out"
TMP_DIR = OUT_DIR / "tmp"  # scratch files (indexes, peer files): same disk as the repo, gitignored

# Spark's benchmark parameters (see /work/shared/SPARK.md, "Why Spark's usual parameters
# make joins quadratic").
DEFAULT_DIM = 128
DEFAULT_NOISE = 0.05
DEFAULT_DATA_SEED = 0
DEFAULT_BUCKET_LENGTH = 2.0
DEFAULT_TABLES = 5
DEFAULT_MODEL_SEED = 42

# The on-disk index benchmarks.
MEMORY_BUDGET = "256MB"  # Index.build's memory_budget unless a script says otherwise
DIST_RTOL = 1e-4  # reported distances against float64 truth
RECALL_RTOL = 1e-6  # tie tolerance on an exact k-th nearest distance
DEBIAN_DIR = Path("/work/shared/data/debian-desc")  # real embeddings (see its README.md)


# --------------------------------------------------------------------------- timing


@dataclasses.dataclass
class Timing:
    """All wall-clock times of one measured call, in seconds."""

    times: list[float]

    @property
    def best(self) -> float:
        return min(self.times)

    @property
    def median(self) -> float:
        return float(np.median(self.times))

    def as_dict(self) -> dict[str, Any]:
        return {"best_s": self.best, "median_s": self.median, "times_s": self.times}


def best_of(fn: Callable[[], T], repeats: int, label: str = "") -> tuple[Timing, T]:
    """Call ``fn()`` ``repeats`` times; return the times and the last call's result.

    The previous result is released before each call (so two results never coexist), a
    full collection runs before each call and the collector is off during it.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    times: list[float] = []
    result: Any = None
    for i in range(repeats):
        result = None
        gc.collect()
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            t0 = time.perf_counter()
            result = fn()
            t = time.perf_counter() - t0
        finally:
            if was_enabled:
                gc.enable()
        times.append(t)
        if label:
            log(f"  {label}: run {i + 1}/{repeats}: {fmt_s(t)}")
    return Timing(times), result


def log(msg: str) -> None:
    print(msg, flush=True)


def fmt_s(seconds: float) -> str:
    if seconds >= 100:
        return f"{seconds:.0f} s"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def fmt_rate(x: float, unit: str) -> str:
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if x >= scale:
            return f"{x / scale:.2f} {prefix}{unit}"
    return f"{x:.1f} {unit}"


# --------------------------------------------------------------------------- environment


def package_version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def env_info() -> dict[str, Any]:
    """The machine and the versions the numbers were measured with."""
    try:
        import psutil

        physical = psutil.cpu_count(logical=False)
        ram_gb = psutil.virtual_memory().total / 2**30
    except ImportError:
        physical, ram_gb = None, None
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "physical_cores": physical,
        "ram_gb": round(ram_gb, 1) if ram_gb else None,
        "os": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "faiss": package_version("faiss-cpu"),
        "hnswlib": package_version("hnswlib"),
        "pyspark": package_version("pyspark"),
        "fast_lsh_ann": package_version("fast_lsh_ann"),
        "threads_env": {
            k: os.environ[k]
            for k in ("RAYON_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
            if k in os.environ
        },
    }
    try:
        import fast_lsh_ann

        info["fast_lsh_ann"] = getattr(fast_lsh_ann, "__version__", info["fast_lsh_ann"])
        native = sys.modules.get("fast_lsh_ann._native")
        info["fast_lsh_ann_native"] = getattr(native, "__file__", None)
    except ImportError:
        pass
    return info


def env_line(info: dict[str, Any] | None = None) -> str:
    i = info if info is not None else env_info()
    cores = f"{i['logical_cores']} logical"
    if i.get("physical_cores"):
        cores += f" / {i['physical_cores']} physical"
    parts = [
        f"CPU: {i['cpu']} ({cores} cores)",
        f"RAM {i['ram_gb']} GB" if i.get("ram_gb") else None,
        f"Python {i['python']}",
        f"numpy {i['numpy']}",
        f"faiss {i['faiss'] or '-'}",
        f"hnswlib {i['hnswlib']}" if i.get("hnswlib") else None,
        f"faiss threads {i['faiss_threads']}" if i.get("faiss_threads") else None,
        f"pyspark {i['pyspark'] or '-'}",
        f"fast_lsh_ann {i['fast_lsh_ann'] or '-'}",
        f"threads env {i['threads_env']}" if i.get("threads_env") else None,
    ]
    return " | ".join(p for p in parts if p)


def start(faiss_threads: int | None = None) -> tuple[dict[str, Any], "Checks"]:
    """How every benchmark starts: FAISS's OpenMP threads set (when given), the environment
    logged (and returned, for :func:`finish`) and an empty :class:`Checks`."""
    env: dict[str, Any] = {}
    if faiss_threads is not None:
        import faiss

        faiss.omp_set_num_threads(faiss_threads)
        env["faiss_threads"] = faiss.omp_get_max_threads()
    env = env_info() | env
    log(env_line(env))
    return env, Checks()


def peak_rss_mb() -> float:
    """Peak resident set size of this process (not of child processes such as Spark's JVM)."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 2**20


# --------------------------------------------------------------------------- data and model


def add_common_args(
    p: argparse.ArgumentParser, *, n: int, repeats: int, name: str
) -> argparse.ArgumentParser:
    """The arguments every script shares; defaults are the issue's sizes and Spark's parameters."""
    p.add_argument("--n", type=int, default=n, help=f"rows of planted data (default {n:,})")
    p.add_argument("--dim", type=int, default=DEFAULT_DIM)
    p.add_argument("--noise", type=float, default=DEFAULT_NOISE, help="planted copy noise sd")
    p.add_argument("--data-seed", type=int, default=DEFAULT_DATA_SEED)
    p.add_argument("--bucket-length", type=float, default=DEFAULT_BUCKET_LENGTH)
    p.add_argument("--tables", type=int, default=DEFAULT_TABLES, help="num_hash_tables")
    p.add_argument("--seed", type=int, default=DEFAULT_MODEL_SEED, help="model seed")
    p.add_argument("--repeats", type=int, default=repeats, help="best of N for timed calls")
    p.add_argument(
        "--out",
        type=Path,
        default=OUT_DIR / f"{name}.json",
        help=f"result JSON (default benches/python/out/{name}.json)",
    )
    return p


def planted(args: argparse.Namespace, n: int | None = None) -> np.ndarray:
    """The planted near-duplicate set (``n`` rows, default ``args.n``); row i and row i + n//2 are a pair."""
    import fast_lsh_ann as fla

    n = args.n if n is None else n
    t0 = time.perf_counter()
    X = fla.planted_near_duplicates(n, dim=args.dim, noise=args.noise, seed=args.data_seed)
    log(
        f"data: planted_near_duplicates({n:,}, dim={args.dim}, noise={args.noise}, "
        f"seed={args.data_seed}) {X.dtype} {X.shape}, {X.nbytes / 1e6:.1f} MB "
        f"in {fmt_s(time.perf_counter() - t0)}"
    )
    return X


def make_model(args: argparse.Namespace, X: np.ndarray) -> Any:
    import fast_lsh_ann as fla

    lsh = fla.BucketedRandomProjectionLSH(
        bucket_length=args.bucket_length, num_hash_tables=args.tables, seed=args.seed
    )
    return lsh.fit(X)


def model_params(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "n": args.n,
        "dim": args.dim,
        "noise": args.noise,
        "data_seed": args.data_seed,
        "bucket_length": args.bucket_length,
        "num_hash_tables": args.tables,
        "seed": args.seed,
        "repeats": args.repeats,
    }


def int_list(s: str) -> list[int]:
    """``"1,2,4"`` as ``[1, 2, 4]`` (an argparse ``type``)."""
    return [int(x) for x in s.split(",") if x.strip()]


def float_list(s: str) -> list[float]:
    """``"0.9,0.95"`` as ``[0.9, 0.95]`` (an argparse ``type``)."""
    return [float(x) for x in s.split(",") if x.strip()]


def params_doc(args: argparse.Namespace) -> dict[str, Any]:
    """The parsed arguments as JSON-ready values (paths as strings)."""
    return {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}


# --------------------------------------------------------------------------- the on-disk index and real data


def build_index(
    path: Path | str,
    vectors: Any,
    bucket_length: float,
    projections_per_table: int,
    num_hash_tables: int,
    seed: int,
    memory_budget: str = MEMORY_BUDGET,
    sketch_bits: int = 0,
) -> Any:
    """``fast_lsh_ann.Index.build(path, vectors, ...)``, overwriting what is at ``path``."""
    import fast_lsh_ann as fla

    return fla.Index.build(
        path,
        vectors,
        bucket_length=bucket_length,
        num_hash_tables=num_hash_tables,
        projections_per_table=projections_per_table,
        seed=seed,
        sketch_bits=sketch_bits,
        memory_budget=memory_budget,
        overwrite=True,
    )


def load_debian_base(n: int | None = None, data_dir: Path = DEBIAN_DIR) -> np.ndarray:
    """debian-desc's base (28,657 x 384 float32, unit rows), or its first ``n`` rows."""
    B = np.load(data_dir / "base.npy")
    if n:
        B = B[:n]
    return np.ascontiguousarray(B, dtype=np.float32)


def load_debian_queries(q: int, data_dir: Path = DEBIAN_DIR) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """debian-desc's first ``q`` held-out queries (float32) and their exact 100-NN: ids (int64)
    and distances (float32)."""
    queries = np.ascontiguousarray(np.load(data_dir / "queries.npy")[:q], dtype=np.float32)
    gt_knn = np.load(data_dir / "gt_knn.npy")[:q].astype(np.int64)
    gt_dist = np.load(data_dir / "gt_dist.npy")[:q]
    return queries, gt_knn, gt_dist


def hnsw_index(B: np.ndarray, M: int, ef_construction: int, threads: int, seed: int = 100) -> Any:
    """The hnswlib peer: an L2 index of ``B`` (ids 0..n-1), added and queried with ``threads``."""
    import hnswlib

    h = hnswlib.Index(space="l2", dim=B.shape[1])
    h.init_index(max_elements=len(B), M=M, ef_construction=ef_construction, random_seed=seed)
    h.add_items(B, np.arange(len(B)), num_threads=threads)
    h.set_num_threads(threads)
    return h


# --------------------------------------------------------------------------- correctness


class Checks:
    """Correctness checks: recorded and printed as they happen; :func:`finish` exits 1 if any failed."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def require(self, name: str, ok: bool, detail: str = "") -> bool:
        ok = bool(ok)
        self.items.append({"check": name, "ok": ok, "detail": detail})
        log(f"check {'ok  ' if ok else 'FAIL'} {name}" + (f": {detail}" if detail else ""))
        return ok

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [c for c in self.items if not c["ok"]]


def pairs_to_arrays(pairs: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A join result ``[(a, b, dist), ...]`` as int64, int64, float64 arrays."""
    if isinstance(pairs, tuple) and len(pairs) == 3 and all(hasattr(x, "__len__") for x in pairs):
        a, b, d = pairs  # already column arrays
        return np.asarray(a, np.int64), np.asarray(b, np.int64), np.asarray(d, np.float64)
    n = len(pairs)
    if n == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64)
    arr = np.array(pairs, dtype=np.float64).reshape(n, 3)  # row ids < 2**53 are exact
    return arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64), arr[:, 2]


def true_distances(
    A: np.ndarray, B: np.ndarray, ia: np.ndarray, ib: np.ndarray, chunk: int = 65536
) -> np.ndarray:
    """Euclidean distances ``|A[ia] - B[ib]|`` in float64, in chunks."""
    out = np.empty(len(ia), np.float64)
    for s in range(0, len(ia), chunk):
        diff = A[ia[s : s + chunk]].astype(np.float64) - B[ib[s : s + chunk]]
        out[s : s + chunk] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    return out


def check_distances(
    checks: Checks,
    name: str,
    A: np.ndarray,
    B: np.ndarray,
    ia: np.ndarray,
    ib: np.ndarray,
    d: np.ndarray,
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> bool:
    """The returned distances equal the float64 Euclidean distances of the returned rows."""
    if len(d) == 0:
        return checks.require(name, True, "no pairs")
    exact = true_distances(A, B, ia, ib)
    err = np.abs(d - exact)
    bad = err > atol + rtol * exact
    worst = int(np.argmax(err / (atol + rtol * exact)))
    return checks.require(
        name,
        not bad.any(),
        f"{int(bad.sum())} of {len(d):,} off by more than rtol {rtol:g}; worst: "
        f"({ia[worst]}, {ib[worst]}) returned {float(d[worst])!r}, exact {float(exact[worst])!r}",
    )


def check_self_join_pairs(
    checks: Checks, label: str, X: np.ndarray, a: np.ndarray, b: np.ndarray, d: np.ndarray, threshold: float
) -> None:
    """An index self-join's pairs: each pair i < j once, ids in range, dist < threshold and
    equal to the float64 distance (rtol :data:`DIST_RTOL`)."""
    n = len(X)
    checks.require(f"{label}: i < j", bool(np.all(a < b)), f"{int((a >= b).sum())} pairs with i >= j")
    in_range = len(a) == 0 or (int(a.min()) >= 0 and int(b.max()) < n)
    checks.require(f"{label}: ids in range", in_range, f"ids must be in [0, {n})")
    keys = np.minimum(a, b) * n + np.maximum(a, b)
    dup = len(keys) - len(np.unique(keys))
    checks.require(f"{label}: no pair twice", dup == 0, f"{dup} repeated pairs")
    checks.require(
        f"{label}: dist < threshold (strict)",
        bool(np.all(d < threshold)),
        f"max {float(d.max()) if len(d) else float('nan')!r}, threshold {threshold!r}",
    )
    if in_range:
        check_distances(checks, f"{label}: distances = float64 (rtol {DIST_RTOL:g})", X, X, a, b, d.astype(np.float64), rtol=DIST_RTOL)


def check_knn_answer(
    checks: Checks,
    label: str,
    Q: np.ndarray,
    B: np.ndarray,
    ids: Any,
    dist: Any,
    k: int,
    *,
    self_rows: np.ndarray | None = None,
) -> bool:
    """One k-NN answer of the queries ``Q`` over ``B``: shape ``(q, k)`` int64 / float32, ids in
    ``[0, N)`` or -1 (distance inf, only at the end of a row), no row its own neighbour when
    ``self_rows`` (query i is row ``self_rows[i]``) is given, distinct ids per row, distances
    ascending and equal to the float64 distances (rtol :data:`DIST_RTOL`). True if all hold."""
    q, n = len(Q), len(B)
    ok = checks.require(
        f"{label}: shape and dtypes",
        isinstance(ids, np.ndarray)
        and isinstance(dist, np.ndarray)
        and ids.shape == (q, k)
        and dist.shape == (q, k)
        and ids.dtype == np.int64
        and dist.dtype == np.float32,
        f"ids {getattr(ids, 'dtype', type(ids))} {getattr(ids, 'shape', None)}, "
        f"dists {getattr(dist, 'dtype', type(dist))} {getattr(dist, 'shape', None)}",
    )
    if not ok:
        return False
    valid = ids >= 0
    in_range = bool(np.all(ids[valid] < n)) and bool(np.all(ids >= -1))
    ok &= checks.require(f"{label}: ids in [0, N) or -1", in_range, f"min {ids.min()}, max {ids.max()}, N {n}")
    padding_ok = bool(np.all(np.isinf(dist[~valid]))) and bool(np.all(valid[:, :-1] | ~valid[:, 1:]))
    ok &= checks.require(f"{label}: -1 only at the end of a row, with distance inf", padding_ok)
    if self_rows is not None:
        selfs = int((ids == np.asarray(self_rows)[:, None]).sum())
        ok &= checks.require(f"{label}: no row is its own neighbour", selfs == 0, f"{selfs} rows")
    s = np.sort(np.where(valid, ids, -1 - np.arange(k)), axis=1)  # -1 padding made distinct
    dups = int((s[:, 1:] == s[:, :-1]).sum())
    ok &= checks.require(f"{label}: distinct ids per row", dups == 0, f"{dups} duplicates")
    d = np.where(valid, dist, np.inf)
    not_asc = int((d[:, 1:] < d[:, :-1]).any(axis=1).sum())  # inf >= inf holds: padding is fine
    ok &= checks.require(f"{label}: distances ascending", not_asc == 0, f"{not_asc} rows out of order")
    if in_range:
        qi, col = np.nonzero(valid)
        ok &= check_distances(
            checks, f"{label}: distances = float64 (rtol {DIST_RTOL:g})", Q, B, qi, ids[qi, col],
            dist[qi, col].astype(np.float64), rtol=DIST_RTOL,
        )
    return ok


def tie_aware_hits(
    Q: np.ndarray, B: np.ndarray, ids: Any, limit: np.ndarray, k: int, self_rows: np.ndarray | None = None
) -> np.ndarray:
    """Per query, how many of its first ``k`` ids are hits: a distinct id in ``[0, N)`` (and not
    the query's own row, when ``self_rows`` is given) whose float64 distance to the query is
    <= ``limit[query]`` (its exact k-th nearest distance, with the tie tolerance). Rows tied
    with the k-th neighbour so count fairly; recall@k = hits.sum() / (k x queries)."""
    s = np.sort(np.asarray(ids, dtype=np.int64)[:, :k], axis=1)
    keep = (s >= 0) & (s < len(B))
    if self_rows is not None:
        keep &= s != np.asarray(self_rows)[:, None]
    keep[:, 1:] &= s[:, 1:] != s[:, :-1]
    qi, col = np.nonzero(keep)
    d = true_distances(Q, B, qi, s[qi, col])
    hit = d <= limit[qi]
    return np.bincount(qi[hit], minlength=len(s))


# --------------------------------------------------------------------------- out-of-core runs


def planted_chunks(
    n: int, dim: int, chunk_rows: int, noise: float, seed: int, gen_time: list[float] | None = None
) -> Iterator[np.ndarray]:
    """``n`` planted rows in chunks of ``chunk_rows``, generated one at a time (never all in memory).

    Chunk ``i`` (rows ``start = i * chunk_rows`` .. ``start + c``) is
    ``planted_near_duplicates(c, dim, noise=noise, seed=seed + i)``: ``c // 2`` N(0, 1) rows
    followed by their noisy copies, so the planted pairs are ``(start + j, start + c//2 + j)``
    for ``j < c // 2`` (see :func:`planted_partner_mask`); an odd last chunk ends with one
    unpaired row. Pairs across chunks are random (about ``sqrt(2 dim)`` apart). Generation
    time is added to ``gen_time[0]`` if given. The same arguments give the same rows.
    """
    import fast_lsh_ann as fla

    for i, start in enumerate(range(0, n, chunk_rows)):
        t0 = time.perf_counter()
        chunk = fla.planted_near_duplicates(min(chunk_rows, n - start), dim, noise=noise, seed=seed + i)
        if gen_time is not None:
            gen_time[0] += time.perf_counter() - t0
        yield chunk


def planted_pair_count(n: int, chunk_rows: int) -> int:
    """How many planted pairs :func:`planted_chunks` holds."""
    full, last = divmod(n, chunk_rows)
    return full * (chunk_rows // 2) + last // 2


def planted_partner_mask(a: np.ndarray, b: np.ndarray, n: int, chunk_rows: int) -> np.ndarray:
    """Which pairs ``(a[i], b[i])`` (either order) are planted pairs of :func:`planted_chunks`."""
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    start = lo - lo % chunk_rows
    half = np.minimum(chunk_rows, n - start) // 2
    return (hi - lo == half) & (lo - start < half)


def chunk_spec(args: argparse.Namespace) -> dict[str, Any]:
    """The planted chunks of ``args`` (``--n --dim --chunk-rows --noise --data-seed``) as JSON
    for a child process, which regenerates them with :func:`spec_chunks`."""
    return {"n": args.n, "dim": args.dim, "chunk_rows": args.chunk_rows, "noise": args.noise, "data_seed": args.data_seed}


def spec_chunks(spec: dict[str, Any], gen_time: list[float] | None = None) -> Iterator[np.ndarray]:
    """:func:`planted_chunks` of a :func:`chunk_spec`."""
    return planted_chunks(spec["n"], spec["dim"], spec["chunk_rows"], spec["noise"], spec["data_seed"], gen_time)


def rss_anon_mb(pid: int | str = "self") -> float | None:
    """RssAnon of a process in MiB (anonymous memory: heap, not mmap'd files), or None."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


def proc_io(pid: int | str = "self") -> dict[str, int]:
    """``/proc/<pid>/io`` as a dict (``read_bytes``: bytes this process caused to be read from
    storage, i.e. not served by the page cache); empty if unavailable."""
    try:
        out = {}
        for line in Path(f"/proc/{pid}/io").read_text().splitlines():
            k, v = line.split(":", 1)
            out[k.strip()] = int(v)
        return out
    except (OSError, ValueError):
        return {}


def run_child(
    code: str, child_args: list[str], sample_rss: bool = False, *, pass_stderr: bool = False, interval: float = 0.02
) -> tuple[dict[str, Any], float, float | None, str]:
    """Run ``python -c code child_args`` in a fresh process (cwd: this directory).

    Returns the JSON the child prints on its last stdout line, the wall time, the peak
    RssAnon in MiB sampled from ``/proc/<pid>/status`` every ``interval`` s (if
    ``sample_rss``) and the child's stderr (``""`` when ``pass_stderr``: then the child's
    stderr goes straight to ours, for progress lines)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *child_args],
        stdout=subprocess.PIPE,
        stderr=None if pass_stderr else subprocess.PIPE,
        text=True,
        cwd=str(HERE),
    )
    peak: list[float] = [0.0]
    sampler = None
    if sample_rss:

        def sample() -> None:
            while proc.poll() is None:
                v = rss_anon_mb(proc.pid)
                if v is not None and v > peak[0]:
                    peak[0] = v
                time.sleep(interval)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    if sampler is not None:
        sampler.join()
    err = err or ""
    if proc.returncode != 0:
        raise RuntimeError(f"child exited {proc.returncode}:\n{err[-3000:]}")
    lines = [ln for ln in out.splitlines() if ln.strip()]
    return json.loads(lines[-1]), wall, (peak[0] if sample_rss else None), err


def remove(path: Path) -> None:
    """Delete a file or a directory tree, if it exists."""
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def dir_bytes(path: Path) -> int:
    """Apparent size of a file, or of all files under a directory."""
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def matmul_gflops(n: int = 4096, repeats: int = 3) -> tuple[float, Timing]:
    """The machine's float32 arithmetic peak as numpy sees it: GFLOP/s of an ``n x n`` matmul
    (``2 n^3`` flops; numpy's BLAS, all its threads), best of ``repeats``."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b  # warm-up (thread pool, page faults)
    t, _ = best_of(lambda: a @ b, repeats)
    return 2 * n**3 / t.best / 1e9, t


# --------------------------------------------------------------------------- output


@dataclasses.dataclass
class Row:
    """One line of the results table.

    ``ratio`` is always defined so that ``ratio <op> target`` is the issue's goal, and the
    ``target`` column says which way it is taken (``ours/peer`` or ``peer/ours``).
    """

    benchmark: str
    ours: str
    peer: str
    ratio: float
    ratio_def: str  # e.g. "ours/peer time"
    op: str  # "<=" or ">="
    target: float
    details: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def met(self) -> bool:
        return self.ratio <= self.target if self.op == "<=" else self.ratio >= self.target

    def markdown(self) -> str:
        sym = "≤" if self.op == "<=" else "≥"
        ratio = f"{self.ratio:.3g}" if self.ratio < 1000 else f"{self.ratio:,.0f}"
        return (
            f"| {self.benchmark} | {self.ours} | {self.peer} | {ratio} | "
            f"{self.ratio_def} {sym} {self.target:g} | {'yes' if self.met else 'no'} |"
        )

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["met"] = self.met
        return d


TABLE_HEADER = "| benchmark | ours | peer | ratio | target | met |\n|---|---|---|---|---|---|"


def finish(
    name: str,
    args: argparse.Namespace,
    rows: Sequence[Row],
    checks: Checks,
    env: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> int:
    """Print the table, write the JSON and return the exit code (1 if a check failed)."""
    log("")
    log(env_line(env))
    log(TABLE_HEADER)
    for r in rows:
        log(r.markdown())
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "name": name,
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "argv": sys.argv,
        "args": params_doc(args),
        "env": env,
        "rows": [r.as_dict() for r in rows],
        "checks": checks.items,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        **(extra or {}),
    }
    out.write_text(json.dumps(doc, indent=2, default=_json_default) + "\n")
    log(f"\nwrote {out}")
    if checks.failed:
        print(f"\n{len(checks.failed)} correctness check(s) FAILED:", file=sys.stderr)
        for c in checks.failed:
            print(f"  {c['check']}: {c['detail']}", file=sys.stderr)
        return 1
    return 0


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")
