"""Joins of the on-disk ``Index`` on real embeddings (debian-desc) against exact peers and hnswlib.

    python benches/python/bench_index_join_debian.py {debian,knnjoin} [options]   # --help per subcommand

Protocol, smoke and full runs: benches/RESULTS.md, section "Joins of indexes".
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import common
from common import (
    RECALL_RTOL,
    Row,
    Timing,
    best_of,
    build_index,
    check_knn_answer,
    check_self_join_pairs,
    fmt_s,
    int_list,
    log,
    params_doc,
    remove,
    tie_aware_hits,
)

DATA_DIR = common.DEBIAN_DIR

# debian sweeps (bucket_length:projections_per_table:tables), cheapest first by a cost model
# (collision probabilities of unit-vector projections over the data's pair-distance histogram,
# cost ~ projections x tables + tables + candidates) and checked at full size:
# 0.3778: 0.09:7:6 recall 0.959 (1.4e7 candidates), 0.075:5:5 0.970, 0.06:5:7 0.958, 0.075:7:8 0.959;
# 0.7912: about 1e8-2.5e8 candidates whatever the bucket point (random pairs are only ~1.4x
# farther): 0.1:4:10 0.954, 0.09:4:12 0.954, 0.09:6:28 0.954, 0.125:8:24 0.939. So at 0.7912 the
# buckets are made coarse (bucket_length 1 on unit vectors: two buckets per table, by sign),
# every pair is scanned (the all-pairs plan) and 256-bit sign sketches screen them: in a numpy
# study on all pairs, a cut at 84 bits keeps 0.985 of the pairs within 0.7912 and 0.19 % of all
# pairs, 88 bits 0.995 and 0.28 %. 128-bit sketches halve the scan and let more pairs through
# to be measured (the same numpy study: a cut at 39 bits keeps 0.959 of the pairs and 1.0 M of
# the 410 M, 40 bits 0.974 and 1.2 M), which is the cheaper trade on this data.
GRID_T1 = "0.09:7:6,0.075:5:5,0.06:5:7,0.075:7:8,1.0:1:4:256:48"
GRID_T2 = "1.0:1:4:128:39,1.0:1:4:128:40,1.0:1:4:256:84,1.0:1:4:256:88,0.1:4:10"
# knnjoin (bucket_length:projections:tables:probes:rerank), with 256-bit sketches: the index
# k-NN sweep's parameters (bucket_length 2 = one sign bit per projection, 6 per table, 8 tables),
# and one table of one projection whose two buckets (probes 1 visits both) hold every row, so
# each row's candidates are all rows and only their sketches are ranked (bench_index_knn.py).
GRID_KNN = "2:6:8:1:100,2:6:8:2:100,2:6:8:2:160,2:6:8:3:160,2:1:1:1:60,2:1:1:1:100"
KNN_SKETCH_BITS = 256


# --------------------------------------------------------------------------- debian-desc


def points(s: str, width: int) -> list[tuple[Any, ...]]:
    """``"a:b:c,..."`` as tuples (first field float, the others int)."""
    out = []
    for item in s.split(","):
        f = item.strip().split(":")
        if len(f) != width:
            raise argparse.ArgumentTypeError(f"{item!r}: want {width} fields separated by ':'")
        out.append((float(f[0]), *(int(x) for x in f[1:])))
    return out


def join_points(s: str) -> list[tuple[float, int, int, int, int | None]]:
    """``"bl:k:L[:sketch_bits:max_hamming],..."`` as (bl, k, L, sketch_bits, max_hamming)."""
    out: list[tuple[float, int, int, int, int | None]] = []
    for item in s.split(","):
        f = item.strip().split(":")
        if len(f) == 3:
            f += ["0", ""]
        if len(f) != 5:
            raise argparse.ArgumentTypeError(f"{item!r}: want bl:k:L or bl:k:L:sketch_bits:max_hamming")
        out.append((float(f[0]), int(f[1]), int(f[2]), int(f[3]), int(f[4]) if f[4] else None))
    return out


def join_label(bl: float, k: int, L: int, bits: int, mh: int | None) -> str:
    return f"bl={bl:g} k={k} L={L}" + (f" bits={bits} max_hamming={mh}" if mh is not None else "")


def collect(join: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs of a join as three arrays."""
    parts = list(join)
    if not parts:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32)
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))  # type: ignore[return-value]


