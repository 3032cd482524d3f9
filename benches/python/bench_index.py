"""The on-disk ``Index``: build, chunked build, open, planted-partner k-NN, each against a peer.

    python benches/python/bench_index.py {build,chunks,open,planted} [options]   # --help per subcommand

Protocol, smoke and full runs: benches/RESULTS.md, section "The on-disk index".
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import common
from common import (
    Row,
    Timing,
    best_of,
    check_distances,
    dir_bytes,
    fmt_rate,
    fmt_s,
    int_list,
    log,
    params_doc,
    remove,
    rss_anon_mb,
    run_child,
)

# Index parameters for the planted data, from a sweep at 1,000,000 rows on queries other than
# the benchmark's (50,000 rows, query seed 99): recall@1 0.9968 (worst block of 1,000: 0.993).
# A partner's projections differ by N(0, 0.05²), so it leaves the query's bucket in a given
# projection with probability ~0.04/0.75 = 0.053: it shares the query's bucket in ~0.65 of
# the tables (0.96 over 3 tables; one probe per table makes it ~0.997), while a random row
# shares a bucket with probability ~(0.75 / (2 sqrt(pi)))^8 = 4e-6 per table (~4 rows).
BUCKET_LENGTH = 0.75
TABLES = 3
PROJECTIONS = 8
PROBES = 1


# --------------------------------------------------------------------------- helpers


def index_params(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "bucket_length": args.bucket_length,
        "num_hash_tables": args.tables,
        "projections_per_table": args.projections,
        "seed": args.seed,
        "memory_budget": args.memory_budget,
    }


def params_str(args: argparse.Namespace) -> str:
    return (
        f"bucket_length {args.bucket_length:g}, {args.tables} tables x {args.projections} "
        f"projections, probes {args.probes}"
    )


def build_ours(args: argparse.Namespace, path: Path, vectors: Any) -> Any:
    return common.build_index(path, vectors, **index_params(args))


def fresh_calls(
    calls: dict[str, tuple[Callable[[], Any], Callable[[], None]]], repeats: int
) -> dict[str, Timing]:
    """Best-of timing of several calls, interleaved round by round; each call's ``setup``
    (e.g. deleting its output, ``os.sync()``) runs untimed before every run."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for r in range(repeats):
        for name, (fn, setup) in calls.items():
            setup()
            t, _ = best_of(fn, 1)
            times[name].append(t.best)
            log(f"  {name}: run {r + 1}/{repeats}: {fmt_s(t.best)}")
    return {name: Timing(ts) for name, ts in times.items()}


def self_found(index: Any, X: np.ndarray, rows: np.ndarray, probes: int) -> tuple[int, int]:
    """How many of ``rows`` come back as their own nearest neighbour at distance 0."""
    ids, dist = index.knn(np.ascontiguousarray(X[rows]), 1, probes)
    ok = (ids[:, 0] == rows) & (dist[:, 0] == 0.0)
    return int(ok.sum()), len(rows)


def add_index_args(p: argparse.ArgumentParser) -> None:
    p.set_defaults(bucket_length=BUCKET_LENGTH, tables=TABLES)
    p.add_argument("--projections", type=int, default=PROJECTIONS, help="projections_per_table")
    p.add_argument("--probes", type=int, default=PROBES, help="extra buckets probed per table")
    p.add_argument("--memory-budget", default=common.MEMORY_BUDGET)
    p.add_argument("--tmp-dir", type=Path, default=common.TMP_DIR, help="where the index and peer files go")


# --------------------------------------------------------------------------- build


