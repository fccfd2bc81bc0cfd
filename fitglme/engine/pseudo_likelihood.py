"""The four fit methods: MPL, REMPL (pseudo-likelihood), Laplace and ApproximateLaplace.

Pseudo-likelihood (MPL / REMPL): from the current eta, mu form the working response
``z = eta - offset + (y - mu) g'(mu)`` and weights ``w = pw / (V(mu) g'(mu)^2)``, fit the
linear mixed model on (z, w) by ML (MPL) or REML (REMPL) -- dispersion held at 1 for
Binomial/Poisson unless DispersionFlag -- and update eta = X beta + Z b + offset, until the
relative change of eta is below ``pl_tolerance``.

Laplace: maximise the Laplace approximation over (theta, beta[, dispersion]), the conditional
modes of u found by PIRLS for each (theta, beta).  ApproximateLaplace: the same objective
over (theta[, dispersion]) with beta found by PIRLS together with u.  Both start from
``init_pl_iterations`` pseudo-likelihood iterations.
"""
from __future__ import annotations

import numpy as np

from .arrays import REUSE_FROM_ROWS, blockwise, constant_value, max_abs_diff
from .blocks import NotPositiveDefinite
from .events import EventKind, record
from .layout import BLOCK_ROWS, ReLayout, scale_columns
from .lme import LMEProblem, LMEState, ThetaMap
from .response import GLMResponse
from .result import EngineResult, OptimizerSummary
from .settings import EngineSettings

#: relative change of eta at which the initial PL iterations of the Laplace methods stop (they only
#: provide starting values; the Laplace optimum does not depend on them).
INIT_PL_STOP = 1e-4


class IterationsDiverged(NotPositiveDefinite):
    """The pseudo-likelihood iterations diverged: the last step changed the linear predictor by
    more than its own size, and the working weights formed from it broke the next inner fit."""

    def __init__(self, iteration: int, change: float) -> None:
        super().__init__(f"relative change of the linear predictor {change:.3g} at iteration {iteration}")
        self.iteration = iteration
        self.change = change


def _dispersion_free(dist, settings: EngineSettings) -> bool:
    return (not dist.dispersion_fixed) or (settings.dispersion_flag and settings.method in ("MPL", "REMPL"))


def _start_theta(thetas: ThetaMap, settings: EngineSettings | None, theta_start: np.ndarray | None) -> np.ndarray:
    """The relative covariance parameters the first LME fit starts from: ``theta_start``, else the
    patterns' start, or a random one under ``start_method`` 'random'."""
    if theta_start is not None:
        return np.array(theta_start, float)
    if settings is None or settings.start_method != "random":
        return thetas.start()
    return settings.random_start(thetas)


