"""Quasi-Newton minimisation from a good start and Hessian (the refits of fitglme.engine.refit).

BFGS on a box: variables at a bound whose gradient points outwards are held there, the predicted
decrease g'B^{-1}g on the free variables decides convergence, and scale parameters that end at
their bound 0 are probed from the interior (their gradient vanishes there whether or not 0 is a
minimum).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .optimize import STEP_TOL


@dataclass
class QuasiNewtonResult:
    x: np.ndarray
    fun: float
    converged: bool
    n_evals: int
    hessian: np.ndarray | None = None  # the final quasi-Newton matrix


def _free(x, g, lo, hi, tol=1e-12):
    return ~(((x <= lo + tol) & (g >= 0)) | ((x >= hi - tol) & (g <= 0)))


def minimize_from(fg, x0: np.ndarray, lo: np.ndarray, hi: np.ndarray, B0: np.ndarray,
                  scale_mask: np.ndarray, *, max_iter: int = 100, tol: float = 1e-10,
                  block=None, decrement_tol: float | None = None, callback=None,
                  start: tuple | None = None) -> QuasiNewtonResult:
    """Minimise f on a box by BFGS steps started at ``x0`` with the Hessian approximation ``B0``.

    ``B0`` (the original fit's Hessian) makes the first steps nearly Newton steps.  ``block``
    (optional) returns ``(index, matrix)``: a current approximation of a diagonal block of the
    Hessian that replaces that block of the quasi-Newton matrix after every step.  Variables at
    a bound whose gradient points outwards are held there; the iteration stops when the
    quasi-Newton step B^{-1}g on the free variables is below ``STEP_TOL`` relative to max(1, |x_i|)
    (the criterion of every fit, docs/choices.md "One optimum"), or when no step is accepted
    (then converged if the predicted decrease g'B^{-1}g is below ``100 tol``).  A scale
    parameter that ends at its bound 0 (where the gradient vanishes whether or not 0 is a
    minimum) is probed from the interior, and the iteration restarts there if that is lower.
    ``decrement_tol`` (optional): also stop, converged, when the predicted decrease g'B^{-1}g is at
    most ``decrement_tol`` max(1, |f|) -- the loose stop of intermediate fits, whose optimum is only
    a starting value (fitglme.engine.lme.LMEProblem.fit).  ``callback(f, n_evals)`` (optional) is
    called after every accepted step.  ``start`` (optional): f and its gradient at ``x0`` (inside the
    box), already evaluated by the caller (counted as one evaluation).
    """
    n_evals = 0

    def call(x):
        nonlocal n_evals
        n_evals += 1
        return fg(x)

    x = np.clip(np.asarray(x0, float), lo, hi)
    if start is not None and np.array_equal(x, x0):
        n_evals = 1
        f, g = start[0], np.array(start[1], float)
    else:
        f, g = call(x)
    if not np.isfinite(f):
        return QuasiNewtonResult(x, f, False, n_evals)
    B = _positive_definite(B0)
    converged = False
    for _restart in range(3):
        for _ in range(max_iter):
            free = _free(x, g, lo, hi)
            idx = np.flatnonzero(free)
            if idx.size == 0:
                converged = True
                break
            Bf = B[np.ix_(idx, idx)]
            try:
                step_f = -np.linalg.solve(Bf, g[idx])
            except np.linalg.LinAlgError:
                B = _positive_definite(B0)
                continue
            decrement = -float(g[idx] @ step_f)
            size = float(np.max(np.abs(step_f) / np.maximum(1.0, np.abs(x[idx]))))
            if size <= STEP_TOL or (decrement_tol is not None and decrement <= decrement_tol * max(1.0, abs(f))):
                # pinned by the gradient, as every fit (fitglme.engine.optimize.STEP_TOL)
                converged = True
                break
            step = np.zeros_like(x)
            step[idx] = step_f
            t, accepted = 1.0, False
            for _ in range(30):
                xn = np.clip(x + t * step, lo, hi)
                fn, gn = call(xn)
                if np.isfinite(fn) and fn <= f + 1e-4 * float(g @ (xn - x)) + 1e-13 * max(1.0, abs(f)):
                    accepted = True
                    break
                t *= 0.5
            if not accepted:
                converged = decrement <= 1e2 * tol
                break
            sv, yv = xn - x, gn - g
            sy = float(sv @ yv)
            if sy > 1e-12 * np.linalg.norm(sv) * np.linalg.norm(yv):
                Bs = B @ sv
                B = B + np.outer(yv, yv) / sy - np.outer(Bs, Bs) / float(sv @ Bs)
            x, f, g = xn, fn, gn
            if callback is not None:
                callback(f, n_evals)
            if block is not None:
                bidx, bmat = block()
                if bmat is not None:
                    B[np.ix_(bidx, bidx)] = bmat
        start = _probe(call, x, f, lo, scale_mask)
        if start is None:
            break
        x, f, g = start
        converged = False
    return QuasiNewtonResult(x, f, converged, n_evals, B)


def _positive_definite(B: np.ndarray) -> np.ndarray:
    B = 0.5 * (B + B.T)
    w, V = np.linalg.eigh(B)
    w = np.maximum(w, 1e-8 * max(1.0, float(np.max(np.abs(w)))))
    return (V * w) @ V.T


def _probe(call, x, f, lo, scale_mask):
    """A lower interior point for scale parameters stuck at 0: (x, f, g) or None."""
    stuck = np.flatnonzero(scale_mask & (x <= lo + 1e-12) & (lo == 0.0))
    if not stuck.size:
        return None
    ref = max(float(np.max(np.abs(x[scale_mask]))), 1.0)
    best = None
    for i in stuck:
        for frac in (0.01, 0.05, 0.2, 0.5):
            xn = x.copy()
            xn[i] = frac * ref
            fn, gn = call(xn)
            if np.isfinite(fn) and fn < (f if best is None else best[1]) - 1e-10 * max(1.0, abs(f)):
                best = (xn, fn, gn)
    return best
