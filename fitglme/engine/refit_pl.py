"""Refits by pseudo-likelihood (MPL / REMPL) of a model with one random term of one column.

The iterations are those of :func:`fitglme.engine.pseudo_likelihood.pseudo_likelihood` (same start, working
response and weights, stopping rule); only the inner linear mixed model is specialised.  With one
scalar term (``(1|g)``, ``(x|g)`` without intercept) its penalised system is diagonal in the levels:
per PL iteration the per-level sums A_l = sum w z^2, c_l = sum w z x, d_l = sum w z zr and the
totals X'WX, X'Wz, z'Wz are formed once (one pass over the rows); every value of the profiled ML /
REML objective (fitglme/engine/lme.py, its module docstring) is then O(m p^2) arithmetic:

    h_l = lam^2 A_l + 1,   S = X'WX - sum_l lam^2 c_l c_l' / h_l,   beta = S^{-1}(X'Wz - sum_l lam^2 c_l d_l / h_l),
    u_l = lam (d_l - c_l'beta) / h_l,   r^2 = z'Wz - sum_l lam d_l u_l - (X'Wz)'beta.


The objective depends on lam^2 = s only; it is minimised over s >= 0 by safeguarded Newton steps on
its exact derivative (ScalarLME.solve) with a secant curvature, from the previous iteration's value.
"""
from __future__ import annotations

import numpy as np
from scipy.linalg.lapack import dpotrf, dpotrs

from .arrays import constant_value
from .events import EventKind, record
from .layout import ReLayout

LOG2PI = np.log(2.0 * np.pi)


class Cancellation(Exception):
    """z'Wz - r'A^{-1}r lost its digits: the general engine (which recomputes residuals) is needed."""


class ScalarLME:
    """The profiled ML / REML objective of one working response for one scalar random term."""

    def __init__(self, sums: tuple, n_eff: int, sum_log_w: float, p: int, reml: bool,
                 sigma2_fixed: float | None) -> None:
        self.A, self.c, self.d, self.XWX, self.XWz, self.zWz = sums
        self.n, self.p, self.reml, self.s2_fixed = n_eff, p, reml, sigma2_fixed
        self.sum_log_w = sum_log_w

    def solve(self, s: float) -> tuple:
        """(objective, beta, u, sigma2, S, d objective / d s) at lam^2 = s.

        The derivative: d r^2/ds = -sum_l e_l^2 / h_l^2 with e_l = d_l - c_l'beta (the penalised
        least-squares problem in b = lam u has the penalty b^2 / s: envelope theorem),
        d sum log h / ds = sum A / h and, for REML, d log det S / ds = -sum_l c_l'S^{-1}c_l / h_l^2.
        """
        A, c, d = self.A, self.c, self.d
        h = s * A
        h += 1.0
        f = s / h
        S = self.XWX - (c * f[:, None]).T @ c
        rb = self.XWz - c.T @ (f * d)
        if self.p:
            # LAPACK's Cholesky and its solve directly: numpy.linalg's wrappers cost more than the
            # arithmetic on these p x p systems, and the factor serves the solve too.
            Lc, info = dpotrf(S, lower=1, clean=0)
            if info != 0:
                raise Cancellation
            beta = dpotrs(Lc, rb, lower=1)[0]
        else:
            Lc, beta = np.zeros((0, 0)), np.zeros(0)
        e = d - c @ beta
        u = e / h
        u *= np.sqrt(s)
        r2 = self.zWz - np.sqrt(s) * float(d @ u) - (float(self.XWz @ beta) if self.p else 0.0)
        if not r2 > 1e-8 * self.zWz:
            raise Cancellation
        e_h = e / h
        dr2 = -float(e_h @ e_h)
        nd = self.n - self.p if self.reml else self.n
        if self.s2_fixed is None:
            sigma2 = r2 / nd
            obj = nd * (LOG2PI + np.log(sigma2)) + nd
            dobj = nd * dr2 / r2
        else:
            sigma2 = self.s2_fixed
            obj = nd * (LOG2PI + np.log(sigma2)) + r2 / sigma2
            dobj = dr2 / sigma2
        obj += float(np.log(h).sum()) - self.sum_log_w
        dobj += float((A / h).sum())
        if self.reml and self.p:
            obj += 2.0 * float(np.log(np.diag(Lc)).sum())
            Sc = dpotrs(Lc, c.T, lower=1)[0]  # S^{-1} c_l, columns
            dobj -= float(np.einsum("lj,jl,l->", c, Sc, 1.0 / (h * h)))
        return float(obj), beta, u, sigma2, S, dobj

    def minimize(self, s0: float, max_iter: int = 60, xtol: float = 1e-11) -> float:
        """argmin over s >= 0 of the objective: Newton steps on the exact derivative with a secant
        curvature (a forward difference first); stops when a step changes s by at most
        ``xtol * max(1, s)``."""
        s = max(float(s0), 0.0)
        if s == 0.0:
            s = 0.25  # (as ThetaMap.away_from_boundary: lam = 0.5)
        fs, *_, g = self.solve(s)
        step_h = 1e-6 * max(s, 1e-2)
        H = (self.solve(s + step_h)[-1] - g) / step_h
        for _ in range(max_iter):
            if s == 0.0 and g >= 0.0:
                return 0.0
            step = -g / H if H > 0 else -np.sign(g) * max(s, 0.1)
            t, moved = 1.0, False
            for _ in range(40):
                sn = max(s + t * step, 0.0)
                fn, *_, gn = self.solve(sn)
                if fn <= fs + 1e-13 * max(1.0, abs(fs)):
                    moved = True
                    break
                t *= 0.5
            if not moved:
                return s
            done = abs(sn - s) <= xtol * max(1.0, s)
            if sn != s and (gn - g) / (sn - s) > 0:
                H = (gn - g) / (sn - s)
            s, fs, g = sn, fn, gn
            if done:
                return s
        return s