def _ordinary_step(resp, lme, eta, theta, polish, opt, diverged: tuple[int, float] | None, bufs=None,
                   single_start: bool = False, scratch: np.ndarray | None = None) -> LMEState:
    """One PL iteration's LME fit; a breakdown after a divergent iteration is named as such."""
    try:
        return _pl_step(resp, lme, eta, theta, polish, opt, bufs, single_start, scratch)
    except (NotPositiveDefinite, np.linalg.LinAlgError, FloatingPointError, ZeroDivisionError) as exc:
        if diverged is not None:  # (the failure follows from an earlier divergence)
            raise IterationsDiverged(*diverged) from exc
        raise


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
    record_unconverged: bool = True,
    precise: bool = True,
    settings: EngineSettings | None = None,
    theta_start: np.ndarray | None = None,
    stats: dict | None = None,
) -> tuple[LMEState, np.ndarray, int, bool]:
    """Pseudo-likelihood iterations; returns the final LME state, eta, iterations, converged.

    ``theta_start``: the relative covariance parameters the first LME fit starts from (default:
    the patterns' start, or a random one under ``start_method`` 'random'). ``stats`` (optional dict)
    receives ``pl_iterations`` and ``lme_fits`` (the LME fits run) and, when not ``precise``,
    ``theta_hessian``: the quasi-Newton Hessian approximation of the last inner fit in theta (or None).
    For the Normal distribution with
    the identity link the working data never change: one fit, whatever ``max_iter`` is
    (:func:`fixed_working_data`)."""
    link, dist = resp.link, resp.dist
    mu_start = np.asarray(mu_start, float)
    if link.kind == "custom":  # (a user's function is applied to the whole vector)
        eta = link.link(dist.clip_mu(mu_start))
    else:  # (block by block: no n-vector temporaries)
        eta = blockwise(lambda m: link.link(dist.clip_mu(m)), mu_start.size, mu_start)
    del mu_start  # (the caller passes a temporary: no n-vector outlives its use)
    lme = LMEProblem(layout, Zs, X, thetas, reml, None if dispersion_free else 1.0)
    theta = _start_theta(thetas, settings, theta_start)
    state = None
    converged = False
    it = 0
    change = change_prev = np.inf
    diverged: tuple[int, float] | None = None
    center = None
    force_polish = False  # a converged iterate whose inner fit was not polished is fitted once more

    # Normal with the identity link: z = y - offset and w = pw whatever eta is, so the first LME fit
    # is the fixed point (docs/performance.md): one fit, polished as the last of a loop would be.
    fixed_data = fixed_working_data(resp, layout)
    # One polished fit pinned by its gradient (fixed data), or the first fit of a start for the Laplace
    # methods (not precise; their optimum is pinned by its own gradient): from the one-term variances
    # (LMEProblem.single_term_start).  Not a PL loop's: its unpolished fits would change its path.
    single_start = theta_start is None and (settings is None or settings.start_method != "random")
    lme_fits = 0
    row_bufs = None
    # With row_bufs: a third (n,) buffer, the previous iteration's eta once it is replaced: the
    # scratch of the LME's cross products, then the next linear predictor (one buffer, two uses).
    spare_eta = None
    for it in range(1, max_iter + 1):
        # Intermediate iterations need no polished inner fit; near the fixed point they do.
        opt = settings.optimizer_kwargs() if settings is not None else {}
        polish = precise and (change_prev < 1e-3 or force_polish or fixed_data)
        if layout.precise:
            state, center = _huge_pl_step(resp, X, layout, Zs, thetas, lme, eta, state, theta, center,
                                          first=it == 1, polish=polish, opt=opt)
        else:
            state = None  # the previous iteration's solution (its factorisation) is not needed
            if row_bufs is None and link.kind == "log" and layout.n >= REUSE_FROM_ROWS:
                # (working_data's buffers, docs/performance.md)
                row_bufs = (np.empty(layout.n), np.empty(layout.n))
                spare_eta = np.empty(layout.n)
            # (starting values only, not precise: each inner fit warm-started from the previous one)
            state = _ordinary_step(resp, lme, eta, theta, polish, dict(opt, warm=not precise), diverged,
                                   row_bufs, single_start=single_start and (fixed_data or (not precise and it == 1)),
                                   scratch=spare_eta)
            lme_fits += 1
        theta = state.theta
        eta_new = _linear_predictor(X, layout, Zs, state, resp.offset, out=spare_eta)
        spare_eta = None
        # MATLAB's test (fitglme documentation, PL tolerance): max|eta_new - eta| <=
        # tol * max(max|eta|, 1), eta the linear predictor the pseudo data were formed from.
        change = max_abs_diff(eta_new, eta) / max(_max_abs(eta), 1.0)
        if precise and not layout.precise and (change <= tol or fixed_data or it == max_iter):
            row_bufs = None  # (the final state recomputes its z and w in them through the LME; then freed)
            state, eta_new = _final_state(lme, state, eta_new, X, layout, Zs, resp.offset)
        if not layout.precise:
            lme.release_data(None)  # (drops the reference to this eta)
        if row_bufs is not None:
            # the eta replaced below is referenced nowhere else: its buffer takes the next one
            # (with row_bufs: a fresh n-vector there is a fresh mmap, docs/performance.md)
            spare_eta = eta
        eta = eta_new
        del eta_new
        change_prev = change
        if diverged is None and it > 1 and change > 1.0:
            # eta moved by more than its own size after the first step: the iterations diverge (the
            # first such iteration is named, whatever later iterations do before a fit breaks down)
            diverged = (it, change)
        if verbose:
            print(f"PL iteration {it:3d}: -2 logL(pseudo) = {state.objective:.8g}, relative change in eta = {change:.3g}")
        if layout.precise and it == 1 and it < max_iter:
            continue  # the first huge-count step only solves at the start theta (see above)
        if change <= tol or fixed_data:
            if precise and not polish and it < max_iter:
                # The estimates are those of the last inner fit: it must be pinned by its gradient
                # (Newton polish), not left where the quasi-Newton phase stopped (docs/choices.md).
                force_polish = True
                continue
            converged = True
            break
        if not precise and change <= INIT_PL_STOP:
            break  # starting values for the Laplace methods need no tighter fixed point
    if not converged and record_unconverged:
        record(EventKind.PL_NOT_CONVERGED, max_iter=max_iter, change=change, tol=tol)
    if stats is not None:
        stats["pl_iterations"] = it
        stats["lme_fits"] = lme_fits
        if not precise:  # (starting values: the last warm inner fit's Hessian approximation in theta)
            stats["theta_hessian"] = lme._warm[1]
    return state, eta, it, converged


