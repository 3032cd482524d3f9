"""Files in and out: the ``.npy`` and Parquet readers of the command line, and the Parquet
writer of join results.

Readers check what they read and raise :class:`InputFileError` (a ``ValueError``) naming the
file and the problem; large inputs are read lazily in row chunks of about 64MiB (``.npy``
through mmap), so they may be larger than RAM.

The writer sends chunks to a hidden temporary file (or directory of parts) beside the target,
which is renamed onto the target only when every chunk is written: an interrupted job
(Ctrl-C, a crash) leaves nothing under the final name.

Parquet needs pyarrow, an optional dependency: without it these paths raise ``ImportError``
saying so.
"""

from __future__ import annotations

import importlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

#: bytes of input per chunk read (the rest stays on disk until needed)
CHUNK_BYTES = 64 * 2**20


class InputFileError(ValueError):
    """An input file is missing, unreadable or not what was expected (the message names it)."""


def pyarrow(doing: str) -> Any:
    """The ``pyarrow`` module with its ``parquet`` and ``compute`` submodules loaded, or
    ``ImportError("<doing> needs pyarrow: pip install pyarrow")``."""
    try:
        pa = importlib.import_module("pyarrow")
        importlib.import_module("pyarrow.parquet")
        importlib.import_module("pyarrow.compute")
    except ImportError as e:
        raise ImportError(f"{doing} needs pyarrow: pip install pyarrow") from e
    return pa


# --------------------------------------------------------------------------- readers


def open_input(file: str, column: str | None) -> tuple[int, Iterator[np.ndarray]]:
    """The row count of a .npy or .parquet file and its rows as lazily read 2-D chunks."""
    ext = os.path.splitext(file)[1].lower()
    if ext not in (".npy", ".parquet"):
        raise InputFileError(f"{file}: unsupported input format {ext or '(no extension)'!r}; use .npy or .parquet")
    if not os.path.isfile(file):
        raise InputFileError(f"{file}: no such file")
    return _open_npy(file) if ext == ".npy" else _open_parquet(file, column)


def read_queries(file: str, column: str | None) -> np.ndarray:
    """All rows of a .npy or .parquet file as one 2-D array."""
    _, chunks = open_input(file, column)
    queries: np.ndarray = np.concatenate(list(chunks))
    return queries


