"""Joins of the on-disk ``Index`` on planted near-duplicates, at scale, against FAISS (issue: out-of-core joins).

    python benches/python/bench_index_join.py {planted,scale} [options]   # --help per subcommand

Protocol, smoke and full runs: benches/RESULTS.md, section "Joins of indexes".
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import common
from common import Checks, Row, best_of, check_self_join_pairs, dir_bytes, fmt_rate, fmt_s, log, params_doc, remove, run_child

# planted / scale: the suggested parameters. A partner's projection onto a unit vector
# differs by N(0, 0.05^2): it stays in the row's bucket with probability ~1 - 0.04/1.0 per
# projection, ~0.66 per table of 10, ~0.9998 over 8 tables; a random pair (difference N(0, 2)
# per projection) shares a table's bucket with probability ~0.28^10 = 3e-6.
PLANTED_BUCKET_LENGTH = 1.0
PLANTED_TABLES = 8
PLANTED_PROJECTIONS = 10
PLANTED_THRESHOLD = 1.0
CHUNK_ROWS = 100_000
RSS_TARGET_GB = 2.0

# --------------------------------------------------------------------------- helpers


def eprint(msg: str) -> None:
    """Progress line of a child process (its stdout carries the JSON result)."""
    print(msg, file=sys.stderr, flush=True)


def planted_spec(args: argparse.Namespace, path: Path, count_only: bool) -> dict[str, Any]:
    return common.chunk_spec(args) | {
        "path": str(path),
        "bucket_length": args.bucket_length,
        "tables": args.tables,
        "projections": args.projections,
        "seed": args.seed,
        "memory_budget": args.memory_budget,
        "threshold": args.threshold,
        "count_only": count_only,
    }


def add_planted_args(p: argparse.ArgumentParser, n: int, name: str) -> None:
    common.add_common_args(p, n=n, repeats=1, name=name)
    p.set_defaults(bucket_length=PLANTED_BUCKET_LENGTH, tables=PLANTED_TABLES)
    p.add_argument("--projections", type=int, default=PLANTED_PROJECTIONS, help="projections_per_table")
    p.add_argument("--threshold", type=float, default=PLANTED_THRESHOLD)
    p.add_argument("--chunk-rows", type=int, default=CHUNK_ROWS, help="rows per generated chunk (even)")
    p.add_argument("--memory-budget", default=common.MEMORY_BUDGET, help="Index.build memory_budget")
    p.add_argument("--tmp-dir", type=Path, default=common.TMP_DIR)


def gb(mib: float) -> float:
    return mib * 2**20 / 1e9


# --------------------------------------------------------------------------- child: build + join


JOIN_CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
import bench_index_join
print(json.dumps(bench_index_join.join_child(json.loads(sys.argv[2]))))
"""


def join_child(spec: dict[str, Any]) -> dict[str, Any]:
    """Runs in the child process: chunked build, then the join (counted, or scanned with numpy
    chunk by chunk); returns the JSON to print. The pair sample goes to ``spec["sample_path"]``."""
    rss0 = common.rss_anon_mb()
    io0 = common.proc_io()
    n, dim, c, t = spec["n"], spec["dim"], spec["chunk_rows"], spec["threshold"]
    gen = [0.0]
    eprint(f"  child: building {n:,}x{dim} from {c:,}-row chunks ...")
    t0 = time.perf_counter()
    idx = common.build_index(
        Path(spec["path"]),
        common.spec_chunks(spec, gen),
        spec["bucket_length"],
        spec["projections"],
        spec["tables"],
        spec["seed"],
        spec["memory_budget"],
    )
    build_s = time.perf_counter() - t0
    io1, rss1 = common.proc_io(), common.rss_anon_mb()
    eprint(f"  child: built in {fmt_s(build_s)} (generating chunks {fmt_s(gen[0])}); joining ...")
    res: dict[str, Any] = {"rows": len(idx), "dim": idx.dim}
    t0 = time.perf_counter()
    if spec["count_only"]:
        j = idx.join(threshold=t, count_only=True)
    else:
        j = idx.join(threshold=t)
        res |= scan_join(j, n, c, t, spec.get("sample_mod", 0), spec.get("query_rows", []), spec.get("sample_path"))
    join_s = time.perf_counter() - t0
    io2, rss2 = common.proc_io(), common.rss_anon_mb()
    eprint(f"  child: joined in {fmt_s(join_s)}: {j.summary['pairs']:,} pairs")
    if spec.get("verify_pairs"):
        # the same join again, every pair returned (untimed): same count, all planted
        v = scan_join(idx.join(threshold=t), n, c, t, 0, [], None)
        res["verify"] = v
    io = lambda a, b, key: b.get(key, 0) - a.get(key, 0)  # noqa: E731
    return res | {
        "build_s": build_s,
        "gen_s": gen[0],
        "join_s": join_s,
        "summary": j.summary,
        "read_bytes_build": io(io0, io1, "read_bytes"),
        "write_bytes_build": io(io0, io1, "write_bytes"),
        "read_bytes_join": io(io1, io2, "read_bytes"),
        "write_bytes_join": io(io1, io2, "write_bytes"),
        "rss_anon_start_mb": rss0,
        "rss_anon_after_build_mb": rss1,
        "rss_anon_after_join_mb": rss2,
        "maxrss_mb": common.peak_rss_mb(),
    }


