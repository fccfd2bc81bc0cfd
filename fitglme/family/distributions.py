"""Conditional distributions of y given the random effects.

:func:`make_distribution` turns MATLAB's ``'Distribution'`` value into a :class:`Distribution`:
one of Normal, Binomial, Poisson, Gamma, InverseGaussian. Each gives the unit variance
function, the log density with its normalising constants, the unit deviance, the starting
mean, the clipping of the mean and the validation of the response.

Conventions (see ``docs/families.md``): ``y`` is the response as MATLAB sees it (Binomial: a
*proportion*), ``weights`` are the prior weights w, ``size`` the Binomial sizes n, and
``dispersion`` phi with Var(y) = phi * V(mu) / w_eff, where w_eff = w * n for Binomial and
w otherwise.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
from scipy import special

from ..errors import FitglmeError

__all__ = [
    "Distribution",
    "Normal",
    "Binomial",
    "Poisson",
    "Gamma",
    "InverseGaussian",
    "make_distribution",
    "canonical_distribution_name",
    "DISTRIBUTION_NAMES",
    "WEIGHT_CONVENTIONS",
    "BINOMIAL_RESPONSE_MESSAGE",
]

EPS = float(np.finfo(float).eps)
REALMAX = float(np.finfo(float).max)
_INT_TOL = float(np.sqrt(EPS))  # MATLAB: max(abs(counts - round(counts))) <= sqrt(eps)
_LOG_2PI = float(np.log(2.0 * np.pi))

WEIGHT_CONVENTIONS: tuple[str, ...] = ("lme4", "matlab")
"""How prior weights enter the Poisson log density (the only distribution where they differ):
``'lme4'``: w (y log mu - mu - log y!); ``'matlab'``: the density of the count w y given mean
w mu, i.e. w (y log mu - mu) + w y log w - log (w y)!. Equal when every w is 1."""

DISTRIBUTION_NAMES: tuple[str, ...] = ("Normal", "Binomial", "Poisson", "Gamma", "InverseGaussian")
"""Canonical names, in MATLAB's documented order."""

# MATLAB's list of accepted spellings (it stores the matched spelling, lower case).
_SPELLINGS: tuple[tuple[str, str], ...] = (
    ("normal", "Normal"),
    ("gaussian", "Normal"),
    ("binomial", "Binomial"),
    ("poisson", "Poisson"),
    ("gamma", "Gamma"),
    ("inversegaussian", "InverseGaussian"),
    ("inverse gaussian", "InverseGaussian"),
)

BINOMIAL_RESPONSE_MESSAGE = (
    "For Binomial distribution, the responses must be proportions, 'Weights' and "
    "'BinomialSize' must be positive integers and the product of responses, 'Weights' and "
    "'BinomialSize' must be integers."
)
"""MATLAB's text for a bad Binomial response (docs/families.md)."""


def _arr(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=float)


def _fmt(v: float) -> str:
    return repr(float(v))


