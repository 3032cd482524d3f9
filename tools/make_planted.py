"""Write the planted near-duplicate set to a .npy file.

The set is ``fast_lsh_ann.planted_near_duplicates(n, dim, noise=noise, seed=seed)``: ``n // 2``
N(0, 1) rows followed by a noisy copy of each (N(0, noise²) per coordinate), so row ``i`` and
row ``i + n // 2`` are a planted pair (plus one unpaired row if ``n`` is odd). The same
arguments always give the same bytes. This is the data Spark's BRP benchmark and
``benches/python`` use.

    python tools/make_planted.py --n 1000000 --out planted_1m.npy
    python -c "import numpy as np; X = np.load('planted_1m.npy', mmap_mode='r')"
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

import numpy as np

from fast_lsh_ann.datasets import planted_near_duplicates


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, required=True, help="number of rows")
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--noise", type=float, default=0.05, help="sd of the copies' noise")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True, help="output .npy path")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    args = p.parse_args(argv)

    if args.out.suffix != ".npy":
        p.error(f"--out must end in .npy (np.save would append it), got {args.out}")
    if args.out.exists() and not args.force:
        p.error(f"{args.out} exists; pass --force to overwrite it")
    try:
        t0 = time.perf_counter()
        X = planted_near_duplicates(args.n, args.dim, noise=args.noise, seed=args.seed)
    except ValueError as e:
        p.error(str(e))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp")
    with open(tmp, "wb") as f:
        np.save(f, X)
    tmp.replace(args.out)
    digest = hashlib.sha256(X.tobytes()).hexdigest()[:16]
    print(
        f"wrote {args.out}: {X.dtype} {X.shape}, {X.nbytes / 1e6:.1f} MB, "
        f"{args.n // 2:,} planted pairs (i, i + {args.n // 2:,}), sha256[:16] of data {digest}, "
        f"{time.perf_counter() - t0:.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
