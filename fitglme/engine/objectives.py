"""The engine's objectives as objects: the Laplace deviance and the profiled ML / REML deviance of
the pseudo data, each as a function of its parameters (value; the Laplace one also its exact
gradient and the conditional mode).

* :class:`LaplaceObjective`: -2 log L of the Laplace approximation over x = [theta, (beta),
  (log phi)] and its exact gradient, used by the optimiser and the Newton polish (below).
* :class:`ProfiledObjective`: -2 log L of the weighted linear mixed model over theta
  (:class:`fitglme.engine.lme.LMEProblem`), the inner problem of MPL / REMPL.
* :meth:`LaplaceObjective.deviance` and :meth:`LMEProblem.deviance`: the same two objectives as
  functions of the covariance factors and beta (Laplace) or the dispersion (pseudo data), built
  about a fit by :func:`laplace_about_fit` and :func:`pseudo_data_about_fit`, for the Hessians of
  the covariance-parameter intervals (MATLAB's natural parametrisation, where the parameters are
  the standard deviations and correlations: fitglme/methods/effects.py).

The Laplace objective.  With absolute factors (b = Lambda u, u ~ N(0, I)), M = Z Lambda, the
conditional mode u* (and beta* for ApproximateLaplace) from PIRLS, s the score d log p / d eta and W
the observed negative Hessian in eta at the mode, the objective (-2 log L) is

    f = -2 log p(y | u*) + |u*|^2 + log det H,     H = M'WM + I.

Gradient (implicit differentiation of the mode condition; W' = dW/d eta, d_i = m_i' H^{-1} m_i,
v = d * W', t = H^{-1} M'v -- for ApproximateLaplace (t_u, t_b) = A^{-1} [M'v; X'v] with A the
joint system -- and dM_j = Z dLambda/dtheta_j):

    df/dtheta_j = -2 s'(dM_j u) + 2 sum_i W_i m_i'H^{-1}dm_ij + v'(dM_j u) + s'(dM_j t_u)
                  - (M t_u + X t_b)' W (dM_j u)
    df/dbeta    = -2 X's + X'(v - W M t)                                  (Laplace only)
    df/dlog phi = d(-2 log p)/d log phi - (Q - tr H^{-1}) - t_u'u          (free dispersion)
"""
from __future__ import annotations

import numpy as np

from .blocks import NotPositiveDefinite
from .layout import scale_columns, vdot
from .lme import LMEProblem, ThetaMap
from .arrays import RowBuffers
from .pirls import HugeReference, laplace_deviance, pirls
from .pseudo_likelihood import working_data

__all__ = ["LaplaceObjective", "ProfiledObjective", "laplace_about_fit", "pseudo_data_about_fit"]


