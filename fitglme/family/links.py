"""Link functions g(mu) = eta of a generalized linear mixed model.

Every link is a :class:`Link` with vectorised ``link``, ``inverse``, ``deriv``, ``deriv2``
and ``mu_eta``. :func:`make_link` turns a MATLAB ``'Link'`` value (``None``, a name, a
numeric power, or a struct-like mapping of callables) into a :class:`Link`.

MATLAB conventions followed here (see ``docs/families.md``):

* Link names are the MATLAB ones: ``'identity'``, ``'log'``, ``'logit'``, ``'probit'``,
  ``'comploglog'`` (log(-log(1-mu))), ``'loglog'`` (log(-log(mu))), ``'reciprocal'`` (1/mu).
* A real number ``P`` is the power link mu**P, with ``P == 0`` meaning ``'log'``.  MATLAB
  calls every numeric power link ``'power'`` (the exponent is not part of the name), so the
  model display reads ``Power``; that includes the Gamma default ``-1`` and the inverse
  Gaussian default ``-2``.
* The inverse link clips eta as MATLAB's ``stattestlink`` does, so that mu stays finite and
  inside the link's range (``TINY = realmin**0.25``):

  ============  ==========================================  ==========================
  link          eta is clipped to                           so mu lies in
  ============  ==========================================  ==========================
  log           [log(TINY), -log(TINY)]                     [TINY, 1/TINY]
  logit         [log(eps), -log(eps)]                       about [eps, 1-eps]
  probit        [Phi^-1(eps), -Phi^-1(eps)]                 [eps, 1-eps]
  comploglog    [log(-log1p(-eps)), log(-log(eps))]         [eps, 1-eps]
  loglog        [log(-log1p(-eps)), log(-log(eps))]         [eps, 1-eps]
  reciprocal    [TINY, 1/TINY]                              [TINY, 1/TINY]
  power P       [TINY**min(|P|,1), its reciprocal]          positive, finite
  identity      not clipped                                 anything
  ============  ==========================================  ==========================

  ``link`` of a power link clips mu to ``[TINY**min(|1/P|,1), its reciprocal]`` first, as
  MATLAB does; the other links evaluate g(mu) as given.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from scipy import special

from ..errors import FitglmeError, warn

__all__ = [
    "Link",
    "make_link",
    "is_canonical",
    "check_distribution_link",
    "canonical_link_spec",
    "STANDARD_LINKS",
    "EPS",
    "TINY",
]

EPS: float = float(np.finfo(float).eps)
"""Machine epsilon, MATLAB's ``eps``."""

TINY: float = float(np.finfo(float).tiny) ** 0.25
"""MATLAB's ``realmin^0.25`` (about 1.2e-77): keeps fourth powers from under/overflowing."""

STANDARD_LINKS: tuple[str, ...] = (
    "identity", "log", "logit", "probit", "comploglog", "loglog", "reciprocal",
)
"""The link names MATLAB accepts as strings, in MATLAB's order."""

_WARN_PREFIX = "stats:classreg:regr:lmeutils:StandardGeneralizedLinearMixedModel:"

# eta bounds of the inverse links (MATLAB stattestlink).
_LOG_BOUNDS = (np.log(TINY), -np.log(TINY))
_LOGIT_BOUNDS = (np.log(EPS), -np.log(EPS))
_PROBIT_BOUNDS = (float(special.ndtri(EPS)), -float(special.ndtri(EPS)))
_CLOGLOG_BOUNDS = (float(np.log(-np.log1p(-EPS))), float(np.log(-np.log(EPS))))

_CANONICAL: dict[str, Any] = {
    "Normal": "identity",
    "Binomial": "logit",
    "Poisson": "log",
    "Gamma": -1.0,
    "InverseGaussian": -2.0,
}


def _arr(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=float)


def _in_place(f, x):
    """f(x) into x's own buffer (x a fresh array; 0-d input stays a scalar as f(x) gives it)."""
    return f(x) if np.ndim(x) == 0 else f(x, out=x)


