"""The on-disk index: built once (external sort into immutable segments), reopened instantly.

An index is a directory of mmap'd segment files and a MANIFEST written last and atomically:
a build that is interrupted leaves no index (or the previous one) at ``path``, never a
half-written one.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypedDict

import numpy as np
import numpy.typing as npt

from . import _files, _inputs, _memory
from ._native import Index as _NativeIndex
from ._native import IndexWriter as _NativeWriter
from ._native import JoinStream as _NativeJoinStream
from ._types import Distances, Ids, IndexParams, JoinPlan, JoinSummary, StreamSummary

__all__ = ["Index", "Join"]

_CHUNK_ROWS = 65_536


class _JoinOptions(TypedDict):
    """The checked options of :meth:`Index.join`, passed by name (``**options``, checked by
    mypy against ``_native.pyi``) to every engine join it starts."""

    threshold: float
    min_collisions: int
    max_bucket_rows: int | None
    max_hamming: int | None
    memory_budget: int
    batch_rows: int
    count_only: bool


class Index:
    """An LSH index directory opened for queries (mmap: opening does not read the data)."""

    def __init__(self, native: _NativeIndex, path: str) -> None:
        self._native = native
        self._path = path

    @classmethod
    def build(
        cls,
        path: str | os.PathLike[str],
        vectors: npt.ArrayLike | Iterable[npt.ArrayLike],
        *,
        bucket_length: float,
        num_hash_tables: int,
        seed: int = 42,
        projections_per_table: int = 1,
        sketch_bits: int = 0,
        ids: npt.ArrayLike | None = None,
        memory_budget: int | str = "1GB",
        progress: bool = False,
        overwrite: bool = False,
    ) -> Index:
        """Build an index at ``path`` from a 2-D array or an iterable of 2-D chunks.

        ``projections_per_table=k`` buckets by ``k`` projections at once (AND-amplification;
        ``k=1`` is Spark's scheme and gives Spark's hashes; with ``k > 1``, which Spark has
        no counterpart of, projections are computed in float32, about 3x faster). ``ids``: optional int64 external
        ids, one per row (default: row numbers). ``sketch_bits`` (a multiple of 64, e.g.
        256 or 512; 0 for none) stores a sign sketch of every row: :meth:`knn` then ranks
        candidates by Hamming distance and measures only the nearest few exactly, which
        is what makes coarse buckets (many candidates, high recall) fast on embeddings
        that buckets alone separate poorly. ``memory_budget`` bounds the sort buffers
        (bytes, or a string like ``"256MB"``); what does not fit is spilled to compressed
        runs and merged. Refuses an existing ``path`` unless ``overwrite``. Vectors are
        stored as float32.
        """
        bl, tables, seed = _inputs.brp_params(bucket_length, num_hash_tables, seed)
        k = _inputs.positive_int(projections_per_table, "projections_per_table")
        sketch_bits = _inputs.non_negative_int(sketch_bits, "sketch_bits")
        budget = _inputs.byte_size(memory_budget, "memory_budget")
        path = os.fspath(path)
        id_array = None if ids is None else _inputs.ids(ids)
        writer: _NativeWriter | None = None
        bar = _Progress(progress)
        try:
            for chunk in _inputs.chunks(vectors, "vectors", _CHUNK_ROWS):
                arr = _inputs.matrix(chunk, "vectors")
                if writer is None:
                    writer = _NativeWriter(path, arr.shape[1], bl, tables, k, seed, sketch_bits, budget, bool(overwrite))
                start = writer.rows()
                chunk_ids = None
                if id_array is not None:
                    chunk_ids = id_array[start : start + arr.shape[0]]
                    if chunk_ids.shape[0] != arr.shape[0]:
                        raise ValueError(f"ids has {id_array.shape[0]} values, fewer than the rows given")
                writer.append(arr, chunk_ids)
                bar.update(arr.shape[0])
            if writer is None:
                raise ValueError("vectors is empty: no chunk to build from")
            if id_array is not None and id_array.shape[0] != writer.rows():
                raise ValueError(f"ids has {id_array.shape[0]} values for {writer.rows()} rows")
            writer.finish()
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        finally:
            bar.close()
        return cls.open(path)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Index:
        """Open the index at ``path``; ``FileNotFoundError`` if there is none,
        ``CorruptIndexError`` if its files are damaged."""
        p = os.fspath(path)
        return cls(_NativeIndex.open(p), p)

    def __len__(self) -> int:
        return len(self._native)

    @property
    def dim(self) -> int:
        """Dimension of the vectors."""
        return self._native.params()[0]

    @property
    def params(self) -> IndexParams:
        """The build parameters, accepted by :meth:`build` as they are."""
        _dim, bl, tables, k, seed, sketch_bits = self._native.params()
        return IndexParams(bucket_length=bl, num_hash_tables=tables, projections_per_table=k, seed=seed, sketch_bits=sketch_bits)

    @property
    def path(self) -> str:
        """The index directory."""
        return self._path

    def knn(self, queries: npt.ArrayLike, k: int = 10, probes: int = 0, *, rerank: int | None = None) -> tuple[Ids, Distances]:
        """The ``k`` nearest rows to each query among those sharing a bucket with it in some
        table, visiting ``probes`` extra buckets per table (query-directed multi-probe).

        On an index built with ``sketch_bits``, only the ``rerank`` candidates nearest in
        Hamming distance get an exact distance (at least ``k``; default ``20 * k``; more is slower and
        more accurate). Without sketches every candidate does, and ``rerank`` is refused.

        Returns ``(ids, distances)``: int64 and float32 arrays of shape ``(q, k)``, nearest
        first; slots beyond what was found hold id -1 and distance inf.
        """
        k = _inputs.positive_int(k, "k")
        probes = _inputs.non_negative_int(probes, "probes")
        rerank = _inputs.optional_positive_int(rerank, "rerank")
        arr = _inputs.matrix(queries, "queries", self.dim) if np.ndim(queries) != 1 else _inputs.vector(queries, "queries", self.dim)
        if arr.shape[0] == 0:
            return np.empty((0, k), dtype=np.int64), np.empty((0, k), dtype=np.float32)
        return self._native.knn(arr, k, probes, rerank)

    def verify(self) -> None:
        """Read every file and check its checksum; raises ``CorruptIndexError``."""
        self._native.verify()

    def join(
        self,
        other: Index | npt.ArrayLike | Iterable[npt.ArrayLike] | None = None,
        threshold: float = 1.0,
        *,
        min_collisions: int = 1,
        max_bucket_rows: int | None = None,
        max_hamming: int | None = None,
        out: str | os.PathLike[str] | None = None,
        count_only: bool = False,
        progress: bool = False,
        overwrite: bool = False,
        memory_budget: int | str | None = None,
        batch_rows: int = 65_536,
    ) -> Join:
        """All pairs sharing a bucket in some table and closer than ``threshold`` (strictly).

        ``other``: ``None`` (a self-join: each unordered pair ``{i, j}``, ``i != j``, once),
        another index built with the same parameters, or vectors not in an index (a 2-D
        array, or an iterable of 2-D chunks; hashed and bucketed in memory within
        ``memory_budget``; their ids are row numbers across the chunks).

        Returns a :class:`Join`: iterate it for chunks ``(ids_a, ids_b, dist)`` (int64,
        int64, float32 numpy arrays) while the join runs on other cores; memory is a few
        chunks of ``batch_rows`` pairs whatever the output size. With ``out=`` the pairs are
        written to Parquet instead (columns ``id_a``, ``id_b``, ``distance``; a file if
        ``out`` ends in ``.parquet``, else a directory of parts), published only when
        complete; with ``count_only=True`` they are only counted. Either way the returned
        join has run to its end, and ``join.summary`` says what it did.

        ``min_collisions``: keep a pair only when it collides in at least that many tables.
        ``max_bucket_rows``: sample buckets with more rows than this on a side (giant
        buckets of duplicates); ``summary["capped_buckets"]`` reports when it acted.
        ``max_hamming``: on an index built with ``sketch_bits``, skip candidate pairs whose
        sign sketches differ in more than this many bits before measuring them: much faster
        when most candidates are far, at some loss of recall (see the README for how to
        choose it). ``other`` must then be vectors or this index itself: another index's
        sketch planes are fitted to its own data and do not compare.

        When the shared buckets would hold most of all pairs, the join scans every pair
        once instead of walking the buckets (same pairs, less work). When the vectors of
        both sides exceed ``memory_budget`` (default: half the memory this process may
        use, page cache included, as the system or its memory cgroup allows), it lists the
        candidate pairs first and measures them block of rows by block, so that an index
        larger than memory is read sequentially a few times instead of page by page.
        ``summary["plan"]`` says which it did (``"buckets"``, ``"all_pairs"`` or
        ``"blocked"``).
        Ctrl-C stops the join promptly and leaves no output file.
        """
        options = _JoinOptions(
            threshold=_inputs.threshold(threshold),
            min_collisions=_inputs.positive_int(min_collisions, "min_collisions"),
            max_bucket_rows=_inputs.optional_positive_int(max_bucket_rows, "max_bucket_rows"),
            max_hamming=_inputs.optional_non_negative_int(max_hamming, "max_hamming"),
            memory_budget=(
                _memory.default_join_budget()
                if memory_budget is None
                else _inputs.byte_size(memory_budget, "memory_budget")
            ),
            batch_rows=_inputs.positive_int(batch_rows, "batch_rows"),
            count_only=bool(count_only),
        )
        if out is not None and count_only:
            raise ValueError("out= and count_only=True exclude each other")
        streams = self._join_streams(other, options, options["memory_budget"])
        join = Join(streams, progress=progress)
        if count_only:
            join._count()
        elif out is not None:
            with _files.ParquetSink(out, _files.pair_schema(), overwrite=overwrite) as sink:
                for ids_a, ids_b, dist in join:
                    sink.write({"id_a": ids_a, "id_b": ids_b, "distance": dist})
        return join

    def _join_streams(self, other: Any, options: _JoinOptions, budget: int) -> Iterable[_NativeJoinStream]:
        if other is None or isinstance(other, Index):
            native_other = None if other is None else other._native
            yield self._native.join(native_other, **options)
            return
        first_id = 0
        # Vectors (f32 copy + input), sort entries and sketches.
        params = self.params
        per_row = self.dim * 8 + params["num_hash_tables"] * 40 + params["sketch_bits"] // 8
        rows_per_part = max(1, budget // per_row)
        for chunk in _inputs.chunks(other, "other", _CHUNK_ROWS):
            arr = _inputs.matrix(chunk, "other", self.dim)
            for at in range(0, arr.shape[0], rows_per_part):
                part = arr[at : at + rows_per_part]
                yield self._native.join_rows(part, first_id, **options)
                first_id += part.shape[0]

    def knn_join(
        self,
        other: Index | None = None,
        k: int = 10,
        *,
        probes: int = 0,
        rerank: int | None = None,
        out: str | os.PathLike[str] | None = None,
        overwrite: bool = False,
        progress: bool = False,
        chunk_rows: int = 65_536,
        memory_budget: int | str | None = None,
    ) -> tuple[Ids, Distances] | None:
        """For every row of this index, its ``k`` nearest rows of ``other`` (of this index
        itself, the row excluded, when ``None``) among those sharing a bucket with it.

        Returns ``(ids, dist)`` of shape ``(len(self), k)`` as :meth:`knn` does (row ``r`` of
        them answers this index's row ``r``); ``probes`` and ``rerank`` as in :meth:`knn`.
        With ``out=`` the answers are written to
        Parquet in chunks instead (columns ``id``, ``neighbors``, ``distances``; published
        when complete) and ``None`` is returned, so memory stays at one chunk. Runs chunk
        by chunk with the GIL released; Ctrl-C stops it between chunks.

        When the vectors of both indexes exceed ``memory_budget`` (default: half of what
        the process may use, page cache included) and the search is exhaustive over the
        buckets (``probes=0``, an index without sketches), the answers are the same but
        found as :meth:`join` finds pairs beyond memory: candidates listed first, then
        measured block of rows by block, so the index is read sequentially.
        """
        k = _inputs.positive_int(k, "k")
        probes = _inputs.non_negative_int(probes, "probes")
        rerank = _inputs.optional_positive_int(rerank, "rerank")
        chunk_rows = _inputs.positive_int(chunk_rows, "chunk_rows")
        if other is not None and not isinstance(other, Index):
            raise TypeError(f"other must be an Index or None, got {type(other).__name__}")
        native_other = None if other is None else other._native
        budget = _memory.default_join_budget() if memory_budget is None else _inputs.byte_size(memory_budget, "memory_budget")
        rows = len(self) + (0 if other is None else len(other))
        blocked = probes == 0 and rerank is None and self.params["sketch_bits"] == 0 and 4 * self.dim * rows > budget
        if out is None:
            parts: list[tuple[Ids, Distances]] = []
            self._knn_join_parts(native_other, k, (probes, rerank), chunk_rows, progress, blocked, budget, lambda s, e, i, d: parts.append((i, d)))
            if not parts:
                return np.empty((0, k), dtype=np.int64), np.empty((0, k), dtype=np.float32)
            return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        with _files.ParquetSink(out, _files.knn_schema(k), overwrite=overwrite) as sink:
            self._knn_join_parts(
                native_other,
                k,
                (probes, rerank),
                chunk_rows,
                progress,
                blocked,
                budget,
                lambda start, end, ids, dist: sink.write(
                    {
                        "id": self._native.external_ids(start, end),
                        "neighbors": _files.fixed_lists(ids, k),
                        "distances": _files.fixed_lists(dist, k),
                    }
                ),
            )
        return None

    def _knn_join_parts(
        self,
        native_other: _NativeIndex | None,
        k: int,
        search: tuple[int, int | None],
        chunk_rows: int,
        progress: bool,
        blocked: bool,
        budget: int,
        take: Callable[[int, int, Ids, Distances], object],
    ) -> None:
        """Hand the k-NN join's answers to ``take(start, end, ids, dist)`` in row order: chunk
        by chunk (GIL released in each), or, ``blocked``, a block of rows at a time as the
        engine's out-of-memory plan finishes them."""
        bar = _Progress(progress, "k-NN join", " rows")

        def part(start: int, ids: Ids, dist: Distances) -> None:
            take(start, start + len(ids), ids, dist)
            bar.update(len(ids))

        try:
            if blocked:
                self._native.knn_join_blocked(native_other, k, budget, part)
                return
            for start in range(0, len(self), chunk_rows):
                end = min(len(self), start + chunk_rows)
                part(start, *self._native.knn_join(native_other, start, end, k, *search))
        finally:
            bar.close()

    def __repr__(self) -> str:
        return f"Index({self._path!r}, rows={len(self)}, dim={self.dim}, params={self.params})"


class Join:
    """A similarity join of an index (see :meth:`Index.join`): iterate it for chunks
    ``(ids_a, ids_b, dist)``; ``summary`` is filled in when it has ended."""

    def __init__(self, streams: Iterable[_NativeJoinStream], *, progress: bool = False) -> None:
        self._streams = iter(streams)
        self._current: _NativeJoinStream | None = None
        self._bar = _Progress(progress, "joining", " pairs")
        # One entry per engine join that ended (None if it ended without a summary).
        self._parts: list[StreamSummary | None] = []
        self.summary: JoinSummary | None = None

    def __iter__(self) -> Join:
        return self

    def __next__(self) -> tuple[Ids, Ids, Distances]:
        try:
            while True:
                if self._current is None:
                    nxt = next(self._streams, None)
                    if nxt is None:
                        self._finish()
                        raise StopIteration
                    self._current = nxt
                chunk = next(self._current, None)
                if chunk is not None:
                    self._bar.update(len(chunk[0]))
                    return chunk
                self._parts.append(self._current.summary())
                self._current = None
        except BaseException:
            self.stop()
            raise

    def _count(self) -> None:
        for _ in self:
            pass

    def stop(self) -> None:
        """Stop the join (what was not yet taken is dropped)."""
        if self._current is not None:
            self._current.stop()
            self._parts.append(self._current.summary())
            self._current = None
        self._finish()

    def _finish(self) -> None:
        if self.summary is not None:
            return
        self._bar.close()
        parts = [p for p in self._parts if p is not None]
        plans = {p["plan"] for p in parts}
        plan: JoinPlan = plans.pop() if len(plans) == 1 else "mixed" if plans else "buckets"
        total = JoinSummary(
            shared_buckets=sum(p["shared_buckets"] for p in parts),
            candidate_pairs=sum(p["candidate_pairs"] for p in parts),
            capped_buckets=sum(p["capped_buckets"] for p in parts),
            pairs=sum(p["pairs"] for p in parts),
            block_reads=[sum(p["block_reads"][i] for p in parts) for i in range(2)],
            seconds=sum((p["seconds"] for p in parts), 0.0),
            max_bucket_rows=max((p["max_bucket_rows"] for p in parts), default=0),
            # Percentiles of several parts: the largest of each (an upper bound).
            bucket_rows_p50_p90_p99_p999=[max((p["bucket_rows_p50_p90_p99_p999"][i] for p in parts), default=0) for i in range(4)],
            stopped=any(p["stopped"] for p in parts),
            plan=plan,
            parts=len(self._parts),
        )
        self.summary = total
        if total["capped_buckets"]:
            logging.getLogger("fast_lsh_ann").warning(
                "join sampled %s bucket(s) larger than max_bucket_rows (largest %s rows); pairs in them are a sample",
                f"{total['capped_buckets']:,}",
                f"{total['max_bucket_rows']:,}",
            )


class _Progress:
    """A tqdm bar when asked for and tqdm is installed; a plain stderr line otherwise."""

    def __init__(self, enabled: bool, desc: str = "building index", unit: str = " rows") -> None:
        self._bar: Any = None
        self._rows = 0
        self._enabled = enabled
        self._desc, self._unit = desc, unit
        if enabled:
            try:
                tqdm = importlib.import_module("tqdm").tqdm  # optional, and untyped

                self._bar = tqdm(unit=unit, desc=desc)
            except ImportError:
                self._bar = None

    def update(self, n: int) -> None:
        self._rows += n
        if self._bar is not None:
            self._bar.update(n)
        elif self._enabled:
            print(f"\r{self._desc}: {self._rows:,}{self._unit}", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self._enabled:
            print(file=sys.stderr)