def exact_pairs(args: argparse.Namespace, B: np.ndarray, t: float) -> tuple[Timing, dict[str, Any]]:
    """FAISS flat range_search of all rows (timed), then the exact pair count and ties from it."""
    import faiss

    n = len(B)
    r2 = (t * (1 + 1e-5)) ** 2

    def run() -> Any:
        index = faiss.IndexFlatL2(B.shape[1])
        index.add(B)
        return index.range_search(B, r2)

    t_faiss, (lims, D, I) = best_of(run, args.faiss_repeats, f"FAISS range_search t={t:g}")
    qa = np.repeat(np.arange(n, dtype=np.int64), np.diff(lims).astype(np.int64))
    I = I.astype(np.int64)
    up = I > qa  # each pair once
    a, b, d2 = qa[up], I[up], D[up]
    near = d2 >= (t * (1 - 1e-4)) ** 2  # float32 distances near t: decide them in float64
    d64 = common.true_distances(B, B, a[near], b[near])
    below = int((~near).sum()) + int((d64 <= t).sum())
    ties = int((d64.astype(np.float32) == np.float32(t)).sum())
    strict = int((~near).sum()) + int((d64 < t).sum())
    return t_faiss, {"pairs_le_t": below, "pairs_lt_t": strict, "ties_f32": ties, "faiss_rows": int(lims[-1])}


def cmd_debian(args: argparse.Namespace) -> int:
    env, checks = common.start(args.threads)
    B = common.load_debian_base(args.n)
    n = len(B)
    full = n == 28657 and not args.n
    gt = np.load(DATA_DIR / "join_gt.npz")
    log(f"data: {DATA_DIR / 'base.npy'} {B.shape} {B.dtype}{'' if full else ' (first rows only: recall against FAISS)'}")
    tmp: Path = args.tmp_dir
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "join_debian_idx"
    grids = {1: join_points(args.grid_t1), 2: join_points(args.grid_t2)}
    rows: list[Row] = []
    sweeps: dict[str, Any] = {}
    for gi in args.gt_index:
        t = float(gt["thresholds_f64"][gi])
        log(f"\nthreshold {t:g} (join_gt index {gi}):")
        t_faiss, ex = exact_pairs(args, B, t)
        if full:
            want = int(gt["pair_counts"][gi])
            checks.require(
                f"t={t:g}: exact pair count (FAISS + float64) == join_gt pair_counts",
                ex["pairs_le_t"] == want,
                f"FAISS {ex['pairs_le_t']:,}, gt {want:,}",
            )
        else:
            want = ex["pairs_le_t"]
        ties = ex["ties_f32"]
        gt_keys = None
        if full and f"t{gi}_i" in gt.files:
            gt_keys = np.sort(gt[f"t{gi}_i"].astype(np.int64) * n + gt[f"t{gi}_j"].astype(np.int64))
            ties = int((gt[f"t{gi}_dist"] == np.float32(t)).sum())
        log(
            f"  FAISS IndexFlatL2 add + range_search: {fmt_s(t_faiss.best)}; exact pairs with dist <= t: {want:,} "
            f"(dist == t: {ties}); FAISS returned {ex['faiss_rows']:,} rows (both orders, self included)"
        )

        grid = grids.get(gi) or grids[2]
        pts: list[dict[str, Any]] = []
        for bl, k, L, bits, mh in grid:
            label = join_label(bl, k, L, bits, mh)
            t0 = time.perf_counter()
            idx = build_index(path, B, bl, k, L, args.seed, sketch_bits=bits)
            tb = time.perf_counter() - t0
            j = idx.join(threshold=t, max_hamming=mh)
            a, b, d = collect(j)
            tj = time.perf_counter() - t0 - tb
            rec = len(a) / max(want, 1)
            check_self_join_pairs(checks, f"t={t:g} {label}", B, a, b, d, t)
            if gt_keys is not None:
                outside = int((~np.isin(a * n + b, gt_keys)).sum())
                checks.require(f"t={t:g} {label}: every pair in the gt pair list", outside == 0, f"{outside} not in it")
            s = j.summary
            log(
                f"  ours {label}: build {fmt_s(tb)} + join {fmt_s(tj)} = {fmt_s(tb + tj)} "
                f"({(tb + tj) / t_faiss.best:.3f} of FAISS); recall {rec:.4f}; {s['candidate_pairs']:,} candidates, "
                f"largest bucket {s['max_bucket_rows']:,}, plan {s['plan']}"
            )
            pts.append({"bucket_length": bl, "projections_per_table": k, "tables": L, "sketch_bits": bits, "max_hamming": mh,
                        "build_s": tb, "join_s": tj, "total_s": tb + tj, "pairs": len(a), "recall": rec, "summary": s})
            del a, b, d, j, idx
        reached = [p for p in pts if p["recall"] >= args.target_recall]
        best = min(reached, key=lambda p: p["total_s"]) if reached else max(pts, key=lambda p: p["recall"])
        bl, k, L, bits, mh = (best[key] for key in ("bucket_length", "projections_per_table", "tables", "sketch_bits", "max_hamming"))
        label = join_label(bl, k, L, bits, mh)

        def run_ours() -> int:
            idx = build_index(path, B, bl, k, L, args.seed, sketch_bits=bits)
            return len(collect(idx.join(threshold=t, max_hamming=mh))[0])

        t_ours, npairs = best_of(run_ours, args.repeats, f"ours {label} build + join")
        remove(path)
        rec = npairs / max(want, 1)
        rec_strict = npairs / max(want - ties, 1)
        sweeps[f"{t:g}"] = {"points": pts, "chosen": best, "faiss": t_faiss.as_dict(), "exact": ex, "gt_pairs": want, "ties": ties}
        rows.append(
            Row(
                benchmark=f"debian-desc self-join {n:,}×{B.shape[1]}, t={t:g}: ours build + join vs FAISS flat range_search",
                ours=f"{fmt_s(t_ours.best)} ({label}), recall {rec:.4f} ({npairs:,}/{want:,})",
                peer=f"FAISS exact {fmt_s(t_faiss.best)}",
                ratio=t_ours.best / t_faiss.best if rec >= args.target_recall else float("inf"),
                ratio_def=f"ours/peer time at recall ≥ {args.target_recall:g}",
                op="<=",
                target=0.1,
                details={"threshold": t, "ours": t_ours.as_dict(), "faiss": t_faiss.as_dict(), "params": {"bucket_length": bl,
                         "projections_per_table": k, "num_hash_tables": L, "sketch_bits": bits, "max_hamming": mh,
                         "seed": args.seed}, "pairs": npairs, "gt_pairs": want,
                         "recall": rec, "recall_vs_strict": rec_strict, "ties_at_t": ties, "time_ratio": t_ours.best / t_faiss.best},
            )
        )
    return common.finish("index_join_debian", args, rows, checks, env, {"params": params_doc(args), "sweeps": sweeps})


