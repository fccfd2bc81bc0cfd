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
    n_iter: int = 0


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
    fg: Callable[[np.ndarray], tuple[float, np.ndarray]] | None = None,
    loose: bool = False,
    scale_params: np.ndarray | None = None,
    method: str = "quasinewton",
    max_fun: int = 10000,
    label: str = "optimizer",
    jacobi: bool = False,
) -> OptimResult:
    """Minimise ``f`` on a box; see module docstring.

    ``fg`` (optional) returns the value and the exact gradient; the finite differences are then
    used only for the Hessian of the final Newton polish (differences of exact gradients).

    ``scale_params`` marks the parameters bounded below by 0 whose objective depends on their
    square (the diagonal of a covariance factor): at 0 the gradient vanishes whether or not 0
    is a minimum, so when the optimiser stops there the interior is probed and, if it is
    better, the optimisation restarts from there.
    """
    fc = _Counted(f)
    lo = np.asarray(lower, float)
    hi = np.asarray(upper, float)
    x0 = np.clip(np.asarray(x0, float), lo, hi)
    if len(x0) == 0:
        v = fc(x0)
        return OptimResult(x0, v, True, fc.n, "no parameters", np.zeros(0))

    fgrad, grad_of = _with_gradient(fc, fg, lo, hi)
    it = [0]

    def show(xk, *args):
        it[0] += 1
        if verbose >= 1:
            print(f"  {label} iteration {it[0]:4d}: objective = {fc.best_f:.10g}, evaluations = {fc.n}")

    bounds = list(zip(lo, hi))
    start = x0
    for _attempt in range(4):
        res = _scipy_minimize(method, fc, fgrad, start, bounds, show, max_iter=max_iter, max_fun=max_fun,
                              loose=loose)
        x = np.asarray(res.x, float)
        fx = float(res.fun) if np.isfinite(res.fun) else fc(x)
        if fc.best_x is not None and fc.best_f < fx:
            x, fx = fc.best_x.copy(), fc.best_f
        start = _probe_interior(fc, x, fx, lo, hi, scale_params)
        if start is None:
            break
    converged = bool(res.success) or "ABNORMAL" in str(res.message)
    if polish:
        x, fx, ok = _newton_polish(fc, x, fx, lo, hi, max_polish, gtol, grad_of, jacobi)
        converged = converged or ok
    g = fd_gradient(fc, x, lo, hi, f0=fx) if grad_of is None else grad_of(x)
    free = _free_mask(x, g, lo, hi)
    scale = max(1.0, abs(fx))
    if not polish:
        converged = bool(np.all(np.abs(g[free]) <= 1e-4 * scale))
    if verbose >= 1:
        print(f"  {label}: final objective = {fx:.10g}, max |gradient| = {np.max(np.abs(g[free]), initial=0):.3g}, "
              f"evaluations = {fc.n}, converged = {converged}")
    return OptimResult(x, fx, converged, fc.n, str(res.message), g, it[0])


def _with_gradient(fc: "_Counted", fg, lo: np.ndarray, hi: np.ndarray):
    """(value-and-gradient function, gradient function or None) for the optimiser: from the exact
    ``fg`` when given (counted, the best point remembered), else by finite differences of ``fc``."""
    if fg is None:
        def fgrad(x):
            v = fc(x)
            return v, fd_gradient(fc, x, lo, hi, f0=v)

        return fgrad, None

    def fgrad(x):
        fc.n += 1
        v, g = fg(x)
        if not np.isfinite(v):
            return np.inf, np.zeros_like(x)
        if v < fc.best_f:
            fc.best_f, fc.best_x = v, x.copy()
        return v, g

    def grad_of(x):
        return fgrad(x)[1]

    return fgrad, grad_of