class Distribution:
    """Base class; use :func:`make_distribution`.

    Attributes
    ----------
    name : str
        Canonical name: ``'Normal'``, ``'Binomial'``, ``'Poisson'``, ``'Gamma'`` or
        ``'InverseGaussian'``.
    matlab_name : str
        The spelling MATLAB stores for the value the user gave (``'normal'``, ``'gaussian'``,
        ``'inversegaussian'``, ...).
    display_name : str
        What MATLAB's model display prints: ``matlab_name`` with the first character
        upper-cased (``'Poisson'``, ``'Inversegaussian'``).
    dispersion_fixed : bool
        True for Binomial and Poisson (dispersion 1 unless ``DispersionFlag``).
    support : str
        The permitted response values, for messages.
    """

    name: str = ""
    dispersion_fixed: bool = False
    support: str = ""
    mu_bounds: tuple[float, float] = (-REALMAX, REALMAX)
    mustart_domain: str = "(-Inf,Inf)"

    def __init__(self, matlab_name: str | None = None, weight_convention: str = "lme4") -> None:
        self.matlab_name = matlab_name if matlab_name is not None else self.name.lower()
        if weight_convention not in WEIGHT_CONVENTIONS:
            raise FitglmeError(
                f"weight_convention must be one of {WEIGHT_CONVENTIONS}; got {weight_convention!r}.",
                "fitglme:BadWeightConvention",
            )
        self.weight_convention = weight_convention

    @property
    def display_name(self) -> str:
        s = self.matlab_name
        return s[:1].upper() + s[1:]

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Distribution) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    # ----------------------------------------------------------- variance
    def variance(self, mu: Any) -> np.ndarray:
        """Unit variance function V(mu)."""
        raise NotImplementedError

    def variance_deriv(self, mu: Any) -> np.ndarray:
        """V'(mu)."""
        raise NotImplementedError

    # ------------------------------------------------------- log-likelihood
    def loglik_terms(
        self,
        y: Any,
        mu: Any,
        weights: Any = None,
        dispersion: float = 1.0,
        size: Any = None,
    ) -> np.ndarray:
        """Per-observation log density log p(y_i | mu_i), normalising constants included.

        Parameters
        ----------
        y, mu : array_like
            Response (Binomial: proportions) and conditional mean.
        weights : array_like, optional
            Prior weights (default 1). Rows with weight 0 contribute 0.
        dispersion : float
            phi; ignored by Binomial and Poisson (their density has none).
        size : array_like, optional
            Binomial sizes (default 1); ignored by the other distributions.
        """
        raise NotImplementedError

    def loglik(
        self,
        y: Any,
        mu: Any,
        weights: Any = None,
        dispersion: float = 1.0,
        size: Any = None,
    ) -> float:
        """Sum of :meth:`loglik_terms`."""
        return float(np.sum(self.loglik_terms(y, mu, weights, dispersion, size)))

    def loglik_dispersion_derivative(self, y: Any, mu: Any, weights: Any = None, dispersion: float = 1.0,
                                     size: Any = None) -> float:
        """d :meth:`loglik` / d log(dispersion) at fixed mu.

        Central differences of the terms here; the distributions with a dispersion override it
        with the analytic derivative (a difference of the summed log-likelihood would carry its
        rounding, eps |loglik|, divided by the step).
        """
        h = 1e-6
        up = self.loglik_terms(y, mu, weights, dispersion * np.exp(h), size)
        down = self.loglik_terms(y, mu, weights, dispersion * np.exp(-h), size)
        return float(np.sum(up - down)) / (2 * h)

    def unit_deviance(self, y: Any, mu: Any) -> np.ndarray:
        """Unit deviance d(y, mu) (per unit of effective weight)."""
        raise NotImplementedError

    def effective_weights(self, weights: Any = None, size: Any = None, n: int | None = None) -> np.ndarray:
        """w_eff = w * n for Binomial, w otherwise (MATLAB's effective observation weights)."""
        w = np.array(1.0 if weights is None else weights, dtype=float)
        if n is not None:
            w = np.broadcast_to(w, (n,)).astype(float)
        return w

    def deviance(self, y: Any, mu: Any, weights: Any = None, size: Any = None) -> float:
        """sum(w_eff * d(y, mu))."""
        y = _arr(y)
        w = self.effective_weights(weights, size, n=y.size if y.ndim else None)
        return float(np.sum(w * self.unit_deviance(y, mu)))

    # ------------------------------------------------------------ the mean
    def clip_mu(self, mu: Any) -> np.ndarray:
        """Clip mu into the distribution's domain (MATLAB ``constrainMu``, TINY = eps, BIG = Inf)."""
        return np.clip(np.real(_arr(mu)), *self.mu_bounds)

    def initial_mu(self, y: Any, size: Any = None) -> np.ndarray:
        """MATLAB's default start for mu (``MuStart`` empty), clipped with :meth:`clip_mu`."""
        return self.clip_mu(_arr(y))

    def validate_mustart(self, value: Any, n: int) -> np.ndarray:
        """Check a user ``MuStart`` (scalar or length-n vector) and return it as a float vector.

        Raises ``FitglmeError('fitglme:BadMuStart')`` when the length is wrong or a value lies
        outside the open domain of mu (Binomial (0,1); Poisson, Gamma, InverseGaussian
        (0,Inf); Normal (-Inf,Inf)).
        """
        try:
            a = np.array(value, dtype=float).reshape(-1)
        except (TypeError, ValueError):
            raise FitglmeError(
                f"MuStart must be a numeric scalar or a vector of length {n}; got "
                f"{_short(value)}.",
                "fitglme:BadMuStart",
            ) from None
        if a.size == 1:
            a = np.full(n, a[0])
        if a.size != n:
            raise FitglmeError(
                f"MuStart must be a scalar or a vector of length {n} (the number of "
                f"observations); got {a.size} values.",
                "fitglme:BadMuStart",
            )
        bad = np.flatnonzero(~self._mustart_ok(a))
        if bad.size:
            i = int(bad[0])
            raise FitglmeError(
                f"MuStart for the {self.name} distribution must lie in {self.mustart_domain}; "
                f"element {i} (0-based) is {_fmt(a[i])}.",
                "fitglme:BadMuStart",
            )
        return a

    def _mustart_ok(self, a: np.ndarray) -> np.ndarray:
        return np.isfinite(a)

    # ------------------------------------------------------------ response
    def validate_response(self, y: Any, weights: Any = None, size: Any = None) -> None:
        """Check the response against the permitted values (MATLAB's validateyRange; docs/families.md).

        Raises
        ------
        FitglmeError
            ``'fitglme:BadResponse'`` naming the first offending row (0-based) and its value;
            ``'fitglme:BadWeights'`` / ``'fitglme:BadBinomialSize'`` for bad weights/sizes.
        """
        y, w, _ = _prepare(y, weights, size)
        self._check_weights(w)
        i = _first_bad(np.isfinite, y)
        if i is not None:
            raise FitglmeError(
                f"The response must be finite; row {i} (0-based) is {_fmt(y[i])}.",
                "fitglme:BadResponse",
            )
        i = _first_bad(self._response_ok, y)
        if i is not None:
            raise FitglmeError(
                f"For the {self.name} distribution the response must be in {self.support}; "
                f"row {i} (0-based) is {_fmt(y[i])}.",
                "fitglme:BadResponse",
            )

    def _response_ok(self, y: np.ndarray) -> np.ndarray:
        return np.ones(y.shape, dtype=bool)

    def _check_weights(self, w: np.ndarray) -> None:
        i = _first_bad(lambda w: np.isfinite(w) & (w >= 0), w)
        if i is not None:
            raise FitglmeError(
                f"Weights for the {self.name} distribution must be finite and >= 0; row {i} "
                f"(0-based) is {_fmt(w[i])}.",
                "fitglme:BadWeights",
            )


