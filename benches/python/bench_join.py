"""``model.approx_similarity_join`` (self-join) against Spark BRP and FAISS exact range search.

    python benches/python/bench_join.py [--n N] [--skip-spark] [--skip-faiss] [options]

Protocol and smoke runs: benches/RESULTS.md, section "In-memory engine".
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import numpy as np

import common
from common import Checks, Row, best_of, check_distances, fmt_rate, fmt_s, log, pairs_to_arrays


def check_self_join(
    checks: Checks,
    label: str,
    X: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    d: np.ndarray,
    threshold: float,
) -> np.ndarray:
    """Check a self-join result in Spark's semantics; return its sorted pair keys ``a*n + b``."""
    n = len(X)
    keys = np.sort(a * n + b)
    checks.require(
        f"{label}: row ids in range",
        len(a) == 0 or (a.min() >= 0 and b.min() >= 0 and a.max() < n and b.max() < n),
        f"ids must be in [0, {n})",
    )
    dup = int(len(keys) - len(np.unique(keys)))
    checks.require(f"{label}: no duplicate rows", dup == 0, f"{dup} duplicates")
    mirrored = np.sort(b * n + a)
    checks.require(
        f"{label}: symmetric ((a,b) iff (b,a))",
        np.array_equal(keys, mirrored),
        f"{int((~np.isin(mirrored, keys)).sum())} rows lack their mirror",
    )
    self_rows = a == b
    n_self = len(np.unique(a[self_rows]))
    checks.require(
        f"{label}: every self row (a, a, 0.0) present",
        n_self == n and bool(np.all(d[self_rows] == 0.0)),
        f"{n_self:,} of {n:,} self rows; max self distance "
        f"{float(d[self_rows].max()) if self_rows.any() else float('nan')}",
    )
    checks.require(
        f"{label}: every distance < threshold (strict)",
        bool(np.all(d < threshold)),
        f"max distance {float(d.max()) if len(d) else float('nan')!r}, threshold {threshold}",
    )
    check_distances(checks, f"{label}: distances exact", X, X, a, b, d)
    half = n // 2
    i = np.arange(half, dtype=np.int64)
    want = np.concatenate([i * n + (i + half), (i + half) * n + i])
    missing = want[~np.isin(want, keys)]
    checks.require(
        f"{label}: every planted pair (i, i+n//2) found, both orders",
        len(missing) == 0,
        f"{len(missing):,} of {len(want):,} missing"
        + (f", e.g. ({missing[0] // n}, {missing[0] % n})" if len(missing) else ""),
    )
    return keys


def describe(n: int, rows: int) -> str:
    return f"{rows:,} rows = {n:,} self + 2×{(rows - n) // 2:,} pairs"


# --------------------------------------------------------------------------- (a) Spark