def fit_pl_scalar(resp, X: np.ndarray, layout: ReLayout, Z: np.ndarray, thetas, settings, theta_start,
                  *, dispersion_free: bool, reml: bool, cov_beta: bool = True):
    """MPL / REMPL for one scalar random term; an EngineResult as :func:`fitglme.engine.pseudo_likelihood.fit_pl`.

    Raises :class:`Cancellation` where the general engine is needed."""
    from .pseudo_likelihood import EngineResult, pl_summary

    dist, link = resp.dist, resp.link
    ix = layout.indices[0]
    intercept = Z.strides[0] == 0 and float(Z[0, 0]) == 1.0
    z1 = None if intercept else np.ascontiguousarray(Z[:, 0])
    mu0 = settings.mu_start if settings.mu_start is not None else dist.initial_mu(resp.y, resp.size)
    eta = link.link(dist.clip_mu(np.asarray(mu0, float)))
    starts = layout._starts[0] if not layout.precise else None
    m, p = layout.nlevels[0], X.shape[1]
    s = float(thetas.factors(np.asarray(theta_start, float))[0][0, 0]) ** 2
    zero_offset = constant_value(resp.offset) == 0.0
    tol, max_iter = settings.pl_tolerance, settings.pl_iterations
    converged, change = False, np.inf
    change_prev = np.inf
    it = 0
    for it in range(1, max_iter + 1):
        mu = link.inverse(eta)
        hh = link.mu_eta(eta)
        zr = resp.y - mu
        zr /= hh
        zr += eta
        if not zero_offset:
            zr -= resp.offset
        w = resp.pw * hh if resp.unit_canonical else resp.pw * hh * hh / dist.variance(mu)
        pos = w > 0
        sum_log_w = float(np.log(w if pos.all() else w[pos]).sum())
        wz = w if intercept else w * z1
        M = np.column_stack([wz * (1.0 if intercept else z1), wz * zr, wz[:, None] * X])
        L = np.add.reduceat(M, starts, axis=0) if starts is not None else np.stack(
            [np.bincount(ix, weights=M[:, j], minlength=m) for j in range(M.shape[1])], axis=1)
        WX = X * w[:, None]
        sums = (L[:, 0], L[:, 2:], L[:, 1], X.T @ WX, WX.T @ zr, float(w @ (zr * zr)))
        lme = ScalarLME(sums, int(np.count_nonzero(pos)), sum_log_w, p, reml, None if dispersion_free else 1.0)
        # Far from the fixed point the inner optimum need not be exact (as the general engine's
        # unpolished intermediate fits): a loose tolerance until eta changes by less than 1e-3.
        s = lme.minimize(s, xtol=1e-11 if change_prev < 1e-3 else 1e-5)
        obj, beta, u, sigma2, S, _ = lme.solve(s)
        lam = np.sqrt(s)
        eta_new = X @ beta
        b_rows = u[ix] * lam
        eta_new += b_rows if intercept else b_rows * z1
        eta_new += resp.offset
        eta -= eta_new
        change = float(np.max(np.abs(eta))) / max(float(np.max(np.abs(eta_new))), 1.0)
        eta = eta_new
        change_prev = change
        if change <= tol:
            converged = True
            break
    if not converged:
        record(EventKind.PL_NOT_CONVERGED, max_iter=max_iter, change=change, tol=tol)
    L_abs = np.array([[np.sqrt(sigma2) * lam]])
    mu = link.inverse(eta)
    return EngineResult(
        method=settings.method, beta=beta, b=lam * u, psi=[L_abs @ L_abs.T], dispersion=float(sigma2),
        dispersion_estimated=dispersion_free, loglik=-0.5 * obj,
        cov_beta=sigma2 * np.linalg.inv(S) if cov_beta else None, eta=eta, mu=mu,
        W=resp.working(eta, 1.0, observed=False)[2], Ls=[L_abs], converged=converged,
        n_cov_params=thetas.size, pl_iterations=it, info={"fast_path": True},
        optimizer=pl_summary(it, it, converged, settings),
    )
