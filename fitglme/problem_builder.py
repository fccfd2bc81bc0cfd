"""Pipeline stage "problem": from a validated :class:`FitRequest` to the fitted state.

``run_fit`` parses the formula, builds the design (X and the random-effect blocks), the
distribution and link, the covariance patterns and the engine's inputs, runs the engine and
returns a :class:`FitOutcome`: the model-side :class:`ModelSpec`, the engine inputs
(:class:`ProblemParts`) and the engine result.  Both :func:`fitglme.fitglme` and ``refit``
come through here (docs/internals.md); the model never imports :mod:`fitglme.api`.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from .blas import single_threaded_blas
from .covariance import CovariancePattern, make_pattern
from .design import build_design
from .design.builder import Design, on_rows
from . import engine
from .engine.blocks import NotPositiveDefinite
from .engine.layout import BLOCK_ROWS, ReLayout, constant_rows
from .engine.response import GLMResponse
from .engine.problem import FitProblem
from .engine.pseudo_likelihood import IterationsDiverged
from .engine.result import EngineResult
from .engine.settings import EngineSettings
from .engine_warnings import warn_events
from .errors import FitglmeError, warn
from .family import is_canonical, make_distribution, make_link
from .family.distributions import Distribution
from .family.links import Link
from .diagnostics import check_fit
from .fit_options import engine_settings, warn_inert_options, warn_method_not_used
from .formula import parse_formula
from .formula.terms import ParsedFormula
from .options import align_to_index, as_bool, as_vector, is_string, match_string, rows_of

FIT_METHODS = ("MPL", "REMPL", "Laplace", "ApproximateLaplace")

CODINGS = ("reference", "effects", "full")

@dataclass
class FitRequest:
    """Validated inputs of one fit (kept by the model so that ``refit`` can reuse them)."""

    table: pd.DataFrame
    formula_text: str
    options: dict[str, Any]
    seed: Any = None  # the stream of StartMethod 'random' (fitglme.random_streams.resolve_rng)


@dataclass(frozen=True, eq=False)
class ModelSpec:
    """What the model states about itself (its MATLAB properties come from these).

    Attributes
    ----------
    request : FitRequest
        The caller's table, formula and options (``refit`` reuses them).
    parsed : fitglme.formula.ParsedFormula
        The parsed formula.
    dist, link :
        The distribution and link objects (:mod:`fitglme.family`).
    method : str
        FitMethod: 'MPL', 'REMPL', 'Laplace' or 'ApproximateLaplace'.
    coding : str
        DummyVarCoding.
    weights, offset : numpy.ndarray
        Per table row (length N; scalars may be read-only broadcast views).
    size : numpy.ndarray or None
        BinomialSize per table row (None unless Binomial).
    dispersion_flag : bool
        DispersionFlag.
    """

    request: FitRequest
    parsed: ParsedFormula
    dist: Distribution
    link: Link
    method: str
    coding: str
    weights: np.ndarray
    offset: np.ndarray
    size: np.ndarray | None
    dispersion_flag: bool


@dataclass(frozen=True, eq=False)
class ProblemParts:
    """What was fitted: the design and the engine's :class:`~fitglme.engine.problem.FitProblem`
    (docs/internals.md).

    Attributes
    ----------
    design : fitglme.design.builder.Design
        X, the random-effect blocks, the used rows and the variable bookkeeping.
    engine : fitglme.engine.problem.FitProblem
        The engine's one input: response, X, layout, Zs, patterns, settings and the numerical
        mode. ``resp``, ``layout``, ``Zs``, ``patterns`` and ``settings`` are its fields.
    """

    design: Design
    engine: FitProblem

    @property
    def resp(self) -> GLMResponse:
        return self.engine.response

    @property
    def layout(self) -> ReLayout:
        return self.engine.layout

    @property
    def Zs(self) -> tuple:
        return self.engine.Zs

    @property
    def patterns(self) -> tuple:
        return self.engine.patterns

    @property
    def settings(self) -> EngineSettings:
        return self.engine.settings


@dataclass(frozen=True, eq=False)
class FitOutcome:
    """The fitted state a :class:`~fitglme.model.GeneralizedLinearMixedModel` holds
    (``glme.fit_state``): spec, engine inputs and engine result."""

    spec: ModelSpec
    problem: ProblemParts
    result: EngineResult

    def __iter__(self):
        return iter((self.spec, self.problem, self.result))


def fit_request(req: FitRequest, response_override: np.ndarray | None = None) -> FitOutcome:
    """:func:`run_fit` with one BLAS thread for the whole call, design included: a
    multi-threaded BLAS call before the fit (the rank check's QR) leaves OpenBLAS threads
    spinning into it."""
    with single_threaded_blas():
        return run_fit(req, response_override)


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


def run_fit(req: FitRequest, response_override: np.ndarray | None = None) -> FitOutcome:
    """Validate options, build the design and the problem, run the engine (the stages of
    docs/internals.md); ``response_override`` replaces the response of the used rows (refit)."""
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
    rows = design.used_rows
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
        settings = replace(settings, mu_start=on_rows(dist.validate_mustart(mu_start, N), rows))
    _check_start(settings.mu_start, dist, link, y, sz, rows)
    del rows  # recomputed on demand by design.rows
    patterns = _patterns(opts.get("CovariancePattern"), design, parsed)
    blocks = design.re_blocks
    layout = ReLayout([b.index for b in blocks], [b.nlevels for b in blocks], [b.q for b in blocks])
    resp = GLMResponse(dist, link, y, w, sz, off)
    Zs = [constant_rows(b.Z) for b in blocks]  # (random intercepts: broadcast views)
    problem = FitProblem(resp, design.X, layout, Zs, patterns, settings)
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
    spec = ModelSpec(request=req, parsed=parsed, dist=dist, link=link, method=method, coding=coding,
                     weights=weights, offset=offset, size=size, dispersion_flag=dflag)
    return FitOutcome(spec, ProblemParts(design=design, engine=problem), result)


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
    """The starting mean (MuStart, or the distribution's default) must be in the link's domain.
    Checked block by block (the mean and linear predictor of each block in cache, no n-vectors:
    docs/performance.md, "Growth in n")."""
    n = y.size
    step = BLOCK_ROWS if link.kind != "custom" else max(n, 1)  # (a custom link is applied whole)
    for r0 in range(0, n, step):
        sl = slice(r0, min(r0 + step, n))
        if mu_start is None:
            mu0 = dist.clip_mu(dist.initial_mu(y[sl], None if size is None else size[sl]))
        else:
            mu0 = dist.clip_mu(mu_start if np.ndim(mu_start) == 0 else mu_start[sl])
        with np.errstate(all="ignore"):
            eta0 = np.broadcast_to(link.link(mu0), (sl.stop - r0,))
        bad = np.flatnonzero(~np.isfinite(eta0))
        if bad.size:
            break
    else:
        return
    j = int(bad[0])
    i = r0 + j
    mu0 = np.broadcast_to(mu0, eta0.shape)
    where = f"row {int(rows[i])} (0-based)"
    if mu_start is not None:
        msg = (f"MuStart must lie in the domain of the {link.name!r} link; its value "
               f"{float(np.broadcast_to(mu_start, (n,))[i])!r} at {where} gives the linear predictor "
               f"{float(eta0[j])!r}.")
    else:
        msg = (f"The default starting mean of the {dist.name} distribution is outside the domain of "
               f"the {link.name!r} link at {where}: response {float(y[i])!r} gives mu = "
               f"{float(mu0[j])!r} and the linear predictor {float(eta0[j])!r}. Give 'MuStart' "
               "with values inside the link's domain, or use another link.")
    raise FitglmeError(msg, "fitglme:BadMuStart")
