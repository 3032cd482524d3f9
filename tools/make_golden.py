"""Write the golden indexes under ``tests/data/`` (run once per format version; commit them).

They pin the on-disk format: tests open them from Rust and from Python and check them
against values recomputed independently (Spark's hashes, brute-force neighbours), so a
change to the format or to the bucket keys that breaks old indexes fails the tests.

``golden-k3`` is not rewritten: it was written before indexes with k > 1 hashed in float32
(``arithmetic = f32``), and stays to show that such older indexes still open and answer
(in float64, as they were built). This script writes ``golden-k1`` and ``golden-k3-f32``.

    .venv/bin/python tools/make_golden.py
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

import fast_lsh_ann as fla

ROOT = Path(__file__).resolve().parent.parent / "tests" / "data"
ROWS, DIM = 300, 16


def golden_vectors() -> np.ndarray:
    """The vectors of every golden index (also stored in them, as float32)."""
    return np.random.default_rng(2026).normal(size=(ROWS, DIM)).astype(np.float32)


def main() -> None:
    x = golden_vectors()
    ROOT.mkdir(parents=True, exist_ok=True)
    np.save(ROOT / "golden-vectors.npy", x)
    specs = {
        # Spark's scheme (k = 1): keys are Spark's hash values; external ids 1000 + 7 * row.
        "golden-k1": dict(bucket_length=2.0, num_hash_tables=4, projections_per_table=1, seed=42, ids=1000 + 7 * np.arange(ROWS)),
        # AND-amplification (k = 3): keys are xxh3 of three float32 hash values; no ids.
        "golden-k3-f32": dict(bucket_length=1.5, num_hash_tables=3, projections_per_table=3, seed=7),
    }
    for name, spec in specs.items():
        path = ROOT / name
        shutil.rmtree(path, ignore_errors=True)
        fla.Index.build(path, x, memory_budget="1MB", **spec)  # type: ignore[arg-type]
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
