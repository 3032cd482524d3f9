"""Small generated datasets for demos, tests and benchmarks.

The "planted near-duplicates" set is the one Spark's BRP benchmark uses and the one our
benchmarks quote: ``n // 2`` base rows drawn from N(0, 1) and, after them, a copy of each
base row with N(0, noise²) added per coordinate. Row ``i`` and row ``i + n // 2`` are the
planted pair; in 128 dimensions with noise 0.05 they are 0.43–0.70 apart while random
pairs are about 16 apart.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from . import _inputs

__all__ = ["planted_near_duplicates"]


def planted_near_duplicates(
    n: int, dim: int = 128, *, noise: float = 0.05, seed: int = 0
) -> npt.NDArray[np.float32]:
    """Return a float32 array of shape ``(n, dim)`` with planted near-duplicate pairs.

    Rows ``0 .. n//2`` are N(0, 1); rows ``n//2 .. 2*(n//2)`` are those rows plus
    N(0, noise²) noise, so ``partner(i) = i + n//2`` for ``i < n//2``. An odd ``n`` gets
    one extra unpaired N(0, 1) row at the end. The same arguments give the same bytes.
    """
    n = _inputs.non_negative_int(n, "n")
    dim = _inputs.positive_int(dim, "dim")
    noise = _inputs.non_negative(noise, "noise")
    rng = np.random.default_rng(seed)
    half = n // 2
    base = rng.standard_normal((half, dim), dtype=np.float32)
    copies = base + rng.normal(0.0, noise, (half, dim)).astype(np.float32)
    parts = [base, copies]
    if n % 2:
        parts.append(rng.standard_normal((1, dim), dtype=np.float32))
    return np.ascontiguousarray(np.concatenate(parts, axis=0), dtype=np.float32)
