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
from .blocks import ReLayout
from .lme import LMEProblem, LMEState, ThetaMap
from .pirls import GLMResponse

#: relative change of eta at which the initial PL iterations of the Laplace methods stop (they only
#: provide starting values; the Laplace optimum does not depend on them).
INIT_PL_STOP = 1e-4

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
    optimizer: str = "quasinewton"  # 'quasinewton' (L-BFGS-B), 'fminsearch' (Nelder-Mead), 'fminunc' (TNC)
    optimizer_options: dict = field(default_factory=dict)  # TolFun, TolX, MaxIter, MaxFunEvals, Display
    eb_method: str = "Default"
    eb_options: dict = field(default_factory=dict)  # TolFun, TolX, MaxIter, Display
    start_method: str = "default"
    covariance_method: str = "conditional"
    check_hessian: bool = False
    sequential: bool = False

    def optimizer_kwargs(self) -> dict:
        """Keyword arguments of minimize_bounded from Optimizer / OptimizerOptions / Verbose."""
        o = self.optimizer_options
        return {
            "method": self.optimizer,
            "max_iter": int(o.get("MaxIter", 10000)),
            "max_fun": int(o.get("MaxFunEvals", 10000)),
            "verbose": max(self.verbose, 2 if o.get("Display") == "iter" else 0),
        }

    def pirls_kwargs(self) -> dict:
        """Keyword arguments of pirls from EBOptions (MaxIter; TolFun when given; Display)."""
        o = self.eb_options
        kw = {"max_iter": int(o.get("MaxIter", 100)), "display": o.get("Display") == "iter"}
        if "TolFun" in o:
            kw["tol"] = float(o["TolFun"]) ** 2  # our test is on the squared Newton decrement
        return kw

    def random_start(self, thetas) -> np.ndarray:
        """StartMethod 'random': scale parameters exp(N(0, 1)), others N(0, 0.1^2), drawn from
        numpy's global generator (np.random.seed makes it reproducible, like MATLAB's rng)."""
        x = thetas.start()
        mask = thetas.scale_mask()
        draw = np.random.standard_normal(len(x))
        return np.where(mask, np.exp(draw), 0.1 * draw)


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
    precise: bool = True,
    settings: FitSettings | None = None,
) -> tuple[LMEState, np.ndarray, int, bool]:
    """Pseudo-likelihood iterations; returns the final LME state, eta, iterations, converged."""
    link, dist = resp.link, resp.dist
    eta = link.link(dist.clip_mu(np.asarray(mu_start, float)))
    del mu_start  # (the caller passes a temporary: no n-vector outlives its use)
    lme = LMEProblem(layout, Zs, X, thetas, reml, None if dispersion_free else 1.0)
    theta = thetas.start() if settings is None or settings.start_method != "random" else settings.random_start(thetas)
    state = None
    converged = False
    it = 0
    change = change_prev = np.inf

    def working_data(eta_):
        """Working response z = eta - offset + (y - mu) / h and weights w = pw h^2 / V."""
        mu = link.inverse(eta_)
        h = link.mu_eta(eta_)
        V = dist.variance(mu)
        z = resp.y - mu  # in place: each n-vector is freed as soon as it is used
        del mu
        z /= h
        z += eta_ - resp.offset
        w = resp.pw * h
        w *= h
        w /= V
        return z, w

    for it in range(1, max_iter + 1):
        state = None  # the previous iteration's solution (its factorisation) is not needed
        lme.set_data(*working_data(eta))
        lme.release_data(lambda e=eta: working_data(e))  # only the cross products are kept
        # Intermediate iterations need no polished inner fit; near the fixed point they do.
        opt = settings.optimizer_kwargs() if settings is not None else {}
        state, _ = lme.fit(theta, polish=precise and change_prev < 1e-3, **opt)
        lme.release_data(None)  # (drops the reference to this eta)
        theta = state.theta
        eta_new = X @ state.beta
        eta_new += layout.z_times([Zk @ Lk for Zk, Lk in zip(Zs, state.Ls)], state.u)
        eta_new += resp.offset
        # MATLAB's test: max|delta eta| <= max(PLTolerance * max|eta|, PLTolerance).
        eta -= eta_new
        change = np.max(np.abs(eta, out=eta)) / max(np.max(np.abs(eta_new)), 1.0)
        eta = eta_new
        change_prev = change
        if verbose:
            print(f"PL iteration {it:3d}: -2 logL(pseudo) = {state.objective:.8g}, relative change in eta = {change:.3g}")
        if change <= tol:
            converged = True
            break
        if not precise and change <= INIT_PL_STOP:
            break  # starting values for the Laplace methods need no tighter fixed point
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
    state, eta, its, conv = pseudo_likelihood(
        resp, X, layout, Zs, thetas,
        reml=settings.method == "REMPL", dispersion_free=dfree,
        mu_start=settings.mu_start if settings.mu_start is not None else resp.dist.initial_mu(resp.y, resp.size),
        max_iter=settings.pl_iterations, tol=settings.pl_tolerance, verbose=settings.verbose,
        settings=settings,
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
