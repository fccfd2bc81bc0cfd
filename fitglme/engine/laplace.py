"""Laplace and ApproximateLaplace: the fit (its objective, with the exact gradient, is
:class:`fitglme.engine.objectives.LaplaceObjective`).

MATLAB maximises the same objective: over (beta, theta, log sigma) for Laplace and over
(theta, log sigma) for ApproximateLaplace, with the link's second derivative in W.
"""
from __future__ import annotations

import numpy as np

from .blocks import NotPositiveDefinite, factorize
from .events import EventKind, record
from .lme import ThetaMap
from .objectives import LaplaceObjective
from .optimize import OptimResult, minimize_bounded
from .quasi_newton import minimize_from
from .pirls import HugeReference, laplace_deviance
from .result import OptimizerSummary

__all__ = ["LaplaceObjective", "fit_laplace", "joint_hessian"]

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
    """Starting values from ``settings.init_pl_iterations`` pseudo-likelihood iterations: (theta, beta, u, phi)."""
    from .pseudo_likelihood import pseudo_likelihood

    stats: dict = {}
    state, _, _, _ = pseudo_likelihood(
        resp, X, layout, Zs, thetas, reml=False, dispersion_free=dfree,
        mu_start=settings.mu_start if settings.mu_start is not None else resp.initial_mu(),
        max_iter=settings.init_pl_iterations, tol=settings.pl_tolerance, verbose=settings.verbose,
        record_unconverged=False, precise=False, settings=settings, stats=stats,
    )
    s2 = state.sigma2 if dfree else 1.0
    theta0 = np.concatenate([p.theta_from_cov(s2 * L @ L.T) for p, L in zip(patterns, state.Ls)])
    theta0 = thetas.away_from_boundary(theta0, 0.5 * np.sqrt(s2))
    # (the state's factorisation and cross products are not kept)
    hess = None
    if not dfree and stats.get("theta_hessian") is not None:
        # -2 log L's curvature in beta at the PL fit (dispersion 1): 2 (R_X'R_X)
        try:
            hess = (stats["theta_hessian"], 2.0 * np.linalg.inv(state.factor.beta_covariance()))
        except np.linalg.LinAlgError:
            hess = None
    return theta0, state.beta, state.u / np.sqrt(s2), s2, hess


#: A scale parameter below this (relative to the largest, at least 1) at the end of the quasi-Newton
#: run from the PL start counts as at its bound (:func:`_from_pl_hessian`).
NEAR_BOUND = 1e-4


def _from_pl_hessian(obj, x0, lo, hi, B0, scale, okw, label: str) -> OptimResult | None:
    """(Approximate)Laplace (dispersion fixed) by quasi-Newton steps from the PL start and its
    curvatures (:func:`fitglme.engine.quasi_newton.minimize_from`; ``B0``: the last inner fit's
    quasi-Newton matrix in theta and, for Laplace, 2 R_X'R_X in beta): the pseudo-likelihood
    objective's curvature is close to the Laplace objective's, so the first steps are nearly Newton
    steps.  Stops, as every fit, when the step is below ``STEP_TOL``
    (pinned by its exact gradient).  None (the default optimiser then runs) when it does not converge
    or ends with a scale parameter within :data:`NEAR_BOUND` of 0: boundary optima are left to the
    default optimiser's bound handling, which puts them at 0 exactly."""
    verbose = int(okw.get("verbose", 0))
    steps = [0]

    def show(f, n):
        steps[0] += 1
        if verbose >= 1:  # (the lines of fitglme.engine.optimize.minimize_bounded)
            print(f"  {label} iteration {steps[0]:4d}: objective = {f:.10g}, evaluations = {n}")

    res = minimize_from(obj.value_and_grad, x0, lo, hi, B0, scale, max_iter=int(okw.get("max_iter", 100)),
                        callback=show)
    if not res.converged or not np.isfinite(res.fun):
        return None
    if np.any(res.x[scale] <= lo[scale] + NEAR_BOUND * max(1.0, float(np.max(np.abs(res.x[scale]))))):
        return None
    g = obj.value_and_grad(res.x)[1]
    if verbose >= 1:
        print(f"  {label}: final objective = {res.fun:.10g}, max |gradient| = {np.max(np.abs(g), initial=0):.3g}, "
              f"evaluations = {res.n_evals}, converged = True")
    return OptimResult(res.x, float(res.fun), True, res.n_evals, "quasi-Newton from the PL start", g, steps[0])


