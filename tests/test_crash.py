"""Crash safety of replacing an index: a process killed (SIGKILL) at any moment while it
overwrites an existing index leaves, at the path, the old index or the new one, complete."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import fast_lsh_ann as fla

# Rebuilds the index at argv[1] over and over, alternating 1,000 and 1,500 rows, so that a
# kill at a random moment lands in every phase of a build: hashing, sorting, writing,
# syncing, and the exchange that publishes it.
OVERWRITE_FOREVER = """
import sys, numpy as np, fast_lsh_ann as fla
rng = np.random.default_rng(1)
print("ready", flush=True)
for i in range(1_000_000):
    n = 1_500 if i % 2 == 0 else 1_000
    x = rng.standard_normal((n, 16), dtype=np.float32)
    fla.Index.build(sys.argv[1], x, bucket_length=1.0, num_hash_tables=3, overwrite=True)
"""


def test_kills_while_overwriting_never_leave_the_path_without_an_index(tmp_path: Path) -> None:
    path = tmp_path / "idx"
    x = np.random.default_rng(0).standard_normal((1_000, 16), dtype=np.float32)
    fla.Index.build(path, x, bucket_length=1.0, num_hash_tables=3)
    rng = random.Random(7)
    sizes = []
    for _ in range(20):
        proc = subprocess.Popen(
            [sys.executable, "-c", OVERWRITE_FOREVER, str(path)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 0.6))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        idx = fla.Index.open(path)  # never missing, never half-written
        idx.verify()
        assert len(idx) in (1_000, 1_500)
        sizes.append(len(idx))
    # The kills landed in builds of both sizes, so the path was replaced under them.
    assert set(sizes) == {1_000, 1_500}, sizes
    # Leftovers of the killed builds are the next build's to remove; nothing else is.
    fla.Index.build(path, x, bucket_length=1.0, num_hash_tables=3, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]
