"""One BLAS thread while fitglme fits, safe under concurrency and always restored.

The engine works on many small dense blocks, where multi-threaded OpenBLAS only adds
synchronisation (measured on a 2-core machine: the crossed 2000 x 100 Laplace case took 18 s with
the default threads against 2.1 s with one; docs/performance.md).

A per-fit ``threadpool_limits`` is not safe when fits run in several threads: a fit starting while
another holds the limit records 1 as the "original" and restores 1, leaving the process with one
BLAS thread after all fits returned (measured: 2 threads before four threaded fits, 1 after).
Here the original counts are recorded once, under a lock, by the first fit to enter (a
process-wide reference count), and every thread restores *those* counts when its outermost block
leaves, in its own thread (nested blocks of one thread keep the limit). While fits overlap, one
that returns restores the counts while the others run: they may finish with more threads (slower,
same numbers), never leave the process with fewer. Setting and restoring in the same thread matters: with the OpenBLAS 0.3.31 of the
numpy/scipy wheels a thread's own setting can shadow a setting made from another thread, and a
restore made from another thread was measured to leave the limit at 1 (tests/test_friction.py).
"""
from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterator

__all__ = ["single_threaded_blas", "dense_threads"]

#: One dense LAPACK/BLAS call on a matrix of at least this order (the dense Schur complement of a
#: crossed design: its Cholesky, its inverse, triangular solves with it) runs with the BLAS threads
#: the process had before the fit (:func:`dense_threads`).  Measured on 2 cores (docs/performance.md,
#: "Multi-threaded BLAS"): LAPACK's inverse from the factor (dpotri) at order 1,158 21.4 -> 11.7 ms
#: with 2 threads, at 400 2.2 -> 1.0 ms; the Cholesky (dpotrf) at 1,158 11.4 -> 9.3 ms, at 600 no
#: faster, at 400 slower (0.70 -> 0.81 ms).
DENSE_THREADS_FROM = 512

_LOCK = threading.Lock()
_STATE: dict[str, Any] = {"count": 0, "original": None, "controller": None}
_DEPTH = threading.local()  # nesting depth of the blocks of this thread


def _blas_libraries() -> list:
    if _STATE["controller"] is None:  # inspecting the loaded libraries costs ~10 ms: do it once
        from threadpoolctl import ThreadpoolController

        _STATE["controller"] = ThreadpoolController()
    return [lc for lc in _STATE["controller"].lib_controllers if lc.user_api == "blas"]


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Limit BLAS to one thread for the duration of the block (re-entrant, thread-safe).

    Examples
    --------
    >>> import numpy as np
    >>> from threadpoolctl import threadpool_info
    >>> before = [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"]
    >>> with single_threaded_blas():
    ...     inside = {d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"}
    >>> inside <= {1}, [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"] == before
    (True, True)
    """
    libs = _blas_libraries()
    depth = getattr(_DEPTH, "value", 0)
    with _LOCK:
        if _STATE["count"] == 0:
            _STATE["original"] = [lc.num_threads for lc in libs]
        _STATE["count"] += 1
        original = _STATE["original"]
        if depth == 0:
            for lc in libs:
                lc.set_num_threads(1)
    _DEPTH.value = depth + 1
    try:
        yield
    finally:
        _DEPTH.value = depth
        with _LOCK:
            _STATE["count"] -= 1
            if depth == 0:  # this thread's outermost block: back to the counts before any fit
                for lc, n in zip(libs, original):
                    lc.set_num_threads(n)


@contextlib.contextmanager
def dense_threads(order: int) -> Iterator[None]:
    """Inside a fit (:func:`single_threaded_blas`): the BLAS threads the process had before any
    fit, for one dense call on a matrix of ``order`` >= :data:`DENSE_THREADS_FROM`, when this is
    the only fit running (the setting is process-wide: fits running concurrently keep one thread
    each); one thread again afterwards.  Elsewhere, and for smaller matrices, nothing changes.

    A threaded LAPACK call rounds differently from a single-threaded one (its blocking differs), as
    another CPU's kernel does: the optima are pinned by their gradients either way
    (docs/choices.md, "One optimum").

    Examples
    --------
    >>> with single_threaded_blas(), dense_threads(100):  # (small: no change)
    ...     pass
    """
    depth = getattr(_DEPTH, "value", 0)
    if order < DENSE_THREADS_FROM or depth == 0:
        yield
        return
    libs = _blas_libraries()
    raised = False
    with _LOCK:
        original = _STATE["original"]
        # (every block entered is this thread's -- nested blocks of one fit count once each)
        if _STATE["count"] == depth and original and max(original) > 1:
            for lc, n in zip(libs, original):
                lc.set_num_threads(n)
            raised = True
    try:
        yield
    finally:
        if raised:
            with _LOCK:
                for lc in libs:
                    lc.set_num_threads(1)