# --------------------------------------------------------------------------- knnjoin


def exact_tenth(B: np.ndarray, threads: int, k: int = 10, cand: int = 30) -> tuple[Timing, np.ndarray, np.ndarray]:
    """Each row's exact k-th nearest distance (float64, self excluded) and the FAISS top-k ids."""
    import faiss

    n = len(B)
    cand = min(cand, n)

    def run() -> Any:
        index = faiss.IndexFlatL2(B.shape[1])
        index.add(B)
        return index.search(B, cand)

    t, (D, I) = best_of(run, 1, f"FAISS IndexFlatL2 search k={cand}")
    I = I.astype(np.int64)
    rows = np.repeat(np.arange(n, dtype=np.int64), cand)
    dd = common.true_distances(B, B, rows, I.reshape(-1)).reshape(n, cand)
    dd[I == np.arange(n)[:, None]] = np.inf
    order = np.argsort(dd, axis=1, kind="stable")
    tenth = np.take_along_axis(dd, order, axis=1)[:, k - 1]
    top = np.take_along_axis(I, order, axis=1)[:, :k]
    # certified when the last candidate's (float32) distance is clearly above the k-th: else brute force
    unsure = np.nonzero(np.sqrt(np.maximum(D[:, -1].astype(np.float64), 0)) <= tenth + 1e-4)[0] if cand < n else np.empty(0, np.int64)
    Bd = B.astype(np.float64)
    for r in unsure:
        diff = Bd - Bd[r]
        d = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        d[r] = np.inf
        o = np.argsort(d, kind="stable")[:k]
        tenth[r], top[r] = d[o[-1]], o
    log(f"  exact {k}-th distances: {n - len(unsure):,} rows certified by the {cand} FAISS candidates, {len(unsure):,} by float64 brute force")
    return t, tenth, top


def knn_recall(B: np.ndarray, tenth: np.ndarray, ids: np.ndarray, k: int = 10) -> float:
    """Tie-aware recall@k of a self k-NN join: a distinct id, not the row itself, is a hit if its
    float64 distance <= the row's exact k-th nearest distance."""
    n = len(B)
    return float(tie_aware_hits(B, B, ids, tenth * (1 + RECALL_RTOL), k, self_rows=np.arange(n)).sum()) / (k * n)


