"""Laplace and ApproximateLaplace: the objective, its exact gradient, and the fit.

With absolute factors (b = Lambda u, u ~ N(0, I)), M = Z Lambda, the conditional mode u* (and
beta* for ApproximateLaplace) from PIRLS, s the score d log p / d eta and W the observed
negative Hessian in eta at the mode, the objective (-2 log L) is

    f = -2 log p(y | u*) + |u*|^2 + log det H,     H = M'WM + I.

Gradient (implicit differentiation of the mode condition; W' = dW/d eta, d_i = m_i' H^{-1} m_i,
v = d * W', t = H^{-1} M'v -- for ApproximateLaplace (t_u, t_b) = A^{-1} [M'v; X'v] with A the
joint system -- and dM_j = Z dLambda/dtheta_j):

    df/dtheta_j = -2 s'(dM_j u) + 2 sum_i W_i m_i'H^{-1}dm_ij + v'(dM_j u) + s'(dM_j t_u)
                  - (M t_u + X t_b)' W (dM_j u)
    df/dbeta    = -2 X's + X'(v - W M t)                                  (Laplace only)
    df/dlog phi = d(-2 log p)/d log phi - (Q - tr H^{-1}) - t_u'u          (free dispersion)

MATLAB maximises the same objective: over (beta, theta, log sigma) for Laplace and over
(theta, log sigma) for ApproximateLaplace, with the link's second derivative in W.
"""
from __future__ import annotations

import numpy as np

from .events import EventKind, record
from .blocks import NotPositiveDefinite, factorize
from .layout import scale_columns, vdot
from .lme import ThetaMap
from .optimize import minimize_bounded
from .pirls import HugeReference, laplace_deviance, pirls
from .result import OptimizerSummary


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
        Ls = self.thetas.factors(theta)
        zts = [scale_columns(Zk, Lk) for Zk, Lk in zip(self.Zs, Ls)]
        st = pirls(self.layout, zts, self.X, self.resp, self.beta if self.approximate else beta,
                   self.u, phi, profile_beta=self.approximate, observed=True, Ls=Ls, reference=self.reference,
                   **self.pirls_kwargs)
        self._count(st.trace)
        return st, zts, theta, phi

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
        # as soon as they are used.
        st.eta = st.mu = st.W = None
        v = fac.row_forms(zts, zts)  # d_i = m_i' H^{-1} m_i
        if huge is not None:  # Poisson, log link: W' = dW/deta = W = w mu, from the reference form
            v *= W_huge
        else:
            v *= resp.weight_derivative(eta, phi, mu=mu)  # v = d * W'
        Mtv = lay.zt_times(zts, v)
        if self.approximate:
            tu, tb = fac.solve(Mtv, X.T @ v)
        else:
            tu = fac.re_solve(Mtv)
        # No more solves: the factor's dense Schur block goes (its H^{-1} blocks, cached by
        # row_forms, are all the rest needs).
        fac.C = None
        if huge is not None:
            s, W = None, W_huge  # the score enters through the reference form's level sums
        else:
            # (log link: working would recompute exactly this mu; other links keep its own dmu/deta)
            s, W = resp.working(eta, phi, observed=True, mu=mu if resp.link.kind == "log" else None)[1:]
        del W_huge
        if self.dfree:
            h = 1e-6
            dl = -2 * (resp.loglik(mu, phi * np.exp(h)) - resp.loglik(mu, phi * np.exp(-h))) / (2 * h)
        del eta, mu
        derivs = [(k, Zk, dL) for k, (pat, Zk) in enumerate(zip(self.thetas.patterns, self.Zs))
                  for dL in pat.factor_derivatives(theta[self.thetas.offsets[k] : self.thetas.offsets[k + 1]])]
        # dM_j = Z dLambda_j.  The weighted traces first: W is freed once W M t is formed.
        traces = []
        for k, Zk, dL in derivs:
            parts = [None] * lay.nterms
            parts[k] = scale_columns(Zk, dL)
            traces.append(fac.weighted_trace(W, zts, parts))
            del parts
        WMt = lay.z_times(zts, tu)
        if self.approximate:
            WMt += X @ tb
        WMt *= W  # W M t
        del W
        g = np.zeros(nx)
        u_parts = lay.split(u)
        t_parts = lay.split(tu)
        for j, (k, Zk, dL) in enumerate(derivs):
            ix = lay.indices[k]
            # (Z dL)_i . w[ix_i] = Z_i . (w dL')[ix_i]: no (n, q) Z dL is formed
            ud, td = u_parts[k] @ dL.T, t_parts[k] @ dL.T
            dMu = _row_dots(Zk, ud, ix)
            v_dMu, wmt_dMu = vdot(v, dMu), vdot(WMt, dMu)
            if huge is not None:
                # s'(Z dL w) = sum over levels of (Z's)_l' dL w_l, with the score sums Z's of the
                # huge-count reference form (fitglme.engine.pirls.HugeReference).
                Gk = huge["G"].reshape(lay.nlevels[k], lay.qs[k])
                s_dMu = float(np.sum(Gk * ud))
                s_dMt = float(np.sum(Gk * td))
            else:
                s_dMu = vdot(s, dMu)
                s_dMt = vdot(s, _row_dots(Zk, td, ix))
            del dMu
            g[j] = -2 * s_dMu + 2 * traces[j] + v_dMu + s_dMt - wmt_dMu
        if not self.approximate:
            Xs = huge["Xs"] if huge is not None else X.T @ s
            g[self.k : self.k + self.p] = -2 * Xs + X.T @ (v - WMt)
        if self.dfree:
            g[-1] = dl - (lay.Q - fac.re_trace_inverse()) - vdot(tu, u)
        return g