class Link:
    """A link function g with its inverse and first two derivatives.

    Parameters
    ----------
    kind : str
        One of ``'identity', 'log', 'logit', 'probit', 'comploglog', 'loglog',
        'reciprocal', 'power', 'custom'``.
    power : float, optional
        The exponent of a ``'power'`` link (never 0: that is ``'log'``).
    functions : mapping, optional
        For ``'custom'``: callables ``'Link'``, ``'Derivative'``, ``'Inverse'`` and optionally
        ``'SecondDerivative'``.
    matlab_name : str, optional
        The value of MATLAB's ``Link.Name`` (defaults to ``kind``; a custom link keeps the
        ``Name`` the user gave, else ``'custom'``).

    Attributes
    ----------
    name : str
        The display name: ``matlab_name`` with its first character upper-cased, as MATLAB's
        model display prints it (``'Log'``, ``'Logit'``, ``'Power'``, ``'Custom'``).
    matlab_name : str
        MATLAB's ``Link.Name`` value (lower case for the built-in links).
    kind : str
        The family of the link (see above).
    power : float or None
        The exponent of a power link, else ``None``.

    Examples
    --------
    >>> lk = make_link('logit', 'Binomial')
    >>> float(lk.inverse(0.0))
    0.5
    >>> lk.name
    'Logit'
    """

    def __init__(
        self,
        kind: str,
        power: float | None = None,
        functions: Mapping[str, Callable[..., Any]] | None = None,
        matlab_name: str | None = None,
    ) -> None:
        if kind not in STANDARD_LINKS + ("power", "custom"):
            raise FitglmeError(f"Unknown link kind {kind!r}.", "fitglme:BadLink")
        if kind == "power" and (power is None or power == 0 or not np.isfinite(power)):
            raise FitglmeError(
                f"A power link needs a finite nonzero exponent; got {power!r}.", "fitglme:BadLink"
            )
        self.kind = kind
        self.power = float(power) if kind == "power" else None
        self._fun = dict(functions or {})
        self.matlab_name = matlab_name if matlab_name is not None else kind
        if kind == "power":
            p = self.power
            lo_mu = TINY ** min(abs(1.0 / p), 1.0)
            lo_eta = TINY ** min(abs(p), 1.0)
            self._mu_bounds = (lo_mu, 1.0 / lo_mu)
            self._eta_bounds = (lo_eta, 1.0 / lo_eta)

    # ------------------------------------------------------------------ naming
    @property
    def name(self) -> str:
        """Display name (MATLAB upper-cases the first character of ``Link.Name``)."""
        s = str(self.matlab_name)
        return s[:1].upper() + s[1:]

    @property
    def has_second_derivative(self) -> bool:
        """False only for a custom link given without ``SecondDerivative``."""
        return self.kind != "custom" or "SecondDerivative" in self._fun

    def __repr__(self) -> str:
        extra = f", power={self.power:g}" if self.kind == "power" else ""
        return f"Link({self.name!r}, kind={self.kind!r}{extra})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Link):
            return NotImplemented
        if self.kind == "custom" or other.kind == "custom":
            return self is other
        return (self.kind, self.power) == (other.kind, other.power)

    def __hash__(self) -> int:
        return hash((self.kind, self.power)) if self.kind != "custom" else id(self)

    def as_struct(self) -> dict[str, Any]:
        """MATLAB's ``Link`` struct: ``Name``, ``Link``, ``Derivative``, ``SecondDerivative``, ``Inverse``."""
        out: dict[str, Any] = {
            "Name": self.matlab_name,
            "Link": self.link,
            "Derivative": self.deriv,
            "Inverse": self.inverse,
        }
        if self.has_second_derivative:
            out["SecondDerivative"] = self.deriv2
        return out

    # ------------------------------------------------------------ evaluation
    def link(self, mu: Any) -> np.ndarray:
        """g(mu), the linear predictor for mean ``mu``."""
        mu = _arr(mu)
        k = self.kind
        with np.errstate(divide="ignore", invalid="ignore"):
            if k == "identity":
                return mu.copy()
            if k == "log":
                return np.log(mu)
            if k == "logit":
                return np.log(mu) - np.log1p(-mu)
            if k == "probit":
                return special.ndtri(mu)
            if k == "comploglog":
                return np.log(-np.log1p(-mu))
            if k == "loglog":
                return np.log(-np.log(mu))
            if k == "reciprocal":
                return 1.0 / mu
            if k == "power":
                return np.clip(mu, *self._mu_bounds) ** self.power
        return self._call("Link", mu)

    def inverse(self, eta: Any, out: np.ndarray | None = None) -> np.ndarray:
        """g^-1(eta), the mean for linear predictor ``eta`` (eta clipped as MATLAB does).

        ``out`` (optional): a buffer of eta's shape, not eta itself, that the identity, log, logit
        and probit links write the result into (the others ignore it)."""
        eta = _arr(eta)
        k = self.kind
        if k == "identity":
            if out is None:
                return eta.copy()
            np.copyto(out, eta)
            return out
        # (the clipped copy is the result's buffer: one n-vector allocated instead of two, which
        # matters above ~4e6 rows where each fresh n-vector costs page faults, docs/performance.md)
        if k == "log":
            return _in_place(np.exp, np.clip(eta, *_LOG_BOUNDS, out=out))
        if k == "logit":
            return _in_place(special.expit, np.clip(eta, *_LOGIT_BOUNDS, out=out))
        if k == "probit":
            return _in_place(special.ndtr, np.clip(eta, *_PROBIT_BOUNDS, out=out))
        if k == "comploglog":
            return -np.expm1(-np.exp(np.clip(eta, *_CLOGLOG_BOUNDS)))
        if k == "loglog":
            return np.exp(-np.exp(np.clip(eta, *_CLOGLOG_BOUNDS)))
        if k == "reciprocal":
            return 1.0 / np.clip(eta, TINY, 1.0 / TINY)
        if k == "power":
            return np.clip(eta, *self._eta_bounds) ** (1.0 / self.power)
        return self._call("Inverse", eta)

    def inverse_and_mu_eta(self, eta: Any) -> tuple[np.ndarray, np.ndarray]:
        """(g^-1(eta), dmu/deta) in one pass (the engine's hot path; same values as the two methods)."""
        eta = _arr(eta)
        k = self.kind
        if k == "log":
            mu = np.exp(np.clip(eta, *_LOG_BOUNDS))
            return mu, mu
        if k == "logit":
            e = np.clip(eta, *_LOGIT_BOUNDS)
            mu = special.expit(e)
            return mu, mu * special.expit(-e)
        if k == "identity":
            return eta.copy(), np.ones_like(eta)
        return self.inverse(eta), self.mu_eta(eta)

    def deriv(self, mu: Any) -> np.ndarray:
        """g'(mu)."""
        mu = _arr(mu)
        k = self.kind
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if k == "identity":
                return np.ones_like(mu)
            if k == "log":
                return 1.0 / mu
            if k == "logit":
                return 1.0 / (mu * (1.0 - mu))
            if k == "probit":
                return 1.0 / _npdf(special.ndtri(mu))
            if k == "comploglog":
                return -1.0 / ((1.0 - mu) * np.log1p(-mu))
            if k == "loglog":
                return 1.0 / (mu * np.log(mu))
            if k == "reciprocal":
                return -1.0 / mu**2
            if k == "power":
                return self.power * mu ** (self.power - 1.0)
        return self._call("Derivative", mu)

    def deriv2(self, mu: Any) -> np.ndarray:
        """g''(mu).

        Raises
        ------
        FitglmeError
            ``'fitglme:MustSupplySecondDerivative'`` for a custom link without
            ``SecondDerivative``.
        """
        mu = _arr(mu)
        k = self.kind
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if k == "identity":
                return np.zeros_like(mu)
            if k == "log":
                return -1.0 / mu**2
            if k == "logit":
                return (2.0 * mu - 1.0) / (mu * (1.0 - mu)) ** 2
            if k == "probit":
                z = special.ndtri(mu)
                return z / _npdf(z) ** 2
            if k == "comploglog":
                l1 = np.log1p(-mu)
                return -(1.0 + l1) / ((1.0 - mu) * l1) ** 2
            if k == "loglog":
                lm = np.log(mu)
                return -(1.0 + lm) / (mu * lm) ** 2
            if k == "reciprocal":
                return 2.0 / mu**3
            if k == "power":
                p = self.power
                return p * (p - 1.0) * mu ** (p - 2.0)
        if "SecondDerivative" not in self._fun:
            raise FitglmeError(
                "The custom Link has no 'SecondDerivative' field; it is required for "
                "FitMethod 'Laplace' and 'ApproximateLaplace' (only 'MPL' and 'REMPL' can do "
                "without it).",
                "fitglme:MustSupplySecondDerivative",
            )
        return self._call("SecondDerivative", mu)

    def mu_eta(self, eta: Any) -> np.ndarray:
        """dmu/deta = 1 / g'(g^-1(eta)), computed from eta (at the same clipped eta as ``inverse``)."""
        eta = _arr(eta)
        k = self.kind
        with np.errstate(over="ignore", under="ignore"):
            if k == "identity":
                return np.ones_like(eta)
            if k == "log":
                return np.exp(np.clip(eta, *_LOG_BOUNDS))
            if k == "logit":
                e = np.clip(eta, *_LOGIT_BOUNDS)
                return special.expit(e) * special.expit(-e)
            if k == "probit":
                return _npdf(np.clip(eta, *_PROBIT_BOUNDS))
            if k == "comploglog":
                e = np.clip(eta, *_CLOGLOG_BOUNDS)
                return np.exp(e - np.exp(e))
            if k == "loglog":
                e = np.clip(eta, *_CLOGLOG_BOUNDS)
                return -np.exp(e - np.exp(e))
            if k == "reciprocal":
                e = np.clip(eta, TINY, 1.0 / TINY)
                return -1.0 / e**2
            if k == "power":
                e = np.clip(eta, *self._eta_bounds)
                return (1.0 / self.power) * e ** (1.0 / self.power - 1.0)
        with np.errstate(divide="ignore"):
            return 1.0 / self._call("Derivative", self.inverse(eta))

    # ----------------------------------------------------------- custom link
    def _call(self, field: str, x: np.ndarray) -> np.ndarray:
        fun = self._fun[field]
        try:
            out = fun(x)
        except Exception as exc:  # the user's function failed
            raise FitglmeError(
                f"The custom Link's '{field}' function failed on an input of shape {x.shape}: "
                f"{type(exc).__name__}: {exc}",
                "fitglme:BadLink",
            ) from exc
        try:
            out = np.asarray(out, dtype=float)
        except (TypeError, ValueError):
            text = " ".join(repr(out).split())
            raise FitglmeError(
                f"The custom Link's '{field}' function must return real numbers; for an input of "
                f"shape {x.shape} it returned {text if len(text) <= 60 else text[:57] + '...'}.",
                "fitglme:BadLink",
            ) from None
        if out.shape != x.shape:
            if out.ndim == 0 or out.size == 1:
                return np.full(x.shape, float(out.reshape(-1)[0]))
            if out.size == x.size:
                return out.reshape(x.shape)
            raise FitglmeError(
                f"The custom Link's '{field}' function must return one value per element; "
                f"for an input of shape {x.shape} it returned shape {out.shape}.",
                "fitglme:BadLink",
            )
        return out


