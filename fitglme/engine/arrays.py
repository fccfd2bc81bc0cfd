"""Array helpers shared by the engine and the layers above it (no option names, no warnings)."""
from __future__ import annotations

import sys
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

#: levels per block of the elementwise passes over levels-long arrays (a block's temporaries stay in
#: cache, and a levels-long temporary is not formed: docs/performance.md, "Growth in n")
LEVEL_BLOCK = 1 << 15


def _block_max(n: int, fill: Any) -> float:
    """The max over rows 0..n-1 (n > 0) of values that ``fill(r0, t)`` writes for the rows
    r0..r0 + len(t) into the block buffer ``t``: a NaN stays, as in np.max."""
    buf = np.empty(min(_BLOCK, n))
    best = -np.inf
    for r0 in range(0, n, _BLOCK):
        t = buf[: min(_BLOCK, n - r0)]
        fill(r0, t)
        m = float(t.max())
        if not m <= best:  # (a NaN stays, as in np.max)
            best = m
            if m != m:
                break
    return best


def max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| of two (n,) arrays, block by block: the value of ``np.max(np.abs(a - b))``
    without its two n-vector temporaries (docs/performance.md, "Growth in n")."""
    n = len(a)
    if n == 0:
        return float(np.max(np.abs(a - b)))

    def fill(r0, t):
        np.subtract(a[r0 : r0 + len(t)], b[r0 : r0 + len(t)], out=t)
        np.abs(t, out=t)

    return _block_max(n, fill)


def max_product(a: np.ndarray, b: np.ndarray) -> float:
    """max(a * b) of two (n,) arrays (either may be a stride-0 broadcast), block by block: the value
    of ``np.max(a * b)`` without its n-vector temporary (a NaN product gives NaN, as there)."""
    n = len(b)
    if n <= _BLOCK:
        return float(np.max(a * b))
    return _block_max(n, lambda r0, t: np.multiply(a[r0 : r0 + len(t)], b[r0 : r0 + len(t)], out=t))


def blockwise(fn: Any, n: int, *arrays: Any, out: np.ndarray | None = None) -> np.ndarray:
    """``fn(*arrays)`` of an elementwise ``fn`` with an (n,) float result, evaluated block by block
    into one (n,) array (``out``, or a new one): the same values without ``fn``'s n-vector
    temporaries (docs/performance.md, "Growth in n").  None and 0-d entries of ``arrays`` (scalars)
    are passed whole."""
    out = np.empty(n) if out is None else out
    for r0 in range(0, n, _BLOCK):
        sl = slice(r0, min(r0 + _BLOCK, n))
        out[sl] = fn(*(a if a is None or np.ndim(a) == 0 else a[sl] for a in arrays))
    return out


#: Rows from which freed n-vectors are kept for reuse: 2^22 doubles are 32 MiB, glibc's largest dynamic
#: mmap threshold, above which every fresh n-vector is a fresh mmap that the kernel faults in and
#: zeroes (docs/performance.md, "Growth in n").  Below it malloc reuses freed memory itself, and
#: buffers kept idle would only add to the fit's peak memory.
REUSE_FROM_ROWS = 1 << 22


class RowBuffers:
    """Free (n,) buffers that PIRLS reuses within and across its searches (docs/performance.md,
    "Growth in n": above ~4e6 rows every fresh n-vector is a fresh mmap that the kernel faults in
    and zeroes).  Only buffers that nothing else references are given back: a Newton iteration's
    score and weights, rejected trial points and the iterates accepted steps replace; the eta and
    mu a search returns never are.  One per objective, not shared between threads; at most
    :data:`MAX_FREE` are kept, none below :data:`REUSE_FROM_ROWS` rows."""

    MAX_FREE = 3

    def __init__(self, n: int, max_free: int | None = None) -> None:
        self.n = n
        #: buffers kept at most (default: :data:`MAX_FREE` from :data:`REUSE_FROM_ROWS` rows, else none)
        self.max_free = (self.MAX_FREE if n >= REUSE_FROM_ROWS else 0) if max_free is None else max_free
        self._free: list[np.ndarray] = []

    def take(self) -> np.ndarray:
        """A free buffer (uninitialised), or a new one."""
        return self._free.pop() if self._free else np.empty(self.n)

    def take_if_kept(self) -> np.ndarray | None:
        """:meth:`take` when this pool keeps buffers, else None: an ``out=`` left None lets the
        function allocate its result only when it forms it (a buffer taken early would add to the
        peak memory of the step that takes it)."""
        return self.take() if self.max_free else None

    def give(self, *arrays: np.ndarray | None) -> None:
        """Return buffers no longer referenced by the caller's results (None: nothing)."""
        for a in arrays:
            if a is not None and len(self._free) < self.max_free and a.shape == (self.n,) and a.dtype == float and a.flags.writeable:
                self._free.append(a)

    def give_unshared(self, arrays: list) -> None:
        """Give back the entries of ``arrays`` that nothing else references, emptying the list.

        For the row vectors of a consumed state (eta, mu, W of a PIRLS mode whose gradient is
        formed), which a caller may still hold elsewhere (a result built from the same mode): an
        entry is given back only when the list's own slot is its one reference (CPython's reference
        count, compared with that of a fresh array in the same position, :func:`_unshared_refs`);
        any other holder -- a name, a view, a container -- keeps it out of the pool.  Where
        reference counts are not available, nothing is given back.  The caller passes the list
        without other names bound to its entries."""
        base = _unshared_refs()
        for i in range(len(arrays)):
            shared = base is None or _refs_of(arrays, i) != base
            a = arrays[i]
            arrays[i] = None
            if not shared:
                self.give(a)
            del a
        arrays.clear()


def _refs_of(arrays: list, i: int) -> int:
    """The reference count of ``arrays[i]`` as seen from here (the list's slot and this frame's)."""
    return sys.getrefcount(arrays[i])


_UNSHARED: list = []


def _unshared_refs() -> int | None:
    """:func:`_refs_of` for an array referenced by a list slot alone (measured once); None where
    ``sys.getrefcount`` does not exist."""
    if not _UNSHARED:
        if not hasattr(sys, "getrefcount"):
            _UNSHARED.append(None)
        else:
            probe = [np.empty(1)]
            _UNSHARED.append(_refs_of(probe, 0))
    return _UNSHARED[0]
