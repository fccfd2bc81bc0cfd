"""Array helpers shared by the engine and the layers above it (no option names, no warnings)."""
from __future__ import annotations

from typing import Any

import numpy as np


def constant_value(a: Any) -> float | None:
    """The common value of a broadcast (stride-0) vector such as :func:`fitglme.options.as_vector`
    returns for a scalar with ``broadcast_scalar=True``; None for any other array."""
    if isinstance(a, np.ndarray) and a.ndim == 1 and a.size and a.strides == (0,):
        return float(a[0])
    return None


#: rows per block of :func:`max_abs_diff` (a block's temporary stays in cache)
_BLOCK = 1 << 16


def max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| of two (n,) arrays, block by block: the value of ``np.max(np.abs(a - b))``
    without its two n-vector temporaries (docs/performance.md, "Growth in n")."""
    n = len(a)
    if n == 0:
        return float(np.max(np.abs(a - b)))
    buf = np.empty(min(_BLOCK, n))
    best = -np.inf
    for r0 in range(0, n, _BLOCK):
        t = buf[: min(_BLOCK, n - r0)]
        np.subtract(a[r0 : r0 + _BLOCK], b[r0 : r0 + _BLOCK], out=t)
        np.abs(t, out=t)
        m = float(t.max())
        if not m <= best:  # (a NaN stays, as in np.max)
            best = m
            if m != m:
                break
    return best