def _npdf(z: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi)


# ---------------------------------------------------------------------------
# Construction
# ---------------------------------------------------------------------------
def canonical_link_spec(distribution: str) -> str | float:
    """MATLAB's default ``'Link'`` value for a distribution (``'identity'``, ``'logit'``, ``'log'``, -1, -2)."""
    return _CANONICAL[_dist_name(distribution)]


def is_canonical(link: Link, distribution: str) -> bool:
    """True when ``link`` is the canonical link of ``distribution``.

    The reciprocal link counts as canonical for Gamma (it is the power link with P = -1).
    """
    d = _dist_name(distribution)
    if link.kind == "custom":
        return False
    spec = _CANONICAL[d]
    if isinstance(spec, str):
        return link.kind == spec
    return (link.kind == "power" and link.power == spec) or (
        spec == -1.0 and link.kind == "reciprocal"
    )


def check_distribution_link(link: Link, distribution: str) -> None:
    """Issue MATLAB's warnings for a doubtful distribution/link pair (never an error).

    MATLAB warns, and still fits, in three cases:

    1. ``BadDistLinkCombination1``: a ``'reciprocal'`` or power link (numeric ``'Link'``,
       including the Gamma/InverseGaussian defaults -1/-2), whatever the distribution: these
       links need a positive linear predictor, which the model does not enforce.
    2. ``BadDistLinkCombination2``: Binomial with ``'identity'`` or ``'log'``.
    3. ``BadDistLinkCombination3``: Poisson, Gamma or InverseGaussian with ``'identity'``.

    Every other pair (e.g. Poisson with ``'logit'``) is accepted silently, as in MATLAB.
    """
    d = _dist_name(distribution)
    name = str(link.matlab_name).lower()  # MATLAB tests Link.Name, as here
    if name in ("reciprocal", "power"):
        warn(
            "The 'Reciprocal' and 'Power' links need a nonnegative linear predictor, but the "
            f"model leaves the linear predictor unconstrained (Link is {link.name!r}"
            + (f" with P = {link.power:g}" if link.power is not None else "")
            + ").",
            _WARN_PREFIX + "BadDistLinkCombination1",
        )
    if d == "Binomial" and name in ("identity", "log"):
        warn(
            f"The {link.name!r} link can give a Binomial mean outside (0,1); the mean is "
            "clipped to [eps, 1-eps] during the fit.",
            _WARN_PREFIX + "BadDistLinkCombination2",
        )
    if d in ("Poisson", "Gamma", "InverseGaussian") and name == "identity":
        warn(
            f"The 'Identity' link can give a {d} mean that is not positive; the mean is "
            "clipped to [eps, realmax] during the fit.",
            _WARN_PREFIX + "BadDistLinkCombination3",
        )


