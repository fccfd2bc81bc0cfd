"""Bounded minimisation of the small smooth objectives of the engine.

A quasi-Newton phase (L-BFGS-B with central-difference gradients) finds the basin; a
Newton polish with a finite-difference Hessian on the free (not at-bound) parameters then
drives the gradient down to the precision the references need.  Variables at a bound
whose gradient points outwards stay there, so boundary optima (a variance of exactly 0) are
reached exactly.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.optimize import minimize


@dataclass
class OptimResult:
    x: np.ndarray
    fun: float
    converged: bool
    n_evals: int
    message: str
    grad: np.ndarray


class _Counted:
    def __init__(self, f: Callable[[np.ndarray], float]) -> None:
        self.f = f
        self.n = 0
        self.best_x: np.ndarray | None = None
        self.best_f = np.inf

    def __call__(self, x: np.ndarray) -> float:
        self.n += 1
        v = float(self.f(x))
        if not np.isfinite(v):
            v = np.inf
        if v < self.best_f:
            self.best_f, self.best_x = v, x.copy()
        return v


def _step(x: np.ndarray, scale: float = 1e-5) -> np.ndarray:
    return scale * np.maximum(1.0, np.abs(x))


def fd_gradient(f, x, lo, hi, f0=None, h=None):
    """Central differences, one-sided next to a bound."""
    g = np.zeros_like(x)
    h = _step(x) if h is None else h
    for i in range(len(x)):
        e = np.zeros_like(x)
        e[i] = h[i]
        up_ok = x[i] + h[i] <= hi[i]
        dn_ok = x[i] - h[i] >= lo[i]
        if up_ok and dn_ok:
            g[i] = (f(x + e) - f(x - e)) / (2 * h[i])
        elif up_ok:
            f0 = f(x) if f0 is None else f0
            g[i] = (-3 * f0 + 4 * f(x + e) - f(x + 2 * e)) / (2 * h[i])
        else:
            f0 = f(x) if f0 is None else f0
            g[i] = (3 * f0 - 4 * f(x - e) + f(x - 2 * e)) / (2 * h[i])
    return g


def fd_hessian(f, x, h=None, f0=None):
    """Symmetric finite-difference Hessian (central second differences)."""
    k = len(x)
    h = _step(x, 1e-4) if h is None else h
    f0 = f(x) if f0 is None else f0
    H = np.zeros((k, k))
    for i in range(k):
        ei = np.zeros(k)
        ei[i] = h[i]
        fp, fm = f(x + ei), f(x - ei)
        H[i, i] = (fp - 2 * f0 + fm) / h[i] ** 2
        for j in range(i):
            ej = np.zeros(k)
            ej[j] = h[j]
            H[i, j] = H[j, i] = (
                f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)
            ) / (4 * h[i] * h[j])
    return H


def minimize_bounded(
    f: Callable[[np.ndarray], float],
    x0: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    *,
    max_iter: int = 500,
    gtol: float = 1e-10,
    polish: bool = True,
    max_polish: int = 20,
    verbose: int = 0,
) -> OptimResult:
    """Minimise ``f`` on a box; see module docstring."""
    fc = _Counted(f)
    lo = np.asarray(lower, float)
    hi = np.asarray(upper, float)
    x0 = np.clip(np.asarray(x0, float), lo, hi)
    if len(x0) == 0:
        v = fc(x0)
        return OptimResult(x0, v, True, fc.n, "no parameters", np.zeros(0))

    def fg(x):
        v = fc(x)
        return v, fd_gradient(fc, x, lo, hi, f0=v)

    res = minimize(
        fg,
        x0,
        jac=True,
        method="L-BFGS-B",
        bounds=list(zip(lo, hi)),
        options={"maxiter": max_iter, "ftol": 1e-15, "gtol": 1e-10, "maxls": 40},
    )
    x = np.asarray(res.x, float)
    fx = fc(x)
    if fc.best_x is not None and fc.best_f < fx:
        x, fx = fc.best_x.copy(), fc.best_f
    converged = bool(res.success) or "ABNORMAL" in str(res.message)
    if polish:
        x, fx, ok = _newton_polish(fc, x, fx, lo, hi, max_polish, gtol)
        converged = converged or ok
    g = fd_gradient(fc, x, lo, hi, f0=fx)
    free = _free_mask(x, g, lo, hi)
    scale = max(1.0, abs(fx))
    converged = bool(np.all(np.abs(g[free]) <= 1e-4 * scale))
    if verbose >= 2:
        print(f"    optimizer: f = {fx:.10g}, |grad| = {np.max(np.abs(g[free]), initial=0):.3g}, evals = {fc.n}")
    return OptimResult(x, fx, converged, fc.n, str(res.message), g)


def _free_mask(x, g, lo, hi, tol=1e-12):
    at_lo = (x <= lo + tol) & (g >= 0)
    at_hi = (x >= hi - tol) & (g <= 0)
    return ~(at_lo | at_hi)


def _newton_polish(f, x, fx, lo, hi, max_iter, gtol):
    ok = False
    for _ in range(max_iter):
        g = fd_gradient(f, x, lo, hi, f0=fx)
        free = _free_mask(x, g, lo, hi)
        gmax = np.max(np.abs(g[free]), initial=0.0)
        if gmax <= gtol * max(1.0, abs(fx)):
            ok = True
            break
        idx = np.flatnonzero(free)
        xs = x.copy()

        def fsub(z):
            xx = xs.copy()
            xx[idx] = z
            return f(xx)

        H = fd_hessian(fsub, x[idx], f0=fx)
        try:
            w, V = np.linalg.eigh(H)
            w = np.maximum(w, 1e-8 * max(1.0, np.max(np.abs(w))))
            step = -(V @ ((V.T @ g[idx]) / w))
        except np.linalg.LinAlgError:
            break
        improved = False
        t = 1.0
        for _ in range(30):
            xn = x.copy()
            xn[idx] = np.clip(x[idx] + t * step, lo[idx], hi[idx])
            fn = f(xn)
            if fn <= fx:
                improved = fn < fx or np.allclose(xn, x)
                x, fx = xn, fn
                break
            t *= 0.5
        if not improved:
            break
    return x, fx, ok