def scan_join(j: Any, n: int, c: int, t: float, sample_mod: int, query_rows: list[int], sample_path: str | None) -> dict[str, Any]:
    """Iterate a join's chunks: count pairs and planted pairs, count violations, keep a sample."""
    q = np.asarray(query_rows, np.int64)
    pairs = planted = bad_order = bad_range = bad_dist = 0
    keep: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for a, b, d in j:
        pairs += len(a)
        planted += int(common.planted_partner_mask(a, b, n, c).sum())
        bad_order += int((a >= b).sum())
        bad_range += int(((a < 0) | (b < 0) | (a >= n) | (b >= n)).sum())
        bad_dist += int((~(d < t)).sum())
        if sample_path is not None:
            sel = np.isin(a, q) | np.isin(b, q)
            if sample_mod > 0:
                sel |= np.minimum(a, b) % sample_mod == 0
            keep.append((a[sel], b[sel], d[sel]))
    if sample_path is not None:
        sa, sb, sd = (np.concatenate([k[i] for k in keep]) if keep else np.empty(0) for i in range(3))
        np.savez(sample_path, a=sa.astype(np.int64), b=sb.astype(np.int64), d=sd.astype(np.float32))
    return {"pairs": pairs, "planted_found": planted, "bad_order": bad_order, "bad_range": bad_range, "bad_dist": bad_dist}


def child_checks(checks: Checks, res: dict[str, Any], n: int, dim: int, threshold: float) -> None:
    checks.require("index rows and dim", res["rows"] == n and res["dim"] == dim, f"{res['rows']:,} x {res['dim']}, want {n:,} x {dim}")
    if "bad_order" not in res:
        return
    checks.require("every pair i < j (all chunks)", res["bad_order"] == 0, f"{res['bad_order']:,} pairs with i >= j")
    checks.require("every id in range (all chunks)", res["bad_range"] == 0, f"{res['bad_range']:,} pairs out of range")
    checks.require(f"every dist < {threshold} (all chunks)", res["bad_dist"] == 0, f"{res['bad_dist']:,} pairs at or above it")
    checks.require(
        "pairs iterated == summary pairs",
        res["pairs"] == res["summary"]["pairs"],
        f"iterated {res['pairs']:,}, summary {res['summary']['pairs']:,}",
    )


# --------------------------------------------------------------------------- planted


def run_join_child(spec: dict[str, Any], path: Path) -> tuple[dict[str, Any], float, float, int]:
    """Run ``join_child(spec)`` in a fresh process sampling its RssAnon; delete its index.

    Returns the child's result, its wall seconds, its peak RssAnon (MiB) and the index's bytes.
    """
    n, dim = spec["n"], spec["dim"]
    log(
        f"ours in a child process: Index.build({n:,}x{dim} = {n * dim * 4 / 1e9:.2f} GB from {spec['chunk_rows']:,}-row "
        f"chunks, bucket_length {spec['bucket_length']:g}, {spec['tables']} tables x {spec['projections']} projections, "
        f"memory_budget {spec['memory_budget']}) + join(threshold={spec['threshold']:g}"
        f"{', count_only=True' if spec['count_only'] else ''}); "
        f"{common.planted_pair_count(n, spec['chunk_rows']):,} planted pairs"
    )
    res, wall, peak, _ = run_child(JOIN_CHILD, [str(common.HERE), json.dumps(spec)], sample_rss=True, pass_stderr=True)
    assert peak is not None
    index_bytes = dir_bytes(path)
    remove(path)
    return res, wall, peak, index_bytes