class LaplaceObjective:
    """f(x) and its gradient for x = [theta, (beta), (log phi)]."""

    def __init__(self, resp, X, layout, Zs, thetas: ThetaMap, *, approximate: bool, dispersion_free: bool,
                 beta0: np.ndarray, u0: np.ndarray, pirls_kwargs: dict | None = None,
                 reference: HugeReference | None = None) -> None:
        self.pirls_kwargs = pirls_kwargs or {}
        self.reference = reference  # huge counts: PIRLS relative to this fit (HugeReference)
        self.resp, self.X, self.layout, self.Zs, self.thetas = resp, X, layout, Zs, thetas
        self.approximate = approximate
        self.dfree = dispersion_free
        self.k = thetas.size
        self.p = X.shape[1]
        self.beta0 = beta0.copy()
        self.u0 = u0.copy()  # (the fixed start of deviance())
        self.u = u0.copy()
        self.beta = beta0.copy()
        self.n_evals = 0
        #: posterior-mode searches summed over the evaluations (ModeTrace fields; ``stops`` counts
        #: the rule that ended each search)
        self.mode_totals: dict = {"searches": 0, "iterations": 0, "residual_evals": 0, "jacobian_evals": 0,
                                  "modified_directions": 0, "rejected_steps": 0, "polish_iterations": 0,
                                  "stops": {}, "method": None}
        # The last evaluation (x, PIRLS state, value, gradient): optimisers and the Newton polish
        # often ask again for the value or gradient at the point they just evaluated.
        self._memo: tuple | None = None
        self._buffers = RowBuffers(layout.n)  # PIRLS's row buffers, reused across the evaluations

    def unpack(self, x):
        theta = x[: self.k]
        beta = self.beta0 if self.approximate else x[self.k : self.k + self.p]
        phi = float(np.exp(x[-1])) if self.dfree else 1.0
        return theta, beta, phi

    def mode(self, x):
        """PIRLS at x (warm-started from the last mode); the last evaluation's mode is reused
        unless its gradient has consumed it."""
        x = np.asarray(x, float)
        if self._memo is not None and self._memo[0] == x.tobytes() and self._memo[1] is not None:
            return self._memo[1]
        theta, beta, phi = self.unpack(x)
        st, zts = self._pirls(self.thetas.factors(theta), self.beta if self.approximate else beta, phi, self.u)
        self._count(st.trace)
        return st, zts, theta, phi

    def _pirls(self, Ls, beta, phi, u_start):
        zts = [scale_columns(Zk, Lk) for Zk, Lk in zip(self.Zs, Ls)]
        st = pirls(self.layout, zts, self.X, self.resp, beta, u_start, phi, profile_beta=self.approximate,
                   observed=True, Ls=Ls, reference=self.reference, buffers=self._buffers, **self.pirls_kwargs)
        return st, zts

    def deviance(self, Ls: list[np.ndarray], beta: np.ndarray, phi: float) -> float:
        """The objective at the absolute covariance factors ``Ls``, fixed effects ``beta`` and
        dispersion ``phi``, the mode found from the fixed start ``u0`` (not the last mode: finite
        differences then see one smooth function).  For the Hessians of the covariance-parameter
        intervals (MATLAB's natural parametrisation: fitglme/methods/effects.py)."""
        return laplace_deviance(self._pirls(Ls, beta, phi, self.u0)[0])

    def _count(self, trace) -> None:
        t = self.mode_totals
        t["searches"] += 1
        t["method"] = trace.method
        for k in ("iterations", "residual_evals", "jacobian_evals", "modified_directions", "rejected_steps",
                  "polish_iterations"):
            t[k] += getattr(trace, k)
        t["stops"][trace.stop] = t["stops"].get(trace.stop, 0) + 1

    def value(self, x) -> float:
        return self.value_and_grad(x, grad=False)[0]

    def value_and_grad(self, x, grad: bool = True):
        x = np.asarray(x, float)
        key = x.tobytes()
        memo = self._memo
        if memo is not None and memo[0] == key:
            _, mode, f, g = memo
            if not grad:
                return f, None
            if g is None and mode is not None:
                g = self._gradient(*mode, len(x))  # (consumes the mode)
                self._memo = (key, None, f, g)
            if g is not None:
                return f, g.copy()
        self._memo = None  # the previous mode is released before the next PIRLS
        self.n_evals += 1
        try:
            mode = self.mode(x)
            f = laplace_deviance(mode[0])
        except (NotPositiveDefinite, FloatingPointError, ZeroDivisionError, np.linalg.LinAlgError):
            # (a trial point the optimiser overshot to, e.g. a dispersion of exp(-800) = 0: rejected)
            return np.inf, np.full(len(x), np.nan)
        if not np.isfinite(f):
            return np.inf, np.full(len(x), np.nan)
        st = mode[0]
        self.u = st.u
        if self.approximate:
            self.beta = st.beta
        if not grad:
            self._memo = (key, mode, f, None)
            return f, None
        g = self._gradient(*mode, len(x))  # (consumes the mode)
        self._memo = (key, None, f, g)
        return f, g.copy()

    def _gradient(self, st, zts, theta, phi, nx):
        lay, X, resp = self.layout, self.X, self.resp
        fac = st.factor
        eta, mu, u, huge = st.eta, st.mu, st.u, st.huge
        W_huge = st.W if huge is not None else None
        # The state is consumed: its row vectors (and its factor's dense blocks) are released
        # as soon as they are used, the rows back to the pool where nothing else holds them.
        consumed = [st.W] if huge is None else []
        st.eta = st.mu = st.W = None
        self._buffers.give_unshared(consumed)
        v = fac.row_forms(zts, zts)  # d_i = m_i' H^{-1} m_i
        if huge is not None:  # Poisson, log link: W' = dW/deta = W = w mu, from the reference form
            v *= W_huge
        else:
            dw = resp.weight_derivative(eta, phi, mu=mu, out=self._buffers.take_if_kept())
            v *= dw  # v = d * W'
            self._buffers.give(dw)
            del dw
        Mtv = lay.zt_times(zts, v)
        if self.approximate:
            tu, tb = fac.solve(Mtv, X.T @ v)
        else:
            tu = fac.re_solve(Mtv)
        # No more solves: the factor's dense Schur block goes (its H^{-1} blocks, cached by
        # row_forms, are all the rest needs).
        fac.C = None
        pool = self._buffers  # (the score and weights, W M t below: given back at the end)
        taken = [pool.take_if_kept(), pool.take_if_kept()]
        if huge is not None:
            s, W = None, W_huge  # the score enters through the reference form's level sums
        else:
            # (log link: working would recompute exactly this mu; other links keep its own dmu/deta)
            s, W = resp.working(eta, phi, observed=True, mu=mu if resp.link.kind == "log" else None,
                                out=taken[:2])[1:]
        del W_huge
        if self.dfree:
            # (analytic: a difference of the summed log-likelihood left ~1e-7 of rounding noise in
            # this gradient, which moved the optimum's dispersion by ~1e-9 between CPU kernels)
            dl = -2 * resp.dist.loglik_dispersion_derivative(resp.y, mu, resp.w, phi, resp.size)
        consumed = [eta, mu]
        del eta, mu
        pool.give_unshared(consumed)
        derivs = [(k, Zk, dL) for k, (pat, Zk) in enumerate(zip(self.thetas.patterns, self.Zs))
                  for dL in pat.factor_derivatives(theta[self.thetas.offsets[k] : self.thetas.offsets[k + 1]])]
        # dM_j = Z dLambda_j.  The weighted traces first: W is freed once W M t is formed.
        traces = []
        for k, Zk, dL in derivs:
            parts = [None] * lay.nterms
            parts[k] = scale_columns(Zk, dL)
            traces.append(fac.weighted_trace(W, zts, parts))
            del parts
        taken.append(pool.take_if_kept())  # (only now: eta and mu are gone)
        WMt = lay.z_times(zts, tu, out=taken[2])
        if self.approximate:
            WMt += X @ tb
        WMt *= W  # W M t
        del W
        rows = taken[1]  # (the weights' buffer, free now: the rows of Z dL w below)
        g = np.zeros(nx)
        u_parts = lay.split(u)
        t_parts = lay.split(tu)
        for j, (k, Zk, dL) in enumerate(derivs):
            ix = lay.indices[k]
            # (Z dL)_i . w[ix_i] = Z_i . (w dL')[ix_i]: no (n, q) Z dL is formed
            ud, td = u_parts[k] @ dL.T, t_parts[k] @ dL.T
            dMu = _row_dots(Zk, ud, ix, out=rows)
            v_dMu, wmt_dMu = vdot(v, dMu), vdot(WMt, dMu)
            if huge is not None:
                # s'(Z dL w) = sum over levels of (Z's)_l' dL w_l, with the score sums Z's of the
                # huge-count reference form (fitglme.engine.pirls.HugeReference).
                Gk = huge["G"].reshape(lay.nlevels[k], lay.qs[k])
                s_dMu = float(np.sum(Gk * ud))
                s_dMt = float(np.sum(Gk * td))
            else:
                s_dMu = vdot(s, dMu)
                s_dMt = vdot(s, _row_dots(Zk, td, ix, out=rows))  # (over dMu: no longer needed)
            del dMu
            g[j] = -2 * s_dMu + 2 * traces[j] + v_dMu + s_dMt - wmt_dMu
        if not self.approximate:
            Xs = huge["Xs"] if huge is not None else X.T @ s
            g[self.k : self.k + self.p] = -2 * Xs + X.T @ np.subtract(v, WMt, out=WMt)
        if self.dfree:
            g[-1] = dl - (lay.Q - fac.re_trace_inverse()) - vdot(tu, u)
        del s, WMt
        pool.give(*taken)
        return g