def make_link(
    spec: Any,
    distribution: str,
    *,
    fit_method: str | None = None,
    warn_combination: bool = True,
) -> Link:
    """Build the :class:`Link` for MATLAB's ``'Link'`` name-value argument.

    Parameters
    ----------
    spec : None, str, real scalar, mapping or object
        ``None``: the canonical link of ``distribution`` (Normal identity, Binomial logit,
        Poisson log, Gamma power -1, InverseGaussian power -2).
        A string: one of :data:`STANDARD_LINKS`, case-insensitive; an unambiguous prefix is
        accepted and an exact match wins (``'log'`` is the log link, ``'logi'`` logit).
        A real number ``P``: the power link mu**P (``P == 0`` is the log link).
        A mapping (keys case-insensitive) or an object with attributes ``Link``,
        ``Derivative``, ``Inverse`` (callables) and optionally ``SecondDerivative`` and
        ``Name``.
    distribution : str
        The distribution name (anything :func:`~fitglme.family.make_distribution` accepts).
    fit_method : str, optional
        When given and not MPL/REMPL, a custom link must have ``SecondDerivative``.
    warn_combination : bool, default True
        Call :func:`check_distribution_link` (MATLAB's warnings for doubtful pairs).

    Returns
    -------
    Link

    Raises
    ------
    FitglmeError
        ``'fitglme:BadLink'`` for anything else, or a custom link that is incomplete or
        whose functions fail or return the wrong shape on a probe vector;
        ``'fitglme:MustSupplySecondDerivative'`` as described for ``fit_method``.
    """
    d = _dist_name(distribution)
    if spec is None:
        spec = _CANONICAL[d]
    if isinstance(spec, Link):
        link = spec
    elif isinstance(spec, (str, np.str_)):
        link = Link(_match_link_name(str(spec)))
    elif _is_real_scalar(spec):
        p = float(np.asarray(spec).reshape(-1)[0])
        if not np.isfinite(p):
            raise FitglmeError(
                f"Link: a numeric Link is the exponent P of the power link mu^P and must be "
                f"finite; got {p!r}.",
                "fitglme:BadLink",
            )
        link = Link("log") if p == 0 else Link("power", power=p)
    else:
        link = _make_custom(spec)
    if (
        link.kind == "custom"
        and not link.has_second_derivative
        and fit_method is not None
        and str(fit_method).lower() not in ("mpl", "rempl")
    ):
        raise FitglmeError(
            f"Link: a custom link must have a 'SecondDerivative' field when FitMethod is "
            f"{fit_method!r}; only 'MPL' and 'REMPL' can do without it.",
            "fitglme:MustSupplySecondDerivative",
        )
    if warn_combination:
        check_distribution_link(link, d)
    return link