def _scipy_minimize(method: str, fc, fgrad, start: np.ndarray, bounds, callback, *, max_iter: int, max_fun: int,
                    loose: bool):
    """One run of scipy's optimiser for ``method``: 'fminsearch' (Nelder-Mead), 'fminunc' (TNC) or
    the default quasi-Newton (L-BFGS-B; ``loose``: the tolerances of intermediate fits)."""
    if method == "fminsearch":
        return minimize(fc, start, method="Nelder-Mead", bounds=bounds, callback=callback,
                        options={"maxiter": max_iter, "maxfev": max_fun, "xatol": 1e-10, "fatol": 1e-12,
                                 "adaptive": len(start) > 3})
    if method == "fminunc":
        return minimize(fgrad, start, jac=True, method="TNC", bounds=bounds, callback=callback,
                        options={"maxfun": max_fun, "ftol": 1e-13, "gtol": 1e-10})
    opts = {"maxiter": max_iter, "maxfun": max_fun, "ftol": 1e-9 if loose else 1e-10,
            "gtol": 1e-5 if loose else 1e-12, "maxls": 40}
    return minimize(fgrad, start, jac=True, method="L-BFGS-B", bounds=bounds, options=opts, callback=callback)


def _probe_interior(f, x, fx, lo, hi, scale_params):
    """A better interior start for scale parameters stuck at 0, or None."""
    if scale_params is None:
        return None
    stuck = np.flatnonzero(np.asarray(scale_params) & (x <= lo + 1e-12) & (lo == 0.0))
    best, best_f = None, fx - 1e-10 * max(1.0, abs(fx))
    for i in stuck:
        ref = max(np.max(np.abs(x[np.asarray(scale_params)])), 1.0)
        for t in (0.01, 0.05, 0.2, 0.5):
            xn = x.copy()
            xn[i] = min(t * ref, hi[i])
            fn = f(xn)
            if fn < best_f:
                best, best_f = xn, fn
    return best


def _free_mask(x, g, lo, hi, tol=1e-12):
    at_lo = (x <= lo + tol) & (g >= 0)
    at_hi = (x >= hi - tol) & (g <= 0)
    return ~(at_lo | at_hi)


def _hessian_from_gradient(grad, x, idx, lo, hi, central: bool = True, g0=None):
    """Symmetric Hessian (free coordinates idx) from differences of an exact gradient.

    ``central=False`` uses forward differences (half the gradient evaluations): enough for Newton
    steps, whose fixed point does not depend on the Hessian's accuracy.
    """
    k = len(idx)
    H = np.zeros((k, k))
    h = _step(x[idx], 1e-5)
    if not central:
        g0 = grad(x) if g0 is None else g0
    for a, i in enumerate(idx):
        e = np.zeros_like(x)
        hi_ok = x[i] + h[a] <= hi[i]
        lo_ok = x[i] - h[a] >= lo[i]
        if not central:
            if hi_ok:
                e[i] = h[a]
                H[:, a] = (grad(x + e)[idx] - g0[idx]) / h[a]
            else:
                e[i] = h[a]
                H[:, a] = (g0[idx] - grad(x - e)[idx]) / h[a]
            continue
        if hi_ok and lo_ok:
            e[i] = h[a]
            H[:, a] = (grad(x + e)[idx] - grad(x - e)[idx]) / (2 * h[a])
        elif hi_ok:
            e[i] = h[a]
            H[:, a] = (grad(x + e)[idx] - grad(x)[idx]) / h[a]
        else:
            e[i] = h[a]
            H[:, a] = (grad(x)[idx] - grad(x - e)[idx]) / h[a]
    return 0.5 * (H + H.T)


#: With exact gradients the polish stops when the Newton step is below this, relative to
#: max(1, |x_i|) in every free coordinate: the optimum is then pinned by its gradient far below the
#: 1e-9 at which estimates are compared across machines (docs/choices.md, "One optimum").
STEP_TOL = 1e-11


#: Largest Newton step (relative to max(1, |x_i|)) that may be accepted on the gradient alone.
GRADIENT_ACCEPT = 1e-3


def _closer_to_stationary(grad, xn, idx, eig, decrement) -> bool:
    """Whether the Newton decrement g'H^{-1}g at ``xn`` (same Hessian) is below a quarter of
    ``decrement``: the step moved towards the zero of the gradient."""
    gn = grad(xn)
    if not np.all(np.isfinite(gn)):
        return False
    w, V, dg = eig
    gs = V.T @ (gn[idx] / dg)
    return float(gs @ (gs / w)) < 0.25 * decrement