def working_data(resp: GLMResponse, eta: np.ndarray,
                 out: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Working response z = eta - offset + (y - mu) / h and weights w = pw h^2 / V at ``eta``
    (``out``: two (n,) buffers, not eta, that the log link writes z and w into)."""
    link, dist = resp.link, resp.dist
    if out is not None and link.kind == "log" and resp.unit_canonical:
        return _working_data_blocks(resp, eta, out)
    if out is not None and link.kind == "log":
        mu = h = link.inverse(eta, out=out[1])  # (h = dmu/deta = mu)
        z = np.subtract(resp.y, mu, out=out[0])
    else:
        mu, h = link.inverse_and_mu_eta(eta)  # (the log link: one vector, h = mu)
        z = resp.y - mu  # in place: each n-vector is freed as soon as it is used
    V = None if resp.unit_canonical else dist.variance(mu)  # (h = V for canonical links)
    del mu
    z /= h
    z += eta
    if constant_value(resp.offset) != 0.0:
        z -= resp.offset
    if V is None:  # w = pw h^2 / V = pw h
        h *= resp.pw
        return z, h
    w = resp.pw * h
    w *= h
    w /= V
    return z, w


def _working_data_blocks(resp: GLMResponse, eta: np.ndarray,
                         out: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`working_data` of the canonical log link (Poisson) into ``out``, all of its passes
    made block by block (:data:`~fitglme.engine.layout.BLOCK_ROWS` rows): the same operations on
    each entry, so the same numbers, with each block's values in cache between the passes instead
    of five passes over n-vectors (docs/performance.md, "Growth in n")."""
    z_all, w_all = out
    n = eta.shape[0]
    subtract_offset = constant_value(resp.offset) != 0.0
    for r0 in range(0, n, BLOCK_ROWS):
        sl = slice(r0, min(r0 + BLOCK_ROWS, n))
        h = resp.link.inverse(eta[sl], out=w_all[sl])  # mu = h = dmu/deta
        z = np.subtract(resp.y[sl], h, out=z_all[sl])
        z /= h
        z += eta[sl]
        if subtract_offset:
            z -= resp.offset[sl]
        h *= resp.pw[sl]  # w = pw h^2 / V = pw h
    return z_all, w_all


def _pl_step(resp: GLMResponse, lme: LMEProblem, eta: np.ndarray, theta: np.ndarray, polish: bool,
             opt: dict, bufs: tuple[np.ndarray, np.ndarray] | None = None,
             single_start: bool = False, scratch: np.ndarray | None = None) -> LMEState:
    """One ordinary pseudo-likelihood step: the LME fit to the working data at ``eta`` (formed in
    ``bufs`` when given: two (n,) buffers that nothing references once the cross products are
    formed, reused by the next step; ``single_start``: from
    :meth:`~fitglme.engine.lme.LMEProblem.single_term_start` instead of ``theta``; ``scratch``: an
    (n,) buffer for the cross products' log w and w z, free again when they are formed)."""
    lme.set_data(*working_data(resp, eta, out=bufs), scratch=scratch)
    # Only the cross products are kept; the recomputation (the final state's r^2 from the rows, a
    # cancellation fallback) writes into the same buffers: they still hold this step's z and w, and
    # are overwritten only by the next step's, after it is released (no fresh pair of n-vectors).
    lme.release_data(lambda e=eta: working_data(resp, e, out=bufs))
    if single_start:
        theta = lme.single_term_start(theta)
    state, _ = lme.fit(theta, polish=polish, **opt)
    return state


def _final_state(lme: LMEProblem, state: LMEState, eta: np.ndarray, X, layout: ReLayout, Zs,
                 offset) -> tuple[LMEState, np.ndarray]:
    """The last fit as reported (LMEProblem.final_state: r^2 from the rows while they exist, a small
    residual's solution refined) and its linear predictor (recomputed if the solution moved)."""
    final = lme.final_state(state)
    if final.beta is not state.beta:
        eta = _linear_predictor(X, layout, Zs, final, offset)
    return final, eta


def _max_abs(v: np.ndarray) -> float:
    """max |v| (NaN if v has one) without the n-vector |v|."""
    hi, lo = float(v.max()), float(v.min())
    return hi if hi != hi else max(hi, -lo)


def _linear_predictor(X, layout: ReLayout, Zs, state: LMEState, offset, out: np.ndarray | None = None) -> np.ndarray:
    """eta = X beta + Z Lambda u + offset of an LME solution (into ``out``, an (n,) buffer, if given)."""
    eta = X @ state.beta if out is None else np.matmul(X, state.beta, out=out)
    layout.add_z_times([scale_columns(Zk, Lk) for Zk, Lk in zip(Zs, state.Ls)], state.u, eta)
    if constant_value(offset) != 0.0:  # (no pass adding zeros)
        eta += offset
    return eta


def fixed_working_data(resp: GLMResponse, layout: ReLayout) -> bool:
    """Whether the pseudo-likelihood working response and weights do not depend on eta (Normal
    distribution, identity link): z = y - offset, w = pw."""
    return resp.dist.name == "Normal" and resp.link.kind == "identity" and not layout.precise


def _huge_start(lme: LMEProblem, thetas: ThetaMap, theta: np.ndarray, b: list[np.ndarray], sigma2: float) -> np.ndarray:
    """Start of an increment-form PL step: the previous theta or the one matching the empirical
    covariance of the current random effects, whichever has the lower objective.

    With huge counts the random effects are determined by the data almost exactly, so their
    empirical covariance is close to the optimum, while the profiled objective rises by ~W b^2
    towards theta = 0: from a start far above the optimum (where it is concave) the quasi-Newton
    step hits that wall and the line search stalls.
    """
    try:
        cand = thetas.from_covariances([bk.T @ bk / (max(len(bk), 1) * sigma2) for bk in b])
        cand = np.clip(cand, thetas.lower, thetas.upper)
    except (ValueError, np.linalg.LinAlgError):
        return theta
    if not np.all(np.isfinite(cand)):
        return theta
    return cand if lme.objective(cand) < lme.objective(theta) else theta


def _huge_pl_step(resp, X, layout, Zs, thetas, lme, eta, state, theta, center, *, first, polish, opt):
    """One pseudo-likelihood step for huge counts (``layout.precise``), in increment form about the
    current fit; returns the LME state and the new centre (beta, per-term b)."""
    link, dist = resp.link, resp.dist
    mu = link.inverse(eta)
    h = link.mu_eta(eta)
    V = dist.variance(mu)
    w = resp.pw * h * h / V
    if center is not None:
        # The working residual (y - mu) g'(mu) about the current fit (LMEProblem.set_data).
        lme.set_data((resp.y - mu) / h, w, center)
        theta = _huge_start(lme, thetas, theta, center[1], state.sigma2)
    else:
        lme.set_data(eta - resp.offset + (resp.y - mu) / h, w)
    if center is None and first:
        # First step (about mu_start, not yet a fit to centre on): the direct form of the profiled
        # objective is rounding noise in theta, so only solve at the start (the increment-form
        # steps that follow estimate theta), and solve again about that solution: the direct
        # form's right-hand side carries a rounding error of eps W |z|, which only the penalty
        # constrains along the intercept (random intercepts against the intercept).
        state = lme.solve(theta)
        prev = (np.zeros(X.shape[1]), np.zeros(layout.Q))
        for _ in range(2):
            c = (state.beta, _b_parts(layout, state.Ls, state.u))
            bc = np.concatenate([bk.ravel() for bk in c[1]])
            step = X @ (c[0] - prev[0]) + layout.z_times(Zs, bc - prev[1])
            lme.set_data(lme.z - step, w, c)
            state = lme.solve(theta)
            prev = (c[0], bc)
    else:
        state, _ = lme.fit(theta, polish=polish, **opt)
    if center is not None:
        # Re-centre at the solution and fit again: the step from the previous centre moves along
        # the directions identified by the penalty alone (e.g. intercept against random
        # intercepts) by far more than eta changes, and the objective's gradient carries a
        # rounding error of eps W times that step.  From the re-centred data the step is tiny.
        b_new = _b_parts(layout, state.Ls, state.u)
        db = np.concatenate([(bn - bc).ravel() for bn, bc in zip(b_new, center[1])])
        step = X @ (state.beta - center[0]) + layout.z_times(Zs, db)
        center = (state.beta, b_new)
        lme.set_data(lme.z - step, w, center)
        state, _ = lme.fit(state.theta, polish=polish, **opt)
    return state, (state.beta, _b_parts(layout, state.Ls, state.u))


def fit_pl(problem) -> EngineResult:
    """MPL / REMPL of a :class:`~fitglme.engine.problem.FitProblem` (its ``start[0]``: the
    ``theta_start`` of :func:`pseudo_likelihood`)."""
    resp, X, layout, Zs, patterns, settings = (problem.response, problem.X, problem.layout, list(problem.Zs),
                                               list(problem.patterns), problem.settings)
    theta_start = None if problem.start is None else problem.start[0]
    thetas = ThetaMap(patterns)
    dfree = _dispersion_free(resp.dist, settings)
    stats: dict = {}
    state, eta, its, conv = pseudo_likelihood(
        resp, X, layout, Zs, thetas,
        reml=settings.method == "REMPL", dispersion_free=dfree,
        mu_start=settings.mu_start if settings.mu_start is not None else resp.initial_mu(),
        max_iter=settings.pl_iterations, tol=settings.pl_tolerance, verbose=settings.verbose,
        settings=settings, theta_start=theta_start, stats=stats,
    )
    s2 = state.sigma2
    Ls_abs = [np.sqrt(s2) * L for L in state.Ls]
    b = _b_from_u(layout, state.Ls, state.u)
    mu = resp.link.inverse(eta)
    W = resp.working(eta, 1.0, observed=False, mu=mu if resp.link.kind == "log" else None)[2]
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
        info=stats,
        optimizer=pl_summary(its, stats.get("lme_fits", 0), conv, settings),
    )


def pl_summary(iterations: int, fits: int, converged: bool, settings) -> OptimizerSummary:
    """The optimizer summary of a pseudo-likelihood fit (``fits``: the inner LME fits)."""
    return OptimizerSummary(iterations, fits, converged, "tolerance" if converged else "iteration_limit",
                            {"pl_iterations": settings.pl_iterations, "pl_tolerance": settings.pl_tolerance,
                             **settings.optimizer_kwargs()})


def _b_parts(layout: ReLayout, Ls: list[np.ndarray], u: np.ndarray) -> list[np.ndarray]:
    """b = Lambda u per term, as (m_k, q_k) arrays."""
    return [uk @ L.T for uk, L in zip(layout.split(u), Ls)]


def _b_from_u(layout: ReLayout, Ls: list[np.ndarray], u: np.ndarray) -> np.ndarray:
    parts = [bk.ravel() for bk in _b_parts(layout, Ls, u)]
    return np.concatenate(parts) if parts else np.zeros(0)
