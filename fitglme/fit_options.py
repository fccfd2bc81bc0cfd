"""MATLAB's engine-related fitglme options and ``statset('fitglme')``.

The MATLAB face of the engine settings, and the one place that maps MATLAB's names onto them:
validates PLIterations, PLTolerance, InitPLIterations, Optimizer / OptimizerOptions, EBMethod /
EBOptions, StartMethod, CovarianceMethod, CheckHessian, UseSequentialFitting and Verbose, maps
them onto :class:`fitglme.engine.settings.EngineSettings` (:func:`engine_settings`, documented in
docs/options.md) and warns about the options a fit cannot use.
"""
from __future__ import annotations

from typing import Any, Mapping

from .engine.settings import EngineSettings
from .errors import FitglmeError, warn
from .options import as_bool, as_positive_float, as_positive_int, is_string, match_string
from .random_streams import resolve_rng

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


def statset(*args: Any, **fields: Any) -> dict[str, Any]:
    """Optimiser options, like MATLAB's ``statset``: a dict for OptimizerOptions or EBOptions.

    Parameters
    ----------
    *args
        ``statset('fitglme')``: fitglme's OptimizerOptions defaults; ``statset('eb')``: the
        EBOptions defaults (both may be followed by name-value pairs). ``statset('MaxIter', 500)``
        (name-value pairs only, MATLAB's most common form): only the fields given, the others
        keep their defaults where the dict is used. ``statset()``: an empty dict.
    **fields
        The same fields as keywords: TolFun, TolX (positive), MaxIter, MaxFunEvals (positive
        integers), Display ('off', 'iter', 'final'); for the many-fits methods' 'Options'
        (docs/many_fits.md) also UseParallel, UseSubstreams, Streams, NumWorkers, Client, ChunkSize,
        Progress. Names are case-insensitive. An options dict may come first (MATLAB's
        ``statset(oldopts, Name, Value)``). Each consumer reads the fields that concern it.

    Returns
    -------
    dict
        Usable as ``OptimizerOptions`` and as ``EBOptions`` (which ignores MaxFunEvals).

    Examples
    --------
    >>> statset('fitglme')['MaxIter']
    10000
    >>> statset('fitglme', MaxIter=50)['MaxIter']
    50
    >>> statset('MaxIter', 500, 'Display', 'off')
    {'MaxIter': 500, 'Display': 'off'}
    """
    args = list(args)
    out: dict[str, Any] = {}
    where = "statset"
    if args and isinstance(args[0], Mapping):  # statset(oldopts, Name, Value, ...)
        out = dict(args.pop(0))
    if len(args) % 2 == 1:
        name = args.pop(0)
        key = str(name).lower() if is_string(name) else None
        if key in {f.lower() for f in _ALL_FIELDS}:
            raise FitglmeError(
                f"statset: name-value arguments must come in pairs; the last one, {args[-1]!r}, has no "
                "value.",
                "fitglme:BadStatset",
            )
        if key not in _STATSET_DEFAULTS:
            raise FitglmeError(
                f"statset: unknown name {name!r}; use 'fitglme' or 'eb', or name-value pairs such as "
                f"statset('MaxIter', 500) (fields {', '.join(_ALL_FIELDS)}).",
                "fitglme:BadStatset",
            )
        out = dict(_STATSET_DEFAULTS[key])
        where = f"statset('{name}')"
    given: dict[str, Any] = {}
    for i in range(0, len(args), 2):
        if not is_string(args[i]):
            raise FitglmeError(
                f"statset: argument {i + 1} must be a field name ({', '.join(_ALL_FIELDS)}); got {args[i]!r}.",
                "fitglme:BadStatset",
            )
        given[str(args[i])] = args[i + 1]
    given.update(fields)
    lower = {f.lower(): f for f in PARALLEL_FIELDS}
    parallel = {lower[str(k).lower()]: v for k, v in given.items() if str(k).lower() in lower}
    given = {k: v for k, v in given.items() if str(k).lower() not in lower}
    out.update(_check_struct(given, where, _OPTIMIZER_FIELDS, ident="fitglme:BadStatset"))
    if parallel:
        from .parallel import parallel_options  # (the parallel fields' rules live with their use)

        parallel_options({**parallel, **({"Display": out["Display"]} if "Display" in out else {})}, where)
        out.update(parallel)
    return out


_OPTIMIZER_FIELDS = ("TolFun", "TolX", "MaxIter", "MaxFunEvals", "Display")
#: statset fields of the many-fits methods (fitglme/statset.py; docs/many_fits.md): MATLAB's
#: UseParallel, UseSubstreams, Streams and Python additions for the parallel backend
PARALLEL_FIELDS = ("UseParallel", "UseSubstreams", "Streams", "NumWorkers", "Client", "ChunkSize", "Progress")
_ALL_FIELDS = _OPTIMIZER_FIELDS + PARALLEL_FIELDS