def _newton_polish(f, x, fx, lo, hi, max_iter, gtol, grad=None, jacobi=False):
    """Newton steps on the free coordinates until the optimum is pinned by its gradient.

    With exact gradients (``grad``) the polish stops when the Newton step -H^{-1}g is below
    ``STEP_TOL`` relative to the parameters: a criterion on the gradient relative to the
    objective's curvature, which does not depend on where a flat objective stopped improving.
    Steps are accepted within the objective's rounding noise (the gradient, not the value,
    decides near the optimum).  Where rounding noise in the gradient itself keeps the steps from
    shrinking (a non-identifiable direction), the polish stops once they no longer shrink.
    Without exact gradients only the value can be trusted: the polish stops when the Newton
    decrement g'H^{-1}g is at the objective's noise level.
    """
    ok = False
    noise = (1e-16 if grad is not None else 1e-13) * max(1.0, abs(fx))
    allowance = (1e-12 if grad is not None else 0.0) * max(1.0, abs(fx))
    prev = None  # (free coordinates, eigen-decomposition) of the last Hessian
    last_size = np.inf  # the previous Newton step's relative size
    stalls = 0  # consecutive accepted steps that neither shrank nor lowered the objective
    for _ in range(max_iter):
        g = fd_gradient(f, x, lo, hi, f0=fx) if grad is None else grad(x)
        free = _free_mask(x, g, lo, hi)
        idx = np.flatnonzero(free)
        if idx.size == 0:
            ok = True
            break
        if prev is None or not np.array_equal(prev[0], idx):
            eig = _scaled_eigh(f, grad, x, fx, g, idx, lo, hi, jacobi)
            if eig is None:
                break
            prev = (idx, eig)
        # After a Newton step the last Hessian is accurate enough for the next step: the fixed
        # point (g = 0) does not depend on the Hessian's accuracy, only the rate does.
        w, V, dg = prev[1]
        step = -(V @ ((V.T @ (g[idx] / dg)) / w)) / dg
        decrement = float(-g[idx] @ step)
        size = float(np.max(np.abs(step) / np.maximum(1.0, np.abs(x[idx]))))
        if grad is not None:
            if size <= STEP_TOL or (decrement <= noise and size > 0.5 * last_size):
                ok = True
                break
        elif decrement <= noise:
            ok = True
            break
        prev_size, last_size = last_size, size
        t = 1.0
        improved = False
        for _ in range(8):
            xn = x.copy()
            xn[idx] = np.clip(x[idx] + t * step, lo[idx], hi[idx])
            fn = f(xn)
            if fn < fx + allowance:
                gained = fn < fx - noise
                x, fx, improved = xn, min(fn, fx), True
                break
            if t == 1.0 and grad is not None and size <= GRADIENT_ACCEPT and _closer_to_stationary(
                    grad, xn, idx, prev[1], decrement):
                # A small full step that the value cannot judge (its rounding noise exceeds the
                # predicted decrease) is taken when it brings the gradient towards zero.
                gained, x, fx, improved = True, xn, fn, True
                break
            t *= 0.5
        if not improved:
            ok = decrement <= 1e4 * noise
            break
        # Steps that do not lower the objective and do not shrink wander along a direction in
        # which it is flat to rounding (a non-identifiable model): no point pins them.
        stalls = 0 if gained or size <= 0.5 * prev_size else stalls + 1
        if stalls >= 2:
            ok = decrement <= 1e4 * noise
            break
        if t < 1.0:
            prev = None  # a damped step: the Hessian is re-formed at the new point
    return x, fx, ok


def _scaled_eigh(f, grad, x, fx, g, idx, lo, hi, jacobi):
    """Eigen-decomposition (w, V, dg) of the (optionally Jacobi-scaled) Hessian on ``idx``, its
    eigenvalues floored at 1e-10 of the largest; None when it cannot be formed."""
    xs = x.copy()

    def fsub(z):
        xx = xs.copy()
        xx[idx] = z
        return f(xx)

    H = fd_hessian(fsub, x[idx], f0=fx) if grad is None else _hessian_from_gradient(
        grad, x, idx, lo, hi, central=False, g0=g)
    # Jacobi scaling (optional): curvatures spanning more than the 1e10 of the eigenvalue floor
    # (huge counts: a slope against a variance) would otherwise freeze the flat directions.
    dg = np.sqrt(np.maximum(np.abs(np.diag(H)), 1e-300)) if jacobi else np.ones(len(idx))
    try:
        w, V = np.linalg.eigh(H / np.outer(dg, dg))
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(w)):
        return None
    w = np.maximum(w, 1e-10 * max(1.0, np.max(np.abs(w))))
    return w, V, dg