def cmd_build(args: argparse.Namespace) -> int:
    import fast_lsh_ann as fla

    env, checks = common.start()
    X = common.planted(args)
    tmp: Path = args.tmp_dir
    tmp.mkdir(parents=True, exist_ok=True)
    idx_path, npy_path, npy_sync_path = tmp / "build_idx", tmp / "build_x.npy", tmp / "build_x_fsync.npy"

    def clean() -> None:
        for p in (idx_path, npy_path, npy_sync_path):
            remove(p)
        os.sync()

    def save_fsync() -> None:
        with open(npy_sync_path, "wb") as f:
            np.save(f, X)
            f.flush()
            os.fsync(f.fileno())

    log(f"build of {args.n:,}x{args.dim} in {tmp} ({params_str(args)}, memory_budget {args.memory_budget}):")
    t = fresh_calls(
        {
            "np.save": (lambda: np.save(npy_path, X), clean),
            "np.save+fsync": (save_fsync, clean),
            "ours Index.build": (lambda: build_ours(args, idx_path, X), clean),
        },
        args.repeats,
    )
    index_bytes = dir_bytes(idx_path)
    index = fla.Index.open(idx_path)
    checks.require("index rows", len(index) == args.n, f"{len(index):,} rows, want {args.n:,}")
    checks.require("index dim", index.dim == args.dim, f"dim {index.dim}, want {args.dim}")
    rows = np.random.default_rng(args.query_seed).choice(args.n, size=min(100, args.n), replace=False)
    found, total = self_found(index, X, rows, args.probes)
    checks.require("rows find themselves at distance 0", found == total, f"{found} of {total}")
    del index
    for p in (idx_path, npy_path, npy_sync_path):
        remove(p)

    ours, save, save_sync = t["ours Index.build"], t["np.save"], t["np.save+fsync"]
    gb = X.nbytes / 1e9
    row = Row(
        benchmark=f"Index.build {args.n:,}×{args.dim} in memory vs np.save",
        ours=f"{fmt_s(ours.best)} ({gb / ours.best:.2f} GB/s; {index_bytes / 1e6:,.0f} MB on disk)",
        peer=f"np.save {fmt_s(save.best)} ({gb / save.best:.2f} GB/s); np.save+fsync {fmt_s(save_sync.best)} "
        f"(ours/that {ours.best / save_sync.best:.2f})",
        ratio=ours.best / save.best,
        ratio_def="ours/np.save time",
        op="<=",
        target=3.0,
        details={
            "ours": ours.as_dict(),
            "np_save": save.as_dict(),
            "np_save_fsync": save_sync.as_dict(),
            "ratio_vs_np_save_fsync": ours.best / save_sync.best,
            "index_bytes": index_bytes,
            "array_bytes": X.nbytes,
        },
    )
    return common.finish("index_build", args, [row], checks, env, {"params": params_doc(args)})


# --------------------------------------------------------------------------- chunks


def chunks_child(spec: dict[str, Any]) -> dict[str, Any]:
    """Runs in the child process: the chunked build and its checks; returns the JSON to print."""
    import fast_lsh_ann as fla

    rss_start = rss_anon_mb()
    n, dim, rows, seed = spec["n"], spec["dim"], spec["chunk_rows"], spec["data_seed"]
    gen_time = [0.0]
    t0 = time.perf_counter()
    index = common.build_index(spec["path"], common.spec_chunks(spec, gen_time), **spec["index"])
    total = time.perf_counter() - t0
    rss_end = rss_anon_mb()
    # checks: the last chunk, regenerated, finds itself
    last = (n - 1) // rows
    chunk = fla.planted_near_duplicates(n - last * rows, dim, noise=spec["noise"], seed=seed + last)
    pick = np.random.default_rng(1).choice(len(chunk), size=min(200, len(chunk)), replace=False)
    ids, dist = index.knn(np.ascontiguousarray(chunk[pick]), 1, spec["probes"])
    found = int(((ids[:, 0] == pick + last * rows) & (dist[:, 0] == 0.0)).sum())
    return {
        "build_s": total,
        "gen_s": gen_time[0],
        "rows": len(index),
        "dim": index.dim,
        "found": found,
        "checked": len(pick),
        "rss_anon_start_mb": rss_start,
        "rss_anon_end_mb": rss_end,
        "maxrss_mb": common.peak_rss_mb(),
    }


