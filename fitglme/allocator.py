"""glibc's trim threshold relaxed while a chunk of many fits runs, and the memory handed back after.

Dask's nanny starts every worker with ``MALLOC_TRIM_THRESHOLD_=65536`` (its configuration key
``distributed.nanny.pre-spawn-environ``) so that freed memory goes back to the system at once. A
refit allocates and frees many n-vectors; with that threshold the top of the heap is returned
after nearly every free and faulted back in on the next allocation. Measured on the 1e4-row Poisson
model of benchmarks/manyfits_bench.py (docs/many_fits.md, "A Dask cluster"): a chunk of 25
replicates cost 1.20x the CPU time with the 64 KiB threshold than with a large one, in one process,
the settings alternated chunk by chunk; the mmap threshold (fixed at 128 KiB by the same variable)
accounted for 1.04x at most.

:func:`relaxed_trim` raises the threshold (``mallopt(M_TRIM_THRESHOLD)``) for the duration of the
block only when the process was started with ``MALLOC_TRIM_THRESHOLD_`` below :data:`CHUNK_TRIM`, and
on leaving sets it back to that value and calls ``malloc_trim(0)``, which returns the freed memory
as the variable intends (the memory held between is bounded by the threshold). Without the
variable (glibc's own adaptive thresholds), off glibc, or when libc cannot be loaded, it does
nothing. Allocation addresses do not enter the results: a chunk's numbers are the same either way
(tests/test_manyfits.py). Concurrent blocks in threads of one process share one setting (a
reference count, as fitglme/blas.py does for BLAS threads): the first to enter raises it, the last
to leave restores it.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import sys
import threading
from typing import Any, Iterator

__all__ = ["relaxed_trim", "CHUNK_TRIM"]

#: the trim threshold while a chunk runs: the largest value glibc's own adaptive rule reaches on a
#: 64-bit system (docs/many_fits.md, "A Dask cluster")
CHUNK_TRIM = 64 * 2**20
_M_TRIM_THRESHOLD = -1  # glibc malloc.h

_LOCK = threading.Lock()
_STATE: dict[str, Any] = {"count": 0, "libc": None, "loaded": False}


def _libc():
    """glibc's handle (mallopt and malloc_trim), or None elsewhere; loaded once."""
    if not _STATE["loaded"]:
        _STATE["loaded"] = True
        if sys.platform.startswith("linux"):
            try:
                lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                lib.mallopt.argtypes, lib.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
                lib.malloc_trim.argtypes, lib.malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
                _STATE["libc"] = lib
            except (OSError, AttributeError):  # (not glibc: musl has no malloc_trim)
                _STATE["libc"] = None
    return _STATE["libc"]


def _started_threshold() -> int | None:
    """The trim threshold the process was started with (``MALLOC_TRIM_THRESHOLD_``), or None."""
    text = os.environ.get("MALLOC_TRIM_THRESHOLD_")
    if text is None:
        return None
    try:
        value = int(text.strip())
    except ValueError:  # (glibc reads such a value as a number too; leave it alone)
        return None
    return value if 0 <= value < CHUNK_TRIM else None


@contextlib.contextmanager
def relaxed_trim() -> Iterator[None]:
    """Run the block with glibc's trim threshold at :data:`CHUNK_TRIM` when the process was started
    with a lower ``MALLOC_TRIM_THRESHOLD_``; restore it and trim the heap on leaving.

    Examples
    --------
    >>> with relaxed_trim():  # (a no-op without MALLOC_TRIM_THRESHOLD_ in the environment)
    ...     total = sum(range(10))
    >>> total
    45
    """
    original = _started_threshold()
    lib = _libc() if original is not None else None
    if lib is None:
        yield
        return
    with _LOCK:
        if _STATE["count"] == 0:
            lib.mallopt(_M_TRIM_THRESHOLD, CHUNK_TRIM)
        _STATE["count"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _STATE["count"] -= 1
            if _STATE["count"] == 0:
                lib.mallopt(_M_TRIM_THRESHOLD, original)
                lib.malloc_trim(0)
