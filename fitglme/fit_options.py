"""MATLAB's optimiser-related fitglme options and ``statset('fitglme')``.

The MATLAB face of the engine settings: validates Optimizer / OptimizerOptions, EBMethod /
EBOptions, StartMethod, CovarianceMethod, CheckHessian, UseSequentialFitting and Verbose, and
maps them onto :class:`fitglme.engine.fit.FitSettings` (documented in docs/options.md).
"""
from __future__ import annotations

from typing import Any, Mapping

from .errors import FitglmeError
from .options import as_bool, as_positive_float, as_positive_int, is_string, match_string

OPTIMIZERS = ("quasinewton", "fminsearch", "fminunc")
EB_METHODS = ("Default", "LineSearchNewton", "LineSearchModifiedNewton", "TrustRegion2D", "fsolve")
START_METHODS = ("default", "random")
COVARIANCE_METHODS = ("conditional", "JointHessian")
DISPLAY = ("off", "iter", "final")

#: statset('fitglme') defaults (MATLAB's, docs/matlab_source_notes.md item 12).
_STATSET_DEFAULTS = {
    "fitglme": {"TolFun": 1e-6, "TolX": 1e-12, "MaxIter": 10000, "MaxFunEvals": 10000, "Display": "off"},
    "eb": {"TolFun": 1e-6, "TolX": 1e-8, "MaxIter": 100, "Display": "off"},
}


def statset(name: str = "fitglme", **overrides: Any) -> dict[str, Any]:
    """Default optimiser options, like MATLAB's ``statset('fitglme')``.

    Parameters
    ----------
    name : {'fitglme', 'eb'}
        'fitglme' gives OptimizerOptions defaults; 'eb' the EBOptions defaults.
    **overrides
        Fields to change (TolFun, TolX, MaxIter, MaxFunEvals, Display).

    Examples
    --------
    >>> statset('fitglme')['MaxIter']
    10000
    >>> statset('fitglme', MaxIter=50)['MaxIter']
    50
    """
    key = str(name).lower()
    if key not in _STATSET_DEFAULTS:
        raise FitglmeError(f"statset: unknown name {name!r}; use 'fitglme' or 'eb'.", "fitglme:BadStatset")
    out = dict(_STATSET_DEFAULTS[key])
    out.update(_check_struct(overrides, f"statset('{name}')", tuple(out)))
    return out


def _check_struct(value: Any, option: str, fields: tuple[str, ...]) -> dict[str, Any]:
    """Validate an options structure (dict or object with attributes)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        if hasattr(value, "__dict__"):
            value = {k: v for k, v in vars(value).items() if not k.startswith("_")}
        else:
            raise FitglmeError(
                f"{option} must be a dict (like statset('fitglme')) with fields {', '.join(fields)}; "
                f"got {type(value).__name__}.",
                f"fitglme:Bad{option.split('(')[0]}",
            )
    out = {}
    ident = f"fitglme:Bad{option.split('(')[0]}"
    lower = {f.lower(): f for f in fields}
    for key, v in value.items():
        canon = lower.get(str(key).lower())
        if canon is None:
            raise FitglmeError(
                f"{option}: unknown field {key!r}; allowed fields: {', '.join(fields)}.",
                f"fitglme:Bad{option.split('(')[0]}",
            )
        if canon in ("TolFun", "TolX"):
            out[canon] = as_positive_float(v, f"{option}.{canon}", identifier=ident)
        elif canon in ("MaxIter", "MaxFunEvals"):
            out[canon] = as_positive_int(v, f"{option}.{canon}", identifier=ident)
        elif canon == "Display":
            out[canon] = match_string(v, DISPLAY, f"{option}.Display", identifier=ident)
    return out


#: EBMethod -> the engine's posterior-mode method (fitglme.engine.posterior_mode; docs/options.md)
EB_ENGINE_METHODS = {"Default": "newton", "auto": "newton", "LineSearchNewton": "line_search",
                     "LineSearchModifiedNewton": "modified_line_search", "TrustRegion2D": "trust_region_2d",
                     "fsolve": "dogleg"}


def posterior_mode_options(eb_method: str, eb_options: Mapping[str, Any]) -> dict[str, Any]:
    """pirls keyword arguments from a validated EBMethod and EBOptions.

    'Default' is PIRLS's Newton iteration to rounding precision; a given EBOptions.TolFun adds
    MATLAB's test for 'Default' (the relative change of the linear predictor), TolX the step-size
    test.  The other methods are the root finders of fitglme.engine.posterior_mode, stopped by
    TolFun (relative gradient norm; first-order optimality for fsolve) and TolX (step size), with
    MATLAB's EBOptions defaults 1e-6 and 1e-8.  MaxIter bounds the iterations, Display 'iter'
    or 'final' prints them (the two have the same effect, as in MATLAB).
    """
    o = eb_options
    kw: dict[str, Any] = {"method": EB_ENGINE_METHODS[eb_method], "max_iter": int(o.get("MaxIter", 100)),
                          "display": o.get("Display") in ("iter", "final")}
    if kw["method"] == "newton":
        if "TolFun" in o:
            kw["eta_tol"] = float(o["TolFun"])
        if "TolX" in o:
            kw["step_tol"] = float(o["TolX"])
    else:
        kw["grad_tol"] = float(o.get("TolFun", _STATSET_DEFAULTS["eb"]["TolFun"]))
        kw["step_tol"] = float(o.get("TolX", _STATSET_DEFAULTS["eb"]["TolX"]))
    return kw


def engine_options(opts: dict[str, Any]) -> dict[str, Any]:
    """Validated engine settings from the name-value options (only those relevant here)."""
    out: dict[str, Any] = {}
    out["optimizer"] = match_string(opts.get("Optimizer", "quasinewton"), OPTIMIZERS, "Optimizer",
                                    identifier="fitglme:BadOptimizer")
    out["optimizer_options"] = _check_struct(opts.get("OptimizerOptions"), "OptimizerOptions",
                                             tuple(_STATSET_DEFAULTS["fitglme"]))
    out["eb_method"] = match_string(opts.get("EBMethod", "Default"), EB_METHODS + ("auto",), "EBMethod",
                                    identifier="fitglme:BadEBMethod")
    out["eb_options"] = _check_struct(opts.get("EBOptions"), "EBOptions", tuple(_STATSET_DEFAULTS["eb"]))
    out["pirls_options"] = posterior_mode_options(out["eb_method"], out["eb_options"])
    out["start_method"] = match_string(opts.get("StartMethod", "default"), START_METHODS, "StartMethod",
                                       identifier="fitglme:BadStartMethod")
    out["covariance_method"] = match_string(opts.get("CovarianceMethod", "conditional"), COVARIANCE_METHODS,
                                            "CovarianceMethod", identifier="fitglme:BadCovarianceMethod")
    out["check_hessian"] = as_bool(opts.get("CheckHessian", False), "CheckHessian")
    out["sequential"] = as_bool(opts.get("UseSequentialFitting", False), "UseSequentialFitting")
    v = opts.get("Verbose", 0)
    if isinstance(v, bool) or not (isinstance(v, (int, float)) and not is_string(v) and v in (0, 1, 2)):
        raise FitglmeError(f"Verbose must be 0, 1 or 2; got {v!r}.", "fitglme:BadVerbose")
    out["verbose"] = int(v)
    return out
