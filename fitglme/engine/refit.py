"""Refits of one model to many responses: the Laplace objective of a single random term.

Every refit of a bootstrap or a simulation study shares the design, the random-effects layout
and the covariance parameterisation with the original fit; only the response changes.  For the
most common structure, one random term (``(1|g)``, ``(1 + x|g)``: the penalised system is block
diagonal, one q-by-q block per level), :class:`SingleTermLaplace` evaluates the Laplace
objective and its exact gradient with per-level arrays only (no factorisation object, no
Schur complement), and :func:`fitglme.engine.quasi_newton.minimize_from` minimises it by quasi-Newton steps that start from
the original fit's estimates and Hessian.  The formulas are those of
:mod:`fitglme.engine.laplace` (its module docstring) specialised to a block-diagonal H:

with m_i = L'z_i, H_l = L'A_l L + I (A_l = sum_{i in l} W_i z_i z_i'), the score sums
G_l = sum s_i z_i, d_i = z_i'L H_l^{-1} L'z_i, v_i = W'_i d_i, a_l = sum v_i z_i,
t_l = H_l^{-1} L'a_l, r_l = A_l L t_l and B = sum_l H_l^{-1} L'A_l,

    df/dtheta_j = sum_l (a_l - 2 G_l - r_l)'dL_j u_l + G_l'dL_j t_l + 2 tr(dL_j B)
    df/dbeta    = -2 X's + X'v - X'(W * Mt),        (Mt)_i = m_i't_l
    df/dlog phi = d(-2 log p)/d log phi - (Q - sum tr H_l^{-1}) - t'u.

Models with crossed or several random terms, huge counts and ApproximateLaplace use the general
engine (:func:`fitglme.engine.laplace.fit_laplace` started from the original estimates).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .blocks import NotPositiveDefinite
from .layout import ReLayout, scale_columns
from .lme import ThetaMap
from .response import GLMResponse
from .quasi_newton import minimize_from
from .result import EngineResult, OptimizerSummary


@dataclass
class Mode:
    """The conditional mode of u at one (theta, beta, phi) and the per-level pieces at it."""

    u: np.ndarray  # (m, q)
    eta: np.ndarray
    mu: np.ndarray
    loglik: float
    W: np.ndarray  # observed weights at the mode
    A: np.ndarray  # (m, q, q) per-level sums of W z z'
    score: np.ndarray  # d log p / d eta at the mode
    Hinv: np.ndarray  # (m, q, q)
    logdet: float
    converged: bool

    @property
    def deviance(self) -> float:
        """-2 log L by the Laplace approximation."""
        return -2.0 * self.loglik + float(np.einsum("ij,ij->", self.u, self.u)) + self.logdet


class SingleTermLaplace:
    """Laplace objective f(x), x = [theta, beta, (log phi)], of a model with one random term.

    Parameters
    ----------
    resp : GLMResponse
        The response being fitted (the only part that changes between refits).
    X : (n, p) fixed-effects design
    layout : ReLayout with one term
    Z : (n, q) covariates of the term (a broadcast row for a random intercept)
    thetas : ThetaMap
    dispersion_free : bool
    max_iter, tol : PIRLS iteration limit and tolerance on the squared Newton decrement
    """

    def __init__(self, resp: GLMResponse, X: np.ndarray, layout: ReLayout, Z: np.ndarray, thetas: ThetaMap,
                 dispersion_free: bool, max_iter: int = 100, tol: float = 1e-20) -> None:
        if layout.nterms != 1:
            raise ValueError("SingleTermLaplace needs exactly one random term")
        self.resp, self.X, self.layout, self.Z, self.thetas = resp, X, layout, Z, thetas
        self.ix = layout.indices[0]
        self.m, self.q = layout.nlevels[0], layout.qs[0]
        self.intercept = Z.strides[0] == 0 and self.q == 1 and float(Z[0, 0]) == 1.0
        self.dfree = dispersion_free
        self.k, self.p = thetas.size, X.shape[1]
        self.max_iter, self.tol = max_iter, tol
        self.u = np.zeros((self.m, self.q))  # warm start of the next PIRLS
        #: (x, u, du/dx) at the last gradient: the next PIRLS starts from the first-order
        #: prediction u + du/dx (x_new - x), which saves about one Newton iteration per evaluation
        self._pred: tuple | None = None
        self._lam_cache: tuple | None = None
        self.beta_block: np.ndarray | None = None  # set by each q = 1 gradient
        self.z1 = None if self.intercept or self.q != 1 else np.ascontiguousarray(Z[:, 0])
        self.n_evals = 0

    # -- per-level sums -------------------------------------------------------------------
    def _sum(self, v: np.ndarray) -> np.ndarray:
        return self.layout.sum_by_level(0, v)

    def _sums_z(self, v: np.ndarray) -> np.ndarray:
        """sum_{i in l} v_i z_i: (m, q)."""
        if self.intercept:
            return self._sum(v)[:, None]
        return np.stack([self._sum(v * self.Z[:, a]) for a in range(self.q)], axis=1)

    def _sums_zz(self, w: np.ndarray) -> np.ndarray:
        """A_l = sum_{i in l} w_i z_i z_i': (m, q, q)."""
        if self.intercept:
            return self._sum(w)[:, None, None]
        q = self.q
        A = np.empty((self.m, q, q))
        for a in range(q):
            wa = w * self.Z[:, a]
            for b in range(a + 1):
                A[:, a, b] = A[:, b, a] = self._sum(wa * self.Z[:, b])
        return A

    def _sums_columns(self, M: np.ndarray) -> np.ndarray:
        """Per-level column sums of the (n, c) array M: (m, c)."""
        starts = self.layout._starts[0]
        if starts is not None and not self.layout.precise:
            return np.add.reduceat(M, starts, axis=0)
        return np.stack([self._sum(M[:, c]) for c in range(M.shape[1])], axis=1)

    def _zt_rows(self, Zt: np.ndarray, levels: np.ndarray) -> np.ndarray:
        """Zt_i . levels[ix_i] for every row: (n,)."""
        if self.q == 1:
            out = levels[self.ix, 0]
            out *= Zt[:, 0]
            return out
        return np.einsum("ij,ij->i", Zt, levels[self.ix])

    # -- PIRLS --------------------------------------------------------------------------------
    def _blocks(self, A: np.ndarray, L: np.ndarray) -> tuple[np.ndarray, float]:
        """The inverses of H_l = L'A_l L + I and sum log det H_l."""
        if self.q == 1:
            h = A[:, 0, 0] * (L[0, 0] ** 2)
            h += 1.0
            if not h.min() > 0:
                raise NotPositiveDefinite("H")
            return (1.0 / h)[:, None, None], float(np.log(h).sum())
        H = np.einsum("ba,lbc,cd->lad", L, A, L)
        H += np.eye(self.q)
        try:
            C = np.linalg.cholesky(H)
        except np.linalg.LinAlgError as exc:
            raise NotPositiveDefinite("H") from exc
        Ci = np.linalg.inv(C)
        logdet = 2.0 * float(np.log(np.einsum("kii->ki", C)).sum())
        return np.einsum("kba,kbc->kac", Ci, Ci), logdet

    # -- one column (q = 1): the same formulas with per-level scalars ----------------------
    def _scalar_factor(self, theta: np.ndarray) -> tuple[float, list[float]]:
        """lambda = L[0, 0] and its derivatives (cached for the last theta)."""
        key = theta.tobytes()
        if self._lam_cache is not None and self._lam_cache[0] == key:
            return self._lam_cache[1]
        lam = float(self.thetas.factors(theta)[0][0, 0])
        dl = [float(d[0, 0]) for pat in self.thetas.patterns for d in pat.factor_derivatives(theta)]
        self._lam_cache = (key, (lam, dl))
        return lam, dl

    def _sum1(self, v: np.ndarray) -> np.ndarray:
        """sum_{i in l} v_i z_i for one column z."""
        return self._sum(v if self.intercept else v * self.z1)

    def _mode_scalar(self, x: np.ndarray) -> Mode:
        """:meth:`mode` for q = 1 (u as an (m,) vector inside)."""
        resp, ix = self.resp, self.ix
        theta, beta, phi = self.unpack(x)
        lam, _ = self._scalar_factor(theta)
        fixed = self.X @ beta
        fixed += resp.offset
        zl = lam if self.intercept else lam * self.z1  # the row factor of u[ix]
        u = self.u[:, 0].copy()
        if self._pred is not None:
            x_prev, u_prev, J = self._pred
            u = u_prev + J @ (x - x_prev)

        def at(u_):
            eta_ = u_[ix] * zl
            eta_ += fixed
            mu_ = resp.link.inverse(eta_)
            return eta_, mu_, resp.loglik(mu_, phi, eta_)

        eta, mu, ll = at(u)
        pdev = -2.0 * ll + float(u @ u)
        converged = final = False
        lam2 = lam * lam
        for it in range(self.max_iter + 1):
            mu, s, W = resp.working(eta, phi, True, mu)
            newton_W = W if resp.unit_canonical or np.all(W > 0) else resp.working(eta, phi, False)[2]
            A = self._sum1(newton_W if self.intercept else newton_W * self.z1)
            h = A * lam2
            h += 1.0
            if not h.min() > 0:
                raise NotPositiveDefinite("H")
            if final:
                break
            g = self._sum1(s) * lam - u
            du = g / h
            decrement = float(du @ g)
            scale = max(1.0, abs(pdev))
            if decrement < 1e-28 * scale or it == self.max_iter:  # (see mode)
                converged = decrement < 1e-28 * scale
                break
            step = _halving_step(at, lambda v: float(v @ v), u, du, pdev)
            if step is None:
                converged = decrement < 1e-8 * max(1.0, abs(pdev), resp.rounding_scale(mu))
                break
            u, eta, mu, ll, pdev = step
            if decrement < self.tol * scale:
                converged = final = True
        if newton_W is not W:
            A = self._sum1(W if self.intercept else W * self.z1)
            h = A * lam2 + 1.0
            if not h.min() > 0:
                raise NotPositiveDefinite("H")
        u2 = u[:, None]
        self.u = u2
        return Mode(u2, eta, mu, ll, W, A[:, None, None], s, (1.0 / h)[:, None, None], float(np.log(h).sum()),
                    converged)

    def _gradient_scalar(self, x: np.ndarray, md: Mode) -> np.ndarray:
        """:meth:`_gradient` for q = 1 (module docstring, with per-level scalars)."""
        resp, X, ix = self.resp, self.X, self.ix
        theta, _, phi = self.unpack(x)
        lam, dlams = self._scalar_factor(theta)
        u, W, s = md.u[:, 0], md.W, md.score
        A = md.A[:, 0, 0]
        hinv = md.Hinv[:, 0, 0]
        G = self._sum1(s)
        P = (lam * lam) * hinv  # L H^{-1} L'
        d = P[ix] if self.intercept else P[ix] * self.z1 * self.z1
        v = d * resp.weight_derivative(md.eta, phi, mu=md.mu)
        a = self._sum1(v)
        t = (lam * hinv) * a  # H^{-1} L'a
        r = A * (lam * t)  # A L t
        bsum = lam * float(A @ hinv)  # sum H^{-1} L'A
        k, p = self.k, self.p
        g = np.empty(len(x))
        common = float((a - 2.0 * G - r) @ u) + float(G @ t) + 2.0 * bsum
        for j, dl in enumerate(dlams):
            g[j] = dl * common
        Mt = t[ix] * lam if self.intercept else t[ix] * (lam * self.z1)
        Mt *= W
        Mt -= v
        Mt += 2.0 * s
        g[k : k + p] = -(X.T @ Mt)
        if self.dfree:
            dl_phi = -2 * resp.dist.loglik_dispersion_derivative(resp.y, md.mu, resp.w, phi, resp.size)
            g[-1] = dl_phi - (self.m - float(hinv.sum())) - float(t @ u)
        # du/dx for the predictor of the next mode
        J = np.empty((self.m, len(x)))
        base = G - A * (lam * u)
        for j, dl in enumerate(dlams):
            J[:, j] = dl * base
        WX = X * (W if self.intercept else W * self.z1)[:, None]
        C = self._sums_columns(WX)
        J[:, k : k + p] = -lam * C
        # 2 x the fixed-effects Schur complement X'WX - sum_l lam^2 C_l C_l' / h_l: the Hessian of the
        # u-profiled penalised deviance in beta (what the beta block of the objective's Hessian is
        # but for the log det's curvature), for the quasi-Newton iteration (minimize_from)
        XWX = X.T @ (WX if self.intercept else X * W[:, None])
        self.beta_block = 2.0 * (XWX - (C * ((lam * lam) * hinv)[:, None]).T @ C)
        if self.dfree:
            J[:, -1] = -u
        J *= hinv[:, None]
        self._pred = (x.copy(), u, J)
        return g

    def mode(self, x: np.ndarray) -> Mode:
        """PIRLS for u at x (beta and phi fixed), warm-started from the last mode."""
        resp = self.resp
        theta, beta, phi = self.unpack(x)
        L = self.thetas.factors(theta)[0]
        Zt = scale_columns(self.Z, L)
        fixed = self.X @ beta
        fixed += resp.offset
        u = self.u.copy()
        if self._pred is not None:
            x_prev, u_prev, J = self._pred
            u = u_prev + J @ (x - x_prev)

        def at(u_):
            eta_ = self._zt_rows(Zt, u_)
            eta_ += fixed
            mu_ = resp.link.inverse(eta_)
            return eta_, mu_, resp.loglik(mu_, phi, eta_)

        eta, mu, ll = at(u)
        pdev = -2.0 * ll + float(np.einsum("ij,ij->", u, u))
        converged = final = False
        for it in range(self.max_iter + 1):
            mu, s, W = resp.working(eta, phi, True, mu)
            newton_W = W if resp.unit_canonical or np.all(W > 0) else resp.working(eta, phi, False)[2]
            g = self._sums_z(s) @ L - u  # L'G_l - u_l
            A = self._sums_zz(newton_W)
            Hinv, logdet = self._blocks(A, L)
            if final:
                break
            du = Hinv[:, :, 0] * g if self.q == 1 else np.einsum("lab,lb->la", Hinv, g)
            decrement = float(np.einsum("ij,ij->", du, g))
            scale = max(1.0, abs(pdev))
            # The objective's log det depends on u to first order: u must be exact to rounding.  A
            # decrement at rounding level needs no step; a small one gets one last (full) Newton step,
            # after which u is exact to ~ its square (quadratic convergence).
            if decrement < 1e-28 * scale or it == self.max_iter:
                converged = decrement < 1e-28 * scale
                break
            step = _halving_step(at, lambda v: float(np.einsum("ij,ij->", v, v)), u, du, pdev)
            if step is None:
                # No decrease possible: the mode is reached to rounding precision.
                converged = decrement < 1e-8 * max(1.0, abs(pdev), resp.rounding_scale(mu))
                break
            u, eta, mu, ll, pdev = step
            if decrement < self.tol * scale:
                converged = final = True
        if newton_W is not W:  # the objective's blocks use the observed weights
            A = self._sums_zz(W)
            Hinv, logdet = self._blocks(A, L)
        self.u = u
        return Mode(u, eta, mu, ll, W, A, s, Hinv, logdet, converged)

    def unpack(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        theta = x[: self.k]
        beta = x[self.k : self.k + self.p]
        phi = float(np.exp(x[-1])) if self.dfree else 1.0
        return theta, beta, phi

    # -- value and gradient ----------------------------------------------------------------
    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """f(x) and df/dx; (inf, nan) where PIRLS breaks down."""
        x = np.asarray(x, float)
        self.n_evals += 1
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                if self.q == 1:
                    md = self._mode_scalar(x)
                    f = md.deviance
                    if not np.isfinite(f):
                        raise FloatingPointError
                    return f, self._gradient_scalar(x, md)
                md = self.mode(x)
                f = md.deviance
                if not np.isfinite(f):
                    raise FloatingPointError
                return f, self._gradient(x, md)
        except (NotPositiveDefinite, FloatingPointError, np.linalg.LinAlgError):
            self.u = np.zeros((self.m, self.q))
            self._pred = None
            return np.inf, np.full(len(x), np.nan)

    def _gradient(self, x: np.ndarray, md: Mode) -> np.ndarray:
        resp, X = self.resp, self.X
        theta, _, phi = self.unpack(x)
        L = self.thetas.factors(theta)[0]
        Zt = scale_columns(self.Z, L)
        u, Hinv, W, A, s = md.u, md.Hinv, md.W, md.A, md.score
        G = self._sums_z(s)
        P = np.einsum("ab,lbc,dc->lad", L, Hinv, L)  # L H_l^{-1} L'
        if self.q == 1:
            d = P[self.ix, 0, 0] * (self.Z[:, 0] ** 2 if not self.intercept else 1.0)
        else:
            d = np.einsum("ia,iab,ib->i", self.Z, P[self.ix], self.Z)
        v = d * resp.weight_derivative(md.eta, phi, mu=md.mu)
        a = self._sums_z(v)
        t = np.einsum("lab,lb->la", Hinv, a @ L)  # H^{-1} L'a
        r = np.einsum("lab,lb->la", A, t @ L.T)  # A L t
        Bsum = np.einsum("lab,cb,lcd->ad", Hinv, L, A)  # sum H^{-1} L'A
        g = np.empty(len(x))
        c = a - 2.0 * G - r
        derivs = [dL for pat in self.thetas.patterns for dL in pat.factor_derivatives(theta)]
        # du/dx (implicit differentiation of the mode condition L'G_l = u_l) for the predictor.
        rhs = np.empty((self.m, self.q, len(x)))
        for j, dL in enumerate(derivs):
            ud = u @ dL.T
            g[j] = (float(np.einsum("ij,ij->", c, ud)) + float(np.einsum("ij,ij->", G, t @ dL.T))
                    + 2.0 * float(np.einsum("ab,ba->", dL, Bsum)))
            rhs[:, :, j] = G @ dL - np.einsum("lab,lb->la", A, ud) @ L
        WX = X * W[:, None]
        if self.intercept:
            C = self._sums_columns(WX)[:, None, :]
        else:
            C = np.stack([self._sums_columns(WX * self.Z[:, a:a + 1]) for a in range(self.q)], axis=1)
        rhs[:, :, self.k : self.k + self.p] = -np.einsum("ba,lbc->lac", L, C)
        if self.dfree:
            rhs[:, :, -1] = -u
        self._pred = (x.copy(), u, np.einsum("lab,lbc->lac", Hinv, rhs))
        Mt = self._zt_rows(Zt, t)
        Mt *= W
        k, p = self.k, self.p
        g[k : k + p] = X.T @ (v - Mt - 2.0 * s)
        if self.dfree:
            dl = -2 * resp.dist.loglik_dispersion_derivative(resp.y, md.mu, resp.w, phi, resp.size)
            g[-1] = dl - (self.m * self.q - float(np.einsum("lii->", Hinv))) - float(np.einsum("ij,ij->", t, u))
        return g


# ---------------------------------------------------------------------------------------------
# one refit to a new response
# ---------------------------------------------------------------------------------------------
def fast_path_applies(resp: GLMResponse, layout: ReLayout, settings) -> bool:
    """Whether :class:`SingleTermLaplace` fits this model (else the general engine refits it)."""
    return bool(settings.method == "Laplace" and layout.nterms == 1 and not layout.precise
                and settings.optimizer == "quasinewton" and not settings.check_hessian
                and settings.covariance_method == "conditional" and not settings.sequential
                and not settings.verbose and settings.optimizer_defaults)


def pl_fast_path_applies(resp: GLMResponse, layout: ReLayout, settings) -> bool:
    """Whether :func:`fitglme.engine.refit_pl.fit_pl_scalar` fits this MPL / REMPL model."""
    return bool(settings.method in ("MPL", "REMPL") and layout.nterms == 1 and layout.qs[0] == 1
                and not layout.precise and settings.optimizer == "quasinewton" and not settings.verbose
                and settings.start_method != "random" and settings.optimizer_defaults)


def start_vector(thetas: ThetaMap, theta: np.ndarray, beta: np.ndarray, phi: float, dfree: bool) -> np.ndarray:
    """x = [theta, beta, (log phi)], the scale parameters at 0 moved inside (see ThetaMap)."""
    theta = thetas.away_from_boundary(theta, 0.5 * np.sqrt(phi))
    return np.concatenate([theta, beta, [np.log(phi)] if dfree else []])


def bounds(thetas: ThetaMap, p: int, dfree: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower and upper bounds of x and the mask of its scale parameters."""
    extra = p + (1 if dfree else 0)
    lo = np.concatenate([thetas.lower, np.full(extra, -np.inf)])
    hi = np.concatenate([thetas.upper, np.full(extra, np.inf)])
    return lo, hi, np.concatenate([thetas.scale_mask(), np.zeros(extra, bool)])


def start_hessian(resp: GLMResponse, X, layout, Zs, patterns, x0: np.ndarray) -> np.ndarray:
    """Hessian of the Laplace objective at ``x0`` (differences of the exact gradient): the initial
    curvature of every refit's quasi-Newton iteration."""
    from .optimize import _hessian_from_gradient

    thetas = ThetaMap(patterns)
    dfree = not resp.dist.dispersion_fixed
    obj = SingleTermLaplace(resp, X, layout, Zs[0], thetas, dfree)
    lo, hi, _ = bounds(thetas, X.shape[1], dfree)
    obj.value_and_grad(x0)
    return _hessian_from_gradient(lambda z: obj.value_and_grad(z)[1], x0, np.arange(len(x0)), lo, hi)


def _halving_step(at, penalty, u, du, pdev):
    """The posterior-mode step of both forms: u + t du with t halved (at most 30 times) until the
    penalised deviance -2 log p(y|u) + |u|^2 does not rise beyond rounding; ``at(u)`` returns
    (eta, mu, log p(y|u)).  Returns (u, eta, mu, log p, deviance) of the accepted point, or None."""
    t = 1.0
    for _ in range(30):
        un = u + t * du if t != 1.0 else u + du
        etan, mun, lln = at(un)
        pn = -2.0 * lln + penalty(un)
        if np.isfinite(pn) and pn <= pdev + 1e-10 * abs(pdev):
            return un, etan, mun, lln, pn
        t *= 0.5
    return None


def refit_response(problem, hessian: np.ndarray | None = None, cov_beta: bool = True):
    """Fit a :class:`~fitglme.engine.problem.FitProblem` (a new response) starting from its
    ``start = (theta, beta, phi)`` (absolute covariance parameters of the Laplace engine, or the
    relative ones of the PL engine for MPL / REMPL).  Returns an
    :class:`~fitglme.engine.result.EngineResult`; ``cov_beta=False`` leaves its ``cov_beta`` as None
    (not needed by a bootstrap replicate).
    """
    from .laplace import fit_laplace
    from .pseudo_likelihood import fit_pl

    resp, X, layout, Zs, patterns, settings, start = (
        problem.response, problem.X, problem.layout, list(problem.Zs), list(problem.patterns), problem.settings,
        problem.start)
    default_start = problem.with_start(None)

    if settings.method in ("MPL", "REMPL"):
        if pl_fast_path_applies(resp, layout, settings):
            from .refit_pl import Cancellation, fit_pl_scalar

            dfree = (not resp.dist.dispersion_fixed) or settings.dispersion_flag
            try:
                with np.errstate(all="ignore"):
                    return fit_pl_scalar(resp, X, layout, Zs[0], ThetaMap(patterns), settings, start[0],
                                         dispersion_free=dfree, reml=settings.method == "REMPL",
                                         cov_beta=cov_beta)
            except (Cancellation, FloatingPointError, np.linalg.LinAlgError, ZeroDivisionError):
                pass  # the general engine handles the degenerate cases
        return fit_pl(problem)
    if hessian is None or not fast_path_applies(resp, layout, settings):
        return fit_laplace(problem)
    thetas = ThetaMap(patterns)
    dfree = not resp.dist.dispersion_fixed
    p = X.shape[1]
    lo, hi, mask = bounds(thetas, p, dfree)
    obj = SingleTermLaplace(resp, X, layout, Zs[0], thetas, dfree, **_pirls_options(settings))
    bidx = np.arange(thetas.size, thetas.size + p)
    res = minimize_from(obj.value_and_grad, start_vector(thetas, start[0], start[1], start[2], dfree),
                        lo, hi, hessian, mask, max_iter=min(settings.max_iter, 200),
                        block=(lambda: (bidx, obj.beta_block)) if obj.q == 1 else None)
    if not np.isfinite(res.fun):
        # (the general engine reports the breakdown: its own start from pseudo-likelihood steps)
        return fit_laplace(default_start)
    boundary = layout.qs[0] > 1 and bool(np.any(mask & (res.x <= lo + 1e-12)))
    if not res.converged:
        # The fast path could not pin the optimum by its gradient (e.g. a variance near its bound,
        # where the objective is flat): the general engine, with its Newton polish, decides.
        return fit_laplace(problem)
    obj._pred = None
    md = obj._mode_scalar(res.x) if obj.q == 1 else obj.mode(res.x)
    theta, beta, phi = obj.unpack(res.x)
    L = thetas.factors(theta)[0]
    cb = None
    if cov_beta:
        from .blocks import factorize

        try:
            cb = factorize(layout, [scale_columns(Zs[0], L)], md.W, X).beta_covariance()
        except NotPositiveDefinite:  # (indefinite observed information: the general engine's remedy)
            return fit_laplace(problem)
    if boundary:
        # A diagonal element of a q x q factor at 0 (a correlation at +-1 or a variance at 0): such
        # objectives are often multimodal, and the boundary point reached from the original
        # estimates may be a local optimum only.  The refit from the default start (pseudo-likelihood
        # steps, as a one-response refit) is tried too, and the better of the two kept.
        other = fit_laplace(default_start)
        if other.loglik > -0.5 * md.deviance:
            return other
    return EngineResult(
        method=settings.method, beta=np.array(beta, float), b=(md.u @ L.T).ravel(), psi=[L @ L.T],
        dispersion=phi, dispersion_estimated=dfree, loglik=-0.5 * md.deviance, cov_beta=cb, eta=md.eta,
        mu=md.mu, W=md.W, Ls=[L], converged=bool(res.converged and md.converged), n_cov_params=thetas.size,
        info={"n_evals": res.n_evals, "fast_path": True},
        optimizer=OptimizerSummary(res.n_evals, res.n_evals, bool(res.converged), "refit quasi-Newton",
                                   {"method": "quasinewton", "max_iter": min(settings.max_iter, 200)}),
    )


def _pirls_options(settings) -> dict:
    kw = settings.pirls_kwargs()
    out = {"max_iter": kw["max_iter"]}
    if "tol" in kw:
        out["tol"] = kw["tol"]
    return out