def _check_struct(value: Any, option: str, fields: tuple[str, ...], ignored: tuple[str, ...] = (),
                  ident: str | None = None) -> dict[str, Any]:
    """Validate an options structure (dict or object with attributes); fields in ``ignored`` are
    accepted (a full statset struct) and dropped."""
    ident = ident or f"fitglme:Bad{option.split('(')[0]}"
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        if hasattr(value, "__dict__"):
            value = {k: v for k, v in vars(value).items() if not k.startswith("_")}
        else:
            raise FitglmeError(
                f"{option} must be a dict (like statset('fitglme')) with fields {', '.join(fields)}; "
                f"got {type(value).__name__}.",
                ident,
            )
    out = {}
    lower = {f.lower(): f for f in fields}
    skip = {f.lower() for f in ignored}
    for key, v in value.items():
        if str(key).lower() in skip:
            continue
        canon = lower.get(str(key).lower())
        if canon is None:
            raise FitglmeError(
                f"{option}: unknown field {key!r}; allowed fields: {', '.join(fields)}.",
                ident,
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
                                             tuple(_STATSET_DEFAULTS["fitglme"]), ignored=PARALLEL_FIELDS)
    out["eb_method"] = match_string(opts.get("EBMethod", "Default"), EB_METHODS + ("auto",), "EBMethod",
                                    identifier="fitglme:BadEBMethod")
    out["eb_options"] = _check_struct(opts.get("EBOptions"), "EBOptions", tuple(_STATSET_DEFAULTS["eb"]),
                                      ignored=("MaxFunEvals",) + PARALLEL_FIELDS)
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


#: CovarianceMethod -> the engine's covariance of beta (fitglme.engine.laplace)
COVARIANCE_ENGINE_METHODS = {"conditional": "conditional", "JointHessian": "joint_hessian"}


def engine_settings(opts: dict[str, Any], method: str, dispersion_flag: bool, seed: Any = None) -> EngineSettings:
    """The engine settings of a fit from its name-value options (validated here; ``method`` and
    ``dispersion_flag`` already validated; ``seed``: the stream of StartMethod 'random')."""
    pl = dict(
        pl_iterations=as_positive_int(opts.get("PLIterations", 100), "PLIterations"),
        pl_tolerance=as_positive_float(opts.get("PLTolerance", 1e-8), "PLTolerance"),
        init_pl_iterations=as_positive_int(opts.get("InitPLIterations", 10), "InitPLIterations"),
    )
    o = engine_options(opts)
    oo = o["optimizer_options"]
    return EngineSettings(
        method=method,
        dispersion_flag=dispersion_flag,
        **pl,
        verbose=o["verbose"],
        optimizer=o["optimizer"],
        optimizer_max_iter=int(oo.get("MaxIter", 10000)),
        optimizer_max_evals=int(oo.get("MaxFunEvals", 10000)),
        optimizer_trace=oo.get("Display") == "iter",
        optimizer_defaults=not oo,
        posterior_mode=o["pirls_options"],
        start_method=o["start_method"],
        # the only draw of a fit: default fits leave np.random alone
        rng=resolve_rng(seed, "fitglme") if o["start_method"] == "random" else None,
        covariance_method=COVARIANCE_ENGINE_METHODS[o["covariance_method"]],
        check_hessian=o["check_hessian"],
        sequential=o["sequential"],
    )


def warn_inert_options(opts: dict[str, Any], method: str) -> None:
    """One warning for each given option that cannot change the fit (docs/migration.md)."""
    o = engine_options(opts)
    oo = o["optimizer_options"]
    defaults = statset("fitglme")
    inert = [f"{k} = {oo[k]:g}" for k in ("TolFun", "TolX") if k in oo and oo[k] != defaults[k]]
    if inert:
        warn(
            f"OptimizerOptions.{' and '.join(inert)} cannot change the fit: every optimum is located to the "
            "engine's own criterion (the projected gradient at rounding level relative to the curvature, "
            "reached by a Newton polish after the optimizer), so the estimates do not depend on TolFun or "
            "TolX. MaxIter, MaxFunEvals and Display apply (docs/migration.md).",
            "fitglme:OptimizerToleranceNotUsed",
        )
    if method in ("MPL", "REMPL"):
        given = [name for name in ("EBMethod", "EBOptions") if name in opts]
        if given and (o["eb_method"] not in ("Default", "auto") or o["eb_options"]):
            warn(
                f"{' and '.join(given)} apply to FitMethod 'Laplace' and 'ApproximateLaplace' (the "
                f"posterior mode of the random effects); the {method} fit does not use "
                f"{'them' if len(given) > 1 else 'it'}: its random effects come from the final "
                "pseudo-data linear mixed model.",
                "fitglme:EBOptionsNotUsed",
            )


def warn_method_not_used(opts: dict[str, Any], settings: EngineSettings, result) -> None:
    """Huge Poisson counts: the posterior mode is found in reference form by Newton's method only."""
    asked = settings.posterior_mode.get("method", "newton")
    used = result.info.get("posterior_mode", {}).get("method")
    if asked != "newton" and used == "newton":
        eb_method = match_string(opts.get("EBMethod", "Default"), EB_METHODS + ("auto",), "EBMethod",
                                 identifier="fitglme:BadEBMethod")
        warn(
            f"EBMethod '{eb_method}' is not used for this fit: with Poisson counts above 1e6 the "
            "posterior mode is found by Newton's method relative to a reference fit (the cancellation-free "
            "form, docs/choices.md), to rounding precision.",
            "fitglme:EBMethodNotUsed",
        )