def _short(v: Any, limit: int = 60) -> str:
    s = repr(v)
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _prepare(y: Any, weights: Any, size: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    try:
        y = np.asarray(y, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise FitglmeError(
            f"The response must be numeric; got {_short(y)}.", "fitglme:BadResponse"
        ) from None
    n = y.size
    out = []
    for val, what, ident in ((weights, "Weights", "fitglme:BadWeights"),
                             (size, "BinomialSize", "fitglme:BadBinomialSize")):
        a = np.ones(1) if val is None else np.asarray(val, dtype=float).reshape(-1)
        if a.size == 1:
            a = np.broadcast_to(a, (n,))  # a constant: no n-vector
        if a.size != n:
            raise FitglmeError(
                f"{what} must be a scalar or have one value per observation ({n}); got "
                f"{a.size} values.",
                ident,
            )
        out.append(a)
    return y, out[0], out[1]


#: rows per slice of the elementwise checks of :func:`_first_bad`: the temporaries stay in the
#: cache instead of being fresh n-vectors (docs/performance.md, "Growth in n")
_CHECK_ROWS = 1 << 16


def _first_bad(ok: Callable[..., np.ndarray], *arrays: np.ndarray) -> int | None:
    """0-based position of the first row where the elementwise test ``ok`` (applied to the same
    rows of every array) is False; None when it holds everywhere.  Evaluated slice by slice."""
    n = arrays[0].size
    with np.errstate(invalid="ignore"):
        for r0 in range(0, n, _CHECK_ROWS):
            good = np.asarray(ok(*(a[r0:r0 + _CHECK_ROWS] for a in arrays)), dtype=bool)
            if not good.all():
                return r0 + int(np.argmin(good))
    return None


def _where_w0(w: np.ndarray, terms: np.ndarray) -> np.ndarray:
    return np.where(w > 0, terms, 0.0)


class Normal(Distribution):
    """Normal: V(mu) = 1, phi = sigma^2, Var(y) = phi / w."""

    name = "Normal"
    support = "(-Inf,Inf)"

    def variance(self, mu: Any) -> np.ndarray:
        return np.ones_like(_arr(mu))

    def variance_deriv(self, mu: Any) -> np.ndarray:
        return np.zeros_like(_arr(mu))

    def loglik_terms(self, y, mu, weights=None, dispersion=1.0, size=None):
        y, mu = _arr(y), _arr(mu)
        w = _arr(1.0 if weights is None else weights)
        phi = float(dispersion)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = -0.5 * (_LOG_2PI + np.log(phi) - np.log(w) + w * (y - mu) ** 2 / phi)
        return _where_w0(np.broadcast_to(w, t.shape), t)

    def loglik_dispersion_derivative(self, y, mu, weights=None, dispersion=1.0, size=None):
        """sum (w (y - mu)^2 / phi - 1) / 2 over the rows with weight > 0."""
        y, mu = _arr(y), _arr(mu)
        w = _arr(1.0 if weights is None else weights)
        t = 0.5 * (w * (y - mu) ** 2 / float(dispersion) - 1.0)
        return float(np.sum(_where_w0(np.broadcast_to(w, t.shape), t)))

    def unit_deviance(self, y, mu):
        return (_arr(y) - _arr(mu)) ** 2


class Binomial(Distribution):
    """Binomial proportions: V(mu) = mu(1-mu), effective weight w * n."""

    name = "Binomial"
    dispersion_fixed = True
    support = "{0, 1/(w*n), 2/(w*n), ..., 1}"
    mu_bounds = (EPS, 1.0 - EPS)
    mustart_domain = "(0,1)"

    def variance(self, mu):
        mu = _arr(mu)
        return mu * (1.0 - mu)

    def variance_deriv(self, mu):
        return 1.0 - 2.0 * _arr(mu)

    def effective_weights(self, weights=None, size=None, n=None):
        w = _arr(1.0 if weights is None else weights) * _arr(1.0 if size is None else size)
        if n is not None:
            w = np.broadcast_to(w, (n,)).astype(float)
        return w

    def loglik_terms(self, y, mu, weights=None, dispersion=1.0, size=None):
        """log C(m, m y) + m y log(mu) + m (1-y) log(1-mu), m = w * n (m y rounded in C)."""
        y, mu = _arr(y), _arr(mu)
        m = self.effective_weights(weights, size)
        my = m * y
        k = np.round(my)
        lchoose = special.gammaln(m + 1.0) - special.gammaln(k + 1.0) - special.gammaln(m - k + 1.0)
        return lchoose + special.xlogy(my, mu) + special.xlog1py(m * (1.0 - y), -mu)

    def unit_deviance(self, y, mu):
        y, mu = _arr(y), _arr(mu)
        return 2.0 * (special.xlogy(y, y) - special.xlogy(y, mu)
                      + special.xlogy(1.0 - y, 1.0 - y) - special.xlog1py(1.0 - y, -mu))

    def initial_mu(self, y, size=None):
        """(n y + 0.5) / (n + 1) with n the BinomialSize (as MATLAB, prior weights not used)."""
        y = _arr(y)
        n = _arr(1.0 if size is None else size)
        return self.clip_mu((n * y + 0.5) / (n + 1.0))

    def _mustart_ok(self, a):
        return (a > 0) & (a < 1)

    def _check_weights(self, w):
        _check_positive_integers(w, "Weights", "fitglme:BadWeights", self.name)

    def validate_response(self, y, weights=None, size=None):
        y, w, n = _prepare(y, weights, size)
        _check_positive_integers(w, "Weights", "fitglme:BadWeights", self.name)
        _check_positive_integers(n, "BinomialSize", "fitglme:BadBinomialSize", self.name)
        def ok(y, w, n):
            counts = w * n * y
            return np.isfinite(y) & (y >= 0) & (y <= 1) & (np.abs(counts - np.round(counts)) <= _INT_TOL)

        i = _first_bad(ok, y, w, n)
        if i is not None:
            raise FitglmeError(
                f"{BINOMIAL_RESPONSE_MESSAGE} Row {i} (0-based): response {_fmt(y[i])}, "
                f"Weights {_fmt(w[i])}, BinomialSize {_fmt(n[i])}, product {_fmt(w[i] * n[i] * y[i])}.",
                "fitglme:BadResponse",
            )


def _check_positive_integers(a: np.ndarray, what: str, ident: str, dist: str) -> None:
    i = _first_bad(lambda a: np.isfinite(a) & (a >= 1) & (a == np.round(a)), a)
    if i is not None:
        extra = f" {BINOMIAL_RESPONSE_MESSAGE}" if dist == "Binomial" else ""
        raise FitglmeError(
            f"{what} for the {dist} distribution must be positive integers; row {i} (0-based) "
            f"is {_fmt(a[i])}.{extra}",
            ident,
        )


class Poisson(Distribution):
    """Poisson: V(mu) = mu; y w must be a count."""

    name = "Poisson"
    dispersion_fixed = True
    support = "{0, 1/w, 2/w, ...}"
    mu_bounds = (EPS, REALMAX)
    mustart_domain = "(0,Inf)"

    def variance(self, mu):
        return _arr(mu).copy()

    def variance_deriv(self, mu):
        return np.ones_like(_arr(mu))

    def loglik_terms(self, y, mu, weights=None, dispersion=1.0, size=None):
        """w (y log(mu) - mu - log Gamma(y + 1)) (``'lme4'``, default), or with
        ``weight_convention='matlab'`` w (y log mu - mu) + w y log w - log Gamma(w y + 1)."""
        y, mu = _arr(y), _arr(mu)
        w = _arr(1.0 if weights is None else weights)
        kernel = w * (special.xlogy(y, mu) - mu)
        if self.weight_convention == "matlab":
            return kernel + special.xlogy(w * y, w) - special.gammaln(w * y + 1.0)
        return kernel - w * special.gammaln(y + 1.0)

    def unit_deviance(self, y, mu):
        y, mu = _arr(y), _arr(mu)
        return 2.0 * (special.xlogy(y, y) - special.xlogy(y, mu) - (y - mu))

    def initial_mu(self, y, size=None):
        """y + 0.25 (MATLAB's default; glm in R uses y + 0.1)."""
        return self.clip_mu(_arr(y) + 0.25)

    def _mustart_ok(self, a):
        return (a > 0) & np.isfinite(a)

    def _check_weights(self, w):
        _check_positive_integers(w, "Weights", "fitglme:BadWeights", self.name)

    def validate_response(self, y, weights=None, size=None):
        y, w, _ = _prepare(y, weights, None)
        _check_positive_integers(w, "Weights", "fitglme:BadWeights", self.name)
        def ok(y, w):
            counts = w * y
            return np.isfinite(y) & (y >= 0) & (np.abs(counts - np.round(counts)) <= _INT_TOL)

        i = _first_bad(ok, y, w)
        if i is not None:
            why = "is negative" if y[i] < 0 else (
                "is not finite" if not np.isfinite(y[i]) else
                f"times Weights {_fmt(w[i])} is not an integer")
            raise FitglmeError(
                "For the Poisson distribution the response must be >= 0 and the product of "
                "response and 'Weights' must be an integer (permitted values "
                f"{self.support}); row {i} (0-based): response {_fmt(y[i])} {why}.",
                "fitglme:BadResponse",
            )


class Gamma(Distribution):
    """Gamma: V(mu) = mu^2; shape w/phi, scale mu phi / w."""

    name = "Gamma"
    support = "(0,Inf)"
    mu_bounds = (EPS, REALMAX)
    mustart_domain = "(0,Inf)"

    def variance(self, mu):
        return _arr(mu) ** 2

    def variance_deriv(self, mu):
        return 2.0 * _arr(mu)

    def loglik_terms(self, y, mu, weights=None, dispersion=1.0, size=None):
        """log density of Gamma(shape k = w/phi, scale mu/k) at y."""
        y, mu = _arr(y), _arr(mu)
        w = _arr(1.0 if weights is None else weights)
        k = w / float(dispersion)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (-special.gammaln(k) + special.xlogy(k, k) - special.xlogy(k, mu)
                 + special.xlogy(k - 1.0, y) - k * y / mu)
        return _where_w0(np.broadcast_to(w, t.shape), t)

    def loglik_dispersion_derivative(self, y, mu, weights=None, dispersion=1.0, size=None):
        """sum k (r - log(y/mu) - (log k - digamma(k))), k = w/phi, r = (y - mu)/mu: -k d/dk of
        the log density; log(y/mu) as log1p(r) near y = mu, as log y - log mu elsewhere (r may
        round to -1 when mu is huge)."""
        y, mu = _arr(y), _arr(mu)
        w = _arr(1.0 if weights is None else weights)
        k = w / float(dispersion)
        r = (y - mu) / mu
        with np.errstate(divide="ignore", invalid="ignore"):
            log_ratio = np.where(np.abs(r) < 0.5, np.log1p(r), np.log(y) - np.log(mu))
            t = k * ((r - log_ratio) - (np.log(k) - special.digamma(k)))
        return float(np.sum(_where_w0(np.broadcast_to(w, t.shape), t)))

    def unit_deviance(self, y, mu):
        y, mu = _arr(y), _arr(mu)
        return 2.0 * (-np.log(y / mu) + (y - mu) / mu)

    def initial_mu(self, y, size=None):
        """max(y, eps) (MATLAB)."""
        return self.clip_mu(np.maximum(_arr(y), EPS))

    def _mustart_ok(self, a):
        return (a > 0) & np.isfinite(a)

    def _response_ok(self, y):
        return y > 0


class InverseGaussian(Gamma):
    """Inverse Gaussian: V(mu) = mu^3; shape lambda = w/phi."""

    name = "InverseGaussian"

    def variance(self, mu):
        return _arr(mu) ** 3

    def variance_deriv(self, mu):
        return 3.0 * _arr(mu) ** 2

    def loglik_terms(self, y, mu, weights=None, dispersion=1.0, size=None):
        """log density of IG(mean mu, shape lambda = w/phi) at y."""
        y, mu = _arr(y), _arr(mu)
        w = _arr(1.0 if weights is None else weights)
        lam = w / float(dispersion)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (0.5 * (np.log(lam) - _LOG_2PI) - 1.5 * np.log(y)
                 - lam * (y - mu) ** 2 / (2.0 * mu**2 * y))
        return _where_w0(np.broadcast_to(w, t.shape), t)

    def loglik_dispersion_derivative(self, y, mu, weights=None, dispersion=1.0, size=None):
        """sum (lambda (y - mu)^2 / (mu^2 y) - 1) / 2, lambda = w/phi: -lambda d/dlambda of the
        log density."""
        y, mu = _arr(y), _arr(mu)
        w = _arr(1.0 if weights is None else weights)
        t = 0.5 * ((w / float(dispersion)) * (y - mu) ** 2 / (mu**2 * y) - 1.0)
        return float(np.sum(_where_w0(np.broadcast_to(w, t.shape), t)))

    def unit_deviance(self, y, mu):
        y, mu = _arr(y), _arr(mu)
        return (y - mu) ** 2 / (mu**2 * y)


_CLASSES: dict[str, type[Distribution]] = {
    "Normal": Normal,
    "Binomial": Binomial,
    "Poisson": Poisson,
    "Gamma": Gamma,
    "InverseGaussian": InverseGaussian,
}


def _match(name: Any) -> tuple[str, str]:
    """Return (canonical name, MATLAB spelling) for a Distribution value."""
    if isinstance(name, Distribution):
        return name.name, name.matlab_name
    allowed = "'Normal', 'Binomial', 'Poisson', 'Gamma', 'InverseGaussian'"
    if not isinstance(name, (str, np.str_)):
        raise FitglmeError(
            f"Distribution must be a string, one of {allowed}; got {_short(name)}.",
            "fitglme:BadDistribution",
        )
    key = str(name).strip().lower()
    for spelling, canon in _SPELLINGS:
        if key == spelling:
            return canon, spelling
    hits: dict[str, str] = {}
    for spelling, canon in _SPELLINGS:
        if key and spelling.startswith(key):
            hits.setdefault(canon, spelling)
    if len(hits) == 1:
        canon, spelling = next(iter(hits.items()))
        return canon, spelling
    if len(hits) > 1:
        raise FitglmeError(
            f"Distribution {str(name)!r} is ambiguous: it matches "
            f"{', '.join(repr(c) for c in hits)}. Allowed values: {allowed} (case-insensitive).",
            "fitglme:BadDistribution",
        )
    raise FitglmeError(
        f"Distribution must be one of {allowed} (case-insensitive; 'Gaussian' also means "
        f"Normal); got {str(name)!r}.",
        "fitglme:BadDistribution",
    )


def canonical_distribution_name(name: Any) -> str:
    """Canonical name (``'Normal'``, ...) for a Distribution value or object."""
    return _match(name)[0]


def make_distribution(name: Any, *, weight_convention: str = "lme4") -> Distribution:
    """Build the :class:`Distribution` for MATLAB's ``'Distribution'`` value.

    Parameters
    ----------
    name : str or Distribution
        ``'Normal'`` (alias ``'Gaussian'``), ``'Binomial'``, ``'Poisson'``, ``'Gamma'``,
        ``'InverseGaussian'`` (alias ``'inverse gaussian'``); case-insensitive, unambiguous
        prefixes accepted.
    weight_convention : {'lme4', 'matlab'}
        How prior weights enter the Poisson log density (see :data:`WEIGHT_CONVENTIONS`).

    Raises
    ------
    FitglmeError
        ``'fitglme:BadDistribution'`` listing the allowed values.

    Examples
    --------
    >>> make_distribution('pois').name
    'Poisson'
    """
    if isinstance(name, Distribution) and name.weight_convention == weight_convention:
        return name
    canon, spelling = _match(name)
    return _CLASSES[canon](spelling, weight_convention)