def _row_dots(a: np.ndarray, levels: np.ndarray, ix: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """a_i . levels[ix_i] for every row i, column by column (no (n, q) gather; into ``out`` when
    given, an (n,) buffer)."""
    out = np.take(levels[:, 0], ix, out=out, mode="clip")  # (mode="raise" would buffer out)
    out *= a[:, 0]
    for c in range(1, a.shape[1]):
        t = levels[ix, c]
        t *= a[:, c]
        out += t
    return out




#: the profiled ML / REML objective of the pseudo data over theta (value, exact gradient, solution)
ProfiledObjective = LMEProblem


def laplace_about_fit(resp, X, layout, Zs, thetas: ThetaMap, u: np.ndarray, beta: np.ndarray, b: np.ndarray,
                      *, dispersion_free: bool) -> LaplaceObjective:
    """The Laplace objective about a fit (estimates ``beta``, random effects ``b``, spherical modes
    ``u``), for :meth:`LaplaceObjective.deviance`.  Huge counts (``layout.mode.reference_form``,
    dispersion fixed): relative to that fit (fitglme.engine.pirls.HugeReference)."""
    reference = (HugeReference(layout, Zs, X, resp, beta, b)
                 if not dispersion_free and layout.mode.reference_form else None)
    return LaplaceObjective(resp, X, layout, Zs, thetas, approximate=False, dispersion_free=dispersion_free,
                            beta0=beta, u0=u, reference=reference)


def pseudo_data_about_fit(resp, X, layout, Zs, thetas: ThetaMap, eta: np.ndarray, beta: np.ndarray,
                          b: np.ndarray, *, reml: bool, dispersion_free: bool) -> LMEProblem:
    """The profiled objective (:class:`ProfiledObjective`) of the pseudo data of a PL fit at its
    final linear predictor ``eta``, for :meth:`LMEProblem.deviance`.

    Huge counts (``layout.mode.stable_schur``, dispersion fixed): in increment form about the fit
    (estimates ``beta``, random effects ``b`` in the public order; LMEProblem.set_data), where the
    value is relative to the constant of the working residual."""
    lme = LMEProblem(layout, Zs, X, thetas, reml, None if dispersion_free else 1.0)
    if not dispersion_free and layout.mode.stable_schur:
        link = resp.link
        mu, h = link.inverse(eta), link.mu_eta(eta)
        w = resp.pw * h * h / resp.dist.variance(mu)
        lme.set_data((resp.y - mu) / h, w, (np.asarray(beta, float), layout.split(np.asarray(b, float))))
    else:
        lme.set_data(*working_data(resp, eta))
    return lme
