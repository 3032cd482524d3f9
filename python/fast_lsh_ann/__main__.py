"""Command line: ``python -m fast_lsh_ann`` (also installed as ``fast-lsh``).

Subcommands: ``demo`` runs the main job, hashing, batch k-NN and a similarity join with
Spark's parameters, on generated planted near-duplicates and checks the answers.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import numpy as np

from ._model import BucketedRandomProjectionLSH
from .datasets import planted_near_duplicates


def _demo(args: argparse.Namespace) -> int:
    n, dim, half = args.n, args.dim, args.n // 2
    print(f"fast_lsh_ann demo: {n:,} planted near-duplicates in {dim}-d")
    print(f"  rows i and i+{half:,} are planted pairs (noise {args.noise}); random pairs are far apart")
    x = planted_near_duplicates(n, dim, noise=args.noise, seed=args.seed)
    lsh = BucketedRandomProjectionLSH(bucket_length=args.bucket_length, num_hash_tables=args.tables, seed=42)
    model = lsh.fit(x)
    print(f"  {lsh!r}")

    t0 = time.perf_counter()
    hashes = model.transform(x)
    t_hash = time.perf_counter() - t0
    print(f"transform        {n:>9,} rows      {t_hash:8.3f} s   row 0 -> buckets {hashes[0].tolist()}")

    q_rows = np.arange(half, half + min(args.queries, half))
    t0 = time.perf_counter()
    found = model.batch_approx_nearest_neighbors(x, x[q_rows], k=2)
    t_knn = time.perf_counter() - t0
    # Each query is a row of x itself (distance 0); its planted partner must come next.
    partner_second = sum(1 for q, res in zip(q_rows, found) if len(res) > 1 and res[1][0] == q - half)
    print(f"batch kNN (k=2)  {len(q_rows):>9,} queries   {t_knn:8.3f} s   planted partner ranked next: {partner_second:,}/{len(q_rows):,}")

    t0 = time.perf_counter()
    pairs = model.approx_similarity_join(x, x, args.threshold)
    t_join = time.perf_counter() - t0
    planted = {(i, i + half) for i in range(half)}
    found_planted = sum(1 for a, b, _ in pairs if (a, b) in planted)
    print(
        f"self-join <{args.threshold:<4}  {len(pairs):>9,} rows      {t_join:8.3f} s   "
        f"planted pairs found: {found_planted:,}/{half:,} (Spark's self-join rows: n self pairs + both orders)"
    )
    ok = partner_second == len(q_rows) and found_planted == half
    print("all planted pairs found" if ok else "MISSING planted pairs: parameters too coarse for this data?")
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m fast_lsh_ann`` and ``fast-lsh``."""
    parser = argparse.ArgumentParser(prog="fast-lsh", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="hash, search and join generated planted near-duplicates")
    demo.add_argument("--n", type=int, default=20_000, help="rows (default 20,000)")
    demo.add_argument("--dim", type=int, default=128, help="dimension (default 128)")
    demo.add_argument("--noise", type=float, default=0.05, help="std-dev of the planted copies' noise")
    demo.add_argument("--seed", type=int, default=0, help="data seed")
    demo.add_argument("--bucket-length", type=float, default=2.0, help="BRP bucket length (Spark benchmark: 2.0)")
    demo.add_argument("--tables", type=int, default=5, help="number of hash tables (Spark benchmark: 5)")
    demo.add_argument("--threshold", type=float, default=1.5, help="join distance threshold (default 1.5)")
    demo.add_argument("--queries", type=int, default=1_000, help="k-NN queries (default 1,000)")
    demo.set_defaults(run=_demo)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