def run_spark(args: argparse.Namespace, checks: Checks) -> Row:
    n = args.spark_n
    X = common.planted(args, n)
    model = common.make_model(args, X)

    log(f"ours approx_similarity_join(X, X, {args.threshold}) on {n:,} rows:")
    t_ours, pairs = best_of(lambda: model.approx_similarity_join(X, X, args.threshold), args.repeats, "ours")
    a, b, d = pairs_to_arrays(pairs)
    keys = check_self_join(checks, f"(a) ours n={n}", X, a, b, d, args.threshold)
    ours_rows = len(a)
    log(f"ours: {describe(n, ours_rows)}")

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.ml.feature import BucketedRandomProjectionLSH
    from pyspark.ml.linalg import Vectors, VectorUDT
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F
    from pyspark.sql.types import LongType, StructField, StructType

    log(f"starting Spark {args.spark_master}, driver memory {args.spark_driver_memory} ...")
    spark = (
        SparkSession.builder.master(args.spark_master)
        .appName("fast_lsh_ann bench_join")
        .config("spark.driver.memory", args.spark_driver_memory)
        .config("spark.sql.shuffle.partitions", str(args.spark_shuffle_partitions))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        schema = StructType([StructField("id", LongType(), False), StructField("features", VectorUDT(), False)])
        rows = [(i, Vectors.dense(x)) for i, x in enumerate(X.astype(np.float64))]
        df = spark.createDataFrame(rows, schema).cache()
        df.count()
        brp = BucketedRandomProjectionLSH(
            inputCol="features", outputCol="hashes", bucketLength=args.bucket_length, numHashTables=args.tables
        ).setSeed(args.seed)
        smodel = brp.fit(df)

        # Hash parity first: cheap, and a failure here shows before the long join.
        got = smodel.transform(df).select("id", "hashes").collect()
        spark_h = np.empty((n, args.tables), np.int64)
        for r in got:
            spark_h[r["id"]] = [int(v[0]) for v in r["hashes"]]
        ours_h = np.asarray(model.transform(X))
        bad = (spark_h != ours_h).any(axis=1)
        first = int(np.argmax(bad))
        checks.require(
            "(a) ours transform == Spark transform",
            not bad.any(),
            f"{int(bad.sum())} of {n:,} rows differ"
            + (f"; e.g. row {first}: Spark {spark_h[first].tolist()}, ours {ours_h[first].tolist()}" if bad.any() else ""),
        )

        log(f"Spark approxSimilarityJoin(df, df, {args.threshold}).count():")
        t_spark, spark_rows = best_of(
            lambda: smodel.approxSimilarityJoin(df, df, args.threshold).count(), args.spark_repeats, "Spark"
        )
        log(f"Spark: {describe(n, spark_rows)}")
        checks.require(
            "(a) ours and Spark return the same number of rows",
            spark_rows == ours_rows,
            f"Spark {spark_rows:,}, ours {ours_rows:,}",
        )
        checks.require(
            "(a) Spark returns n self rows + 2 x planted pairs",
            spark_rows == n + 2 * (n // 2),
            f"Spark {spark_rows:,}, expected {n + 2 * (n // 2):,} (other pairs under the threshold?)",
        )
        if n <= args.spark_compare_max:
            sp = (
                smodel.approxSimilarityJoin(df, df, args.threshold)
                .select(F.col("datasetA.id").alias("a"), F.col("datasetB.id").alias("b"), "distCol")
                .collect()
            )
            sa = np.array([r["a"] for r in sp], np.int64)
            sb = np.array([r["b"] for r in sp], np.int64)
            sd = np.array([r["distCol"] for r in sp], np.float64)
            order = np.argsort(sa * n + sb)
            ours_order = np.argsort(a * n + b)
            same = np.array_equal((sa * n + sb)[order], keys)
            checks.require(
                "(a) ours pair set == Spark pair set",
                same,
                f"{int((~np.isin(keys, sa * n + sb)).sum())} only in ours, "
                f"{int((~np.isin(sa * n + sb, keys)).sum())} only in Spark",
            )
            if same:
                err = np.abs(d[ours_order] - sd[order])
                checks.require(
                    "(a) ours distances == Spark distances (rtol 1e-6)",
                    bool(np.all(err <= 1e-6 * np.maximum(sd[order], 1e-12) + 1e-12)),
                    f"max abs difference {err.max():.3g}",
                )
        spark_version = spark.version
    finally:
        spark.stop()

    speedup = t_spark.best / t_ours.best
    return Row(
        benchmark=f"self-join {n:,}×{args.dim}, t={args.threshold} vs Spark {spark_version} {args.spark_master}",
        ours=f"{fmt_s(t_ours.best)}, {ours_rows:,} rows",
        peer=f"Spark BRP {fmt_s(t_spark.best)}, {spark_rows:,} rows",
        ratio=speedup,
        ratio_def="peer/ours time",
        op=">=",
        target=1000.0,
        details={
            "n": n,
            "ours": t_ours.as_dict(),
            "spark": t_spark.as_dict(),
            "ours_rows": ours_rows,
            "spark_rows": spark_rows,
            "planted_pairs": n // 2,
            "spark_version": spark_version,
            "spark_conf": {
                "master": args.spark_master,
                "spark.driver.memory": args.spark_driver_memory,
                "spark.sql.shuffle.partitions": args.spark_shuffle_partitions,
                "input": "cached DataFrame (id, Vectors.dense)",
                "timed": "approxSimilarityJoin(df, df, t).count()",
            },
        },
    )


# --------------------------------------------------------------------------- (b) FAISS


def run_faiss(args: argparse.Namespace, checks: Checks) -> Row:
    import faiss

    n = args.n
    X = common.planted(args, n)
    model = common.make_model(args, X)
    r2 = float(args.threshold) ** 2

    def faiss_range() -> Any:
        index = faiss.IndexFlatL2(X.shape[1])
        index.add(X)
        return index.range_search(X, r2)

    log(f"FAISS IndexFlatL2 add + range_search(X, {r2:g}) on {n:,} rows ({faiss.omp_get_max_threads()} threads):")
    t_faiss, (lims, D, I) = best_of(faiss_range, args.repeats, "FAISS")
    faiss_rows = int(lims[-1])
    fa = np.repeat(np.arange(n, dtype=np.int64), np.diff(lims).astype(np.int64))
    fkeys = np.sort(fa * n + I.astype(np.int64))
    log(f"FAISS: {describe(n, faiss_rows)}")
    del D, I, fa

    log(f"ours approx_similarity_join(X, X, {args.threshold}) on {n:,} rows:")
    t_ours, pairs = best_of(lambda: model.approx_similarity_join(X, X, args.threshold), args.repeats, "ours")
    a, b, d = pairs_to_arrays(pairs)
    del pairs
    keys = check_self_join(checks, f"(b) ours n={n}", X, a, b, d, args.threshold)
    ours_rows = len(a)
    log(f"ours: {describe(n, ours_rows)}")

    found = int(np.isin(fkeys, keys).sum())
    recall = found / max(len(fkeys), 1)
    extra = int((~np.isin(keys, fkeys)).sum())
    log(
        f"recall against FAISS exact: {found:,} / {len(fkeys):,} = {recall:.6f}; "
        f"rows only in ours: {extra} (distance rounding at the threshold, if any)"
    )
    pairs_ours = (ours_rows - n) // 2
    ratio = t_ours.best / t_faiss.best
    return Row(
        benchmark=f"self-join {n:,}×{args.dim}, t={args.threshold} vs FAISS IndexFlatL2 range_search",
        ours=f"{fmt_s(t_ours.best)} ({fmt_rate(n / t_ours.best, 'rows/s')}), {pairs_ours:,} pairs, recall {recall:.4f}",
        peer=f"FAISS exact {fmt_s(t_faiss.best)} ({fmt_rate(n / t_faiss.best, 'rows/s')}), {(faiss_rows - n) // 2:,} pairs",
        ratio=ratio,
        ratio_def="ours/peer time",
        op="<=",
        target=1.5,
        details={
            "n": n,
            "ours": t_ours.as_dict(),
            "faiss": t_faiss.as_dict(),
            "faiss_threads": faiss.omp_get_max_threads(),
            "ours_rows": ours_rows,
            "faiss_rows": faiss_rows,
            "ours_pairs": pairs_ours,
            "faiss_pairs": (faiss_rows - n) // 2,
            "planted_pairs": n // 2,
            "recall_vs_exact": recall,
            "rows_only_in_ours": extra,
            "ours_rows_per_s": n / t_ours.best,
            "faiss_rows_per_s": n / t_faiss.best,
            "timed": "ours: approx_similarity_join(X, X, t); FAISS: IndexFlatL2() + add(X) + range_search(X, t**2)",
        },
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common_args(p, n=100_000, repeats=3, name="join")
    p.add_argument("--threshold", type=float, default=1.5)
    p.add_argument("--spark-n", type=int, default=None, help="rows for (a) (default: min(10,000, --n))")
    p.add_argument("--spark-repeats", type=int, default=1)
    p.add_argument("--spark-master", default="local[2]")
    p.add_argument("--spark-driver-memory", default="8g")
    p.add_argument("--spark-shuffle-partitions", type=int, default=4)
    p.add_argument(
        "--spark-compare-max",
        type=int,
        default=2000,
        help="also collect Spark's pairs and compare them with ours when --spark-n is at most this",
    )
    p.add_argument("--skip-spark", action="store_true", help="omit (a)")
    p.add_argument("--skip-faiss", action="store_true", help="omit (b)")
    args = p.parse_args(argv)
    if args.spark_n is None:
        args.spark_n = min(10_000, args.n)

    env, checks = common.start()
    rows: list[Row] = []
    if not args.skip_spark:
        rows.append(run_spark(args, checks))
    if not args.skip_faiss:
        rows.append(run_faiss(args, checks))
    params = common.model_params(args) | {"threshold": args.threshold, "spark_n": args.spark_n}
    return common.finish("join", args, rows, checks, env, {"params": params})


if __name__ == "__main__":
    sys.exit(main())
