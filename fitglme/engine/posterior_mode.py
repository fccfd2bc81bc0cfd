"""Root finders on the score for the posterior mode of the random effects.

PIRLS (:func:`fitglme.engine.pirls.pirls`) finds the mode of the log posterior

    l(x) = log p(y | eta) - |u|^2 / 2,    x = u (and beta when it is profiled),

by Newton steps halved until the penalised deviance -2 l does not increase.  The solvers here
find the same point as the root of the score r(x) = grad l(x) = [Lambda'Z's - u; X's], whose
Jacobian is -A with A the penalised system of the observed weights.
They minimise the merit function f(x) = |r(x)|^2 / 2 (its gradient is -A r), which gives them
different paths from PIRLS (docs/fit_methods.md):

``line_search``
    Newton direction A^{-1} r, backtracking (halving) until f decreases by the Armijo condition.
``modified_line_search``
    The same, except that a Newton direction at an angle to -grad f whose cosine is at most
    :data:`ANGLE_COS` is replaced by the Levenberg direction (A^2 + tau I)^{-1} A r, tau doubled
    until the angle condition holds.
``trust_region_2d``
    Trust region on the Gauss-Newton model of f, the step minimising the model exactly over the
    plane spanned by -grad f and the Newton direction (2-D subspace minimisation).
``dogleg``
    Trust region with Powell's dogleg path between the Cauchy point and the Newton point.

Stopping rules (``grad_tol``, ``step_tol``): for the first three, |A r|_inf <= tau grad_tol with
tau = max(1, min(|r|_2, |A r_0|_inf)) (a relative gradient norm), or a step of 2-norm at most
``step_tol``; for ``dogleg``, the first-order optimality |A r|_inf <= grad_tol or a step of
2-norm at most step_tol (1 + |x|_2).  At most ``max_iter`` iterations.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy.optimize import brentq
from scipy.sparse.linalg import LinearOperator, cg

METHODS = ("line_search", "modified_line_search", "trust_region_2d", "dogleg")

#: sufficient decrease (Armijo) constant and step-reduction factor of the line searches
ARMIJO_C1 = 1e-5
BACKTRACK = 0.5
#: a Newton direction whose cosine with -grad f is at most this is modified (Levenberg)
ANGLE_COS = 1e-2
#: trust regions: a step is accepted when the actual reduction of f is at least this fraction
#: of the predicted one; the radius shrinks below RHO_SHRINK and grows above RHO_GROW
ETA_ACCEPT = 1e-4
RHO_SHRINK, RHO_GROW = 0.25, 0.75
MAX_RADIUS = 1e9


@dataclass
class ModeTrace:
    """What a posterior-mode search did (engine data, summed over a fit by the Laplace objective).

    ``iterations``: iterations of the method; ``residual_evals``: score evaluations at trial
    points; ``jacobian_evals``: factorisations; ``modified_directions``: Levenberg-modified
    directions; ``rejected_steps``: trust-region steps not taken; ``polish_iterations``: Newton
    steps of the final polish (:func:`fitglme.engine.pirls.pirls`); ``stop``: the rule that ended
    the method ('gradient', 'step', 'eta', 'rounding', 'max_iter', 'failed').
    """

    method: str
    iterations: int = 0
    residual_evals: int = 0
    jacobian_evals: int = 0
    modified_directions: int = 0
    rejected_steps: int = 0
    polish_iterations: int = 0
    stop: str = ""
    #: |r|_2 after each iteration of the method (its path; not kept by the Laplace totals)
    residual_norms: list = field(default_factory=list)


@dataclass
class Linearization:
    """The score r at a point, A v (A = -dr/dx) and the Newton direction A^{-1} r."""

    r: np.ndarray
    matvec: Callable[[np.ndarray], np.ndarray]
    newton: np.ndarray


def solve_mode(
    method: str,
    residual: Callable[[np.ndarray], np.ndarray | None],
    linearize: Callable[[np.ndarray], Linearization],
    x0: np.ndarray,
    *,
    grad_tol: float,
    step_tol: float,
    max_iter: int,
    trace: ModeTrace,
    display: bool = False,
) -> tuple[np.ndarray, bool]:
    """Root of the score from ``x0`` by ``method`` (one of :data:`METHODS`).

    ``residual(x)`` returns r(x), or None where the model is not finite; ``linearize(x)`` the
    :class:`Linearization` at x.  Returns the last point and whether a stopping rule (not the
    iteration limit) ended the search.
    """
    if method not in METHODS:
        raise ValueError(f"unknown posterior-mode method {method!r}")
    x = np.array(x0, float)
    lin = linearize(x)
    trace.jacobian_evals += 1
    g = lin.matvec(lin.r)
    g0 = float(np.max(np.abs(g))) if g.size else 0.0
    radius = float(np.linalg.norm(lin.newton))
    if not np.isfinite(radius) or radius == 0.0:
        radius = 1.0
    max_radius = max(radius, MAX_RADIUS)
    for it in range(1, max_iter + 1):
        trace.iterations = it
        if method in ("line_search", "modified_line_search"):
            x_new, step = _line_search_step(residual, x, lin, g, method == "modified_line_search", step_tol, trace)
            accepted = x_new is not None
            if not accepted:
                trace.stop = "failed"
                return x, False
        else:
            x_new, step, rho, accepted = _trust_region_step(residual, x, lin, g, radius, method, trace)
            radius = _update_radius(radius, rho, step, max_radius)
        if accepted:
            x = x_new
            lin = linearize(x)
            trace.jacobian_evals += 1
            g = lin.matvec(lin.r)
        gnorm = float(np.max(np.abs(g))) if g.size else 0.0
        rnorm = float(np.linalg.norm(lin.r))
        trace.residual_norms.append(rnorm)
        if display:
            print(f"    EB iteration {it:3d}: |r| = {rnorm:.6g}, |J'r|_inf = {gnorm:.3g}, step = {step:.3g}"
                  + ("" if accepted else " (rejected)"))
        if method == "dogleg":
            if gnorm <= grad_tol:
                trace.stop = "gradient"
                return x, True
            if step <= step_tol * (1.0 + float(np.linalg.norm(x))):
                trace.stop = "step"
                return x, True
        else:
            tau = max(1.0, min(rnorm, g0))
            if gnorm <= tau * grad_tol:
                trace.stop = "gradient"
                return x, True
            if step <= step_tol:
                trace.stop = "step"
                return x, True
    trace.stop = "max_iter"
    return x, False


def _line_search_step(residual, x, lin: Linearization, g, modified: bool, step_tol: float, trace: ModeTrace):
    """One backtracking step along the (possibly modified) Newton direction; (x_new, |step|) or
    (None, 0) when no finite trial point is found."""
    p = lin.newton
    if modified and not _cosine(p, g) > ANGLE_COS:
        p = _levenberg_direction(lin, g)
        trace.modified_directions += 1
    f0 = 0.5 * float(lin.r @ lin.r)
    slope = float(p @ g)  # -(directional derivative of f along p)
    alpha = 1.0
    while True:
        rn = residual(x + alpha * p)
        trace.residual_evals += 1
        finite = rn is not None
        if finite and 0.5 * float(rn @ rn) <= f0 - ARMIJO_C1 * alpha * slope:
            break
        if alpha <= step_tol:
            if not finite:
                return None, 0.0
            break  # the step is at the step tolerance: taken as it is
        alpha *= BACKTRACK
    return x + alpha * p, alpha * float(np.linalg.norm(p))


def _cosine(p: np.ndarray, g: np.ndarray) -> float:
    den = float(np.linalg.norm(p) * np.linalg.norm(g))
    return float(p @ g) / den if den > 0 and np.isfinite(den) else -1.0


def _levenberg_direction(lin: Linearization, g: np.ndarray) -> np.ndarray:
    """(A^2 + tau I)^{-1} A r with tau doubled from (|A r| / |r|)^2 until the direction's cosine
    with A r exceeds :data:`ANGLE_COS` (conjugate gradients on the positive definite system)."""
    m = g.size
    rn = float(np.linalg.norm(lin.r))
    tau = (float(np.linalg.norm(g)) / rn) ** 2 if rn > 0 else 1.0
    p = g.copy()
    for _ in range(200):
        op = LinearOperator((m, m), matvec=lambda v, t=tau: lin.matvec(lin.matvec(v)) + t * v, dtype=float)
        p, _info = cg(op, g, x0=p / 2.0, rtol=1e-12, maxiter=10 * m)
        if _cosine(p, g) > ANGLE_COS:
            return p
        tau *= 2.0
    return g / max(tau, 1.0)  # (steepest descent on f)


def _trust_region_step(residual, x, lin: Linearization, g, radius: float, method: str, trace: ModeTrace):
    """A trust-region trial step; returns (x + p, |p|, rho, accepted)."""
    r, pn = lin.r, lin.newton
    Apn = lin.matvec(pn)
    npn = float(np.linalg.norm(pn))
    if np.isfinite(npn) and npn <= radius:
        p, Ap = pn, Apn
    elif method == "trust_region_2d":
        p, Ap = _subspace_step(lin, g, pn, Apn, radius)
    else:
        p, Ap = _dogleg_step(lin, g, pn, Apn, radius)
    step = float(np.linalg.norm(p))
    rn = residual(x + p)
    trace.residual_evals += 1
    rr = float(r @ r)
    pred = rr - float(np.sum((r - Ap) ** 2))
    if rn is None or not pred > 0:
        rho = -np.inf
    else:
        rho = (rr - float(rn @ rn)) / pred
    accepted = rho > ETA_ACCEPT
    if not accepted:
        trace.rejected_steps += 1
    return x + p, step, rho, accepted


def _update_radius(radius: float, rho: float, step: float, max_radius: float) -> float:
    if not rho >= RHO_SHRINK:
        return RHO_SHRINK * radius
    if rho > RHO_GROW and abs(step - radius) <= 1e-4 * radius:
        return min(2.0 * radius, max_radius)
    return radius


def _subspace_step(lin: Linearization, g, pn, Apn, radius: float):
    """Minimiser of the model |r - A p|^2 / 2 over p in span(g, pn), |p| <= radius."""
    Ag = lin.matvec(g)
    basis = np.column_stack([g, pn]) if np.all(np.isfinite(pn)) else g[:, None]
    Q, R = np.linalg.qr(basis)
    keep = np.abs(np.diag(R)) > 1e-12 * max(1.0, float(np.abs(R).max()))
    if not keep.all():  # g and pn parallel: the 1-D problem along g
        Q, R = np.linalg.qr(g[:, None])
        AQ = Ag[:, None] / R[0, 0]
    else:
        AQ = np.column_stack([Ag, Apn]) @ np.linalg.inv(R)
    B = AQ.T @ AQ
    c = Q.T @ g
    v = _trust_region_subproblem(B, c, radius)
    return Q @ v, AQ @ v


def _trust_region_subproblem(B: np.ndarray, c: np.ndarray, radius: float) -> np.ndarray:
    """argmin -c'v + v'Bv/2 subject to |v| <= radius, for a small symmetric B (exact)."""
    lam, V = np.linalg.eigh(0.5 * (B + B.T))
    ct = V.T @ c
    if lam.min() > 0:
        v = V @ (ct / lam)
        if np.linalg.norm(v) <= radius:
            return v
    lo = max(0.0, -float(lam.min()))

    def excess(mu: float) -> float:
        return float(np.linalg.norm(ct / (lam + mu))) - radius

    hi = lo + float(np.linalg.norm(c)) / radius + 1.0
    while excess(hi) > 0:
        hi *= 2.0
    a = lo + 1e-14 * max(1.0, hi)
    if excess(a) <= 0:  # (hard case: the boundary is reached along the lowest eigenvector)
        v = V @ (ct / (lam + a))
        return v * (radius / max(float(np.linalg.norm(v)), 1e-300))
    mu = brentq(excess, a, hi, xtol=1e-14 * hi, rtol=1e-12)
    return V @ (ct / (lam + mu))


def _dogleg_step(lin: Linearization, g, pn, Apn, radius: float):
    """Powell's dogleg: along -grad f to the Cauchy point, then towards the Newton point."""
    Ag = lin.matvec(g)
    gg, AgAg = float(g @ g), float(Ag @ Ag)
    t = gg / AgAg if AgAg > 0 else radius / max(np.sqrt(gg), 1e-300)
    pu, Apu = t * g, t * Ag
    npu = float(np.linalg.norm(pu))
    if npu >= radius or not np.all(np.isfinite(pn)):
        s = radius / max(np.sqrt(gg), 1e-300)
        return s * g, s * Ag
    d, Ad = pn - pu, Apn - Apu
    a, b, c = float(d @ d), 2.0 * float(pu @ d), npu**2 - radius**2
    s = (-b + np.sqrt(b * b - 4 * a * c)) / (2 * a) if a > 0 else 0.0
    return pu + s * d, Apu + s * Ad