def _is_real_scalar(x: Any) -> bool:
    if isinstance(x, (bool, np.bool_)):
        return False
    if isinstance(x, (int, float, np.integer, np.floating)):
        return True
    if isinstance(x, np.ndarray) and x.size == 1 and x.dtype.kind in "iuf":
        return True
    return False


def _match_link_name(s: str) -> str:
    key = s.strip().lower()
    if key in STANDARD_LINKS:
        return key
    hits = [n for n in STANDARD_LINKS if key and n.startswith(key)]
    if len(hits) == 1:
        return hits[0]
    allowed = ", ".join(repr(n) for n in STANDARD_LINKS)
    if len(hits) > 1:
        raise FitglmeError(
            f"Link: {s!r} is ambiguous; it matches {', '.join(repr(h) for h in hits)}. "
            f"Allowed names: {allowed}, a real number P (power link mu^P), or a struct with "
            "fields Link, Derivative, SecondDerivative, Inverse.",
            "fitglme:BadLink",
        )
    raise FitglmeError(
        f"Link: unknown link {s!r}. Allowed names: {allowed}, a real number P (power link "
        "mu^P), or a struct with fields Link, Derivative, SecondDerivative, Inverse.",
        "fitglme:BadLink",
    )


_CUSTOM_FIELDS = ("Link", "Derivative", "SecondDerivative", "Inverse", "Name")


