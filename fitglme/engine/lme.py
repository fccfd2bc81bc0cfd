"""The weighted linear mixed model: ML / REML profiled objective and its fit.

Model: z = X beta + Z b + e, b = Lambda(theta) u, u ~ N(0, sigma^2 I), e ~ N(0, sigma^2 W^{-1}).
For given theta the penalised least-squares problem gives beta, u and the penalised residual
sum of squares r^2; the profiled objective (Bates et al., lme4) is

    ML:   -2 l = n log(2 pi sigma^2) - sum log w + log det(Lambda'Z'WZ Lambda + I) + r^2 / sigma^2
    REML: -2 l = (n - p) log(2 pi sigma^2) - sum log w + log det(...) + log det(R_X'R_X) + r^2 / sigma^2

with sigma^2 profiled (r^2/n or r^2/(n-p)) when free, or held fixed.  This is the inner
problem of the pseudo-likelihood methods (MPL = ML, REMPL = REML) and, for the Normal
distribution with the identity link, the whole fit.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # (the patterns are passed in; the engine imports nothing from the layer above)
    from ..covariance import CovariancePattern
from .arrays import LEVEL_BLOCK as ARRAYS_LEVEL_BLOCK
from .blocks import BlockFactor, NotPositiveDefinite
from .layout import BLOCK_ROWS, ReLayout, scale_columns, vdot
from .crossprod import assemble, cross_products, k_times, level_pairs, trace_blocks, zwx, zwz_vector
from .optimize import _hessian_from_gradient, minimize_bounded
from .quasi_newton import minimize_from

LOG2PI = np.log(2.0 * np.pi)
#: r^2 below this fraction of z'Wz: r^2 and Z'W(residual) are formed from the rows, not from the
#: cross products, whose difference cancels log10(z'Wz / r^2) digits (a small dispersion against the
#: working response; docs/choices.md, "One optimum").
CANCELLATION = 1e-3
#: The loose stop of a warm-started intermediate fit (:meth:`LMEProblem.fit`): the predicted decrease
#: g'B^{-1}g at most this relative to the objective (L-BFGS-B's loose ftol).
WARM_DECREMENT = 1e-9
#: The first warm fit takes quasi-Newton steps from the curvature at its start only when that is
#: positive definite with the smallest eigenvalue at least this fraction of the largest
#: (:meth:`LMEProblem._warm_start`).
FIRST_FIT_CURVATURE = 1e-6


@dataclass
class LMEState:
    """The solution of the penalised least-squares problem at one theta."""

    theta: np.ndarray
    beta: np.ndarray
    u: np.ndarray
    sigma2: float
    r2: float
    objective: float  # -2 (restricted) log-likelihood
    factor: BlockFactor
    Ls: list[np.ndarray]
    gradient: np.ndarray | None = None  # the objective's exact gradient, once computed


def _times_lambda(lay: ReLayout, Ls: list[np.ndarray], v: np.ndarray, transpose: bool = False) -> np.ndarray:
    """Lambda v (or Lambda' v) for a vector in the public random-effects order."""
    parts = [(vk @ (L if transpose else L.T)).ravel() for vk, L in zip(lay.split(v), Ls)]
    if len(parts) == 1:
        return parts[0]  # (a new array already: no copy of a levels-long vector)
    return np.concatenate(parts) if parts else np.zeros(0)


#: levels per block of the elementwise level passes of :func:`_reml_columns` and
#: :func:`_rho_one_scalar` (a block's arrays stay in cache across its passes)
LEVEL_BLOCK = ARRAYS_LEVEL_BLOCK


def _reml_columns(lay: ReLayout, cp, Ls: list[np.ndarray], fac: BlockFactor,
                  ZWX: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P = H^{-1} Lambda'Z'WX and E = Z'WX - K Lambda P, column by column: the REML term of the
    LME gradient.  One scalar term (diagonal H, 1 x 1 Lambda): the same products on all columns at
    once (no per-column levels-long temporaries, docs/performance.md, "Growth in n"), into two
    buffers kept with the cross products that the next call overwrites."""
    p = ZWX.shape[1]
    if lay.nterms == 1 and lay.q1 == 1:
        lam = float(Ls[0][0, 0])
        li = fac.L1inv[:, 0, 0]  # (m1,): re_solve's two products per entry
        k11 = cp.K11[:, 0, 0]
        # (the two outputs in buffers kept with the cross products: they are consumed by the caller
        # before the next call; column by column and level block by level block: long inner loops
        # over levels, each block in cache across its passes)
        if "reml_columns" not in cp.public:
            cp.public["reml_columns"] = (np.empty_like(ZWX), np.empty_like(ZWX))
        P, KLP = cp.public["reml_columns"]
        for r0 in range(0, ZWX.shape[0], LEVEL_BLOCK):
            r = slice(r0, r0 + LEVEL_BLOCK)
            for c in range(p):
                pc, kc = P[r, c], KLP[r, c]
                np.multiply(ZWX[r, c], lam, out=pc)
                pc *= li[r]
                pc *= li[r]
                np.multiply(pc, lam, out=kc)
                kc *= k11[r]
                np.subtract(ZWX[r, c], kc, out=kc)
        return P, KLP
    LtZWX = np.column_stack([_times_lambda(lay, Ls, ZWX[:, c], transpose=True) for c in range(p)])
    P = np.column_stack([fac.re_solve(LtZWX[:, c]) for c in range(p)])
    LP = np.column_stack([_times_lambda(lay, Ls, P[:, c]) for c in range(p)])
    return P, ZWX - np.column_stack([k_times(lay, cp, LP[:, c]) for c in range(p)])


def _sum_log_positive(w: np.ndarray) -> float | None:
    """sum(log w) when every w > 0 (None otherwise: a zero, negative or NaN weight), block of rows
    by block: the test and the sum in one pass without an n-vector of logarithms (bit for bit with
    ``np.log(w).sum()`` within one block of :data:`~fitglme.engine.layout.BLOCK_ROWS` rows, to
    rounding beyond; docs/performance.md, "Growth in n")."""
    n = w.size
    if n == 0:
        return None
    if n <= BLOCK_ROWS:
        return float(np.log(w).sum()) if w.min() > 0 else None
    buf = np.empty(BLOCK_ROWS)
    total = 0.0
    for r0 in range(0, n, BLOCK_ROWS):
        wb = w[r0 : r0 + BLOCK_ROWS]
        if not wb.min() > 0:  # (a NaN fails the test as w > 0 does)
            return None
        total += float(np.log(wb, out=buf[: wb.size]).sum())
    return total


def _rho_one_scalar(zwz: np.ndarray, k11: np.ndarray, lam: float, ZWX: np.ndarray, beta: np.ndarray,
                    u: np.ndarray) -> np.ndarray:
    """sum over levels of (Z'Wz - Z'WX beta - K Lambda u)_l u_l for one scalar term (the gradient's
    rho, :func:`~fitglme.engine.crossprod.level_pairs` of z_rho and u), block of levels by block:
    the values of the whole-vector form (bit for bit with at most :data:`LEVEL_BLOCK` levels, to
    rounding beyond) without its three levels-long temporaries Lambda u, K Lambda u and z_rho
    (docs/performance.md, "Growth in n")."""
    m = u.shape[0]
    buf, kb = np.empty(min(m, LEVEL_BLOCK)), np.empty(min(m, LEVEL_BLOCK))
    rho = np.zeros((1, 1))
    for r0 in range(0, m, LEVEL_BLOCK):
        r = slice(r0, min(r0 + LEVEL_BLOCK, m))
        h = r.stop - r0
        zr, t = buf[:h], kb[:h]
        np.matmul(ZWX[r], beta, out=zr)
        np.subtract(zwz[r], zr, out=zr)
        np.multiply(u[r], lam, out=t)  # (Lambda u: the product of the 1 x 1 matmul)
        t *= k11[r]
        zr -= t
        rho += np.einsum("la,lb->ab", zr[:, None], u[r, None])
    return rho


class ThetaMap:
    """Concatenated covariance parameters of all random terms <-> per-term factors."""

    def __init__(self, patterns: list[CovariancePattern]) -> None:
        self.patterns = patterns
        sizes = [p.n_params for p in patterns]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        los, his = zip(*(p.bounds() for p in patterns)) if patterns else ((), ())
        self.lower = np.concatenate(los) if patterns else np.zeros(0)
        self.upper = np.concatenate(his) if patterns else np.zeros(0)

    @property
    def size(self) -> int:
        return int(self.offsets[-1])

    def factors(self, theta: np.ndarray) -> list[np.ndarray]:
        return [
            p.factor(theta[self.offsets[k] : self.offsets[k + 1]]) for k, p in enumerate(self.patterns)
        ]

    def scale_mask(self) -> np.ndarray:
        """Parameters bounded below by 0 (scale parameters)."""
        if not self.patterns:
            return np.zeros(0, bool)
        return np.concatenate([p.diagonal_mask() for p in self.patterns])

    def away_from_boundary(self, theta: np.ndarray, value: float) -> np.ndarray:
        """A start with every scale parameter at 0 moved to ``value``.

        A diagonal element of L at exactly 0 is a stationary point of every objective (they
        depend on L L'), so an optimiser started there never leaves it; boundary optima are
        still reached from the moved start.
        """
        theta = np.array(theta, float)
        mask = np.concatenate([p.diagonal_mask() for p in self.patterns]) if self.patterns else np.zeros(0, bool)
        theta[mask & (theta <= 0.0)] = value
        return theta

    def start(self, scales: list[float] | None = None) -> np.ndarray:
        scales = scales or [1.0] * len(self.patterns)
        return np.concatenate([p.start(s) for p, s in zip(self.patterns, scales)])

    def from_covariances(self, psis: list[np.ndarray]) -> np.ndarray:
        return np.concatenate([p.theta_from_cov(c) for p, c in zip(self.patterns, psis)])


class LMEProblem:
    """ML / REML objective for a working response and weights.

    Parameters
    ----------
    layout : ReLayout
    Zs : list of (n, q_k) covariate arrays of the random terms
    X : (n, p) fixed-effects design
    thetas : ThetaMap
    reml : bool
    sigma2_fixed : float or None
        Hold the residual variance at this value (dispersion fixed) instead of profiling it.
    """

    def __init__(
        self,
        layout: ReLayout,
        Zs: list[np.ndarray],
        X: np.ndarray,
        thetas: ThetaMap,
        reml: bool,
        sigma2_fixed: float | None = None,
    ) -> None:
        self.layout = layout
        self.Zs = Zs
        self.X = X
        self.thetas = thetas
        self.reml = reml
        self.sigma2_fixed = sigma2_fixed
        self.n, self.p = X.shape
        self.z: np.ndarray | None = None
        self.w: np.ndarray | None = None
        self._recompute = None
        self._last: tuple | None = None  # (theta bytes, state) of the last solve
        self._warm: tuple[int, np.ndarray | None] = (0, None)  # warm fits so far, the last one's Hessian

    def set_data(self, z: np.ndarray, w: np.ndarray, center: tuple | None = None,
                 scratch: np.ndarray | None = None) -> None:
        """New working response and weights: one pass over the rows for the cross products.

        ``center = (beta_c, b_c)`` (b_c: per term the (m_k, q_k) random effects on the scale of the
        covariates, b = Lambda u) gives the problem in increment form: ``z`` is then the working
        residual z - X beta_c - Z b_c, and the solution is (beta_c + d_beta, u_c + d_u) with
        Lambda u_c = b_c.  The profiled objective is computed relative to the constant z'Wz of the
        residual: for huge weights (huge counts) z'Wz - r'A^{-1}r cancels every digit that the
        covariance parameters depend on, whereas in increment form the right-hand side
        [X'Wz; Lambda'Z'Wz - u_c] is small and r^2 - z'Wz = |u_c|^2 - r'A^{-1}r is exact to
        rounding (the objectives handed to the optimiser leave the constant out).

        ``scratch``: an optional (n,) buffer, neither z nor w, for w z where the cross products are
        not formed by blocks (nothing references it once they are formed: the caller may reuse it).
        """
        self.z = np.asarray(z, float)
        self.w = np.asarray(w, float)
        # Rows with weight 0 carry no information: they are left out of log det W and of n.
        sum_log = _sum_log_positive(self.w)
        if sum_log is not None:
            self._sum_log_w, self.n_eff = sum_log, int(self.w.size)
        else:
            pos = self.w > 0
            self._sum_log_w = float(np.log(self.w if pos.all() else self.w[pos]).sum())
            self.n_eff = int(np.count_nonzero(pos))
            del pos
        self.cp = self._last = None  # (the previous ones and the last state are freed first)
        self.cp = cross_products(self.layout, self.Zs, self.w, self.X, self.z, wz_out=scratch)
        self.center = center

    def release_data(self, recompute) -> None:
        """Drop the working response and weights (n-vectors) once the cross products are formed.

        ``recompute()`` must return the same (z, w): only the rare cancellation fallback of
        :meth:`solve` needs them again (None: no more solves are needed)."""
        self.z = self.w = None
        self._recompute = recompute

    def solve(self, theta: np.ndarray) -> LMEState:
        """Penalised least squares at ``theta`` and the -2 log-likelihood there (no pass over rows).

        The last state is remembered: the optimiser's final point is usually the last one solved."""
        theta = np.asarray(theta, float)
        if self._last is not None and self._last[0] == theta.tobytes():
            return self._last[1]
        self._last = None
        state = self._solve(theta)
        self._last = (theta.tobytes(), state)
        return state

    def _solve(self, theta: np.ndarray) -> LMEState:
        return self._solve_factors(theta, self.thetas.factors(theta), self.sigma2_fixed)

    def deviance(self, Ls: list[np.ndarray], sigma2: float) -> float:
        """-2 log L at the relative covariance factors ``Ls`` with the residual variance held at
        ``sigma2`` (beta profiled; REML: restricted), relative to the constant of the increment form
        when there is one (:meth:`set_data`).  For the Hessians of the covariance-parameter
        intervals, which need the objective away from its profiled residual variance."""
        try:
            return self._solve_factors(None, Ls, sigma2).objective_rel
        except (NotPositiveDefinite, FloatingPointError):
            return np.inf

    def _solve_factors(self, theta: np.ndarray | None, Ls: list[np.ndarray], sigma2_fixed: float | None) -> LMEState:
        lay = self.layout
        asm = assemble(lay, self.cp, Ls)
        fac = asm.factor
        n, p = self.n_eff, self.p
        nd = n - p if self.reml else n
        if self.center is not None:
            uc = self._center_u(Ls)
            if uc is not None:
                du, dbeta = fac.solve(asm.r_u - uc, asm.r_b)
                u, beta = uc + du, self.center[0] + dbeta
                r2_rel = vdot(uc, uc) - vdot(asm.r_u - uc, du) - vdot(asm.r_b, dbeta)  # r^2 - z'Wz
                db = _times_lambda(lay, Ls, du)
            else:
                # A singular factor (boundary): u_c does not exist; the same quantity without it
                # (it cancels, but only far from the optimum, where the objective is large anyway).
                bc = np.concatenate([bk.ravel() for bk in self.center[1]])
                kb = k_times(lay, self.cp, bc)
                ru = asm.r_u + _times_lambda(lay, Ls, kb, transpose=True)
                rb = asm.r_b + zwx(lay, self.cp).T @ bc
                u, dbeta = fac.solve(ru, rb)
                beta = self.center[0] + dbeta
                r2_rel = 2.0 * vdot(zwz_vector(lay, self.cp), bc) + vdot(bc, kb) - vdot(ru, u) - vdot(rb, dbeta)
                db = _times_lambda(lay, Ls, u) - bc
            r2 = self.cp.zWz + r2_rel
            if sigma2_fixed is None:
                sigma2 = r2 / nd
                ref = self.cp.zWz if self.cp.zWz > 0 else 1.0  # n log(r^2) = n log(ref) + n log1p(.)
                const = nd * (LOG2PI + np.log(ref / nd)) + nd
                obj_rel = nd * np.log1p((r2_rel + (self.cp.zWz - ref)) / ref)
            else:
                sigma2 = sigma2_fixed
                const = nd * (LOG2PI + np.log(sigma2)) + self.cp.zWz / sigma2
                obj_rel = r2_rel / sigma2
            const -= self._sum_log_w
            obj_rel += fac.logdet_re
            if self.reml:
                obj_rel += fac.logdet_x
            obj = const + obj_rel
            incr = (dbeta, db)
        else:
            u, beta = fac.solve(asm.r_u, asm.r_b)
            r2 = self.cp.zWz - vdot(asm.r_u, u) - vdot(asm.r_b, beta)
            if not r2 > CANCELLATION * self.cp.zWz:
                # Cancellation in z'Wz - r'A^{-1}r: recompute the residuals directly (one pass).
                r2 = self._direct_r2(Ls, beta, u)
            sigma2, obj = self._profiled(r2, fac, sigma2_fixed)
            obj_rel, incr = obj, None
        state = LMEState(None if theta is None else theta.copy(), beta, u, sigma2, r2, float(obj), fac, Ls)
        state.assembled = asm
        state.objective_rel = float(obj_rel)  # what the optimiser minimises (differs by a constant)
        state.increments = incr
        return state

    def _row_residual(self, Ls: list[np.ndarray], beta: np.ndarray, u: np.ndarray):
        """(z - X beta - Z Lambda u, w, Z Lambda) from the rows (one pass): the residual without the
        cancellation of its cross-product form."""
        z, w = (self.z, self.w) if self.z is not None else self._recompute()
        zts = [scale_columns(Zk, Lk) for Zk, Lk in zip(self.Zs, Ls)]
        resid = self.X @ beta
        np.subtract(z, resid, out=resid)
        self.layout.add_z_times(zts, u, resid, subtract=True)
        return resid, w, zts

    def _direct_r2(self, Ls: list[np.ndarray], beta: np.ndarray, u: np.ndarray) -> float:
        """The penalised residual sum of squares |W^{1/2}(z - X beta - Z Lambda u)|^2 + |u|^2 from the
        rows (one pass): exact to rounding, where z'Wz - r'A^{-1}r cancels the digits of a small r^2."""
        z, w = (self.z, self.w) if self.z is not None else self._recompute()
        zts = [scale_columns(Zk, Lk) for Zk, Lk in zip(self.Zs, Ls)]
        lay, n = self.layout, len(z)
        # (block of rows by block: the residual's values of _row_residual without its n-vector; the
        # sum of the blocks' sums is that of one einsum within one block, to rounding beyond)
        parts = lay.split(u)
        rows = min(BLOCK_ROWS, n)
        buf, zb = np.empty(rows), np.empty(rows)
        total = 0.0
        for r0 in range(0, n, BLOCK_ROWS):
            r1 = min(r0 + BLOCK_ROWS, n)
            t = np.matmul(self.X[r0:r1], beta, out=buf[: r1 - r0])
            np.subtract(z[r0:r1], t, out=t)
            lay._z_rows(zts, parts, r0, r1, zb[: r1 - r0])
            t -= zb[: r1 - r0]
            total += vdot(w[r0:r1], np.square(t, out=t))
        return total + vdot(u, u)

    def _refined(self, Ls: list[np.ndarray], fac: BlockFactor, beta: np.ndarray,
                 u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One step of iterative refinement of the penalised least-squares solution: the gradient
        residual [Lambda'Z'W rho - u; X'W rho], rho = z - X beta - Z Lambda u from the rows (one pass),
        solved with the same factor."""
        rho, w, zts = self._row_residual(Ls, beta, u)
        rho *= w
        du, dbeta = fac.solve(self.layout.zt_times(zts, rho) - u, self.X.T @ rho)
        return beta + dbeta, u + du

    def _profiled(self, r2: float, fac: BlockFactor, sigma2_fixed: float | None) -> tuple[float, float]:
        """(sigma^2, -2 log-likelihood) of the direct form for the penalised residual sum r^2
        (sigma^2 profiled when ``sigma2_fixed`` is None)."""
        nd = self.n_eff - self.p if self.reml else self.n_eff
        if sigma2_fixed is None:
            sigma2 = r2 / nd
            obj = nd * (LOG2PI + np.log(sigma2)) + nd
        else:
            sigma2 = sigma2_fixed
            obj = nd * (LOG2PI + np.log(sigma2)) + r2 / sigma2
        obj += fac.logdet_re - self._sum_log_w
        if self.reml:
            obj += fac.logdet_x
        return sigma2, float(obj)

    def final_state(self, state: LMEState) -> LMEState:
        """The state reported as the fit: r^2 (hence sigma^2 and the log-likelihood) from the rows,
        so that a small residual variance keeps its digits whatever the summation order of the cross
        products (docs/choices.md, "One optimum").  Where r^2 is small against z'Wz
        (:data:`CANCELLATION`), beta and u also get one step of iterative refinement with the
        residual from the rows: the solution from the cross products carries a rounding error of
        ~eps z'Wz / r^2 relative, which the refined one does not.  Needs the working data (before
        :meth:`release_data` with None); the increment form is exact already."""
        if state.increments is not None or (self.z is None and self._recompute is None):
            return state
        beta, u = state.beta, state.u
        if not state.r2 > CANCELLATION * self.cp.zWz:
            beta, u = self._refined(state.Ls, state.factor, beta, u)
        r2 = self._direct_r2(state.Ls, beta, u)
        sigma2, obj = self._profiled(r2, state.factor, self.sigma2_fixed)
        out = LMEState(state.theta, beta, u, sigma2, r2, obj, state.factor, state.Ls)
        out.assembled = state.assembled
        out.objective_rel = obj
        out.increments = None
        return out

    def _center_u(self, Ls: list[np.ndarray]) -> np.ndarray | None:
        """u_c with Lambda u_c = b_c (public order), or None when a factor is singular (boundary):
        the increment form then does not apply and the direct form is used."""
        parts = []
        for bk, L in zip(self.center[1], Ls):
            d = np.abs(np.diag(L))
            if not np.all(d > 1e-8 * max(1.0, d.max(initial=0.0))):
                return None
            parts.append(np.linalg.solve(L, bk.T).T.ravel())  # rows: u_l = L^{-1} b_l
        return np.concatenate(parts)

    def single_term_start(self, theta: np.ndarray) -> np.ndarray:
        """A start for a model of scalar random terms: per term the relative variance that term alone
        would have (the one-term profiled objective of :class:`fitglme.engine.refit_pl.ScalarLME` on
        its per-level sums, which the cross products hold: O(levels) per evaluation, no pass over
        the rows), to a loose tolerance.  Each is the variance of the term with the others left out,
        near the joint optimum when the terms are crossed (docs/performance.md, item 23); ``theta``
        itself for one term, other models, or where a one-term objective loses its digits."""
        from .refit_pl import Cancellation, ScalarLME

        lay, cp = self.layout, self.cp
        if self.center is not None or lay.nterms < 2 or not lay.scalar or any(
                pat.n_params != 1 for pat in self.thetas.patterns):
            return theta
        k22 = np.diag(cp.K22) if lay.Q2 else np.zeros(0)
        out = []
        for k, pat in enumerate(self.thetas.patterns):
            if k == lay.first:
                A, c, d = cp.K11[:, 0, 0], cp.K1X[:, 0, :], cp.K1z[:, 0]
            else:
                j = lay.rest.index(k)
                sl = slice(lay.rest_offsets[j], lay.rest_offsets[j + 1])
                A, c, d = k22[sl], cp.K2X[sl], cp.K2z[sl]
            one = ScalarLME((A, c, d, cp.XWX, cp.XWz, cp.zWz), self.n_eff, self._sum_log_w, self.p, self.reml,
                            self.sigma2_fixed)
            try:
                v = one.minimize(1.0, xtol=1e-5)
            except (Cancellation, np.linalg.LinAlgError, FloatingPointError, ZeroDivisionError):
                return theta
            if not np.isfinite(v):
                return theta
            out.append(pat.theta_from_cov(np.array([[v]])))
        return np.concatenate(out)

    def objective(self, theta: np.ndarray) -> float:
        try:
            return self.solve(theta).objective_rel
        except (NotPositiveDefinite, FloatingPointError):
            return np.inf

    def objective_and_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """The objective and its exact gradient in theta, from the cross products alone.

        With b = Lambda u, rho = W (z - X beta - Z b), K = Z'WZ and dLambda_j the derivative of the
        factors: d r^2 = -2 (Z'rho)'(dLambda_j u); d log det H = 2 tr(H^{-1} Lambda'K dLambda_j);
        for REML, with P = H^{-1} Lambda'Z'WX, E' = Z'WX - K Lambda P and S = R_X'R_X:
        d log det S = -2 tr(dLambda_j P S^{-1} E).  Every trace is a sum over the levels of q x q
        products (fitglme.engine.crossprod).
        """
        try:
            st = self.solve(theta)
        except (NotPositiveDefinite, FloatingPointError):
            return np.inf, np.full(len(theta), np.nan)
        if st.gradient is None:
            st.gradient = self._gradient(theta, st)
        return st.objective_rel, st.gradient.copy()  # (remembered with the state: the optimiser
        # and its polish ask again for the gradient at the point they stopped)

    def _gradient(self, theta: np.ndarray, st: LMEState) -> np.ndarray:
        """The exact gradient of :meth:`objective_and_grad` at the solved state ``st``."""
        lay, cp = self.layout, self.cp
        fac, asm, Ls = st.factor, st.assembled, st.Ls
        n, p = self.n_eff, self.p
        nd = n - p if self.reml else n
        scale = nd / st.r2 if self.sigma2_fixed is None else 1.0 / self.sigma2_fixed
        ZWX = zwx(lay, cp)
        if st.increments is not None:
            # Increment form: Z'W(z - X d_beta - Z d_b), the step's rows X d_beta + Z d_b formed first
            # (one pass): d_beta and d_b nearly cancel along the intercept, and Z'WX d_beta + K d_b
            # in the cross-product form would leave a rounding error of eps W |d_b| in the gradient.
            dbeta, db = st.increments
            d = self.X @ dbeta + lay.z_times(self.Zs, db)
            z_rho = zwz_vector(lay, cp) - lay.zt_times(self.Zs, self.w * d)
        else:
            if not st.r2 > CANCELLATION * cp.zWz:
                # Z'W(z - X beta - Z b) from the cross products cancels the digits of a small residual
                # as r^2 does: from the rows (one pass), so that the gradient keeps them.
                resid, w, _ = self._row_residual(Ls, st.beta, st.u)
                resid *= w
                z_rho = lay.zt_times(self.Zs, resid)
            elif lay.nterms == 1 and lay.q1 == 1:
                z_rho = None  # (rho_u by blocks of levels: no levels-long z_rho)
            else:
                z_rho = ZWX @ st.beta  # z_rho = Z'Wz - Z'WX beta - K b, in z_rho's storage
                np.subtract(zwz_vector(lay, cp), z_rho, out=z_rho)
                z_rho -= k_times(lay, cp, _times_lambda(lay, Ls, st.u))
        if z_rho is None:
            rho_u = [_rho_one_scalar(zwz_vector(lay, cp), cp.K11[:, 0, 0], float(Ls[0][0, 0]), ZWX, st.beta, st.u)]
        else:
            rho_u = level_pairs(lay, z_rho, st.u)
        stable_reml = self.reml and p and cp.R is not None
        if stable_reml:
            # log det S for the cancellation-free Schur complement S = R + sum_l c_l k_l k_l',
            # c_l = 1 / (K11_l (1 + lam^2 K11_l)) (fitglme.engine.crossprod.assemble):
            # d log det S / d lam = tr(S^{-1} sum_l dc_l k_l k_l'), dc_l = -2 lam / (1 + lam^2 K11_l)^2.
            k11, kx = cp.K11[:, 0, 0], cp.K1X[:, 0, :]
            lam = float(Ls[0][0, 0])
            dc = -2.0 * lam / (1.0 + lam * lam * k11) ** 2
            dlogdet_x = float(np.sum(fac.beta_covariance() * ((kx * dc[:, None]).T @ kx)))
        elif self.reml and p:
            P, ET = _reml_columns(lay, cp, Ls, fac, ZWX)
            F = level_pairs(lay, P @ fac.beta_covariance(), ET)
        # (after the solves with the factor: its C may lend its storage to the traces' H^{-1} blocks)
        D = trace_blocks(lay, cp, Ls, asm)
        g = np.zeros(len(theta))
        j = 0
        for k, pat in enumerate(self.thetas.patterns):
            tk = theta[self.thetas.offsets[k] : self.thetas.offsets[k + 1]]
            for dL in pat.factor_derivatives(tk):
                gj = -2.0 * scale * float(np.sum(rho_u[k] * dL)) + 2.0 * float(np.sum(D[k] * dL.T))
                if stable_reml:
                    gj += float(dL[0, 0]) * dlogdet_x
                elif self.reml and p:
                    gj -= 2.0 * float(np.sum(dL * F[k].T))
                g[j] = gj
                j += 1
        return g

    def fit(self, theta0: np.ndarray, verbose: int = 0, max_iter: int = 500, polish: bool = True,
            method: str = "quasinewton", max_fun: int = 10000, warm: bool = False) -> tuple[LMEState, bool]:
        """Minimise the objective over theta from ``theta0``; returns the state and a flag.

        ``polish=False`` skips the final Newton polish (enough for intermediate PL iterations).
        ``warm``: an intermediate fit of a sequence (the pseudo-likelihood iterations that only start
        the Laplace methods): an unpolished quasi-Newton fit starts from the Hessian approximation
        the previous warm fit ended with, the first one from differences of the gradient
        (:func:`fitglme.engine.quasi_newton.minimize_from`, the first step nearly a Newton step)
        instead of L-BFGS-B's steepest-descent start, and stops loosely
        (:data:`WARM_DECREMENT`); the optimum these starts lead to is pinned by its own gradient.
        """
        theta0 = self.thetas.away_from_boundary(theta0, 0.5)
        lo, hi = self.thetas.lower, self.thetas.upper
        B0, start = self._warm_start(theta0) if warm and method == "quasinewton" and not polish else (None, None)
        if B0 is not None:
            res = minimize_from(self.objective_and_grad, theta0, lo, hi, B0, self.thetas.scale_mask(),
                                max_iter=max_iter, decrement_tol=WARM_DECREMENT, start=start)
            hessian = res.hessian
        else:
            res = minimize_bounded(
                self.objective, theta0, lo, hi, max_iter=max_iter,
                verbose=max(verbose - 1, 0), polish=polish, fg=self.objective_and_grad, loose=not polish,
                method=method, max_fun=max_fun,
                scale_params=self.thetas.scale_mask(),
            )
            hessian = None
        self._warm = (self._warm[0] + 1, hessian) if warm else (0, None)
        return self.solve(res.x), res.converged

    def _warm_start(self, theta0: np.ndarray) -> tuple[np.ndarray | None, tuple | None]:
        """The Hessian approximation a warm fit starts from (:meth:`fit`): the previous warm fit's
        quasi-Newton matrix, or for the first fit of a sequence forward differences of the exact
        gradient at ``theta0`` (k gradients for k parameters: measured on InstEval's three, 24 -> 18
        evaluations over the four PL iterations of a Laplace start, as the first fit's quasi-Newton
        matrix then serves the later ones, docs/performance.md); None where it cannot be formed
        (the fit is then L-BFGS-B's).  Returned with the value and gradient at ``theta0`` when they
        were evaluated here (the fit's start, :func:`~fitglme.engine.quasi_newton.minimize_from`),
        else None."""
        count, B = self._warm
        if count == 0 or B is None or B.shape != (theta0.size,) * 2:
            f0, g0 = self.objective_and_grad(theta0)
            if not np.isfinite(f0):
                return None, None
            # The fit starts from theta0's value and gradient, not from its state: that state's
            # blocks are freed before the differences form theirs (at 10,000 x 1,000 crossed
            # levels each state holds (m1, Q2) arrays of 80 MB)
            self._last = None
            start = (f0, g0)
            B = _hessian_from_gradient(lambda x: self.objective_and_grad(x)[1], theta0, np.arange(theta0.size),
                                       self.thetas.lower, self.thetas.upper, central=False, g0=g0)
            if count == 0 and np.all(np.isfinite(B)):
                # The first fit starts wherever the caller's start is, possibly far from the optimum:
                # Newton steps only where the curvature there is positive definite, else L-BFGS-B
                ev = np.linalg.eigvalsh(0.5 * (B + B.T))
                if not ev[0] > FIRST_FIT_CURVATURE * max(float(ev[-1]), 0.0):
                    return None, None
        else:
            start = None
        return (B, start) if np.all(np.isfinite(B)) else (None, None)