def cmd_planted(args: argparse.Namespace) -> int:
    import faiss

    env, checks = common.start(args.threads)
    n, dim, t = args.n, args.dim, args.threshold
    tmp: Path = args.tmp_dir
    tmp.mkdir(parents=True, exist_ok=True)
    path, sample_path = tmp / "join_planted_idx", tmp / "join_planted_sample.npz"
    remove(path)

    gflops, t_mm = common.matmul_gflops(repeats=3)
    log(f"arithmetic peak: numpy float32 4096x4096 matmul {gflops:.1f} GFLOP/s (best of 3: {fmt_s(t_mm.best)})")

    s = min(args.queries, n)
    qrows = np.sort(np.random.default_rng(args.query_seed).choice(n, size=s, replace=False)).astype(np.int64)
    spec = planted_spec(args, path, count_only=False) | {
        "sample_mod": args.sample_mod,
        "query_rows": qrows.tolist(),
        "sample_path": str(sample_path),
    }
    total_planted = common.planted_pair_count(n, args.chunk_rows)
    res, wall, peak, index_bytes = run_join_child(spec, path)
    with np.load(sample_path) as z:
        sa, sb, sd = z["a"], z["b"], z["d"].astype(np.float64)
    remove(sample_path)
    child_checks(checks, res, n, dim, t)
    recall = res["planted_found"] / max(total_planted, 1)
    checks.require(
        "planted recall >= 0.99", recall >= 0.99, f"{res['planted_found']:,} of {total_planted:,} = {recall:.5f}"
    )
    summ = res["summary"]
    build_s = res["build_s"] - res["gen_s"]
    ours_s = build_s + res["join_s"]
    evals = summ["candidate_pairs"] / res["join_s"]
    frac = evals * 2 * dim / (gflops * 1e9)
    log(
        f"  ours: build {fmt_s(build_s)} (+ chunk generation {fmt_s(res['gen_s'])}), join {fmt_s(res['join_s'])} "
        f"(engine {fmt_s(summ['seconds'])}); {res['pairs']:,} pairs, planted {res['planted_found']:,}/{total_planted:,}; "
        f"{summ['candidate_pairs']:,} candidates = {fmt_rate(evals, 'dist/s')} = {frac:.2%} of the matmul peak; "
        f"peak RssAnon {peak:.0f} MiB; index {index_bytes / 1e6:,.0f} MB"
    )

    # ---- the peer: the same rows in memory
    log(f"FAISS IndexFlatL2 ({args.threads} threads): the same {n:,} rows in memory, range_search of {s:,} rows:")
    X = np.concatenate(list(common.planted_chunks(n, dim, args.chunk_rows, args.noise, args.data_seed)))
    box: dict[str, Any] = {}

    def add() -> None:
        box["index"] = None
        box["index"] = faiss.IndexFlatL2(dim)
        box["index"].add(X)

    t_add, _ = best_of(add, 1)
    Q = np.ascontiguousarray(X[qrows])
    t_search, (lims, _, fI) = best_of(lambda: box["index"].range_search(Q, t * t), args.repeats, "FAISS range_search")
    box.clear()
    faiss_s = t_add.best + t_search.best * n / s
    log(f"  FAISS: add {fmt_s(t_add.best)}, search of {s:,} rows {fmt_s(t_search.best)}; extrapolated to {n:,} rows: {fmt_s(faiss_s)}")

    # ---- checks on our sample, and recall against FAISS on the query rows
    check_self_join_pairs(checks, f"ours sample ({len(sa):,} pairs)", X, sa, sb, sd, t)
    fa = np.repeat(qrows, np.diff(lims).astype(np.int64))
    fb = fI.astype(np.int64)
    other = fa != fb
    fkeys = np.unique(np.minimum(fa, fb)[other] * n + np.maximum(fa, fb)[other])
    touch = np.isin(sa, qrows) | np.isin(sb, qrows)
    okeys = np.unique(sa[touch] * n + sb[touch])
    found = int(np.isin(fkeys, okeys).sum())
    exact_recall = found / max(len(fkeys), 1)
    only_ours = int((~np.isin(okeys, fkeys)).sum())
    log(
        f"  recall on the pairs of the {s:,} query rows against FAISS: {found:,}/{len(fkeys):,} = {exact_recall:.5f}; "
        f"pairs only in ours: {only_ours} (float32 rounding at the threshold, if any)"
    )
    checks.require(
        "FAISS's pairs of the query rows are planted pairs (ground truth: no random pair under the threshold)",
        bool(np.all(common.planted_partner_mask(fkeys // n, fkeys % n, n, args.chunk_rows))),
        f"{int((~common.planted_partner_mask(fkeys // n, fkeys % n, n, args.chunk_rows)).sum())} are not",
    )
    del X, Q

    name = f"planted self-join {n:,}×{dim}, t={t:g}"
    rate = res["pairs"] / res["join_s"]
    rows = [
        Row(
            benchmark=f"{name}: ours (chunks → build → join) vs FAISS flat range_search extrapolated",
            ours=f"build {fmt_s(build_s)} + join {fmt_s(res['join_s'])} = {fmt_s(ours_s)}; {res['pairs']:,} pairs "
            f"({fmt_rate(rate, 'pairs/s')}); {fmt_rate(evals, 'dist/s')} = {frac:.2%} of peak",
            peer=f"FAISS add {fmt_s(t_add.best)} + {s:,} queries {fmt_s(t_search.best)} × {n // s:,} = {fmt_s(faiss_s)}; "
            f"peak {gflops:.0f} GFLOP/s (matmul)",
            ratio=faiss_s / ours_s,
            ratio_def="peer/ours time",
            op=">=",
            target=1000.0,
            details={
                "ours_s": ours_s,
                "build_s": build_s,
                "gen_s": res["gen_s"],
                "join_s": res["join_s"],
                "pairs": res["pairs"],
                "pairs_per_s": rate,
                "dist_evals_per_s": evals,
                "flops_per_eval": 2 * dim,
                "matmul_gflops": gflops,
                "matmul": t_mm.as_dict(),
                "fraction_of_peak": frac,
                "faiss_add": t_add.as_dict(),
                "faiss_search": t_search.as_dict(),
                "faiss_queries": s,
                "faiss_extrapolated_s": faiss_s,
                "faiss_threads": args.threads,
                "summary": summ,
                "child_wall_s": wall,
                "index_bytes": index_bytes,
            },
        ),
        Row(
            benchmark=f"{name}: planted recall",
            ours=f"{res['planted_found']:,} of {total_planted:,} planted pairs",
            peer=f"exact (FAISS) on {s:,} rows: ours found {found:,}/{len(fkeys):,}",
            ratio=recall,
            ratio_def="ours recall",
            op=">=",
            target=0.99,
            details={"planted_found": res["planted_found"], "planted": total_planted, "recall_vs_faiss_on_queries": exact_recall,
                     "faiss_query_pairs": len(fkeys), "only_ours": only_ours},
        ),
        Row(
            benchmark=f"{name}: peak RssAnon of the whole run (child)",
            ours=f"{gb(peak):.2f} GB ({peak:.0f} MiB; after imports {res['rss_anon_start_mb']:.0f} MiB, "
            f"after build {res['rss_anon_after_build_mb']:.0f}, after join {res['rss_anon_after_join_mb']:.0f})",
            peer=f"data {n * dim * 4 / 1e9:.2f} GB; index on disk {index_bytes / 1e9:.2f} GB",
            ratio=gb(peak),
            ratio_def="peak RssAnon GB",
            op="<=",
            target=RSS_TARGET_GB,
            details={"peak_rss_anon_mib": peak, "sample_interval_s": 0.02} | {k: v for k, v in res.items() if k.startswith(("rss_", "maxrss"))},
        ),
    ]
    return common.finish("index_join_planted", args, rows, checks, env, {"params": params_doc(args), "child": res})


# --------------------------------------------------------------------------- scale


def cmd_scale(args: argparse.Namespace) -> int:
    env, checks = common.start()
    n, dim, t = args.n, args.dim, args.threshold
    tmp: Path = args.tmp_dir
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "join_scale_idx"
    remove(path)
    spec = planted_spec(args, path, count_only=True) | {"verify_pairs": args.verify_pairs}
    total_planted = common.planted_pair_count(n, args.chunk_rows)
    res, wall, peak, index_bytes = run_join_child(spec, path)
    log(f"  index deleted ({index_bytes / 1e9:.2f} GB)")
    child_checks(checks, res, n, dim, t)
    pairs = res["summary"]["pairs"]
    checks.require(
        "count_only pairs <= planted pairs (no random pair is under the threshold)",
        pairs <= total_planted,
        f"{pairs:,} pairs, {total_planted:,} planted",
    )
    if "verify" in res:
        v = res["verify"]
        checks.require("verify: the returned pairs are as many as counted", v["pairs"] == pairs, f"returned {v['pairs']:,}, counted {pairs:,}")
        checks.require("verify: every returned pair is planted", v["planted_found"] == v["pairs"], f"{v['planted_found']:,} of {v['pairs']:,}")
        checks.require(
            "verify: every pair i < j, in range, dist < threshold",
            v["bad_order"] == 0 and v["bad_range"] == 0 and v["bad_dist"] == 0,
            f"order {v['bad_order']}, range {v['bad_range']}, dist {v['bad_dist']}",
        )
    build_s = res["build_s"] - res["gen_s"]
    summ = res["summary"]
    mb = lambda x: f"{x / 1e6:,.0f} MB"  # noqa: E731
    log(
        f"  build {fmt_s(build_s)} (+ chunk generation {fmt_s(res['gen_s'])}), join {fmt_s(res['join_s'])}; "
        f"{pairs:,} pairs ({pairs / max(total_planted, 1):.5f} of planted); read from disk: build {mb(res['read_bytes_build'])}, "
        f"join {mb(res['read_bytes_join'])}; written: build {mb(res['write_bytes_build'])}; peak RssAnon {peak:.0f} MiB"
    )
    name = f"scale self-join {n:,}×{dim}, t={t:g}, count_only"
    rows = [
        Row(
            benchmark=f"{name}: peak RssAnon (build + join, child)",
            ours=f"{gb(peak):.2f} GB; build {fmt_s(build_s)} ({fmt_rate(n / build_s, 'rows/s')}) + join {fmt_s(res['join_s'])}; "
            f"{pairs:,} pairs ({pairs / max(total_planted, 1):.4f} of planted)",
            peer=f"data {n * dim * 4 / 1e9:.2f} GB; index on disk {index_bytes / 1e9:.2f} GB; disk reads: build "
            f"{mb(res['read_bytes_build'])}, join {mb(res['read_bytes_join'])}",
            ratio=gb(peak),
            ratio_def="peak RssAnon GB",
            op="<=",
            target=RSS_TARGET_GB,
            details={
                "peak_rss_anon_mib": peak,
                "build_s": build_s,
                "gen_s": res["gen_s"],
                "join_s": res["join_s"],
                "pairs": pairs,
                "planted": total_planted,
                "index_bytes": index_bytes,
                "summary": summ,
                "child_wall_s": wall,
            }
            | {k: v for k, v in res.items() if k.startswith(("read_", "write_", "rss_", "maxrss"))},
        )
    ]
    return common.finish("index_join_scale", args, rows, checks, env, {"params": params_doc(args), "child": res})


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    sp = sub.add_parser("planted", help="self-join of planted near-duplicates from chunks vs FAISS (extrapolated)")
    add_planted_args(sp, n=2_000_000, name="index_join_planted")
    sp.add_argument("--queries", type=int, default=2000, help="FAISS range_search rows (extrapolated to all)")
    sp.add_argument("--query-seed", type=int, default=1)
    sp.add_argument("--sample-mod", type=int, default=16, help="keep pairs whose smaller id is a multiple of this for checks")
    sp.add_argument("--threads", type=int, default=2, help="FAISS threads")

    sp = sub.add_parser("scale", help="large chunked self-join, count_only: time, disk reads, peak RssAnon")
    add_planted_args(sp, n=10_000_000, name="index_join_scale")
    sp.add_argument("--verify-pairs", action="store_true", help="also iterate the join and check the count (small N)")

    args = p.parse_args(argv)
    if args.cmd == "scale" and args.out == common.OUT_DIR / "index_join_scale.json":
        args.out = common.OUT_DIR / f"index_join_scale_{args.n}x{args.dim}.json"
    if args.cmd in ("planted", "scale") and args.chunk_rows % 2:
        p.error("--chunk-rows must be even")
    commands = {"planted": cmd_planted, "scale": cmd_scale}
    return commands[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
