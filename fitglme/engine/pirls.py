"""Penalised iteratively reweighted least squares and the Laplace objective.

Given the random-effects factors Lambda (absolute: u ~ N(0, I), b = Lambda u) PIRLS finds the
conditional mode of u (and of beta when beta is profiled, as in ApproximateLaplace) of

    log p(y | eta) - |u|^2 / 2,   eta = X beta + Z Lambda u + offset,

by Newton steps with step halving.  The Laplace approximation of -2 log L is then

    -2 sum log p(y_i | mu_i) + |u*|^2 + log det(Lambda'Z'WZ Lambda + I)

with W the negative Hessian of log p(y | eta) in eta at the mode: the exact (observed) one,
which needs the link's second derivative and equals the expected (Fisher) weights for a
canonical link.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .arrays import RowBuffers, constant_value
from .blocks import BlockFactor, NotPositiveDefinite, factorize
from .layout import BLOCK_ROWS, ReLayout, vdot
from .posterior_mode import Linearization, ModeTrace, solve_mode
from .response import GLMResponse


@dataclass
class PirlsState:
    u: np.ndarray
    beta: np.ndarray
    eta: np.ndarray
    mu: np.ndarray
    loglik: float  # sum log p(y | mu) at the mode
    factor: BlockFactor  # factorisation at the mode with the objective's weights
    W: np.ndarray
    converged: bool
    iterations: int
    #: huge counts (HugeReference): ``loglik`` is relative to the reference, whose log-likelihood
    #: is ``loglik_offset``; ``huge`` holds the quantities the Laplace gradient needs
    loglik_offset: float = 0.0
    huge: dict | None = None
    #: what the search did (:class:`~fitglme.engine.posterior_mode.ModeTrace`)
    trace: ModeTrace | None = None

    @property
    def penalised_deviance(self) -> float:
        return -2.0 * self.loglik + vdot(self.u, self.u)


class HugeReference:
    """A fixed reference fit for huge Poisson counts (log link, one random term with one column).

    With counts of size N the log-likelihood is a sum of terms of size N whose variation with the
    parameters is O(1): evaluated directly it carries a rounding error of about eps * N * n, as do
    the score sums Z's and X's (at N = 2^53 that is hundreds, against an objective the optimiser
    must resolve to 1e-10).  Relative to a reference (beta_r, b_r) with mu_r = exp(eta_r), and
    with the step d = X (beta - beta_r) + Z (b - b_r) formed from the parameter increments,

        log L - log L_r = s_r'[X d_beta; Z d_b] - sum w mu_r (expm1(d) - d),   s_r = w (y - mu_r),

    where the reference score sums X's_r, Z's_r are computed once (their rounding is then a fixed
    perturbation of the data of relative size eps, not noise) and the rest is exact to rounding of
    its own, small, size.  X's_r = Gamma'(Z's_r) + R's_r with X = z Gamma + R the per-level
    regression of X on the random-effects column: the penalty alone identifies the columns of X
    within the span of Z (the intercept), and separately rounded sums would bias them.
    """

    def __init__(self, layout: ReLayout, Zs: list[np.ndarray], X: np.ndarray, resp: "GLMResponse",
                 beta: np.ndarray, b: np.ndarray) -> None:
        self.layout, self.Zs, self.X = layout, Zs, X
        self.beta = np.array(beta, float)
        self.b = np.array(b, float)  # public order, on the covariates' scale (b = Lambda u)
        eta = X @ self.beta + layout.z_times(Zs, self.b) + resp.offset
        self.mu = resp.link.inverse(eta)
        self.wmu = resp.pw * self.mu
        s = resp.pw * (resp.y - self.mu)
        self.G = layout.zt_times(Zs, s)  # Z's_r (covariate scale), public order
        z1 = Zs[layout.first][:, 0]
        k11 = layout.level_sum(self.wmu * z1 * z1)
        k1x = layout.level_sum_columns((self.wmu * z1)[:, None] * X)
        self.Gamma, self.R = layout.within_level_fit(z1, k11, k1x, X)
        self.Rs = self.R.T @ s
        self.Xs = self.Gamma.T @ self.G + self.Rs
        self.loglik = resp.loglik(self.mu, 1.0, eta)


def _pirls_huge(layout, zts, L, X, resp, ref: HugeReference, beta, u0, max_iter, tol, display,
                profile_beta=False) -> PirlsState:
    """PIRLS relative to ``ref`` (Poisson with the log link, one random term with one column whose
    factor is the 1x1 ``L``; beta fixed, or found with u when ``profile_beta``); see
    :class:`HugeReference`."""
    lam = float(L[0, 0])
    Z = ref.Zs[0]
    ix = layout.indices[0]

    def at(u_, beta_):
        dbeta = beta_ - ref.beta
        db = lam * u_ - ref.b
        d = X @ dbeta + Z[:, 0] * db[ix]
        with np.errstate(over="ignore", invalid="ignore"):
            e = np.expm1(d)
            quad = ref.wmu * (e - d)
            ll = vdot(ref.Xs, dbeta) + vdot(ref.G, db) - float(np.sum(quad))
        # (e, the rounding scale of ll: its second-order sum is exact to eps of its own size)
        return ll, (e, float(np.sum(np.abs(quad))))

    def score_sums(e):
        """Z's (covariate scale) and X's, consistent along the columns of X within Z's span."""
        we = ref.wmu * e
        G = ref.G - layout.zt_times(ref.Zs, we)
        return G, ref.Gamma.T @ G + ref.Rs - ref.R.T @ we

    u = u0.copy()
    beta = np.array(beta, float)
    ll, (e, scale) = at(u, beta)
    pdev = -2.0 * ll + vdot(u, u)
    if lam != 0.0:
        # The reference's own fit is a safe start near the reference (a warm start left by a wild
        # trial point of the optimiser may be too far out for Newton's method).
        ur, br = ref.b / lam, (ref.beta if profile_beta else beta)
        llr, (er, sr) = at(ur, br)
        pr = -2.0 * llr + vdot(ur, ur)
        if not pdev <= pr:
            u, beta, e, ll, pdev, scale = ur, br.copy(), er, llr, pr, sr
    Xb = X if profile_beta else None
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        W = ref.wmu * (1.0 + e)
        fac = factorize(layout, zts, W, Xb)
        G, xs = score_sums(e)
        g_u = lam * G - u
        du, db = fac.solve(g_u, xs if profile_beta else None)
        decrement = vdot(du, g_u) + (vdot(db, xs) if profile_beta else 0.0)
        step = _backtrack(at, u, beta, du, db, pdev, profile_beta)
        if step is None:
            converged = decrement < 1e-8 * max(1.0, abs(pdev), scale)
            break
        un, bn, lln, pdevn, (en, sn) = step
        stalled = not pdevn < pdev  # accepted within rounding, no decrease
        u, beta, e, ll, pdev, scale = un, bn, en, lln, pdevn, sn
        if stalled and decrement < 1e-8 * max(1.0, abs(pdev), scale):
            converged = True  # the mode to rounding precision (as when no step is accepted)
            break
        if display:
            print(f"    PIRLS iteration {it:3d}: penalised deviance (relative) = {pdev:.12g}, "
                  f"Newton decrement = {decrement:.3g}")
        # The relative objective is exact to ~1e-16 of the size of its terms: a smaller predicted
        # decrease is rounding (u is then exact to ~1e-7 of its scale 1 / sqrt(W), i.e. eta to ~eps).
        if decrement < max(tol, 1e-14) * max(1.0, abs(pdev), scale):
            converged = True
            break
    W = ref.wmu * (1.0 + e)
    mu = ref.mu * (1.0 + e)
    fac = factorize(layout, zts, W, Xb)
    eta = X @ beta + layout.z_times(zts, u) + resp.offset
    # Score sums at the mode: Z's from the mode condition lam Z's = u (computed, it carries the
    # rounding of W times that of b), X's = Gamma'(Z's) + the within-level part.
    G, xs = score_sums(e)
    if lam != 0.0:
        G = u / lam
        xs = ref.Gamma.T @ G + ref.Rs - ref.R.T @ (ref.wmu * e)
    huge = {"G": G, "Xs": xs}
    return PirlsState(u, beta, eta, mu, ll, fac, W, converged, it, ref.loglik, huge)


def _backtrack(trial, u, beta, du, db, pdev: float, profile_beta: bool):
    """Newton step halved (at most 30 times) until the penalised deviance does not increase.

    ``trial(u, beta)`` returns (log-likelihood, extra); the result is (u, beta, loglik, penalised
    deviance, extra) at the accepted point, or None when no step decreases it (the mode is then
    reached to rounding precision)."""
    t = 1.0
    for _ in range(30):
        un = u + t * du
        bn = beta + t * db if profile_beta else beta
        lln, extra = trial(un, bn)
        pdevn = -2.0 * lln + vdot(un, un)
        if np.isfinite(pdevn) and pdevn <= pdev + 1e-10 * abs(pdev):
            return un, bn, lln, pdevn, extra
        t *= 0.5
    return None


def pirls(
    layout: ReLayout,
    zts: list[np.ndarray],
    X: np.ndarray,
    resp: GLMResponse,
    beta: np.ndarray,
    u0: np.ndarray,
    dispersion: float,
    *,
    profile_beta: bool,
    observed: bool = True,
    max_iter: int = 100,
    tol: float = 1e-20,
    display: bool = False,
    Ls: list[np.ndarray] | None = None,
    reference: "HugeReference | None" = None,
    method: str = "newton",
    eta_tol: float | None = None,
    grad_tol: float = 1e-6,
    step_tol: float | None = None,
    buffers: RowBuffers | None = None,
) -> PirlsState:
    """Conditional mode of u (and beta when ``profile_beta``) for fixed Lambda.

    ``method``: 'newton' (Newton steps on the penalised deviance, halved until it does not
    increase; stopped when the Newton decrement is below ``tol`` relative, i.e. at rounding level
    by default, or -- when given -- when eta changes by at most ``eta_tol`` relative or the step
    has 2-norm at most ``step_tol``), or one of the root finders of
    :mod:`fitglme.engine.posterior_mode` (stopped by ``grad_tol`` / ``step_tol``).  Whatever
    stopped the method, a converged search is completed by the Newton iteration with the rounding
    criterion (at most :data:`POLISH_MAX_ITER` steps): the Laplace objective's gradient assumes
    the exact mode, so the mode does not depend on the method or its tolerances.
    ``state.trace`` records what was done (:class:`~fitglme.engine.posterior_mode.ModeTrace`).

    ``reference`` (huge counts, with the factors ``Ls``): the mode is found by Newton's method
    relative to that reference fit (:class:`HugeReference`), whatever ``method``.  ``buffers``: the
    caller's :class:`RowBuffers`, reused by the Newton iterations (default: the search's own).

    Raises
    ------
    NotPositiveDefinite
        When the system cannot be factored (the objective is then +inf).
    """
    if reference is not None:
        st = _pirls_huge(layout, zts, Ls[0], X, resp, reference, np.asarray(beta, float), u0, max_iter, tol,
                         display, profile_beta)
        st.trace = ModeTrace("newton", iterations=st.iterations, jacobian_evals=st.iterations,
                             stop="rounding" if st.converged else "max_iter")
        return st
    eta_of = _eta_function(layout, zts, X, resp, beta, profile_beta)
    trace = ModeTrace(method)
    args = (layout, zts, X, resp, eta_of, u0.copy(), beta.copy(), dispersion, profile_beta, observed)
    pool = buffers if buffers is not None else RowBuffers(layout.n)
    found: list = [None]
    u, beta, eta, mu, ll, converged, it = _find_mode(args, method, max_iter, tol, display, trace, eta_tol,
                                                     grad_tol, step_tol, pool, factor_out=found)
    # Factor at the mode with the objective's weights (observed where available): the last Newton
    # iteration's when it ended without a step (the same weights at the same point).
    del eta_of  # (no more steps: the fixed part is freed before the last factorisation)
    r_buf = pool.take()
    # (W from the pool too: the Laplace gradient gives a consumed mode's rows back, RowBuffers.give_unshared)
    mu, score, W = resp.working(eta, dispersion, observed, mu, out=(r_buf, pool.take_if_kept()))
    del score
    pool.give(r_buf)
    fac = found[0]
    del found
    if fac is None:
        fac = factorize(layout, zts, W, X if profile_beta else None)
        trace.jacobian_evals += 1
    st = PirlsState(u, beta, eta, mu, ll, fac, W, converged, it)
    st.trace = trace
    return st


def _eta_function(layout: ReLayout, zts: list[np.ndarray], X: np.ndarray, resp: GLMResponse, beta: np.ndarray,
                  profile_beta: bool):
    """eta(u, beta, out=None) = Z Lambda u + X beta + offset (into the (n,) buffer ``out`` when
    given); with beta fixed (``profile_beta`` False) the fixed part X beta + offset is formed once."""
    zero_offset = constant_value(resp.offset) == 0.0
    fixed_part = None if profile_beta else X @ beta + resp.offset

    def eta_of(u_, beta_, out=None):
        out = layout.z_times(zts, u_, out=out)
        if profile_beta:
            _add_fixed(out, X, beta_, None if zero_offset else resp.offset)
        else:
            out += fixed_part
        return out

    return eta_of


def _add_fixed(out: np.ndarray, X: np.ndarray, beta: np.ndarray, offset: np.ndarray | None) -> None:
    """out += X beta (+ offset), block of rows by block: per row the numbers of
    ``out += X @ beta + offset`` without its n-vector temporary (docs/performance.md, "Growth in n")."""
    n = out.shape[0]
    buf = np.empty(min(BLOCK_ROWS, n))
    for r0 in range(0, n, BLOCK_ROWS):
        r1 = min(r0 + BLOCK_ROWS, n)
        t = np.matmul(X[r0:r1], beta, out=buf[: r1 - r0])
        if offset is not None:
            t += offset[r0:r1]
        out[r0:r1] += t


def _find_mode(args: tuple, method: str, max_iter: int, tol: float, display: bool, trace: ModeTrace,
               eta_tol: float | None, grad_tol: float, step_tol: float | None, pool: RowBuffers,
               factor_out: list | None = None):
    """The mode search of :func:`pirls` (``args`` = layout, zts, X, resp, eta_of, u, beta, dispersion,
    profile_beta, observed): the method, then the Newton iteration with the rounding criterion
    when the method stopped on a looser test; returns (u, beta, eta, mu, ll, converged, iterations).
    ``factor_out``: see :func:`_newton` (of the last Newton iteration run)."""
    resp, eta_of, dispersion = args[3], args[4], args[7]
    if method != "newton":
        u, beta, ok = _root_search(*args, method, grad_tol, 1e-8 if step_tol is None else step_tol, max_iter,
                                   display, trace)
        polish = ok
    else:
        u, beta, eta, mu, ll, converged, it = _newton(*args, max_iter, tol, display, trace, pool, eta_tol=eta_tol,
                                                      step_tol=step_tol, factor_out=factor_out)
        trace.iterations = it
        polish = converged and trace.stop in ("eta", "step")
        if not polish:
            trace.stop = "rounding" if converged else "max_iter"
            return u, beta, eta, mu, ll, converged, it
    its = trace.iterations
    if polish:
        if method == "newton":  # (its end point: the polish starts afresh from u, beta)
            pool.give(eta, mu)
            del eta, mu
        u, beta, eta, mu, ll, converged, it = _newton(*args[:5], u, beta, *args[7:], POLISH_MAX_ITER, tol, display,
                                                      trace, pool, record=False, factor_out=factor_out)
        trace.polish_iterations = it
    else:
        eta = eta_of(u, beta)
        mu = resp.link.inverse(eta)
        ll = resp.loglik(mu, dispersion, eta)
        converged, it = False, 0
    return u, beta, eta, mu, ll, converged, it + its


#: Newton steps of the polish that completes a search stopped by a user tolerance (Newton's
#: method converges quadratically from there: two or three steps in practice).
POLISH_MAX_ITER = 30

#: A Newton step whose every component is at most this relative to max(1, max|u|) (and likewise
#: for beta), at a decrement that already meets the rounding criterion, is rounding noise: the
#: iteration ends at the current iterate without it, and the factor just formed serves as the
#: mode's (:func:`_newton`: it saves the factorisation at a point rounding alone moved).  The
#: searches' modes agree to 1e-12 (tests/test_eb_methods.py); a step of 1e-13 keeps them there.
NOOP_STEP = 1e-13


def _below_rounding(step: np.ndarray, x: np.ndarray) -> bool:
    """max|step| <= :data:`NOOP_STEP` max(1, max|x|)."""
    if step.size == 0:
        return True
    return float(np.max(np.abs(step))) <= NOOP_STEP * max(1.0, float(np.max(np.abs(x))) if x.size else 1.0)


def _newton(layout, zts, X, resp, eta_of, u, beta, dispersion, profile_beta, observed, max_iter, tol, display,
            trace, pool, eta_tol=None, step_tol=None, record=True, factor_out: list | None = None):
    """Newton steps on the penalised deviance with step halving; returns
    (u, beta, eta, mu, loglik, converged, iterations).  ``eta_tol`` / ``step_tol`` (optional) add
    the stopping rules max|d eta| <= eta_tol max(max|eta|, 1) and |step|_2 <= step_tol
    (``trace.stop`` then says which one ended the iteration).  The row vectors come from and go
    back to ``pool`` (:class:`RowBuffers`), except the eta and mu returned.  ``factor_out`` (a
    one-element list): receives the factor at the returned point when the iteration ended on a
    step below the rounding level (:data:`NOOP_STEP`), else stays None."""
    Xb = X if profile_beta else None
    eta = eta_of(u, beta, out=pool.take())
    mu = resp.link.inverse(eta, out=pool.take())
    ll = resp.loglik(mu, dispersion, eta)
    pdev = -2.0 * ll + vdot(u, u)
    converged = False
    found = factor_out if factor_out is not None else [None]
    found[0] = None
    it = 0
    last: list = [None]  # the (eta, mu) of the latest trial point

    def trial(u_, b_):
        if last[0] is not None:  # (called again: the latest trial point was rejected)
            pool.give(*last[0])
        etan = eta_of(u_, b_, out=pool.take())
        mun = resp.link.inverse(etan, out=pool.take())
        last[0] = (etan, mun)
        trace.residual_evals += 1
        return resp.loglik(mun, dispersion, etan), (etan, mun)

    for it in range(1, max_iter + 1):
        work = (pool.take_if_kept(), pool.take_if_kept())  # the score and the weights
        _, score, W = resp.working(eta, dispersion, observed, mu, out=work)
        pool.give(mu)  # (not needed again in this iteration: freed before the factorisation, or kept)
        mu = None
        g_u = layout.zt_times(zts, score) - u
        g_b = X.T @ score if profile_beta else None
        del score
        if record:  # (the path of the method: the polish that follows a search is not recorded)
            trace.residual_norms.append(float(np.sqrt(vdot(g_u, g_u) + (vdot(g_b, g_b) if profile_beta else 0.0))))
        # (log-Poisson, logit-binomial, identity-normal weights are positive by construction)
        Wn = W if resp.unit_canonical or np.all(W > 0) else resp.working(eta, dispersion, False)[2]
        observed_factor = Wn is W  # (the factor is then the one the final state would form)
        del W
        # (the score's buffer, free once g is formed: factorize's scratch for the rows of W X)
        fac = factorize(layout, zts, Wn, Xb, buf=work[0] if Xb is not None else None)
        trace.jacobian_evals += 1
        del Wn
        pool.give(*work)
        del work
        du, db = fac.solve(g_u, g_b)
        decrement = vdot(du, g_u) + (vdot(db, g_b) if profile_beta else 0.0)
        if observed_factor and decrement <= tol * max(1.0, abs(pdev)) and _below_rounding(du, u) and (
                not profile_beta or _below_rounding(db, beta)):
            # The step is below the rounding level (its square ~ the decrement): the iterate is
            # the mode, and the factor just formed -- with the weights the final state uses -- is
            # the mode's (no step, no second factorisation at a point rounding alone moved)
            mu = resp.link.inverse(eta, out=pool.take())
            found[0] = fac
            converged = True
            break
        del fac
        u_prev, beta_prev = u, beta
        last[0] = None
        step = _backtrack(trial, u, beta, du, db, pdev, profile_beta)
        if step is None:
            # No decrease possible: the mode is reached to rounding precision.
            pool.give(*last[0])  # (the last trial point, rejected)
            mu = resp.link.inverse(eta, out=pool.take())
            converged = decrement < 1e-8 * max(1.0, abs(pdev), resp.rounding_scale(mu))
            break
        eta_prev = eta
        u, beta, ll, pdev, (eta, mu) = step
        del step
        if display:
            print(f"    PIRLS iteration {it:3d}: penalised deviance = {pdev:.12g}, Newton decrement = {decrement:.3g}")
        if eta_tol is not None and (np.max(np.abs(eta - eta_prev))
                                    <= eta_tol * max(float(np.max(np.abs(eta))), 1.0)):
            converged, trace.stop = True, "eta"
            break
        pool.give(eta_prev)  # (the replaced iterate)
        del eta_prev
        if step_tol is not None:
            dx = vdot(u - u_prev, u - u_prev) + (vdot(beta - beta_prev, beta - beta_prev) if profile_beta else 0.0)
            if np.sqrt(dx) <= step_tol:
                converged, trace.stop = True, "step"
                break
        del u_prev, beta_prev
        # Newton converges quadratically: stop only when the decrement is at rounding level,
        # so that the gradient formulas (which assume the exact mode) are exact too.
        if decrement < tol * max(1.0, abs(pdev)):
            converged = True
            break
    return u, beta, eta, mu, ll, converged, it


def _root_search(layout, zts, X, resp, eta_of, u, beta, dispersion, profile_beta, observed, method, grad_tol,
                 step_tol, max_iter, display, trace):
    """The mode as the root of the score by a :mod:`~fitglme.engine.posterior_mode` method;
    returns (u, beta, stopped by a tolerance)."""
    Q = layout.Q
    Xb = X if profile_beta else None

    def split(x):
        return x[:Q], (x[Q:] if profile_beta else beta)

    def score_parts(x):
        u_, b_ = split(x)
        eta = eta_of(u_, b_)
        with np.errstate(over="ignore", invalid="ignore"):
            mu = resp.link.inverse(eta)
            if not (np.all(np.isfinite(mu)) and np.isfinite(resp.loglik(mu, dispersion, eta))):
                return None
            mu, s, W = resp.working(eta, dispersion, observed, mu)
        r = layout.zt_times(zts, s) - u_
        if profile_beta:
            r = np.concatenate([r, X.T @ s])
        return (r, eta, W) if np.all(np.isfinite(r)) else None

    def residual(x):
        parts = score_parts(x)
        return None if parts is None else parts[0]

    def linearize(x):
        parts = score_parts(x)
        if parts is None:
            raise NotPositiveDefinite("the score is not finite at the current posterior-mode iterate")
        r, eta, W = parts
        # The Newton direction needs a factorisation: of the observed system where it is positive
        # definite, else (non-canonical links far from the mode) of the expected one, as PIRLS does.
        Wf = W if resp.unit_canonical or np.all(W > 0) else resp.working(eta, dispersion, False)[2]
        fac = factorize(layout, zts, Wf, Xb)
        du, db = fac.solve(r[:Q], r[Q:] if profile_beta else None)
        newton = np.concatenate([du, db]) if profile_beta else du

        def matvec(v):
            e = layout.z_times(zts, v[:Q])
            if profile_beta:
                e += X @ v[Q:]
            e *= W
            out = layout.zt_times(zts, e) + v[:Q]
            return np.concatenate([out, X.T @ e]) if profile_beta else out

        return Linearization(r, matvec, newton)

    x0 = np.concatenate([u, beta]) if profile_beta else u
    x, ok = solve_mode(method, residual, linearize, x0, grad_tol=grad_tol, step_tol=step_tol, max_iter=max_iter,
                       trace=trace, display=display)
    u_, b_ = split(x)
    return u_.copy(), np.array(b_, float), ok


def laplace_deviance(state: PirlsState) -> float:
    """-2 log L by the Laplace approximation at a PIRLS mode."""
    return state.penalised_deviance + state.factor.logdet_re
