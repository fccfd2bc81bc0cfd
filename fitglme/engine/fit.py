"""The four fit methods: MPL, REMPL (pseudo-likelihood), Laplace and ApproximateLaplace.

Pseudo-likelihood (MPL / REMPL): from the current eta, mu form the working response
``z = eta - offset + (y - mu) g'(mu)`` and weights ``w = pw / (V(mu) g'(mu)^2)``, fit the
linear mixed model on (z, w) by ML (MPL) or REML (REMPL) -- dispersion held at 1 for
Binomial/Poisson unless DispersionFlag -- and update eta = X beta + Z b + offset, until the
relative change of eta is below PLTolerance.

Laplace: maximise the Laplace approximation over (theta, beta[, dispersion]), the conditional
modes of u found by PIRLS for each (theta, beta).  ApproximateLaplace: the same objective
over (theta[, dispersion]) with beta found by PIRLS together with u.  Both start from
InitPLIterations pseudo-likelihood iterations.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import warn
from .blocks import NotPositiveDefinite, ReLayout, factorize
from .lme import LMEProblem, LMEState, ThetaMap
from .optimize import minimize_bounded
from .pirls import GLMResponse, laplace_deviance, pirls

PL_WARN = "stats:classreg:regr:lmeutils:StandardGeneralizedLinearMixedModel:Message_PLUnableToConverge"


@dataclass
class FitSettings:
    method: str = "MPL"  # 'MPL' | 'REMPL' | 'Laplace' | 'ApproximateLaplace'
    dispersion_flag: bool = False
    pl_iterations: int = 100
    pl_tolerance: float = 1e-8
    init_pl_iterations: int = 10
    mu_start: np.ndarray | None = None
    verbose: int = 0
    max_iter: int = 10000


@dataclass
class EngineResult:
    """Everything the model object needs from a fit."""

    method: str
    beta: np.ndarray
    b: np.ndarray  # random effects (public order), absolute scale
    psi: list[np.ndarray]  # covariance of b per random term
    dispersion: float
    dispersion_estimated: bool
    loglik: float
    cov_beta: np.ndarray  # covariance of beta conditional on the covariance parameters
    eta: np.ndarray
    mu: np.ndarray
    W: np.ndarray  # final weights of the penalised system (observed for Laplace)
    Ls: list[np.ndarray]  # absolute factors of psi (b = Lambda u, u ~ N(0, I))
    converged: bool
    n_cov_params: int
    pl_iterations: int = 0
    info: dict = field(default_factory=dict)


def _dispersion_free(dist, settings: FitSettings) -> bool:
    return (not dist.dispersion_fixed) or (settings.dispersion_flag and settings.method in ("MPL", "REMPL"))


def pseudo_likelihood(
    resp: GLMResponse,
    X: np.ndarray,
    layout: ReLayout,
    Zs: list[np.ndarray],
    thetas: ThetaMap,
    *,
    reml: bool,
    dispersion_free: bool,
    mu_start: np.ndarray,
    max_iter: int,
    tol: float,
    verbose: int = 0,
    warn_unconverged: bool = True,
) -> tuple[LMEState, np.ndarray, int, bool]:
    """Pseudo-likelihood iterations; returns the final LME state, eta, iterations, converged."""
    link, dist = resp.link, resp.dist
    mu = dist.clip_mu(np.asarray(mu_start, float))
    eta = link.link(mu)
    lme = LMEProblem(layout, Zs, X, thetas, reml, None if dispersion_free else 1.0)
    theta = thetas.start()
    state = None
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        mu = link.inverse(eta)
        h = link.mu_eta(eta)
        V = dist.variance(mu)
        z = eta - resp.offset + (resp.y - mu) / h
        w = resp.pw * h * h / V
        lme.set_data(z, w)
        state, _ = lme.fit(theta)
        theta = state.theta
        eta_new = X @ state.beta + layout.z_times([Zk @ Lk for Zk, Lk in zip(Zs, state.Ls)], state.u) + resp.offset
        change = np.linalg.norm(eta_new - eta) / max(np.linalg.norm(eta), 1e-10)
        eta = eta_new
        if verbose:
            print(f"PL iteration {it:3d}: -2 logL(pseudo) = {state.objective:.8g}, relative change in eta = {change:.3g}")
        if change <= tol:
            converged = True
            break
    if not converged and warn_unconverged:
        warn(
            f"Pseudo-likelihood iterations did not converge within PLIterations = {max_iter} "
            f"(last relative change {change:.3g} > PLTolerance = {tol:g}); returning the last iterate.",
            PL_WARN,
        )
    return state, eta, it, converged


def fit_pl(resp, X, layout, Zs, patterns, settings: FitSettings) -> EngineResult:
    """MPL / REMPL."""
    thetas = ThetaMap(patterns)
    dfree = _dispersion_free(resp.dist, settings)
    mu0 = settings.mu_start if settings.mu_start is not None else resp.dist.initial_mu(resp.y, resp.size)
    state, eta, its, conv = pseudo_likelihood(
        resp, X, layout, Zs, thetas,
        reml=settings.method == "REMPL", dispersion_free=dfree, mu_start=mu0,
        max_iter=settings.pl_iterations, tol=settings.pl_tolerance, verbose=settings.verbose,
    )
    s2 = state.sigma2
    Ls_abs = [np.sqrt(s2) * L for L in state.Ls]
    b = _b_from_u(layout, state.Ls, state.u)
    mu = resp.link.inverse(eta)
    W = resp.working(eta, 1.0, observed=False)[2]
    return EngineResult(
        method=settings.method,
        beta=state.beta,
        b=b,
        psi=[L @ L.T for L in Ls_abs],
        dispersion=s2,
        dispersion_estimated=dfree,
        loglik=-0.5 * state.objective,
        cov_beta=s2 * state.factor.beta_covariance(),
        eta=eta,
        mu=mu,
        W=W,
        Ls=Ls_abs,
        converged=conv,
        n_cov_params=thetas.size,
        pl_iterations=its,
    )


def _b_from_u(layout: ReLayout, Ls: list[np.ndarray], u: np.ndarray) -> np.ndarray:
    parts = [(uk @ L.T).ravel() for uk, L in zip(layout.split(u), Ls)]
    return np.concatenate(parts) if parts else np.zeros(0)


def fit_laplace(resp, X, layout, Zs, patterns, settings: FitSettings) -> EngineResult:
    """Laplace / ApproximateLaplace, started from InitPLIterations PL iterations."""
    dist = resp.dist
    thetas = ThetaMap(patterns)
    dfree = not dist.dispersion_fixed
    approximate = settings.method == "ApproximateLaplace"
    mu0 = settings.mu_start if settings.mu_start is not None else dist.initial_mu(resp.y, resp.size)
    state, eta_pl, _, _ = pseudo_likelihood(
        resp, X, layout, Zs, thetas, reml=False, dispersion_free=dfree, mu_start=mu0,
        max_iter=settings.init_pl_iterations, tol=settings.pl_tolerance, verbose=settings.verbose,
        warn_unconverged=False,
    )
    s2 = state.sigma2 if dfree else 1.0
    theta0 = np.concatenate([p.theta_from_cov(s2 * L @ L.T) for p, L in zip(patterns, state.Ls)])
    beta0 = state.beta.copy()
    p = X.shape[1]
    k = thetas.size
    cache = {"u": _u_abs_start(layout, state, s2), "beta": beta0.copy()}

    def unpack(x):
        theta = x[:k]
        beta = beta0 if approximate else x[k : k + p]
        phi = float(np.exp(x[-1])) if dfree else 1.0
        return theta, beta, phi

    def run(x, u_start=None, beta_start=None):
        theta, beta, phi = unpack(x)
        zts = [Zk @ Lk for Zk, Lk in zip(Zs, thetas.factors(theta))]
        st = pirls(
            layout, zts, X, resp,
            beta if not approximate else (cache["beta"] if beta_start is None else beta_start),
            cache["u"] if u_start is None else u_start,
            phi, profile_beta=approximate, observed=True,
        )
        return st, zts, phi

    def objective(x):
        try:
            st, _, _ = run(x)
        except (NotPositiveDefinite, FloatingPointError, np.linalg.LinAlgError):
            return np.inf
        val = laplace_deviance(st)
        if np.isfinite(val):
            cache["u"] = st.u
            if approximate:
                cache["beta"] = st.beta
        return val

    x0 = [theta0]
    lo = [thetas.lower]
    hi = [thetas.upper]
    if not approximate:
        x0.append(beta0)
        lo.append(np.full(p, -np.inf))
        hi.append(np.full(p, np.inf))
    if dfree:
        x0.append([np.log(max(s2, 1e-300))])
        lo.append([-np.inf])
        hi.append([np.inf])
    x0 = np.concatenate(x0)
    lo = np.concatenate(lo)
    hi = np.concatenate(hi)
    res = minimize_bounded(objective, x0, lo, hi, verbose=settings.verbose)
    if not res.converged:
        warn(
            f"{settings.method} optimisation did not meet its convergence criterion "
            f"(objective {res.fun:.10g} after {res.n_evals} evaluations); results may be inaccurate.",
            "fitglme:NotConverged",
        )
    st, zts, phi = run(res.x)
    theta, beta, _ = unpack(res.x)
    if approximate:
        beta = st.beta
    Ls = thetas.factors(theta)
    full = factorize(layout, zts, st.W, X)
    return EngineResult(
        method=settings.method,
        beta=beta.copy(),
        b=_b_from_u(layout, Ls, st.u),
        psi=[L @ L.T for L in Ls],
        dispersion=phi,
        dispersion_estimated=dfree,
        loglik=-0.5 * laplace_deviance(st),
        cov_beta=full.beta_covariance(),
        eta=st.eta,
        mu=st.mu,
        W=st.W,
        Ls=Ls,
        converged=bool(res.converged),
        n_cov_params=k,
        info={"n_evals": res.n_evals},
    )


def _u_abs_start(layout: ReLayout, state: LMEState, s2: float) -> np.ndarray:
    """Spherical u for the absolute factors: b = sqrt(s2) L u_abs = L u_rel -> u_abs = u_rel/sqrt(s2)."""
    return state.u / np.sqrt(s2)
