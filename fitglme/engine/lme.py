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

import numpy as np

from ..covariance import CovariancePattern
from .blocks import BlockFactor, NotPositiveDefinite, ReLayout, factorize
from .optimize import minimize_bounded

LOG2PI = np.log(2.0 * np.pi)


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

    def set_data(self, z: np.ndarray, w: np.ndarray) -> None:
        self.z = np.asarray(z, float)
        self.w = np.asarray(w, float)
        self._sum_log_w = float(np.log(self.w).sum())

    def solve(self, theta: np.ndarray) -> LMEState:
        """Penalised least squares at ``theta`` and the -2 log-likelihood there."""
        lay, X, z, w = self.layout, self.X, self.z, self.w
        Ls = self.thetas.factors(theta)
        zts = [Zk @ Lk for Zk, Lk in zip(self.Zs, Ls)]
        fac = factorize(lay, zts, w, X)
        wz = w * z
        u, beta = fac.solve(lay.zt_times(zts, wz), X.T @ wz)
        resid = z - X @ beta - lay.z_times(zts, u)
        r2 = float(w @ resid**2 + u @ u)
        n, p = self.n, self.p
        nd = n - p if self.reml else n
        if self.sigma2_fixed is None:
            sigma2 = r2 / nd
            obj = nd * (LOG2PI + np.log(sigma2)) + nd
        else:
            sigma2 = self.sigma2_fixed
            obj = nd * (LOG2PI + np.log(sigma2)) + r2 / sigma2
        obj += fac.logdet_re - self._sum_log_w
        if self.reml:
            obj += fac.logdet_x
        return LMEState(theta.copy(), beta, u, sigma2, r2, float(obj), fac, Ls)

    def objective(self, theta: np.ndarray) -> float:
        try:
            return self.solve(theta).objective
        except (NotPositiveDefinite, FloatingPointError):
            return np.inf

    def fit(self, theta0: np.ndarray, verbose: int = 0, max_iter: int = 500) -> tuple[LMEState, bool]:
        """Minimise the objective over theta from ``theta0``; returns the state and a flag."""
        res = minimize_bounded(
            self.objective, theta0, self.thetas.lower, self.thetas.upper, max_iter=max_iter, verbose=verbose
        )
        return self.solve(res.x), res.converged