def _row_dots(a: np.ndarray, levels: np.ndarray, ix: np.ndarray) -> np.ndarray:
    """a_i . levels[ix_i] for every row i, column by column (no (n, q) gather)."""
    out = levels[ix, 0]
    out *= a[:, 0]
    for c in range(1, a.shape[1]):
        t = levels[ix, c]
        t *= a[:, c]
        out += t
    return out


def joint_hessian(obj: "LaplaceObjective", x: np.ndarray) -> np.ndarray:
    """Hessian of f = -2 log L in x = [theta, beta, (log phi)] from differences of the exact gradient.

    ``obj`` must be a Laplace (not approximate) objective.  Central differences of an exact gradient
    are far better conditioned than second differences of f (MATLAB's getHessian); scale parameters
    at their bound 0 are differenced one-sidedly.
    """
    from .optimize import _hessian_from_gradient

    lo = np.full(len(x), -np.inf)
    lo[: obj.k] = obj.thetas.lower
    hi = np.full(len(x), np.inf)
    hi[: obj.k] = obj.thetas.upper
    return _hessian_from_gradient(lambda z: obj.value_and_grad(z)[1], x, np.arange(len(x)), lo, hi)


def _joint_start(obj_like, theta, beta, phi, dfree):
    return np.concatenate([theta, beta, [np.log(phi)] if dfree else []])


def _pl_start(resp, X, layout, Zs, patterns, thetas, settings, dfree):
    """Starting values from InitPLIterations pseudo-likelihood iterations: (theta, beta, u, phi)."""
    from .pseudo_likelihood import pseudo_likelihood

    dist = resp.dist
    state, _, _, _ = pseudo_likelihood(
        resp, X, layout, Zs, thetas, reml=False, dispersion_free=dfree,
        mu_start=settings.mu_start if settings.mu_start is not None else dist.initial_mu(resp.y, resp.size),
        max_iter=settings.init_pl_iterations, tol=settings.pl_tolerance, verbose=settings.verbose,
        warn_unconverged=False, precise=False, settings=settings,
    )
    s2 = state.sigma2 if dfree else 1.0
    theta0 = np.concatenate([p.theta_from_cov(s2 * L @ L.T) for p, L in zip(patterns, state.Ls)])
    theta0 = thetas.away_from_boundary(theta0, 0.5 * np.sqrt(s2))
    # (the state's factorisation and cross products are not kept)
    return theta0, state.beta, state.u / np.sqrt(s2), s2


