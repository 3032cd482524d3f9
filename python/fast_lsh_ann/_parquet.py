"""Parquet output written incrementally and published atomically.

Chunks go to a hidden temporary file (or directory of parts) beside the target, which is
renamed onto the target only when every chunk is written: an interrupted job (Ctrl-C, a
crash) leaves nothing under the final name.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import TracebackType
from typing import Any


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError as e:
        raise ImportError("writing Parquet needs pyarrow: pip install pyarrow") from e
    return pyarrow


class ParquetSink:
    """Write record batches to ``out``: one file if it ends in ``.parquet``, otherwise a
    directory of ``part-NNNNN.parquet`` files (one per ``part_rows`` rows or so)."""

    def __init__(self, out: str | os.PathLike[str], schema: Any, *, overwrite: bool = False, part_rows: int = 10_000_000) -> None:
        self._pa = _pyarrow()
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
    pa = _pyarrow()
    return pa.schema([("id_a", pa.int64()), ("id_b", pa.int64()), ("distance", pa.float32())])


def knn_schema(k: int) -> Any:
    pa = _pyarrow()
    return pa.schema(
        [("id", pa.int64()), ("neighbors", pa.list_(pa.int64(), k)), ("distances", pa.list_(pa.float32(), k))]
    )


def fixed_lists(values: Any, k: int) -> Any:
    """A (n, k) array as an Arrow fixed-size-list array (no copy of the values)."""
    pa = _pyarrow()
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), k)
