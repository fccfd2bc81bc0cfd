"""The response of a GLMM and its distribution/link pair: the log-likelihood, the working response
and weights of PIRLS and the pseudo-likelihood (expected or observed), and their derivatives in
eta (docs/internals.md).  Split from fitglme.engine.pirls, which iterates with it.
"""
from __future__ import annotations

import numpy as np
from scipy.special import xlog1py, xlogy

from .arrays import blockwise, constant_value
from .layout import BLOCK_ROWS, vdot


class GLMResponse:
    """Response, prior weights, binomial size, offset and the distribution/link pair.

    ``weights`` are MATLAB's prior weights; for the binomial the effective weight is
    ``weights * size`` (the response is a proportion).
    """

    def __init__(self, dist, link, y, weights, size, offset) -> None:
        self.dist, self.link = dist, link
        # Vectors are kept as given (no copies): a constant weight, size or offset may be a
        # read-only broadcast view (fitglme.options.as_vector), which costs no memory per row.
        self.y = np.asarray(y, float)
        self.w = np.asarray(weights, float)
        self.size = None if size is None else np.asarray(size, float)
        self.offset = np.asarray(offset, float)
        if self.size is None:
            self.pw = self.w
        elif constant_value(self.w) is not None and constant_value(self.size) is not None:
            self.pw = np.broadcast_to(self.w[:1] * self.size[:1], self.y.shape)
        else:
            self.pw = self.w * self.size
        # Binomial / Poisson: log p = constant + kernel(mu); the constant (log C(m, my), log y!) is
        # computed once, not at every objective evaluation.  Unit weights: w y is y itself.
        name = dist.name
        if name == "Binomial":
            self._my = self.y if constant_value(self.pw) == 1.0 else self.pw * self.y
            self._mny = 1.0 - self.y if constant_value(self.pw) == 1.0 else self.pw * (1.0 - self.y)
            self._kernel = self._binomial_kernel
        elif name == "Poisson":
            self._wy = self.y if constant_value(self.w) == 1.0 else self.w * self.y
            # sum w mu: a plain sum for constant weights (no pass over a vector of ones)
            self._w_const = constant_value(self.w)
            self._wc = None if self._w_const is not None else np.ascontiguousarray(self.w)
            self._kernel = self._poisson_kernel
        else:
            self._kernel = None
        from ..family.links import _LOG_BOUNDS

        self._log_bounds = _LOG_BOUNDS
        if self._kernel is not None:
            # dist.loglik at mu = 1/2 (the sum of its terms), the terms formed block by block; then
            # the terms' buffer holds mu = 1/2 for the kernel
            terms = blockwise(lambda y, w, s: self.dist.loglik_terms(y, np.full(y.shape, 0.5), w, 1.0, s),
                              self.y.size, self.y, self.w, self.size)
            total = float(np.sum(terms))
            mu0 = terms
            mu0.fill(0.5)
            self._const = total - self._kernel(mu0)

    def initial_mu(self) -> np.ndarray:
        """The distribution's default starting mean at the response, block by block (no n-vector
        temporaries: docs/performance.md, "Growth in n")."""
        return blockwise(self.dist.initial_mu, self.y.size, self.y, self.size)

    def _binomial_kernel(self, mu: np.ndarray, eta: np.ndarray | None = None) -> float:
        # mu is kept inside [eps, 1 - eps] by the link, so plain logs are finite.
        with np.errstate(divide="ignore", invalid="ignore"):
            if mu.size and mu.min() > 0 and mu.max() < 1:  # (as np.all((mu > 0) & (mu < 1)): no boolean n-vectors)
                t = np.log(mu)
                first = vdot(self._my, t)
                np.negative(mu, out=t)
                return first + vdot(self._mny, np.log1p(t, out=t))  # (one n-vector, not three)
        return float(xlogy(self._my, mu).sum() + xlog1py(self._mny, -mu).sum())

    def _sum_w_mu(self, mu: np.ndarray) -> float:
        return self._w_const * float(mu.sum()) if self._wc is None else vdot(self._wc, mu)

    def _poisson_kernel(self, mu: np.ndarray, eta: np.ndarray | None = None) -> float:
        if eta is not None and self.link.kind == "log":
            # log mu = clip(eta) for the log link: no log pass needed.
            lo, hi = self._log_bounds
            if eta.min() >= lo and eta.max() <= hi:
                return vdot(self._wy, eta) - self._sum_w_mu(mu)
        if mu.size == 0 or mu.min() > 0:  # (as np.all(mu > 0), NaN failing too: no boolean n-vector)
            return float(self._wy @ np.log(mu)) - self._sum_w_mu(mu)
        return float(xlogy(self._wy, mu).sum()) - self._sum_w_mu(mu)

    def rounding_scale(self, mu: np.ndarray) -> float:
        """Magnitude of the summed log-likelihood terms: the objective's rounding noise is about
        eps times this (it far exceeds |deviance| for huge counts)."""
        return float(np.sum(self.pw * (np.abs(mu) + np.abs(self.y))))

    def loglik(self, mu: np.ndarray, dispersion: float, eta: np.ndarray | None = None) -> float:
        """sum log p(y | mu) with all normalising constants (``eta``: optional, saves a log pass)."""
        if self._kernel is not None:
            return self._const + self._kernel(mu, eta)
        return float(self.dist.loglik(self.y, mu, self.w, dispersion, self.size))

    def working(self, eta: np.ndarray, dispersion: float, observed: bool, mu: np.ndarray | None = None,
                out: tuple[np.ndarray, np.ndarray] | None = None):
        """mu, the score d loglik / d eta and the weights (expected or observed) at eta.

        ``mu`` may be passed when already known (= link.inverse(eta)) to save a pass for the log
        and logit links, whose dmu/deta follows from mu.  ``out`` (optional): two (n,) buffers,
        neither eta nor mu, reused for the score and (log-Poisson, logit-binomial, identity-normal)
        the weights.
        """
        link, dist = self.link, self.dist
        if mu is not None and link.kind == "log":
            h = mu
        elif mu is not None and link.kind == "logit":
            h = mu * (1.0 - mu)
        else:
            mu, h = link.inverse_and_mu_eta(eta)
        r_out, w_out = (None, None) if out is None else out
        base = self._base(dispersion)
        if self.unit_canonical and r_out is not None and w_out is not None:
            # (into the buffers block by block: mu and h read once from the cache, not twice)
            scale_r = not (np.ndim(base) == 0 and base == 1.0)
            n = mu.shape[0]
            for r0 in range(0, n, BLOCK_ROWS):
                sl = slice(r0, min(r0 + BLOCK_ROWS, n))
                b = base if np.ndim(base) == 0 else base[sl]
                rb = np.subtract(self.y[sl], mu[sl], out=r_out[sl])
                if scale_r:
                    rb *= b
                np.multiply(h[sl], b, out=w_out[sl])
            return mu, r_out, w_out
        r = np.subtract(self.y, mu, out=r_out)
        if self.unit_canonical:  # h = V(mu) exactly: score = base r, W = base h
            if not (np.ndim(base) == 0 and base == 1.0):
                r *= base
            return mu, r, np.multiply(h, base, out=w_out)
        V = dist.variance(mu)
        hv = h / V
        score = base * r * hv
        W = base * h * hv
        if observed and not self.canonical:
            dh = -link.deriv2(mu) * h**3  # d h / d eta
            dV = dist.variance_deriv(mu)
            d_hv = (dh * V - h * dV * h) / V**2  # d (h / V) / d eta
            W = W - base * r * d_hv
        return mu, score, W

    def _base(self, dispersion: float):
        """pw / dispersion: a scalar when the prior weights are constant."""
        c = constant_value(self.pw)
        return self.pw / dispersion if c is None else c / dispersion

    def weight_derivative(self, eta: np.ndarray, dispersion: float, mu: np.ndarray | None = None,
                          out: np.ndarray | None = None) -> np.ndarray:
        """dW/d eta of the observed weights: analytic for canonical links (W = pw V(mu) / phi,
        dW/deta = pw V'(mu) V(mu) / phi), central differences otherwise.  ``mu``: optional,
        = link.inverse(eta) when already known; ``out``: an optional (n,) buffer for the result
        (canonical links)."""
        if self.unit_canonical:
            if mu is None:
                mu = self.link.inverse(eta)

            def dw(m, base):
                t = base * self.dist.variance_deriv(m)
                t *= self.dist.variance(m)
                return t

            return blockwise(dw, mu.size, mu, self._base(dispersion), out=out)
        eps = 1e-6 * (1.0 + np.abs(eta))
        return (self.working(eta + eps, dispersion, True)[2] - self.working(eta - eps, dispersion, True)[2]) / (2 * eps)

    @property
    def unit_canonical(self) -> bool:
        """dmu/deta = V(mu) exactly (log-Poisson, logit-Binomial, identity-Normal).

        MATLAB's canonical Gamma / InverseGaussian links (powers -1, -2) only have h/V constant
        (-1, -1/2): the observed weights still equal the expected ones, but not this shortcut."""
        return (self.dist.name, self.link.kind) in {("Poisson", "log"), ("Binomial", "logit"),
                                                     ("Normal", "identity")}

    @property
    def canonical(self) -> bool:
        c = getattr(self, "_canonical", None)
        if c is None:
            c = self._canonical = _is_canonical(self.dist, self.link)
        return c

def _is_canonical(dist, link) -> bool:
    from ..family import is_canonical

    return is_canonical(link, dist.name)