def fit_laplace(problem):
    """Laplace / ApproximateLaplace of a :class:`~fitglme.engine.problem.FitProblem`, started from
    InitPLIterations pseudo-likelihood iterations, or from its ``start = (theta, beta, dispersion)``
    (absolute covariance parameters: e.g. another fit's estimates, for a refit to a new response)
    with the random effects at 0."""
    run = _LaplaceRun(problem)
    theta0, beta0, u0, s2 = run.start()
    settings = problem.settings
    if settings.sequential and not run.approximate:
        # UseSequentialFitting: refine the PL start with ApproximateLaplace, then Laplace.
        obj_a, res_a = run.minimize(True, theta0, beta0, u0, s2)
        st_a = obj_a.mode(res_a.x)[0]
        theta0 = res_a.x[: run.thetas.size]
        beta0, u0 = st_a.beta, st_a.u
        s2 = float(np.exp(res_a.x[-1])) if run.dfree else 1.0
    obj, res = run.optimum(theta0, beta0, u0, s2)
    if not res.converged:
        record(EventKind.NOT_CONVERGED, method=settings.method, objective=res.fun, evaluations=res.n_evals)
    return run.result(obj, res)


class _LaplaceRun:
    """The pieces of one Laplace / ApproximateLaplace fit (see :func:`fit_laplace`)."""

    def __init__(self, problem) -> None:
        self.problem = problem
        self.resp, self.X, self.layout = problem.response, problem.X, problem.layout
        self.Zs, self.patterns, self.settings = list(problem.Zs), list(problem.patterns), problem.settings
        self.thetas = ThetaMap(self.patterns)
        self.dfree = not self.resp.dist.dispersion_fixed
        self.approximate = self.settings.method == "ApproximateLaplace"
        self.pk = self.settings.pirls_kwargs()
        self.okw = self.settings.optimizer_kwargs()
        self.reference: HugeReference | None = None

    def start(self):
        """(theta, beta, u, dispersion) to start from: the problem's start with the random effects
        at 0, or InitPLIterations pseudo-likelihood iterations."""
        start, thetas, layout = self.problem.start, self.thetas, self.layout
        if start is None:
            return _pl_start(self.resp, self.X, layout, self.Zs, self.patterns, thetas, self.settings, self.dfree)
        s2 = float(start[2]) if self.dfree else 1.0
        theta0 = thetas.away_from_boundary(np.array(start[0], float), 0.5 * np.sqrt(s2))
        return theta0, np.array(start[1], float), np.zeros(layout.Q), s2

    def minimize(self, approx, theta_start, beta_start, u_start, phi_start):
        """Minimise the (Approximate)Laplace objective from the given start: (objective, OptimResult)."""
        thetas, p = self.thetas, self.X.shape[1]
        obj = LaplaceObjective(self.resp, self.X, self.layout, self.Zs, thetas, approximate=approx,
                               dispersion_free=self.dfree, beta0=beta_start, u0=u_start, pirls_kwargs=self.pk,
                               reference=self.reference)
        x0, lo, hi = [theta_start], [thetas.lower], [thetas.upper]
        if not approx:
            x0.append(beta_start)
            lo.append(np.full(p, -np.inf))
            hi.append(np.full(p, np.inf))
        if self.dfree:
            x0.append([np.log(max(phi_start, 1e-300))])
            lo.append([-np.inf])
            hi.append([np.inf])
        x0, lo, hi = np.concatenate(x0), np.concatenate(lo), np.concatenate(hi)
        scale = np.zeros(len(x0), bool)
        scale[: thetas.size] = thetas.scale_mask()
        label = "ApproximateLaplace" if approx else "Laplace"
        res = minimize_bounded(obj.value, x0, lo, hi, fg=obj.value_and_grad, scale_params=scale,
                               label=label, jacobi=self.reference is not None, **self.okw)
        return obj, res

    def optimum(self, theta0, beta0, u0, s2):
        """The optimum from the start; huge counts (reference form): relative to a reference fit
        (fitglme.engine.pirls.HugeReference), first the start, then -- re-centred -- the optimum of
        the first run, so that the final evaluations take small steps from the reference."""
        from .pseudo_likelihood import _b_from_u

        layout, thetas, approximate = self.layout, self.thetas, self.approximate
        huge = not self.dfree and self.problem.mode.reference_form
        if huge:
            self.reference = HugeReference(layout, self.Zs, self.X, self.resp, beta0,
                                           _b_from_u(layout, thetas.factors(theta0), u0))
        obj, res = self.minimize(approximate, theta0, beta0, u0, s2)
        if huge:
            st_mid, _, theta_mid, _ = obj.mode(res.x)
            beta_mid = st_mid.beta if approximate else obj.unpack(res.x)[1]
            self.reference = HugeReference(layout, self.Zs, self.X, self.resp, beta_mid,
                                           _b_from_u(layout, thetas.factors(theta_mid), st_mid.u))
            obj, res = self.minimize(approximate, theta_mid, beta_mid, st_mid.u, s2)
        return obj, res

    def conditional_factor(self, st, zts, phi):
        """The factor of the joint penalised system at the mode (for the covariance of beta)."""
        # ApproximateLaplace's PIRLS factored the joint system (with X) at the mode already; for
        # Laplace the mode's factor (random effects only) is released before the full factorisation.
        full = st.factor if self.approximate and st.huge is None else None
        st.factor = None
        if full is not None:
            return full
        try:
            return factorize(self.layout, zts, st.W, self.X)
        except NotPositiveDefinite:
            # The observed Hessian is indefinite at the solution (possible for non-canonical links):
            # the conditional covariance uses the expected (Fisher) weights instead.
            record(EventKind.INDEFINITE_INFORMATION)
            return factorize(self.layout, zts, self.resp.working(st.eta, phi, observed=False)[2], self.X)

    def joint_hessian(self, theta, beta, u, phi, info: dict):
        """CheckHessian / CovarianceMethod 'joint_hessian': the Hessian of -2 log L in [theta, beta,
        (log phi)] into ``info``; returns the covariance of beta from it (or None)."""
        thetas, settings = self.thetas, self.settings
        jobj = LaplaceObjective(self.resp, self.X, self.layout, self.Zs, thetas, approximate=False,
                                dispersion_free=self.dfree, beta0=beta, u0=u, pirls_kwargs=self.pk,
                                reference=self.reference)
        xj = _joint_start(jobj, theta, beta, phi, self.dfree)
        H = joint_hessian(jobj, xj)
        at_bound = np.zeros(len(xj), bool)
        at_bound[: thetas.size] = thetas.scale_mask() & (theta <= 0)
        free = ~at_bound
        Hf = H[np.ix_(free, free)]
        info["joint_hessian"] = H
        if settings.check_hessian:
            ev = np.linalg.eigvalsh(0.5 * (Hf + Hf.T))
            if at_bound.any():
                record(EventKind.HESSIAN_AT_BOUNDARY)
            elif ev.min() <= 1e-10 * max(1.0, abs(ev).max()):
                record(EventKind.HESSIAN_NOT_POSITIVE_DEFINITE, min_eigenvalue=float(ev.min()))
        if settings.covariance_method != "joint_hessian":
            return None
        C = np.full(H.shape, np.nan)
        try:
            C[np.ix_(free, free)] = 2.0 * np.linalg.inv(Hf)  # f = -2 log L
        except np.linalg.LinAlgError:
            pass
        info["joint_covariance"] = C
        k, p = thetas.size, self.X.shape[1]
        return C[k : k + p, k : k + p]

    def result(self, obj, res):
        """The EngineResult at the optimum ``res`` of ``obj``."""
        from .pseudo_likelihood import EngineResult, _b_from_u

        settings, thetas = self.settings, self.thetas
        st, zts, theta, phi = obj.mode(res.x)
        beta = st.beta if self.approximate else obj.unpack(res.x)[1]
        Ls = thetas.factors(theta)
        if not st.converged:
            record(EventKind.POSTERIOR_MODE_NOT_CONVERGED, max_iter=self.pk.get("max_iter", 100))
        loglik = -0.5 * laplace_deviance(st) + st.loglik_offset
        cov_beta = self.conditional_factor(st, zts, phi).beta_covariance()
        info = {"n_evals": obj.n_evals, "posterior_mode": obj.mode_totals}
        if settings.check_hessian or settings.covariance_method == "joint_hessian":
            joint = self.joint_hessian(theta, beta, st.u, phi, info)
            cov_beta = cov_beta if joint is None else joint
        return EngineResult(
            method=settings.method, beta=np.array(beta, float), b=_b_from_u(self.layout, Ls, st.u),
            psi=[L @ L.T for L in Ls], dispersion=phi, dispersion_estimated=self.dfree, loglik=loglik,
            cov_beta=cov_beta, eta=st.eta, mu=st.mu, W=st.W, Ls=Ls, converged=bool(res.converged),
            n_cov_params=thetas.size, info=info,
            optimizer=OptimizerSummary(res.n_iter, res.n_evals, bool(res.converged), res.message, dict(self.okw)),
        )
