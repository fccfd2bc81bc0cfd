"""``fitglme``: MATLAB's entry point, a thin layer over the Pythonic internals.

Flow: validate the table and options -> parse the formula -> build the design (X and the
random-effect blocks) -> distribution and link -> covariance patterns -> engine -> model.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from .blas import single_threaded_blas
from .covariance import CovariancePattern, make_pattern
from .design import build_design
from .design.variables import as_table
from . import engine
from .engine.blocks import NotPositiveDefinite
from .engine.layout import ReLayout, constant_rows
from .engine.pseudo_likelihood import IterationsDiverged
from .engine.pirls import GLMResponse
from .engine.problem import FitProblem
from .engine_warnings import warn_events
from .errors import FitglmeError, warn
from .family import is_canonical, make_distribution, make_link
from .diagnostics import check_fit
from .fit_options import engine_settings, warn_inert_options, warn_method_not_used
from .formula import parse_formula
from .random_streams import resolve_rng
from .options import (align_to_index, as_bool, as_vector, is_string, match_string,
                      parse_name_value, rows_of)

FIT_METHODS = ("MPL", "REMPL", "Laplace", "ApproximateLaplace")


CODINGS = ("reference", "effects", "full")

#: Every name-value option of MATLAB's fitglme (its documentation page lists these 23).
OPTION_NAMES = (
    "BinomialSize", "CheckHessian", "CovarianceMethod", "CovariancePattern", "DispersionFlag",
    "Distribution", "DummyVarCoding", "EBMethod", "EBOptions", "Exclude", "FitMethod",
    "InitPLIterations", "Link", "MuStart", "Offset", "Optimizer", "OptimizerOptions",
    "PLIterations", "PLTolerance", "StartMethod", "UseSequentialFitting", "Verbose", "Weights",
)


@dataclass
class FitRequest:
    """Validated inputs of one fit (kept by the model so that ``refit`` can reuse them)."""

    table: pd.DataFrame
    formula_text: str
    options: dict[str, Any]
    seed: Any = None  # the stream of StartMethod 'random' (fitglme.random_streams.resolve_rng)


def _vector_option(value: Any, name: str, tbl: pd.DataFrame, N: int, **checks) -> np.ndarray:
    """A per-row vector given as a vector, a scalar, or (Python convenience) a column name."""
    if is_string(value):
        if value not in tbl.columns:
            raise FitglmeError(
                f"{name}: {value!r} is not a variable of the table; give a vector of length {N} "
                f"or the name of one of the table's variables ({', '.join(map(str, tbl.columns))}).",
                f"fitglme:Bad{name}",
            )
        col = tbl[value]
        if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            raise FitglmeError(
                f"{name}: table variable {value!r} must be numeric; it has dtype {col.dtype}.",
                f"fitglme:Bad{name}",
            )
        value = col.to_numpy(dtype=float, na_value=np.nan)
    return as_vector(value, name, N, allow_scalar=True, broadcast_scalar=True,
                     identifier=f"fitglme:Bad{name}", index=tbl.index, **checks)


def fitglme(tbl: Any, formula: str, *args: Any, seed: Any = None, **kwargs: Any):
    """Fit a generalized linear mixed-effects model (MATLAB's ``fitglme``).

    Parameters
    ----------
    tbl : pandas.DataFrame or dict of equal-length columns
        The data (MATLAB's table). Never modified.
    formula : str
        Wilkinson formula, e.g. ``'defects ~ 1 + newprocess + (1|factory)'``.
    *args
        MATLAB name-value pairs, positionally: ``'Distribution', 'Poisson', 'Link', 'log'``.
    **kwargs
        The same options as keywords (``Distribution='Poisson'``). Names are case-insensitive and
        unambiguous prefixes are accepted, as in MATLAB.
    seed : None, int, numpy.random.SeedSequence or numpy.random.Generator
        Python extra (keyword only): the stream of ``StartMethod='random'``; None draws from
        numpy's global state (``np.random.seed``, MATLAB's ``rng``).

    Returns
    -------
    GeneralizedLinearMixedModel

    Notes
    -----
    The 23 name-value options (MATLAB's; names case-insensitive, unambiguous prefixes accepted;
    string values likewise; the default is listed first):

    * ``BinomialSize``: positive integers: a vector of length N, a scalar, or a column name
      (default 1; Binomial only)
    * ``CheckHessian``: False, True (or 0/1): check the Hessian at the optimum
    * ``CovarianceMethod``: 'conditional', 'JointHessian'
    * ``CovariancePattern``: 'FullCholesky' (a term with one random effect: 'Isotropic'),
      'Full', 'Diagonal', 'Isotropic', 'CompSymm', or a q-by-q logical matrix; one value, or a
      list with one per random term
    * ``DispersionFlag``: False, True: estimate the dispersion of Binomial / Poisson (MPL,
      REMPL)
    * ``Distribution``: 'Normal', 'Binomial', 'Poisson', 'Gamma', 'InverseGaussian'
    * ``DummyVarCoding``: 'reference', 'effects', 'full'
    * ``EBMethod``: 'Default', 'LineSearchNewton', 'LineSearchModifiedNewton', 'TrustRegion2D',
      'fsolve'
    * ``EBOptions``: a dict like ``statset('eb')``: TolFun, TolX, MaxIter, Display
    * ``Exclude``: a boolean mask of length N, **0-based** row positions, or a pandas Index of
      row labels (docs/migration.md, per-row vectors)
    * ``FitMethod``: 'MPL', 'REMPL', 'Laplace', 'ApproximateLaplace'
    * ``InitPLIterations``: positive integer (10)
    * ``Link``: the canonical link, 'identity', 'log', 'logit', 'probit', 'comploglog',
      'loglog', 'reciprocal', a number P (power link; 0 is log), or a dict with Link,
      Derivative, Inverse (callables), SecondDerivative, Name
    * ``MuStart``: a scalar or a vector of length N inside the mean's domain
    * ``Offset``: a vector of length N, a scalar, or a column name (default 0)
    * ``Optimizer``: 'quasinewton', 'fminsearch', 'fminunc'
    * ``OptimizerOptions``: a dict like ``statset('fitglme')``: TolFun, TolX, MaxIter,
      MaxFunEvals, Display ('off', 'iter', 'final')
    * ``PLIterations``: positive integer (100)
    * ``PLTolerance``: positive real (1e-8)
    * ``StartMethod``: 'default', 'random'
    * ``UseSequentialFitting``: False, True
    * ``Verbose``: 0, 1, 2
    * ``Weights``: nonnegative values: a vector of length N, a scalar, or a column name (default
      1; positive integers for Binomial and Poisson)

    Per-row vectors: a numpy array or list is read by position, a pandas Series is aligned on
    the table's index (a label mismatch is an error). See docs/migration.md for each option
    next to its MATLAB form.

    Examples
    --------
    >>> from fitglme import fitglme, load_example
    >>> mfr = load_example()
    >>> glme = fitglme(mfr, 'defects ~ 1 + newprocess + time_dev + temp_dev + supplier + (1|factory)',
    ...                'Distribution', 'Poisson', 'Link', 'log', 'FitMethod', 'Laplace')
    >>> glme.NumObservations
    100
    """
    from .model import GeneralizedLinearMixedModel

    table = as_table(tbl)
    names = [str(c) for c in table.columns]
    if len(set(names)) != len(names):
        repeated = sorted({n for n in names if names.count(n) > 1})
        raise FitglmeError(
            f"tbl: variable names must be unique; repeated: {', '.join(repr(n) for n in repeated)}.",
            "fitglme:BadTable",
        )
    if not is_string(formula):
        raise FitglmeError(
            f"formula must be a string such as 'y ~ x + (1|g)'; got {type(formula).__name__} {formula!r:.60}.",
            "fitglme:BadFormula",
        )
    opts = parse_name_value(args, kwargs, OPTION_NAMES, "fitglme")
    if seed is not None:
        resolve_rng(seed, "fitglme")  # checked now; used only by StartMethod 'random'
    return GeneralizedLinearMixedModel._from_fit(FitRequest(table, str(formula), opts, seed))


def run_fit(req: FitRequest, response_override: np.ndarray | None = None):
    """Validate options, build the design and run the engine; returns (design, pieces...)."""
    table, opts = req.table, req.options
    N = len(table)
    parsed = parse_formula(req.formula_text, [str(c) for c in table.columns])
    if not parsed.random:
        raise FitglmeError(
            f"formula {req.formula_text!r} has no random-effects term; a generalized linear mixed "
            "model needs at least one term such as (1|g).",
            "fitglme:NoRandomEffects",
        )
    # MATLAB's conditional log-likelihood with prior weights (e.g. Poisson: log f(w y; w mu)).
    dist = make_distribution(opts.get("Distribution", "Normal"), weight_convention="matlab")
    method = match_string(opts.get("FitMethod", "MPL"), FIT_METHODS, "FitMethod", identifier="fitglme:BadFitMethod")
    link = make_link(opts.get("Link"), dist.name, fit_method=method)
    coding = match_string(opts.get("DummyVarCoding", "reference"), CODINGS, "DummyVarCoding",
                          identifier="fitglme:BadDummyVarCoding")
    weights = _vector_option(opts.get("Weights", 1.0), "Weights", table, N, nonnegative=True)
    offset = _vector_option(opts.get("Offset", 0.0), "Offset", table, N)
    if "BinomialSize" in opts and dist.name != "Binomial":
        raise FitglmeError(
            f"BinomialSize applies only to the Binomial distribution; Distribution is {dist.name!r}.",
            "fitglme:BadBinomialSize",
        )
    size = (
        _vector_option(opts.get("BinomialSize", 1.0), "BinomialSize", table, N, positive=True, integer=True)
        if dist.name == "Binomial" else None
    )
    dflag = as_bool(opts.get("DispersionFlag", False), "DispersionFlag")
    settings = engine_settings(opts, method, dflag, req.seed)
    warn_inert_options(opts, method)

    design = build_design(table, parsed, coding, opts.get("Exclude"))
    rows = design.rows
    n, p = design.X.shape
    y = design.y if response_override is None else np.asarray(response_override, float)
    # Scalars stay read-only broadcast views and all-rows fits share the vectors (no n-copies).
    w, off = rows_of(weights, rows, N), rows_of(offset, rows, N)
    sz = None if size is None else rows_of(size, rows, N)
    dist.validate_response(y, w, sz)
    _check_sizes(design, w, method, dist, dflag)
    _check_rank(design)
    _warn_single_level(design)
    if "MuStart" in opts:
        mu_start = align_to_index(opts["MuStart"], table.index, "MuStart", identifier="fitglme:BadMuStart")
        settings = replace(settings, mu_start=dist.validate_mustart(mu_start, N)[rows])
    _check_start(settings.mu_start, dist, link, y, sz, rows)
    del rows  # recomputed on demand by design.rows
    patterns = _patterns(opts.get("CovariancePattern"), design, parsed)
    blocks = design.re_blocks
    layout = ReLayout([b.index for b in blocks], [b.nlevels for b in blocks], [b.q for b in blocks])
    resp = GLMResponse(dist, link, y, w, sz, off)
    Zs = [constant_rows(b.Z) for b in blocks]  # (random intercepts: broadcast views)
    problem = FitProblem(resp, design.X, layout, Zs, patterns, settings)
    layout = problem.layout  # (bound to the problem's numerical mode)
    try:
        with single_threaded_blas():
            result = engine.fit(problem)
    except FitglmeError:
        raise
    except (NotPositiveDefinite, np.linalg.LinAlgError, ZeroDivisionError, FloatingPointError,
            OverflowError) as exc:
        raise _numerical_failure(exc, method, dist, link, y) from exc
    warn_events(result.events)
    warn_method_not_used(opts, settings, result)
    check_fit(result, blocks, dist, y)
    return dict(
        parsed=parsed, design=design, dist=dist, link=link, method=method, coding=coding,
        weights=weights, offset=offset, size=size, dispersion_flag=dflag, settings=settings,
        patterns=patterns, layout=layout, resp=resp, result=result,
    )


def _patterns(spec: Any, design, parsed) -> list[CovariancePattern]:
    blocks = design.re_blocks
    R = len(blocks)
    labels = [f"({' + '.join(t.label() for t in rt.terms)} | {rt.group_name})" for rt in parsed.random]
    if spec is None:
        # MATLAB's default: FullCholesky, or Isotropic for a term with a single random effect.
        specs = ["Isotropic" if b.q == 1 else "FullCholesky" for b in blocks]
    elif is_string(spec) or (isinstance(spec, np.ndarray) and spec.ndim == 2 and R == 1):
        specs = [spec] * R
    elif isinstance(spec, (list, tuple)) or (isinstance(spec, np.ndarray) and spec.dtype == object):
        specs = list(spec)
        if len(specs) != R:
            raise FitglmeError(
                f"CovariancePattern: give one pattern per random-effects term; the formula has {R} "
                f"term(s) but {len(specs)} pattern(s) were given.",
                "fitglme:BadCovariancePattern",
            )
    else:
        specs = [spec] * R
    return [make_pattern(s, b.q, lab) for s, b, lab in zip(specs, blocks, labels)]


def _check_rank(design) -> None:
    """A rank-deficient fixed-effects design is an error naming the aliased columns."""
    X = design.X
    if X.shape[1] == 0:
        return
    scale = np.sqrt(np.einsum("ij,ij->j", X, X))
    scale[scale == 0] = 1.0
    # R of the column-scaled X by blocks of rows (R_k = qr([R_{k-1}; X_k])): the same triangular
    # factor up to signs, without an (n, p) copy of X or a Q.
    R = np.zeros((0, X.shape[1]))
    step = 8192
    for start in range(0, X.shape[0], step):
        R = np.linalg.qr(np.vstack([R, X[start:start + step] / scale]), mode="r")
    d = np.abs(np.diag(R))
    tol = max(X.shape) * np.finfo(float).eps * (d.max() if d.size else 1.0) * 10
    bad = np.flatnonzero(d <= tol)
    if bad.size:
        names = [design.coef_names[i] for i in bad]
        raise FitglmeError(
            "The fixed-effects design matrix is rank deficient: the column(s) "
            f"{', '.join(repr(nm) for nm in names)} are linear combinations of earlier columns. "
            "Remove the aliased terms from the formula (or check for constant or duplicated predictors).",
            "fitglme:RankDeficient",
        )


def _check_sizes(design, w: np.ndarray, method: str, dist, dflag: bool) -> None:
    """Enough observations for the parameters (observations with weight 0 carry no information)."""
    n, p = design.X.shape
    n_pos = int(np.count_nonzero(w > 0))
    if n_pos == 0:
        raise FitglmeError(
            f"Weights: every one of the {n} observations used has weight 0; at least one weight "
            "must be positive.",
            "fitglme:BadWeights",
        )
    # REMPL and an estimated dispersion need at least one residual degree of freedom.
    dispersion_estimated = (not dist.dispersion_fixed) or (dflag and method in ("MPL", "REMPL"))
    need_more = method == "REMPL" or dispersion_estimated
    if n_pos < p or (need_more and n_pos <= p):
        what = "observations" if n_pos == n else "observations with a positive weight"
        rule = (f"more {what} than coefficients (REMPL, or a dispersion parameter to estimate, "
                "needs n - p >= 1)") if need_more else f"at least as many {what} as coefficients"
        raise FitglmeError(
            f"There are {n_pos} {what} but {p} fixed-effects coefficients "
            f"({', '.join(design.coef_names[:6])}{', ...' if p > 6 else ''}); the model needs "
            f"{rule}. Remove terms from the formula or supply more data.",
            "fitglme:TooFewObservations",
        )


def _warn_single_level(design) -> None:
    """A grouping variable with one level: legal (MATLAB fits it), but its variance is not
    identifiable separately from the fixed effects."""
    for blk in design.re_blocks:
        if blk.nlevels == 1:
            warn(
                f"Grouping variable {blk.group_name!r} has a single level ({blk.level_names[0]!r}) "
                "among the observations used: its random effects are confounded with the fixed "
                "effects and their covariance is not identifiable (it is typically estimated at 0).",
                "fitglme:SingleLevelGroup",
            )


def _numerical_failure(exc: Exception, method: str, dist, link, y: np.ndarray) -> FitglmeError:
    """A clear error for a fit that broke down numerically inside the engine."""
    if isinstance(exc, IterationsDiverged):
        what = (f"the pseudo-likelihood iterations diverged (the linear predictor changed by {exc.change:.3g} "
                f"times its size at iteration {exc.iteration}, and the working weights formed from it "
                "became degenerate); a Laplace FitMethod, or a MuStart closer to the data, may converge")
    elif isinstance(exc, (NotPositiveDefinite, np.linalg.LinAlgError)):
        what = ("the penalised weighted least-squares system is not positive definite (the working "
                "weights became degenerate)")
    elif isinstance(exc, ZeroDivisionError):
        what = "a residual sum of squares or variance is exactly 0"
    else:
        what = f"{type(exc).__name__}: {exc}"
    hints = []
    ay = np.abs(y)
    if y.size and np.ptp(y) == 0:
        hints.append(f"the response is constant ({float(y[0])!r}) among the observations used")
    big = float(ay.max()) if y.size else 0.0
    if big > 1e12:
        hints.append(f"the response reaches {big:.3g}: rescale it (counts this large lose precision)")
    nz = ay[ay > 0]
    if nz.size and float(nz.max()) < 1e-100:
        hints.append(f"the response is tiny (at most {float(nz.max()):.3g}): rescale it")
    if not is_canonical(link, dist.name) and (
            link.kind in ("custom", "identity", "reciprocal", "power")
            or (dist.name == "Binomial" and link.kind == "log")):
        hints.append(f"the {link.name!r} link can take the {dist.name} mean outside its domain; try "
                     "the canonical link")
    hint = ("; ".join(hints) + ". ") if hints else ""
    return FitglmeError(
        f"The {method} fit of the {dist.name} model broke down numerically: {what}. "
        f"{hint[:1].upper() + hint[1:] if hint else ''}Other remedies: simplify the random-effects "
        "structure, check for (quasi-)separation, or try another FitMethod.",
        "fitglme:NumericalFailure",
    )


def _check_start(mu_start, dist, link, y, size, rows) -> None:
    """The starting mean (MuStart, or the distribution's default) must be in the link's domain."""
    mu0 = dist.clip_mu(dist.initial_mu(y, size) if mu_start is None else mu_start)
    with np.errstate(all="ignore"):
        eta0 = link.link(mu0)
    bad = np.flatnonzero(~np.isfinite(eta0))
    if not bad.size:
        return
    i = int(bad[0])
    where = f"row {int(rows[i])} (0-based)"
    if mu_start is not None:
        msg = (f"MuStart must lie in the domain of the {link.name!r} link; its value "
               f"{float(mu_start[i])!r} at {where} gives the linear predictor {float(eta0[i])!r}.")
    else:
        msg = (f"The default starting mean of the {dist.name} distribution is outside the domain of "
               f"the {link.name!r} link at {where}: response {float(y[i])!r} gives mu = "
               f"{float(mu0[i])!r} and the linear predictor {float(eta0[i])!r}. Give 'MuStart' "
               "with values inside the link's domain, or use another link.")
    raise FitglmeError(msg, "fitglme:BadMuStart")