def _make_custom(spec: Any) -> Link:
    if isinstance(spec, Mapping):
        lower = {}
        for k, v in spec.items():
            if not isinstance(k, str):
                raise FitglmeError(
                    f"Link: the keys of a custom link must be field names; got {k!r}.",
                    "fitglme:BadLink",
                )
            lower[k.lower()] = v
        fields = {f: lower[f.lower()] for f in _CUSTOM_FIELDS if f.lower() in lower}
        unknown = sorted(set(lower) - {f.lower() for f in _CUSTOM_FIELDS})
        if unknown:
            raise FitglmeError(
                f"Link: unknown field(s) {unknown} in the custom link; allowed fields are "
                "Link, Derivative, SecondDerivative (optional), Inverse and Name (optional).",
                "fitglme:BadLink",
            )
    elif any(hasattr(spec, f) for f in ("Link", "Derivative", "Inverse")):
        fields = {f: getattr(spec, f) for f in _CUSTOM_FIELDS if hasattr(spec, f)}
    else:
        text = repr(spec)
        text = text if len(text) <= 60 else text[:57] + "..."
        raise FitglmeError(
            f"Link must be one of {', '.join(repr(n) for n in STANDARD_LINKS)}, a real number P "
            "(power link mu^P), or a struct/dict with fields Link, Derivative, "
            f"SecondDerivative, Inverse (callables); got {text}.",
            "fitglme:BadLink",
        )
    for f in ("Link", "Derivative", "Inverse"):
        if f not in fields:
            raise FitglmeError(
                f"Link: the custom link has no '{f}' field; it needs 'Link', 'Derivative' and "
                "'Inverse' (and 'SecondDerivative' for Laplace fits).",
                "fitglme:BadLink",
            )
    for f in ("Link", "Derivative", "SecondDerivative", "Inverse"):
        if f in fields and not callable(fields[f]):
            raise FitglmeError(
                f"Link: the custom link's '{f}' field must be a callable; got "
                f"{type(fields[f]).__name__}.",
                "fitglme:BadLink",
            )
    name = fields.pop("Name", None)
    if name is not None and not isinstance(name, (str, np.str_)):
        raise FitglmeError(
            f"Link: the custom link's 'Name' field must be a string; got {name!r}.",
            "fitglme:BadLink",
        )
    link = Link("custom", functions=fields, matlab_name=str(name) if name is not None else "custom")
    # Probe every callable on a vector inside every standard link's domain.
    probe = np.array([0.2, 0.35, 0.5, 0.65, 0.8])
    eta = _finite_on_probe(link.link(probe), "Link", probe)
    _finite_on_probe(link.deriv(probe), "Derivative", probe)
    if link.has_second_derivative:
        _finite_on_probe(link.deriv2(probe), "SecondDerivative", probe)
    _finite_on_probe(link.inverse(eta), "Inverse", eta)
    return link


def _finite_on_probe(values: np.ndarray, field: str, x: np.ndarray) -> np.ndarray:
    """A custom link function must give finite values inside every standard link's domain."""
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        i = int(bad[0])
        raise FitglmeError(
            f"Link: the custom link's '{field}' function returned {float(values[i])!r} for the input "
            f"{float(x[i])!r}; it must return finite values (checked at mu = 0.2, 0.35, 0.5, "
            "0.65, 0.8 and at Link(mu) for Inverse).",
            "fitglme:BadLink",
        )
    return values


def _dist_name(distribution: str) -> str:
    from .distributions import canonical_distribution_name

    return canonical_distribution_name(distribution)