def hnsw_drop_self(labels: np.ndarray, k: int = 10) -> np.ndarray:
    """k=k+1 answers without the row itself (or without the last one when the row is absent)."""
    n = len(labels)
    labels = labels.astype(np.int64)
    is_self = labels == np.arange(n)[:, None]
    keep = ~is_self
    keep[~is_self.any(axis=1), -1] = False
    keep &= np.cumsum(keep, axis=1) <= k  # the row twice (never in hnswlib): still k per row
    return labels[keep].reshape(n, k)


def cmd_knnjoin(args: argparse.Namespace) -> int:
    import hnswlib  # noqa: F401  (the peer: missing, fail before the long sweep)

    env, checks = common.start(args.threads)  # hnswlib gets args.threads too
    B = common.load_debian_base(args.n)
    n = len(B)
    log(f"data: {DATA_DIR / 'base.npy'} {B.shape} {B.dtype}")
    t_exact, tenth, top = exact_tenth(B, args.threads)
    r_exact = knn_recall(B, tenth, top)
    checks.require("ground truth: the exact top 10 score recall 1 under the tie rule", r_exact == 1.0, f"recall {r_exact}")
    log(f"  FAISS exact search k=30 of every row: {fmt_s(t_exact.best)} (untimed re-rank)")

    tmp: Path = args.tmp_dir
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "join_knn_idx"
    pts: list[dict[str, Any]] = []
    by_params: dict[tuple[float, int, int], list[tuple[int, int | None]]] = {}
    bits = args.sketch_bits
    for point in points(args.grid, 5 if bits else 4):
        bl, k, L, probes = point[:4]
        by_params.setdefault((bl, k, L), []).append((probes, point[4] if len(point) > 4 else None))
    for (bl, k, L), searches in by_params.items():
        t0 = time.perf_counter()
        idx = build_index(path, B, bl, k, L, args.seed, sketch_bits=bits)
        tb = time.perf_counter() - t0
        for probes, rerank in searches:
            label = f"bl={bl:g} k={k} L={L} probes={probes}" + ("" if rerank is None else f" rerank={rerank}")
            t0 = time.perf_counter()
            ids, dist = idx.knn_join(k=10, probes=probes, rerank=rerank)
            tq = time.perf_counter() - t0
            check_knn_answer(checks, f"ours {label}", B, B, ids, dist, 10, self_rows=np.arange(n))
            rec = knn_recall(B, tenth, ids)
            log(f"  ours {label}: build {fmt_s(tb)} + knn_join {fmt_s(tq)} = {fmt_s(tb + tq)}; recall@10 {rec:.4f}")
            pts.append({"bucket_length": bl, "projections_per_table": k, "tables": L, "probes": probes,
                        "rerank": rerank, "sketch_bits": bits, "build_s": tb, "knn_join_s": tq, "total_s": tb + tq, "recall": rec})
        del idx
    reached = [p for p in pts if p["recall"] >= args.target_recall]
    best = min(reached, key=lambda p: p["total_s"]) if reached else max(pts, key=lambda p: p["recall"])
    bl, k, L, probes, rerank = (best[f] for f in ("bucket_length", "projections_per_table", "tables", "probes", "rerank"))
    label = f"bl={bl:g} k={k} L={L} probes={probes}" + ("" if rerank is None else f" rerank={rerank} sketch_bits={bits}")

    def run_ours() -> Any:
        return build_index(path, B, bl, k, L, args.seed, sketch_bits=bits).knn_join(k=10, probes=probes, rerank=rerank)

    t_ours, (ids, _) = best_of(run_ours, args.repeats, f"ours {label} build + knn_join")
    remove(path)
    r_ours = knn_recall(B, tenth, ids)

    # ---- hnswlib
    log(f"hnswlib {env['hnswlib']}: ef_construction {args.hnsw_efc}, {args.threads} threads, knn_query k=11 of every row:")
    hpts: list[dict[str, Any]] = []
    for M in args.hnsw_m:

        t_hb, h = best_of(lambda: common.hnsw_index(B, M, args.hnsw_efc, args.threads), args.hnsw_build_repeats)
        for ef in args.hnsw_ef:
            h.set_ef(max(ef, 11))
            t_hq, (labels, _) = best_of(lambda: h.knn_query(B, k=11, num_threads=args.threads), args.repeats)
            rec = knn_recall(B, tenth, hnsw_drop_self(labels))
            hb, hq = t_hb.best, t_hq.best
            log(f"  hnswlib M={M} ef={ef}: build {fmt_s(hb)} + query {fmt_s(hq)} = {fmt_s(hb + hq)}; recall@10 {rec:.4f}")
            hpts.append({"M": M, "ef_construction": args.hnsw_efc, "ef": ef, "build_s": hb, "query_s": hq,
                         "total_s": hb + hq, "recall": rec, "build": t_hb.as_dict(), "query": t_hq.as_dict()})
        del h
    h_reach = [p for p in hpts if p["recall"] >= r_ours]
    hbest = min(h_reach, key=lambda p: p["total_s"]) if h_reach else max(hpts, key=lambda p: p["recall"])
    h_at_target = [p for p in hpts if p["recall"] >= args.target_recall]
    hbest_target = min(h_at_target, key=lambda p: p["total_s"]) if h_at_target else None
    hlabel = f"M={hbest['M']} ef={hbest['ef']}"
    rows = [
        Row(
            benchmark=f"debian-desc k-NN join {n:,}×{B.shape[1]}, k=10: ours build + knn_join vs hnswlib build + query",
            ours=f"{fmt_s(t_ours.best)} ({label}), recall@10 {r_ours:.4f}",
            peer=f"hnswlib {hlabel}: {fmt_s(hbest['total_s'])} (build {fmt_s(hbest['build_s'])}), recall@10 {hbest['recall']:.4f}"
            + (f"; at ≥ {args.target_recall:g}: M={hbest_target['M']} ef={hbest_target['ef']} {fmt_s(hbest_target['total_s'])}"
               if hbest_target else ""),
            ratio=t_ours.best / hbest["total_s"],
            ratio_def="ours/peer time at ≥ our recall",
            op="<=",
            target=1.0,
            details={"ours": t_ours.as_dict(), "ours_params": best, "ours_recall": r_ours, "hnsw_best": hbest,
                     "hnsw_best_at_target": hbest_target, "faiss_exact_search": t_exact.as_dict()},
        ),
        Row(
            benchmark=f"debian-desc k-NN join {n:,}: our recall@10 (tie-aware)",
            ours=f"{r_ours:.4f} ({label})",
            peer=f"hnswlib {hlabel}: {hbest['recall']:.4f}",
            ratio=r_ours,
            ratio_def="ours recall@10",
            op=">=",
            target=args.target_recall,
        ),
    ]
    return common.finish("index_join_knnjoin", args, rows, checks, env,
                         {"params": params_doc(args), "ours_points": pts, "hnsw_points": hpts})


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    def add_real(sp: argparse.ArgumentParser, name: str, repeats: int) -> None:
        sp.add_argument("--n", type=int, default=0, help="use the first n base rows (default: all)")
        sp.add_argument("--seed", type=int, default=common.DEFAULT_MODEL_SEED, help="model seed")
        sp.add_argument("--repeats", type=int, default=repeats, help="best of N for the chosen point")
        sp.add_argument("--threads", type=int, default=2, help="FAISS / hnswlib threads")
        sp.add_argument("--tmp-dir", type=Path, default=common.TMP_DIR)
        sp.add_argument("--out", type=Path, default=common.OUT_DIR / f"{name}.json")

    sp = sub.add_parser("debian", help="self-join of debian-desc at two thresholds vs FAISS range_search")
    add_real(sp, "index_join_debian", 3)
    sp.add_argument("--gt-index", type=int_list, default=[1, 2], help="join_gt.npz thresholds to run (1: 0.3778, 2: 0.7912)")
    sp.add_argument("--grid-t1", default=GRID_T1, help="bucket_length:projections:tables[:sketch_bits:max_hamming] points for thresholds[1]")
    sp.add_argument("--grid-t2", default=GRID_T2, help="... for thresholds[2] (and any other)")
    sp.add_argument("--target-recall", type=float, default=0.95)
    sp.add_argument("--faiss-repeats", type=int, default=1)

    sp = sub.add_parser("knnjoin", help="knn_join k=10 of debian-desc vs hnswlib")
    add_real(sp, "index_join_knnjoin", 1)
    sp.add_argument("--grid", default=GRID_KNN, help="bucket_length:projections:tables:probes[:rerank] points")
    sp.add_argument("--sketch-bits", type=int, default=KNN_SKETCH_BITS, help="sketch_bits of our index (0: none)")
    sp.add_argument("--target-recall", type=float, default=0.90)
    sp.add_argument("--hnsw-m", type=int_list, default=[16, 32])
    sp.add_argument("--hnsw-efc", type=int, default=100, help="hnswlib ef_construction")
    sp.add_argument("--hnsw-ef", type=int_list, default=[11, 16, 24, 32, 48, 64])
    sp.add_argument("--hnsw-build-repeats", type=int, default=1)

    args = p.parse_args(argv)
    commands = {"debian": cmd_debian, "knnjoin": cmd_knnjoin}
    return commands[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
