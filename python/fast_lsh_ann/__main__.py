"""Command line: ``python -m fast_lsh_ann`` (also installed as ``fast-lsh``).

Subcommands:

- ``build PATH --input FILE``: build an on-disk index at PATH from a 2-D .npy file (memory-mapped
  and read in row chunks, so it may be larger than RAM) or a .parquet file with a list column
  of vectors (needs pyarrow);
- ``knn PATH --queries FILE``: the k nearest indexed rows of every query, printed as a short
  table or written to an .npz file (arrays ``ids`` and ``distances``);
- ``join PATH [--other PATH_OR_FILE] (--threshold T | --knn K) [--out OUT.parquet]``: a
  similarity join (pairs closer than T) or a k-NN join (the K nearest rows for every row) of
  the index with itself, another index or a .npy/.parquet file, written to Parquet (published
  when complete) or counted;
- ``info PATH``: rows, dimension, build parameters and the size on disk of every file;
- ``verify PATH``: read every file and check its checksum; prints ``ok``, or the damage on
  stderr with exit status 1;
- ``demo``: hashing, batch k-NN and a similarity join with Spark's parameters on generated
  planted near-duplicates, checking the answers.

Mistakes a user can make (a missing or malformed file, a dimension mismatch, a bad parameter,
an existing index without ``--overwrite``, Parquet without pyarrow installed) print one line on
stderr and exit with status 2;
a damaged or incompatible index exits with status 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._files import open_input, read_ids, read_queries
from ._index import Index
from ._model import BucketedRandomProjectionLSH
from ._native import LshError
from .datasets import planted_near_duplicates


class _UserError(Exception):
    """A mistake in the command line: one line on stderr, exit 2 (mistakes in the files it
    names are ``_files.InputFileError``, a ``ValueError``, and exit 2 too)."""


# --------------------------------------------------------------------------- subcommands


def _check_target(path: str, overwrite: bool) -> None:
    """Refuse what the index writer would refuse less clearly (or a file it would replace)."""
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise _UserError(f"{path}: directory {parent} does not exist")
    if os.path.lexists(path) and not os.path.isdir(path):
        raise _UserError(f"{path} exists and is not a directory")
    if os.path.lexists(path) and not overwrite:
        raise _UserError(f"{path} already exists; pass --overwrite to replace it")


def _build(args: argparse.Namespace) -> int:
    _check_target(args.path, args.overwrite)
    rows, chunks = open_input(args.input, args.column)
    ids = None if args.ids is None else read_ids(args.ids, rows, args.input)
    t0 = time.perf_counter()
    idx = Index.build(
        args.path,
        chunks,
        bucket_length=args.bucket_length,
        num_hash_tables=args.tables,
        projections_per_table=args.projections_per_table,
        seed=args.seed,
        sketch_bits=args.sketch_bits,
        ids=ids,
        memory_budget=args.memory_budget,
        progress=args.progress,
        overwrite=args.overwrite,
    )
    elapsed = time.perf_counter() - t0
    print(f"built {idx.path}: {len(idx):,} rows, dim {idx.dim}, in {elapsed:.3f} s")
    return 0


def _knn(args: argparse.Namespace) -> int:
    if args.out is not None and not args.out.lower().endswith(".npz"):
        raise _UserError(f"--out {args.out}: write the results to a .npz file")
    idx = Index.open(args.path)
    queries = read_queries(args.queries, args.column)
    t0 = time.perf_counter()
    ids, dist = idx.knn(queries, k=args.k, probes=args.probes, rerank=args.rerank)
    elapsed = time.perf_counter() - t0
    print(f"{ids.shape[0]:,} queries, k={args.k}, probes={args.probes}: {elapsed:.3f} s")
    if args.out is not None:
        with open(args.out, "wb") as f:
            np.savez(f, ids=ids, distances=dist)
        print(f"wrote ids and distances {ids.shape} to {args.out}")
    else:
        _print_neighbours(ids, dist, args.show)
    return 0


def _join(args: argparse.Namespace) -> int:
    if (args.threshold is None) == (args.knn is None):
        raise _UserError("give exactly one of --threshold T (similarity join) or --knn K (k-NN join)")
    if args.out is not None and os.path.lexists(args.out) and not args.overwrite:
        raise _UserError(f"{args.out} already exists; pass --overwrite to replace it")
    idx = Index.open(args.path)
    other: Any = None
    if args.other is not None:
        if os.path.isdir(args.other):
            other = Index.open(args.other)
        elif args.knn is not None:
            raise _UserError(f"--other {args.other}: a k-NN join needs another index directory")
        else:
            other = open_input(args.other, args.column)[1]
    t0 = time.perf_counter()
    if args.knn is not None:
        if args.out is None:
            raise _UserError("a k-NN join writes its answers: give --out OUT.parquet")
        idx.knn_join(other, k=args.knn, probes=args.probes, rerank=args.rerank, out=args.out, overwrite=args.overwrite, progress=args.progress)
        print(f"k-NN join of {len(idx):,} rows, k={args.knn}: {time.perf_counter() - t0:.3f} s, written to {args.out}")
        return 0
    join = idx.join(
        other,
        threshold=args.threshold,
        min_collisions=args.min_collisions,
        max_bucket_rows=args.max_bucket_rows,
        max_hamming=args.max_hamming,
        out=args.out,
        count_only=args.out is None,
        overwrite=args.overwrite,
        progress=args.progress,
        memory_budget=args.memory_budget,
    )
    s = join.summary
    assert s is not None, "a join with out= or count_only=True has run to its end"
    where = f", written to {args.out}" if args.out else " (counted; --out OUT.parquet writes them)"
    print(f"{s['pairs']:,} pairs closer than {args.threshold} in {time.perf_counter() - t0:.3f} s{where}")
    p = s["bucket_rows_p50_p90_p99_p999"]
    print(
        f"  {s['candidate_pairs']:,} candidate pairs in {s['shared_buckets']:,} shared buckets; "
        f"rows per bucket p50 {p[0]:,} p99 {p[2]:,} max {s['max_bucket_rows']:,}; plan {s['plan']}"
        + (f"; {s['capped_buckets']:,} buckets sampled" if s["capped_buckets"] else "")
    )
    return 0


def _print_neighbours(ids: np.ndarray, dist: np.ndarray, show: int) -> None:
    print("query  neighbours: id (distance), nearest first")
    for q in range(min(show, ids.shape[0])):
        cells = [f"{i} ({d:.6g})" for i, d in zip(ids[q].tolist(), dist[q].tolist()) if np.isfinite(d)]
        print(f"{q:>5}  {'  '.join(cells) or '(none found)'}")
    if ids.shape[0] > show:
        print(f"... {ids.shape[0] - show:,} more queries (--out FILE.npz saves them all)")


def _info(args: argparse.Namespace) -> int:
    idx = Index.open(args.path)
    params = "  ".join(f"{k}={v}" for k, v in idx.params.items())
    print(f"index   {idx.path}\nrows    {len(idx):,}\ndim     {idx.dim}\nparams  {params}\nfiles")
    sizes = sorted((e.name, e.stat().st_size) for e in os.scandir(args.path) if e.is_file())
    width = max(len(name) for name, _ in sizes)
    for name, size in sizes:
        print(f"  {name:<{width}}  {_size(size)}")
    print(f"  {'total':<{width}}  {_size(sum(size for _, size in sizes))}")
    return 0


def _size(n: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n:>15,} B  ({n / scale:.1f} {unit})"
    return f"{n:>15,} B"


def _verify(args: argparse.Namespace) -> int:
    Index.open(args.path).verify()
    print("ok")
    return 0


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


# --------------------------------------------------------------------------- the parser


def _add_build(sub: Any) -> None:
    p = sub.add_parser("build", help="build an on-disk index from a .npy or .parquet file")
    p.add_argument("path", metavar="PATH", help="the index directory to write")
    p.add_argument("--input", required=True, metavar="FILE",
                   help="vectors: a 2-D .npy array (read in chunks through mmap) or a .parquet file (needs pyarrow)")
    p.add_argument("--column", metavar="NAME",
                   help="Parquet input: the list column holding the vectors (default: 'embedding' or the only column)")
    p.add_argument("--bucket-length", type=float, required=True, metavar="W", help="BRP bucket length (required)")
    p.add_argument("--tables", type=int, required=True, metavar="L", help="number of hash tables (required)")
    p.add_argument("--projections-per-table", type=int, default=1, metavar="K",
                   help="projections combined per table (AND-amplification; default 1, Spark's hashes)")
    p.add_argument("--seed", type=int, default=42, metavar="S", help="random projections seed (default 42)")
    p.add_argument("--sketch-bits", type=int, default=0, metavar="B",
                   help="store a B-bit sign sketch per row (a multiple of 64, e.g. 256) so k-NN ranks candidates "
                        "by Hamming distance before exact distances (default 0: none)")
    p.add_argument("--ids", metavar="FILE", help="a 1-D integer .npy array: external ids, one per row (default: row numbers)")
    p.add_argument("--memory-budget", default="1GB", metavar="SIZE",
                   help="bound on the sort buffers, e.g. 256MB or 2GiB (default 1GB); the rest spills to disk")
    p.add_argument("--overwrite", action="store_true", help="replace an existing index at PATH")
    p.add_argument("--progress", action="store_true", help="show the rows written so far on stderr")
    p.set_defaults(run=_build)


def _add_knn(sub: Any) -> None:
    p = sub.add_parser("knn", help="k nearest indexed rows of each query")
    p.add_argument("path", metavar="PATH", help="the index directory")
    p.add_argument("--queries", required=True, metavar="FILE", help="queries: a 2-D .npy array (or .parquet, needs pyarrow)")
    p.add_argument("--column", metavar="NAME", help="Parquet queries: the list column holding the vectors")
    p.add_argument("-k", type=int, default=10, help="neighbours per query (default 10)")
    p.add_argument("--probes", type=int, default=0, help="extra buckets visited per table (multi-probe; default 0)")
    p.add_argument("--rerank", type=int, metavar="R",
                   help="on an index with sketches: candidates measured exactly per query (default 20 x k)")
    p.add_argument("--out", metavar="OUT.npz",
                   help="write arrays ids (int64) and distances (float32), shape (queries, k), to this .npz file")
    p.add_argument("--show", type=int, default=5, metavar="N", help="queries printed when there is no --out (default 5)")
    p.set_defaults(run=_knn)


def _add_join(sub: Any) -> None:
    p = sub.add_parser("join", help="similarity join (--threshold) or k-NN join (--knn) of an index")
    p.add_argument("path", metavar="PATH", help="the index directory")
    p.add_argument("--other", metavar="PATH_OR_FILE",
                   help="another index directory, or vectors in a .npy/.parquet file (default: a self-join)")
    p.add_argument("--column", metavar="NAME", help="Parquet --other: the list column holding the vectors")
    p.add_argument("--threshold", type=float, metavar="T", help="report pairs closer than T")
    p.add_argument("--knn", type=int, metavar="K", help="instead: the K nearest rows of every row (needs --out)")
    p.add_argument("--probes", type=int, default=0, help="k-NN join: extra buckets visited per table (default 0)")
    p.add_argument("--rerank", type=int, metavar="R",
                   help="k-NN join on an index with sketches: candidates measured exactly per row (default 20 x k)")
    p.add_argument("--min-collisions", type=int, default=1, metavar="M", help="keep pairs colliding in >= M tables")
    p.add_argument("--max-bucket-rows", type=int, metavar="N", help="sample buckets larger than N rows (reported)")
    p.add_argument("--max-hamming", type=int, metavar="B",
                   help="on an index with sketches: skip pairs whose sketches differ in more than B bits")
    p.add_argument("--memory-budget", default="1GB", metavar="SIZE", help="bound for bucketing a file given as --other")
    p.add_argument("--out", metavar="OUT.parquet", help="write the result to Parquet (a directory of parts without .parquet)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--progress", action="store_true", help="show progress on stderr")
    p.set_defaults(run=_join)


def _add_info(sub: Any) -> None:
    p = sub.add_parser("info", help="rows, dimension, parameters and file sizes of an index")
    p.add_argument("path", metavar="PATH", help="the index directory")
    p.set_defaults(run=_info)


def _add_verify(sub: Any) -> None:
    p = sub.add_parser("verify", help="check every checksum of an index (exit 1 if damaged)")
    p.add_argument("path", metavar="PATH", help="the index directory")
    p.set_defaults(run=_verify)


def _add_demo(sub: Any) -> None:
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fast-lsh", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_build, _add_knn, _add_join, _add_info, _add_verify, _add_demo):
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m fast_lsh_ann`` and ``fast-lsh``.

    Returns the exit status: 0 success, 1 a damaged or incompatible index (or a failed demo),
    2 a usage error (bad arguments, missing or malformed files, an existing index, no pyarrow
    for Parquet).
    """
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except LshError as e:  # CorruptIndexError, IncompatibleIndexError
        return _fail(args.command, e, 1)
    except (_UserError, OSError, ValueError, TypeError, ImportError) as e:  # ImportError: no pyarrow
        return _fail(args.command, e, 2)
    except KeyboardInterrupt:
        print(f"fast-lsh {args.command}: interrupted", file=sys.stderr)
        return 130


def _fail(command: str, error: BaseException, status: int) -> int:
    print(f"fast-lsh {command}: error: {error}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