def fit_laplace(problem):
    """Laplace / ApproximateLaplace of a :class:`~fitglme.engine.problem.FitProblem`, started from
    ``settings.init_pl_iterations`` pseudo-likelihood iterations, or from its ``start = (theta, beta, dispersion)``
    (absolute covariance parameters: e.g. another fit's estimates, for a refit to a new response)
    with the random effects at 0."""
    run = _LaplaceRun(problem)
    theta0, beta0, u0, s2, run.start_hessian = run.start()
    settings = problem.settings
    if settings.sequential and not run.approximate:
        # settings.sequential: refine the PL start with ApproximateLaplace, then Laplace.
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
        #: the PL start's Hessian approximations (in theta, in beta) of -2 log L, or None
        self.start_hessian: tuple | None = None

    def start(self):
        """(theta, beta, u, dispersion, start curvatures or None) to start from: the problem's start
        with the random effects at 0, or ``settings.init_pl_iterations`` pseudo-likelihood iterations
        (dispersion fixed: their last inner fit's quasi-Newton matrix in theta and 2 R_X'R_X in beta)."""
        start, thetas, layout = self.problem.start, self.thetas, self.layout
        if start is None:
            return _pl_start(self.resp, self.X, layout, self.Zs, self.patterns, thetas, self.settings, self.dfree)
        s2 = float(start[2]) if self.dfree else 1.0
        theta0 = thetas.away_from_boundary(np.array(start[0], float), 0.5 * np.sqrt(s2))
        return theta0, np.array(start[1], float), np.zeros(layout.Q), s2, None

    def _start_matrix(self, approx: bool, size: int) -> np.ndarray | None:
        """The quasi-Newton start matrix from the PL start's curvatures: theta's block (and, for
        Laplace, beta's, the cross block 0), or None."""
        if self.start_hessian is None:
            return None
        Bt, Bb = self.start_hessian
        B = Bt if approx else np.block([[Bt, np.zeros((Bt.shape[0], Bb.shape[0]))],
                                        [np.zeros((Bb.shape[0], Bt.shape[0])), Bb]])
        return B if B.shape == (size, size) and np.all(np.isfinite(B)) else None

    def _objective(self, approx, beta_start, u_start) -> LaplaceObjective:
        return LaplaceObjective(self.resp, self.X, self.layout, self.Zs, self.thetas, approximate=approx,
                                dispersion_free=self.dfree, beta0=beta_start, u0=u_start, pirls_kwargs=self.pk,
                                reference=self.reference)

    def minimize(self, approx, theta_start, beta_start, u_start, phi_start):
        """Minimise the (Approximate)Laplace objective from the given start: (objective, OptimResult)."""
        thetas, p = self.thetas, self.X.shape[1]
        obj = self._objective(approx, beta_start, u_start)
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
        B0 = self._start_matrix(approx, len(x0))
        if B0 is not None and self.reference is None and self.okw.get("method") == "quasinewton":
            res = _from_pl_hessian(obj, x0, lo, hi, B0, scale, self.okw, label)
            if res is not None:
                return obj, res
            # (not converged, or near a boundary: the default optimiser, from the same start afresh)
            obj = self._objective(approx, beta_start, u_start)
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
        """settings.check_hessian / covariance_method 'joint_hessian': the Hessian of -2 log L in [theta, beta,
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
