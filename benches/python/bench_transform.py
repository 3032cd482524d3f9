"""``model.transform`` against one numpy pass over the same array.

    python benches/python/bench_transform.py [--n N] [--repeats R] [options]

Protocol and smoke run: benches/RESULTS.md, section "In-memory engine".
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

import common
from common import Row, best_of, fmt_s, log


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common_args(p, n=1_000_000, repeats=5, name="transform")
    args = p.parse_args(argv)

    env, checks = common.start()

    X = common.planted(args)
    model = common.make_model(args, X)
    gb = X.nbytes / 1e9

    log("numpy X.sum(axis=1):")
    t_np, _ = best_of(lambda: X.sum(axis=1), args.repeats, "numpy")
    log("ours model.transform(X):")
    t_ours, H = best_of(lambda: model.transform(X), args.repeats, "ours")

    # ---- correctness
    H = np.asarray(H)
    checks.require(
        "shape and dtype",
        H.shape == (args.n, args.tables) and H.dtype == np.int64,
        f"got {H.dtype} {H.shape}, want int64 {(args.n, args.tables)}",
    )
    m = min(args.n, 1000)
    head = np.asarray(model.transform(np.ascontiguousarray(X[:m])))
    tail = np.asarray(model.transform(np.ascontiguousarray(X[-m:])))
    checks.require(
        "rows hash independently (first/last rows alone == inside the full call)",
        np.array_equal(head, H[:m]) and np.array_equal(tail, H[-m:]),
        f"mismatching rows: {int((head != H[:m]).any(axis=1).sum())} of the first {m}, "
        f"{int((tail != H[-m:]).any(axis=1).sum())} of the last {m}",
    )
    h64 = np.asarray(model.transform(X[:m].astype(np.float64)))
    checks.require(
        "float64 input == float32 input",
        np.array_equal(h64, H[:m]),
        f"{int((h64 != H[:m]).any(axis=1).sum())} of {m} rows differ",
    )
    U = getattr(model, "rand_unit_vectors", None)
    if U is not None:
        # Spark: floor((1.0 / bucketLength) * <u_t, x>) in float64 (SPARK.md, "Hash function").
        rows = np.random.default_rng(0).choice(args.n, size=min(args.n, 10_000), replace=False)
        ref = np.floor((X[rows].astype(np.float64) @ np.asarray(U, np.float64).T) * (1.0 / args.bucket_length))
        diff = (ref.astype(np.int64) != H[rows]).any(axis=1)
        checks.require(
            "hashes == numpy floor((1/bucket_length) * X @ rand_unit_vectors.T) on a sample",
            not diff.any(),
            f"{int(diff.sum())} of {len(rows):,} sampled rows differ",
        )
    distinct = [len(np.unique(H[:, t])) for t in range(H.shape[1])]
    log(f"distinct buckets per table: {distinct}")

    ratio = t_ours.best / t_np.best
    row = Row(
        benchmark=f"transform {args.n:,}×{args.dim} f32, {args.tables} tables",
        ours=f"{fmt_s(t_ours.best)} ({gb / t_ours.best:.2f} GB/s)",
        peer=f"numpy X.sum(axis=1) {fmt_s(t_np.best)} ({gb / t_np.best:.2f} GB/s)",
        ratio=ratio,
        ratio_def="ours/peer time",
        op="<=",
        target=2.0,
        details={
            "input_gb": gb,
            "ours": t_ours.as_dict(),
            "numpy": t_np.as_dict(),
            "ours_gb_per_s": gb / t_ours.best,
            "numpy_gb_per_s": gb / t_np.best,
            "ours_rows_per_s": args.n / t_ours.best,
            "distinct_buckets_per_table": distinct,
        },
    )
    return common.finish("transform", args, [row], checks, env, {"params": common.model_params(args)})


if __name__ == "__main__":
    sys.exit(main())
