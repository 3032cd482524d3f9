"""Build and self-join an index of planted near-duplicates at scale, with memory smaller
than the index when asked: one command per run, for example

    python benches/python/bench_scale.py --rows 4000000 --dim 128 --cap 1GB --in-cache --knn 1000
    python benches/python/bench_scale.py --rows 100000000 --dim 64 --projections 16 --join-budget 1.5GB

Protocol: benches/RESULTS.md, section "Joins larger than memory".
"""

from __future__ import annotations

import argparse
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import common
import numpy as np

import fast_lsh_ann as fla

CHUNK = 1 << 18


def far_planted_chunks(n: int, dim: int, noise: float, seed: int) -> Iterator[np.ndarray]:
    """The planted set in chunks: every base chunk, then the same chunks with noise, so row
    ``i``'s partner is row ``i + n/2``, half the index away (``common.planted_chunks`` keeps
    partners within a chunk, which would put every pair in one block of rows)."""
    half = n // 2
    for copy in (False, True):
        for c, at in enumerate(range(0, half, CHUNK)):
            rows = min(CHUNK, half - at)
            base = np.random.default_rng([seed, c]).standard_normal((rows, dim), dtype=np.float32)
            if copy:
                base += np.float32(noise) * np.random.default_rng([seed, c, 1]).standard_normal((rows, dim), dtype=np.float32)
            yield base


def io_bytes() -> tuple[int, int]:
    io = common.proc_io()
    return io.get("read_bytes", 0), io.get("write_bytes", 0)


def mem_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