CHUNKS_CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
import bench_index
print(json.dumps(bench_index.chunks_child(json.loads(sys.argv[2]))))
"""


def cmd_chunks(args: argparse.Namespace) -> int:
    env, checks = common.start()
    tmp: Path = args.tmp_dir
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "chunks_idx"
    remove(path)
    os.sync()
    spec = common.chunk_spec(args) | {"path": str(path), "probes": args.probes, "index": index_params(args)}
    gb = args.n * args.dim * 4 / 1e9
    log(
        f"chunked build of {args.n:,}x{args.dim} ({gb:.2f} GB float32) in chunks of {args.chunk_rows:,} rows, "
        f"in a child process ({params_str(args)}, memory_budget {args.memory_budget}):"
    )
    res, wall, peak, _ = run_child(CHUNKS_CHILD, [str(common.HERE), json.dumps(spec)], sample_rss=True)
    index_bytes = dir_bytes(path)
    remove(path)
    log(
        f"  build {fmt_s(res['build_s'])} (of which generating chunks {fmt_s(res['gen_s'])}), child wall {fmt_s(wall)}, "
        f"peak RssAnon {peak:.0f} MB (after imports {res['rss_anon_start_mb']:.0f} MB), VmHWM {res['maxrss_mb']:.0f} MB"
    )
    checks.require("index rows", res["rows"] == args.n, f"{res['rows']:,} rows, want {args.n:,}")
    checks.require("index dim", res["dim"] == args.dim, f"dim {res['dim']}, want {args.dim}")
    checks.require(
        "rows of the last chunk find themselves at distance 0", res["found"] == res["checked"], f"{res['found']} of {res['checked']}"
    )
    checks.require("RssAnon was sampled", peak is not None and peak > 0, f"peak {peak}")
    assert peak is not None
    build_only = res["build_s"] - res["gen_s"]
    row = Row(
        benchmark=f"Index.build {args.n:,}×{args.dim} from {args.chunk_rows:,}-row chunks, memory_budget {args.memory_budget}",
        ours=f"peak RssAnon {peak:.0f} MB; {fmt_s(res['build_s'])}, {fmt_rate(args.n / res['build_s'], 'rows/s')} "
        f"({fmt_rate(args.n / build_only, 'rows/s')} excluding chunk generation)",
        peer=f"input {gb:.2f} GB; child after imports {res['rss_anon_start_mb']:.0f} MB RssAnon",
        ratio=peak,
        ratio_def="peak RssAnon MB",
        op="<=",
        target=600,
        details=res
        | {
            "peak_rss_anon_mb": peak,
            "child_wall_s": wall,
            "rows_per_s": args.n / res["build_s"],
            "rows_per_s_excluding_generation": args.n / build_only,
            "index_bytes": index_bytes,
            "sample_interval_s": 0.02,
        },
    )
    return common.finish("index_chunks", args, [row], checks, env, {"params": params_doc(args)})


# --------------------------------------------------------------------------- open


OPEN_OURS = """
import json, sys, time
import numpy as np
import fast_lsh_ann as fla
q = np.load(sys.argv[2])
t0 = time.perf_counter()
index = fla.Index.open(sys.argv[1])
t1 = time.perf_counter()
ids, dist = index.knn(q, 10, int(sys.argv[3]))
t2 = time.perf_counter()
print(json.dumps({"open_s": t1 - t0, "query_s": t2 - t1, "total_s": t2 - t0, "ids": ids[0].tolist(), "dist": dist[0].tolist()}))
"""

OPEN_HNSW = """
import json, sys, time
import numpy as np
import hnswlib
q = np.load(sys.argv[2])
t0 = time.perf_counter()
index = hnswlib.Index(space="l2", dim=q.shape[1])
index.load_index(sys.argv[1])
index.set_ef(int(sys.argv[3]))
t1 = time.perf_counter()
ids, dist = index.knn_query(q, k=10)
t2 = time.perf_counter()
print(json.dumps({"open_s": t1 - t0, "query_s": t2 - t1, "total_s": t2 - t0, "ids": ids[0].astype("int64").tolist(), "dist": np.sqrt(dist[0]).tolist()}))
"""

OPEN_FAISS = """
import json, sys, time
import numpy as np
import faiss
faiss.omp_set_num_threads(int(sys.argv[4]))
q = np.load(sys.argv[2])
t0 = time.perf_counter()
index = faiss.read_index(sys.argv[1])
if int(sys.argv[3]) > 0:
    index.nprobe = int(sys.argv[3])
