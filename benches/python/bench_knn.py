"""``model.batch_approx_nearest_neighbors`` against FAISS exact k-NN.

    python benches/python/bench_knn.py [--n N] [--queries Q] [--k K] [options]

Protocol and smoke run: benches/RESULTS.md, section "In-memory engine".
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

import common
from common import Row, best_of, check_distances, fmt_rate, fmt_s, log


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common_args(p, n=100_000, repeats=5, name="knn")
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--query-noise", type=float, default=0.05, help="sd of the noise added to each query")
    p.add_argument("--query-seed", type=int, default=1)
    args = p.parse_args(argv)
    if args.queries > args.n:
        p.error(f"--queries ({args.queries}) must be <= --n ({args.n})")

    import faiss

    env, checks = common.start()

    X = common.planted(args)
    rng = np.random.default_rng(args.query_seed)
    idx = rng.choice(args.n, size=args.queries, replace=False).astype(np.int64)
    Q = np.ascontiguousarray(X[idx] + rng.normal(0.0, args.query_noise, (args.queries, args.dim)).astype(np.float32))
    model = common.make_model(args, X)
    k, q = args.k, args.queries

    def faiss_end_to_end() -> Any:
        index = faiss.IndexFlatL2(args.dim)
        index.add(X)
        return index.search(Q, k)

    log(f"FAISS IndexFlatL2 add + search, {q:,} queries, k={k} ({faiss.omp_get_max_threads()} threads):")
    t_faiss, (fD, fI) = best_of(faiss_end_to_end, args.repeats, "FAISS add+search")
    prebuilt = faiss.IndexFlatL2(args.dim)
    prebuilt.add(X)
    t_faiss_search, _ = best_of(lambda: prebuilt.search(Q, k), args.repeats, "FAISS search only")
    del prebuilt

    log(f"ours batch_approx_nearest_neighbors, {q:,} queries, k={k}:")
    t_ours, res = best_of(lambda: model.batch_approx_nearest_neighbors(X, Q, k), args.repeats, "ours")

    # ---- correctness
    faiss_top1 = fI[:, 0] == idx
    checks.require(
        "FAISS ranks the planted duplicate first (ground truth)",
        bool(faiss_top1.all()),
        f"{int((~faiss_top1).sum())} of {q} queries not (data too close? lower --query-noise)",
    )
    checks.require("ours: one list per query", len(res) == q, f"{len(res)} lists for {q} queries")
    lens = np.array([len(r) for r in res])
    ids = np.full((q, k), -1, np.int64)
    dist = np.full((q, k), np.inf)
    malformed = 0
    for j, r in enumerate(res[:q]):
        if len(r) > k:
            malformed += 1
            continue
        for m, (row, dd) in enumerate(r):
            ids[j, m], dist[j, m] = row, dd
    checks.require("ours: at most k results per query", malformed == 0, f"{malformed} lists longer than k={k}")
    top1 = ids[:, 0] == idx
    checks.require(
        "ours ranks the planted duplicate first",
        bool(top1.all()),
        f"{int((~top1).sum())} of {q} queries not"
        + (f", e.g. query {int(np.argmin(top1))} (row {idx[np.argmin(top1)]}): got {res[int(np.argmin(top1))][:3]}" if not top1.all() else ""),
    )
    valid = ids >= 0
    sorted_ok = bool(np.all(np.diff(np.where(valid, dist, np.inf), axis=1) >= 0))
    checks.require("ours: nearest first (distances ascending)", sorted_ok)
    distinct_ok = all(len(set(r[: min(n, k)])) == min(n, k) for r, n in zip(ids.tolist(), lens.tolist()))
    checks.require("ours: distinct rows per query", distinct_ok)
    qj, mj = np.nonzero(valid)
    check_distances(checks, "ours: distances exact", Q, X, qj, ids[qj, mj], dist[qj, mj])

    hits = sum(len(set(a) & set(b)) for a, b in zip(ids.tolist(), fI.tolist()))
    recall = hits / (q * k)
    short = int((lens < k).sum())
    log(f"ours recall@{k} vs FAISS exact: {recall:.4f}; queries with fewer than k results: {short}")

    qps_ours = q / t_ours.best
    qps_faiss = q / t_faiss.best
    row = Row(
        benchmark=f"k-NN {q:,} queries, k={k}, over {args.n:,}×{args.dim} vs FAISS IndexFlatL2",
        ours=f"{fmt_rate(qps_ours, 'q/s')} ({fmt_s(t_ours.best)}), top-1 {top1.mean():.3f}, recall@{k} {recall:.3f}",
        peer=f"FAISS exact {fmt_rate(qps_faiss, 'q/s')} ({fmt_s(t_faiss.best)}; search only {fmt_s(t_faiss_search.best)})",
        ratio=qps_ours / qps_faiss,
        ratio_def="ours/peer q/s",
        op=">=",
        target=0.5,
        details={
            "ours": t_ours.as_dict(),
            "faiss_add_search": t_faiss.as_dict(),
            "faiss_search_only": t_faiss_search.as_dict(),
            "faiss_threads": faiss.omp_get_max_threads(),
            "ours_qps": qps_ours,
            "faiss_qps": qps_faiss,
            "faiss_search_only_qps": q / t_faiss_search.best,
            "ratio_vs_search_only": qps_ours / (q / t_faiss_search.best),
            "top1_planted_ours": float(top1.mean()),
            "recall_at_k_vs_exact": recall,
            "queries_short_of_k": short,
        },
    )
    params = common.model_params(args) | {
        "queries": q,
        "k": k,
        "query_noise": args.query_noise,
        "query_seed": args.query_seed,
    }
    return common.finish("knn", args, [row], checks, env, {"params": params})


if __name__ == "__main__":
    sys.exit(main())