class Phase:
    """Times a phase and samples its peak RssAnon and its I/O."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> Phase:
        self.peak_kb = 0.0
        self._done = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self.available = mem_available()
        self.io0 = io_bytes()
        self.t0 = time.perf_counter()
        self._sampler.start()
        return self

    def _sample(self) -> None:
        while not self._done.wait(0.1):
            self.peak_kb = max(self.peak_kb, (common.rss_anon_mb() or 0.0) * 1024)

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.t0
        self._done.set()
        self._sampler.join()
        self.peak_kb = max(self.peak_kb, (common.rss_anon_mb() or 0.0) * 1024)
        r, w = io_bytes()
        self.read, self.written = r - self.io0[0], w - self.io0[1]

    def row(self, extra: str) -> str:
        gb = 1e9
        return (
            f"| {self.name} | {self.seconds:.1f} | {self.read / gb:.2f} | {self.written / gb:.2f} "
            f"| {self.peak_kb * 1024 / gb:.2f} | {self.available / gb:.1f} | {extra} |"
        )


def byte_size(text: str) -> int:
    """``"1.5GB"``, ``"512MB"`` or a plain number of bytes, as ``Index`` reads them."""
    return fla._inputs.byte_size(text, "size")


def cap_memory(limit: int) -> Path:
    """Move this process into a fresh memory cgroup of `limit` bytes, page cache dropped."""
    group = Path(f"/sys/fs/cgroup/memory/fla-bench-{os.getpid()}")
    group.mkdir()
    (group / "memory.limit_in_bytes").write_text(str(limit))
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("1")
    (group / "cgroup.procs").write_text(str(os.getpid()))
    return group


def uncap(group: Path) -> None:
    Path("/sys/fs/cgroup/memory/cgroup.procs").write_text(str(os.getpid()))
    group.rmdir()


def self_join(idx: fla.Index, threshold: float, half: int, budget: int | None) -> tuple[int, int, dict]:
    pairs = planted = 0
    join = idx.join(threshold=threshold, memory_budget=budget)
    for a, b, _ in join:
        pairs += len(a)
        planted += int(np.count_nonzero(np.abs(b - a) == half))
    assert join.summary is not None
    return pairs, planted, dict(join.summary)


def knn_join_recall(idx: fla.Index, k: int, half: int, budget: int | None, out: Path) -> str:
    """Every row's k nearest, streamed to Parquet (all rows' answers would not fit a cap);
    then the share of rows whose planted partner is among them, read back in batches."""
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    idx.knn_join(k=k, memory_budget=budget, out=out, overwrite=True)
    found = rows = 0
    for batch in pq.ParquetFile(out).iter_batches(columns=["id", "neighbors"]):
        ids = batch.column(0).to_numpy()
        nbrs = batch.column(1).values.to_numpy().reshape(-1, k)
        partner = np.where(ids < half, ids + half, ids - half)
        found += int((nbrs == partner[:, None]).any(axis=1).sum())
        rows += len(ids)
    out.unlink()
    return f"planted partner among the {k} nearest: {found / rows:.4f} of {rows:,} rows"


def knn_latency(idx: fla.Index, queries: np.ndarray) -> str:
    lat = []
    for q in queries:
        t = time.perf_counter()
        idx.knn(q[None, :], k=10)
        lat.append(time.perf_counter() - t)
    t = time.perf_counter()
    idx.knn(queries, k=10)
    batch = len(queries) / (time.perf_counter() - t)
    ms = np.array(lat) * 1e3
    return f"knn k=10: p50 {np.percentile(ms, 50):.2f} ms, p99 {np.percentile(ms, 99):.2f} ms, batch {batch:,.0f} q/s"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, required=True)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--noise", type=float, default=0.05)
    p.add_argument("--bucket-length", type=float, default=1.0)
    p.add_argument("--tables", type=int, default=5)
    p.add_argument("--projections", type=int, default=8)
    p.add_argument("--threshold", type=float, default=1.0)
    p.add_argument("--build-budget", default="1GB")
    p.add_argument("--join-budget", default=None, help="memory_budget of the capped join (default: the cap's half)")
    p.add_argument("--cap", default=None, help="cgroup memory limit for the capped join, e.g. 1GB")
    p.add_argument("--in-cache", action="store_true", help="also join with the index in the page cache first")
    p.add_argument("--knn", type=int, default=0, help="time this many k-NN queries")
    p.add_argument("--knn-join", type=int, default=0, help="also time knn_join with this k (every row's k nearest)")
    p.add_argument("--dir", type=Path, default=Path("/work/scale"))
    p.add_argument("--out", type=Path, default=Path("benches/scale-results.md"))
    p.add_argument("--keep", action="store_true", help="keep the index afterwards")
    p.add_argument("--reuse", action="store_true", help="open the index kept by an earlier run instead of building")
    args = p.parse_args()

    args.dir.mkdir(parents=True, exist_ok=True)
    path = args.dir / f"planted-{args.rows}x{args.dim}"
    half = args.rows // 2
    lines = [
        f"\n### {args.rows:,} x {args.dim}, noise {args.noise}, bucket_length {args.bucket_length}, "
        f"{args.tables} tables x {args.projections} projections, threshold {args.threshold}"
        f" ({time.strftime('%Y-%m-%d %H:%M')})\n",
        "| phase | s | GB read | GB written | peak RssAnon GB | MemAvailable GB | result |",
        "|---|---|---|---|---|---|---|",
    ]
    with Phase("open (kept index)" if args.reuse else "build") as ph:
        idx = fla.Index.open(path) if args.reuse else fla.Index.build(
            path,
            far_planted_chunks(args.rows, args.dim, args.noise, 0),
            bucket_length=args.bucket_length,
            num_hash_tables=args.tables,
            projections_per_table=args.projections,
            memory_budget=args.build_budget,
            overwrite=True,
        )
    index_gb = sum(f.stat().st_size for f in path.iterdir()) / 1e9
    lines.append(ph.row(f"index {index_gb:.2f} GB"))
    print(lines[-1], flush=True)
    queries = np.concatenate(list(far_planted_chunks(2 * min(max(args.knn, 1), CHUNK), args.dim, args.noise, 1)))[: args.knn]
    if args.in_cache:
        with Phase("join, in cache") as ph:
            pairs, planted, s = self_join(idx, args.threshold, half, 1 << 62)
        lines.append(ph.row(f"{pairs:,} pairs, planted recall {planted / half:.4f}, plan {s['plan']}"))
        print(lines[-1], flush=True)
        if args.knn:
            lines.append(f"| knn, in cache | | | | | | {knn_latency(idx, queries)} |")
        if args.knn_join:
            with Phase(f"knn_join k={args.knn_join}, in cache") as ph:
                found = knn_join_recall(idx, args.knn_join, half, 1 << 62, args.dir / "knn.parquet")
            lines.append(ph.row(found))
            print(lines[-1], flush=True)
    # Unmapped first: pages this process maps cannot be dropped from the page cache.
    del idx
    cap = byte_size(args.cap) if args.cap else None
    group = cap_memory(cap) if cap else None
    try:
        idx = fla.Index.open(path)
        budget = byte_size(args.join_budget) if args.join_budget else (cap // 2 if cap else None)
        name = f"join, capped at {args.cap}, cold" if args.cap else "join"
        with Phase(name) as ph:
            pairs, planted, s = self_join(idx, args.threshold, half, budget)
        lines.append(
            ph.row(
                f"{pairs:,} pairs, planted recall {planted / half:.4f}, plan {s['plan']}, "
                f"budget {budget}, block reads {s.get('block_reads')}"
            )
        )
        print(lines[-1], flush=True)
        if args.knn:
            lines.append(f"| knn, capped at {args.cap} | | | | | | {knn_latency(idx, queries)} |")
        if args.knn_join:
            del idx
            # A fresh cgroup and a dropped page cache: this join starts cold too.
            if group is not None:
                uncap(group)
            group = cap_memory(cap) if cap else None
            idx = fla.Index.open(path)
            with Phase(f"knn_join k={args.knn_join}, capped at {args.cap}, cold") as ph:
                found = knn_join_recall(idx, args.knn_join, half, budget, args.dir / "knn.parquet")
            lines.append(ph.row(found))
            print(lines[-1], flush=True)
    finally:
        if group is not None:
            uncap(group)
    with args.out.open("a") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    del idx
    if not args.keep:
        shutil.rmtree(path)


if __name__ == "__main__":
    main()