t1 = time.perf_counter()
dist, ids = index.search(q, 10)
t2 = time.perf_counter()
print(json.dumps({"open_s": t1 - t0, "query_s": t2 - t1, "total_s": t2 - t0, "ids": ids[0].tolist(), "dist": np.sqrt(dist[0]).tolist()}))
"""


def cached(path: Path, make: Callable[[Path], None], what: str) -> Path:
    """``path`` if it exists, else ``make(tmp)`` then an atomic rename to ``path``."""
    if path.exists():
        log(f"  {what}: cached {path.name}")
        return path
    part = path.with_name(path.name + ".part")
    remove(part)
    t0 = time.perf_counter()
    make(part)
    os.replace(part, path)
    log(f"  {what}: built {path.name} in {fmt_s(time.perf_counter() - t0)}")
    return path


def data_key(args: argparse.Namespace, n: int) -> str:
    return f"n{n}_d{args.dim}_noise{args.noise:g}_seed{args.data_seed}"


def train_ivf(args: argparse.Namespace, X: np.ndarray) -> Any:
    import faiss

    rng = np.random.default_rng(args.train_seed)
    sample = X[np.sort(rng.choice(len(X), size=min(args.train, len(X)), replace=False))]
    quantizer = faiss.IndexFlatL2(args.dim)
    ivf = faiss.IndexIVFFlat(quantizer, args.dim, args.nlist)
    ivf.cp.seed = args.train_seed
    ivf.train(sample)
    ivf.add(X)
    return ivf  # faiss's Python wrapper keeps the quantizer referenced by ivf


def cmd_open(args: argparse.Namespace) -> int:
    import faiss

    env, checks = common.start(args.faiss_threads)
    tmp: Path = args.tmp_dir
    tmp.mkdir(parents=True, exist_ok=True)
    X = common.planted(args)
    qrow = int(np.random.default_rng(args.query_seed).integers(args.n // 2))  # has a partner at qrow + n//2
    partner = qrow + args.n // 2
    q_path = tmp / "open_query.npy"
    np.save(q_path, X[qrow : qrow + 1])

    log("files:")
    ours_path = tmp / "open_ours_idx"
    t0 = time.perf_counter()
    build_ours(args, ours_path, X)
    log(f"  ours: built {ours_path.name} in {fmt_s(time.perf_counter() - t0)}")
    flat_path = tmp / "open_faiss_flat.index"
    remove(flat_path)
    flat = faiss.IndexFlatL2(args.dim)
    flat.add(X)
    faiss.write_index(flat, str(flat_path))
    del flat
    log(f"  faiss flat: wrote {flat_path.name}")

    def make_ivf(p: Path) -> None:
        faiss.write_index(train_ivf(args, X), str(p))

    ivf_path = cached(
        tmp / f"open_faiss_ivf{args.nlist}_train{args.train}_s{args.train_seed}_{data_key(args, args.n)}.index", make_ivf, "faiss ivf"
    )
    hnsw_n = min(args.hnsw_n or args.n, args.n)
    if hnsw_n < args.n and qrow >= hnsw_n:
        qrow_h = None
    else:
        qrow_h = qrow

    def make_hnsw(p: Path) -> None:
        common.hnsw_index(X[:hnsw_n], args.hnsw_m, args.hnsw_efc, os.cpu_count() or 1, args.hnsw_seed).save_index(str(p))

    hnsw_path = cached(
        tmp / f"open_hnsw_M{args.hnsw_m}_efc{args.hnsw_efc}_s{args.hnsw_seed}_{data_key(args, hnsw_n)}.bin", make_hnsw, "hnswlib"
    )
    if hnsw_n < args.n:
        log(f"  note: hnswlib index holds the first {hnsw_n:,} rows only (--hnsw-n)")

    systems: dict[str, tuple[str, list[str], Path]] = {
        "ours": (OPEN_OURS, [str(ours_path), str(q_path), str(args.probes)], ours_path),
        "hnswlib": (OPEN_HNSW, [str(hnsw_path), str(q_path), str(args.hnsw_ef)], hnsw_path),
        "faiss flat": (OPEN_FAISS, [str(flat_path), str(q_path), "0", str(args.faiss_threads)], flat_path),
        "faiss ivf": (OPEN_FAISS, [str(ivf_path), str(q_path), "1", str(args.faiss_threads)], ivf_path),
    }
    inner: dict[str, list[float]] = {s: [] for s in systems}
    walls: dict[str, list[float]] = {s: [] for s in systems}
    answers: dict[str, dict[str, Any]] = {}
    log(f"open + one 10-NN query in a fresh process, best of {args.repeats} (query: row {qrow:,}):")
    for r in range(args.repeats):
        for name, (code, cargs, _) in systems.items():
            res, wall, _, _ = run_child(code, cargs)
            inner[name].append(res["total_s"])
            walls[name].append(wall)
            answers[name] = res
            log(
                f"  {name}: run {r + 1}/{args.repeats}: open+query {fmt_s(res['total_s'])} "
                f"(open {fmt_s(res['open_s'])}, query {fmt_s(res['query_s'])}); process wall {fmt_s(wall)}"
            )

    # ---- correctness (ours required, peers reported)
    ours_ans = answers["ours"]
    checks.require(
        "ours: the query row is its own nearest neighbour at distance 0",
        ours_ans["ids"][0] == qrow and ours_ans["dist"][0] == 0.0,
        f"got ids {ours_ans['ids'][:3]}, dist {ours_ans['dist'][:3]}",
    )
    ids = np.array(ours_ans["ids"])
    d = np.array(ours_ans["dist"], np.float64)
    valid = ids >= 0
    check_distances(checks, "ours: distances exact", X[qrow : qrow + 1], X, np.zeros(int(valid.sum()), np.int64), ids[valid], d[valid])
    peer_answers = {}
    for name, res in answers.items():
        self_first = res["ids"][0] == (qrow if name != "hnswlib" else qrow_h)
        has_partner = partner in res["ids"]
        peer_answers[name] = {"self_first": bool(self_first), "partner_in_top10": bool(has_partner), "ids": res["ids"]}
        log(f"  {name}: query row first: {self_first}; planted partner in the 10: {has_partner}")

    t = {s: Timing(v) for s, v in inner.items()}
    w = {s: Timing(v) for s, v in walls.items()}
    ms = lambda s: f"{t[s].best * 1e3:.1f} ms"  # noqa: E731
    hnsw_label = "hnswlib" + (f" ({hnsw_n:,} rows)" if hnsw_n < args.n else "")
    row = Row(
        benchmark=f"Index.open + one 10-NN query, {args.n:,}×{args.dim}, fresh process",
        ours=f"{ms('ours')} (process wall {fmt_s(w['ours'].best)})",
        peer=f"{hnsw_label} {ms('hnswlib')}, FAISS flat {ms('faiss flat')}, FAISS IVFFlat {ms('faiss ivf')} "
        f"(process walls {fmt_s(w['hnswlib'].best)}, {fmt_s(w['faiss flat'].best)}, {fmt_s(w['faiss ivf'].best)})",
        ratio=t["ours"].best * 1e3,
        ratio_def="ours ms",
        op="<=",
        target=50,
        details={
            "open_plus_query": {s: v.as_dict() for s, v in t.items()},
            "process_wall": {s: v.as_dict() for s, v in w.items()},
            "peer_over_ours": {s: t[s].best / t["ours"].best for s in t if s != "ours"},
            "file_bytes": {s: dir_bytes(p) for s, (_, _, p) in systems.items()},
            "hnsw_rows": hnsw_n,
            "answers": peer_answers,
            "query_row": qrow,
        },
    )
    remove(ours_path)
    remove(flat_path)
    remove(q_path)
    return common.finish("index_open", args, [row], checks, env, {"params": params_doc(args)})


# --------------------------------------------------------------------------- planted


def partner_recall(ids: np.ndarray, qi: np.ndarray, partner: np.ndarray) -> float:
    """Fraction of queries whose nearest row other than the query itself is its partner."""
    first_other = np.where(ids[:, 0] == qi, ids[:, 1], ids[:, 0])
    return float((first_other == partner).mean())


def cmd_planted(args: argparse.Namespace) -> int:
    import faiss

    env, checks = common.start(args.faiss_threads)
    tmp: Path = args.tmp_dir
    tmp.mkdir(parents=True, exist_ok=True)
    X = common.planted(args)
    half = args.n // 2
    q = args.queries
    rng = np.random.default_rng(args.query_seed)
    qi = rng.choice(2 * half, size=q, replace=False).astype(np.int64)
    partner = np.where(qi < half, qi + half, qi - half)
    Q = np.ascontiguousarray(X[qi])

    # ---- ground truth: exact search
    flat = faiss.IndexFlatL2(args.dim)
    flat.add(X)
    _, gI = flat.search(Q, 2)
    del flat
    gt = partner_recall(gI, qi, partner)
    checks.require(
        "exact search (FAISS IndexFlatL2) finds every planted partner first after the query (ground truth)",
        gt == 1.0,
        f"recall {gt:.4f}",
    )

    # ---- builds, interleaved
    path = tmp / "planted_idx"
    built: dict[str, Any] = {}

    def ours_build() -> None:
        built["ours"] = None
        built["ours"] = build_ours(args, path, X)

    def ivf_build() -> None:
        built["ivf"] = None
        built["ivf"] = train_ivf(args, X)

    def setup_ours() -> None:
        built["ours"] = None
        remove(path)
        os.sync()

    log(
        f"builds, best of {args.build_repeats}: ours ({params_str(args)}) vs FAISS IVFFlat "
        f"({args.nlist} lists, train on {args.train:,} rows + add {args.n:,}, {args.faiss_threads} threads):"
    )
    tb = fresh_calls(
        {"ours build": (ours_build, setup_ours), "ivf train+add": (ivf_build, lambda: built.update(ivf=None))},
        args.build_repeats,
    )
    index = built["ours"]
    ivf = built["ivf"]

    # ---- queries
    log(f"queries: {q:,} rows of the data, k=2 (the row itself, then its partner):")
    t_ours, (ids, dist) = best_of(lambda: index.knn(Q, 2, args.probes), args.repeats, f"ours probes={args.probes}")
    rec_ours = partner_recall(ids, qi, partner)
    log(f"  ours: recall@1 {rec_ours:.4f}, {fmt_rate(q / t_ours.best, 'q/s')}")
    ivf_res: dict[int, dict[str, Any]] = {}
    for nprobe in args.nprobes:
        ivf.nprobe = nprobe
        t, (_, I) = best_of(lambda: ivf.search(Q, 2), args.repeats)
        ivf_res[nprobe] = {"recall": partner_recall(I, qi, partner), "qps": q / t.best, "time": t.as_dict()}
        log(f"  IVFFlat nprobe={nprobe}: recall@1 {ivf_res[nprobe]['recall']:.4f}, {fmt_rate(q / t.best, 'q/s')}")

    # ---- correctness of ours
    checks.require("ours: the query itself comes first", bool((ids[:, 0] == qi).all()), f"{int((ids[:, 0] != qi).sum())} of {q} not")
    valid = ids >= 0
    checks.require("ours: ids in range", bool((ids[valid] < args.n).all()))
    sorted_ok = bool(np.all(np.diff(np.where(valid, dist, np.inf), axis=1) >= 0))
    checks.require("ours: nearest first (distances ascending)", sorted_ok)
    qj, mj = np.nonzero(valid)
    check_distances(checks, "ours: distances exact", Q, X, qj, ids[qj, mj], dist[qj, mj])

    index_bytes = dir_bytes(path)
    del index, built["ours"]
    remove(path)

    first = args.nprobes[0]
    reach = next((p for p in args.nprobes if ivf_res[p]["recall"] >= args.target_recall), None)
    reach_s = (
        f"; reaches {args.target_recall:g} at nprobe {reach}: {fmt_rate(ivf_res[reach]['qps'], 'q/s')}"
        if reach is not None
        else f"; below {args.target_recall:g} up to nprobe {args.nprobes[-1]}"
    )
    ours_t, ivf_t = tb["ours build"], tb["ivf train+add"]
    qps_ours = q / t_ours.best
    name = f"planted {args.n:,}×{args.dim}, {q:,} queries"
    common_details = {"ivf": {str(k): v for k, v in ivf_res.items()}, "ivf_nprobe_reaching_target": reach}
    rows = [
        Row(
            benchmark=f"{name}: recall@1 of the planted partner",
            ours=f"{rec_ours:.4f} ({params_str(args)})",
            peer=f"IVFFlat nprobe {first}: {ivf_res[first]['recall']:.4f}" + reach_s,
            ratio=rec_ours,
            ratio_def="ours recall@1",
            op=">=",
            target=args.target_recall,
            details={"ours_recall": rec_ours, "ground_truth_recall": gt} | common_details,
        ),
        Row(
            benchmark=f"{name}: build vs IVFFlat train+add",
            ours=f"{fmt_s(ours_t.best)} ({index_bytes / 1e6:,.0f} MB on disk)",
            peer=f"IVFFlat {args.nlist} lists, train {args.train:,} + add: {fmt_s(ivf_t.best)}",
            ratio=ours_t.best / ivf_t.best,
            ratio_def="ours/peer time",
            op="<=",
            target=0.2,
            details={"ours": ours_t.as_dict(), "ivf_train_add": ivf_t.as_dict(), "index_bytes": index_bytes},
        ),
        Row(
            benchmark=f"{name}: queries/s vs IVFFlat nprobe {first}",
            ours=f"{fmt_rate(qps_ours, 'q/s')} (recall {rec_ours:.4f})",
            peer=f"{fmt_rate(ivf_res[first]['qps'], 'q/s')} (recall {ivf_res[first]['recall']:.4f})"
            + (f"; nprobe {reach}: {fmt_rate(ivf_res[reach]['qps'], 'q/s')} (recall {ivf_res[reach]['recall']:.4f})" if reach else ""),
            ratio=qps_ours / ivf_res[first]["qps"],
            ratio_def="ours/peer q/s",
            op=">=",
            target=1.0,
            details={"ours": t_ours.as_dict(), "ours_qps": qps_ours}
            | common_details
            | ({"ratio_vs_nprobe_reaching_target": qps_ours / ivf_res[reach]["qps"]} if reach else {}),
        ),
    ]
    return common.finish("index_planted", args, rows, checks, env, {"params": params_doc(args)})


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    sp = sub.add_parser("build", help="Index.build from memory vs np.save")
    common.add_common_args(sp, n=1_000_000, repeats=3, name="index_build")
    add_index_args(sp)
    sp.add_argument("--query-seed", type=int, default=1)

    sp = sub.add_parser("chunks", help="chunked build: peak RssAnon of a child process")
    common.add_common_args(sp, n=5_000_000, repeats=1, name="index_chunks")
    sp.set_defaults(dim=64)
    add_index_args(sp)
    sp.add_argument("--chunk-rows", type=int, default=100_000)

    sp = sub.add_parser("open", help="Index.open + one query in a fresh process vs hnswlib, FAISS")
    common.add_common_args(sp, n=1_000_000, repeats=5, name="index_open")
    add_index_args(sp)
    sp.add_argument("--query-seed", type=int, default=1)
    sp.add_argument("--hnsw-n", type=int, default=0, help="rows in the hnswlib index (default: all)")
    sp.add_argument("--hnsw-m", type=int, default=16)
    sp.add_argument("--hnsw-efc", type=int, default=100, help="hnswlib ef_construction")
    sp.add_argument("--hnsw-ef", type=int, default=10, help="hnswlib ef at query time (hnswlib's default)")
    sp.add_argument("--hnsw-seed", type=int, default=100)
    sp.add_argument("--nlist", type=int, default=4096, help="IVFFlat lists")
    sp.add_argument("--train", type=int, default=100_000, help="IVFFlat training rows")
    sp.add_argument("--train-seed", type=int, default=1234)
    sp.add_argument("--faiss-threads", type=int, default=2)

    sp = sub.add_parser("planted", help="recall@1 of the planted partner vs FAISS IVFFlat")
    common.add_common_args(sp, n=1_000_000, repeats=5, name="index_planted")
    add_index_args(sp)
    sp.add_argument("--queries", type=int, default=1000)
    sp.add_argument("--query-seed", type=int, default=1)
    sp.add_argument("--build-repeats", type=int, default=3, help="best of N for both builds")
    sp.add_argument("--nlist", type=int, default=4096, help="IVFFlat lists")
    sp.add_argument("--nprobes", type=int_list, default=[1, 2, 4, 8, 16, 32])
    sp.add_argument("--train", type=int, default=100_000, help="IVFFlat training rows")
    sp.add_argument("--train-seed", type=int, default=1234)
    sp.add_argument("--faiss-threads", type=int, default=2)
    sp.add_argument("--target-recall", type=float, default=0.99)

    args = p.parse_args(argv)
    if getattr(args, "queries", 0) > args.n:
        p.error(f"--queries ({args.queries}) must be <= --n ({args.n})")
    commands = {"build": cmd_build, "chunks": cmd_chunks, "open": cmd_open, "planted": cmd_planted}
    return commands[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