def read_ids(file: str, rows: int, input_file: str) -> npt.NDArray[np.int64]:
    """External ids from a .npy file: integers, one per row of ``input_file`` (``rows``)."""
    if not os.path.isfile(file):
        raise InputFileError(f"{file}: no such file")
    try:
        ids = np.load(file, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise InputFileError(f"{file}: not a readable .npy array ({e})") from None
    if isinstance(ids, np.ndarray) and ids.ndim == 2 and ids.shape[1] == 1:
        ids = ids[:, 0]
    if not isinstance(ids, np.ndarray) or ids.ndim != 1 or ids.dtype.kind not in "iu":
        what = f"shape {ids.shape}, dtype {ids.dtype}" if isinstance(ids, np.ndarray) else "an .npz archive"
        raise InputFileError(f"{file}: ids must be a 1-D array of integers, got {what}")
    if ids.shape[0] != rows:
        raise InputFileError(f"{file} has {ids.shape[0]:,} ids for the {rows:,} rows of {input_file}")
    if ids.dtype == np.uint64 and ids.size and ids.max() > np.iinfo(np.int64).max:
        raise InputFileError(f"{file}: ids must fit in int64")
    return ids.astype(np.int64)


def _open_npy(file: str) -> tuple[int, Iterator[np.ndarray]]:
    try:
        arr = np.load(file, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as e:
        raise InputFileError(f"{file}: not a readable .npy array ({e})") from None
    if not isinstance(arr, np.ndarray) or arr.ndim != 2:
        shape = getattr(arr, "shape", "an .npz archive")
        raise InputFileError(f"{file}: expected a 2-D array of shape (rows, dim), got {shape}")
    if arr.dtype.kind not in "fiu":
        raise InputFileError(f"{file}: expected real numbers (float32 or float64), got dtype {arr.dtype}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputFileError(f"{file}: empty array of shape {arr.shape}")
    step = max(1, CHUNK_BYTES // (arr.shape[1] * arr.dtype.itemsize))
    return arr.shape[0], (arr[i : i + step] for i in range(0, arr.shape[0], step))


def _open_parquet(file: str, column: str | None) -> tuple[int, Iterator[np.ndarray]]:
    pa = pyarrow("reading .parquet files")
    try:
        pf = pa.parquet.ParquetFile(file)
    except (ValueError, OSError) as e:  # pyarrow.ArrowInvalid is a ValueError
        raise InputFileError(f"{file}: not a readable Parquet file ({e})") from None
    name = _vector_column(file, list(pf.schema_arrow.names), column)
    rows = int(pf.metadata.num_rows)
    if rows == 0:
        raise InputFileError(f"{file}: no rows")
    first = _arrow_matrix(pa, next(pf.iter_batches(batch_size=1, columns=[name])).column(0), file, name)
    step = max(1, CHUNK_BYTES // (8 * max(first.shape[1], 1)))
    batches = pf.iter_batches(batch_size=step, columns=[name])
    return rows, (_arrow_matrix(pa, b.column(0), file, name) for b in batches)


def _vector_column(file: str, names: list[str], column: str | None) -> str:
    if column is not None:
        if column not in names:
            raise InputFileError(f"{file}: no column {column!r}; columns: {', '.join(names)}")
        return column
    if len(names) == 1:
        return names[0]
    if "embedding" in names:
        return "embedding"
    raise InputFileError(f"{file}: which column holds the vectors? pass --column (columns: {', '.join(names)})")


def _arrow_matrix(pa: Any, col: Any, file: str, name: str) -> np.ndarray:
    """A pyarrow list / fixed-size-list array of numbers as a (rows, dim) numpy array."""
    if not (pa.types.is_list(col.type) or pa.types.is_large_list(col.type) or pa.types.is_fixed_size_list(col.type)):
        raise InputFileError(f"{file}: column {name!r} has type {col.type}; expected a list of numbers per row")
    if col.null_count:
        raise InputFileError(f"{file}: column {name!r} has {col.null_count} null rows")
    lengths = np.asarray(pa.compute.list_value_length(col))
    if len(lengths) and (lengths != lengths[0]).any():
        raise InputFileError(f"{file}: column {name!r} has vectors of different lengths ({lengths.min()} to {lengths.max()})")
    values = np.asarray(col.flatten().to_numpy(zero_copy_only=False))
    if values.dtype.kind not in "fiu":
        raise InputFileError(f"{file}: column {name!r} holds {col.type.value_type}, not numbers")
    return values.reshape(len(col), int(lengths[0]) if len(lengths) else 0)


# --------------------------------------------------------------------------- the writer


class ParquetSink:
    """Write record batches to ``out``: one file if it ends in ``.parquet``, otherwise a
    directory of ``part-NNNNN.parquet`` files (one per ``part_rows`` rows or so)."""

    def __init__(self, out: str | os.PathLike[str], schema: Any, *, overwrite: bool = False, part_rows: int = 10_000_000) -> None:
        self._pa = pyarrow("writing Parquet")
        self.path = Path(out)
        if self.path.exists() and not overwrite:
            raise FileExistsError(f"{self.path} exists; pass overwrite=True to replace it")
        self._single = self.path.suffix == ".parquet"
        self._temp = self.path.with_name(f".{self.path.name}.partial-{os.getpid()}")
        self._schema = schema
        self._part_rows = part_rows
        self._part = 0
        self._rows_in_part = 0
        self._writer: Any = None
        if not self._single:
            self._temp.mkdir(parents=False, exist_ok=False)
        self.rows = 0

    def write(self, columns: dict[str, Any]) -> None:
        batch = self._pa.record_batch(columns, schema=self._schema)
        if self._writer is None or (not self._single and self._rows_in_part >= self._part_rows):
            self._next_file()
        self._writer.write_batch(batch)
        self._rows_in_part += batch.num_rows
        self.rows += batch.num_rows

    def _next_file(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._part += 1
        target = self._temp if self._single else self._temp / f"part-{self._part:05d}.parquet"
        self._writer = self._pa.parquet.ParquetWriter(str(target), self._schema)
        self._rows_in_part = 0

    def commit(self) -> None:
        """Close the file and move it onto the target."""
        if self._writer is None:
            self._next_file()  # an empty result is still a valid (empty) Parquet file
        self._writer.close()
        self._writer = None
        if self.path.is_dir():
            shutil.rmtree(self.path)
        elif self.path.exists():
            self.path.unlink()
        os.replace(self._temp, self.path)

    def abort(self) -> None:
        """Drop what was written."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._temp.is_dir():
            shutil.rmtree(self._temp, ignore_errors=True)
        elif self._temp.exists():
            self._temp.unlink()

    def __enter__(self) -> ParquetSink:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self.commit()
        else:
            self.abort()


def pair_schema() -> Any:
    """Columns of a similarity join's output: ``id_a``, ``id_b`` (int64), ``distance`` (float32)."""
    pa = pyarrow("writing Parquet")
    return pa.schema([("id_a", pa.int64()), ("id_b", pa.int64()), ("distance", pa.float32())])


def knn_schema(k: int) -> Any:
    """Columns of a k-NN join's output: ``id`` and ``k`` ``neighbors`` and ``distances``."""
    pa = pyarrow("writing Parquet")
    return pa.schema(
        [("id", pa.int64()), ("neighbors", pa.list_(pa.int64(), k)), ("distances", pa.list_(pa.float32(), k))]
    )


def fixed_lists(values: np.ndarray, k: int) -> Any:
    """A (n, k) array as an Arrow fixed-size-list array (no copy of the values)."""
    pa = pyarrow("writing Parquet")
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), k)
