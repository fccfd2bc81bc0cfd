"""``coefCI``, ``coefTest``, ``anova`` and ``compare`` (MATLAB's GLME methods).

Rules (docs/methods_inference.md has the evidence):

* F-tests (``coefTest``, ``anova``): H is first reduced to linearly independent rows (MATLAB's
  ``fullrankH``; an inconsistent H beta = C is an error); F = (L theta - C)' (L V L')^-1
  (L theta - C) / r with r the number of kept rows (DF1); DF2 = n - p ('residual') or Inf
  ('none'); p = upper tail of F(DF1, DF2), i.e. of chi2(DF1) / DF1 when DF2 is Inf.  V is the
  conditional covariance of beta, or with ``REContrast`` the joint covariance of (beta, b - b)
  from the inverse of the full (u, beta) system (the one behind SEPred).
* ``compare``: the theoretical likelihood-ratio test of MATLAB's ``standardLRT``; the models are
  swapped (with a warning) when the second has fewer parameters and no higher log-likelihood;
  the larger model must not have the smaller log-likelihood; log-likelihoods that differ by less
  than :func:`loglik_tolerance` are equal (docs/choices.md); ``CheckNesting=True`` adds MATLAB's
  nesting checks (same FitMethod other than REMPL, distribution, link, weights, response,
  nested X and Z spans).  PL fits of a non-Normal model are compared with a warning: their
  log-likelihoods are those of pseudo-data (MATLAB's documentation: they cannot be compared).
"""
from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import numpy as np
import scipy.sparse as sp
from pandas.api.types import is_numeric_dtype
from scipy import stats as sps
from scipy.linalg import qr

from ..display.dataset import Column, render_dataset
from ..display.tables import MatlabDataset
from ..errors import FitglmeError, warn
from ..options import as_bool, is_string
from ..outputs import with_outputs
from .effects import (
    b_to_u, check_alpha, check_dfmethod, dataset, dof, fixedEffects, joint_factor, joint_solve,
    parse_options, randomEffects,
)

__all__ = ["HypothesisMethods", "coefCI", "coefTest", "anova", "compare"]


class CoefCI(NamedTuple):
    """Output of :func:`coefCI`: fixed-effects (p x 2) and random-effects (Q x 2) intervals."""

    feCI: np.ndarray
    reCI: np.ndarray


class CoefTest(NamedTuple):
    """Output of :func:`coefTest` (MATLAB's ``[pVal, F, DF1, DF2]``)."""

    pVal: float
    F: float
    DF1: float
    DF2: float


# ---------------------------------------------------------------------------------------------
def coefCI(glme, *args, **kwargs) -> np.ndarray:
    """Confidence intervals for the fixed and random effects.

    Parameters
    ----------
    glme : GeneralizedLinearMixedModel
    *args, **kwargs : name-value options
        ``Alpha`` (0.05) and ``DFMethod`` (``'residual'`` or ``'none'``).

    Returns
    -------
    numpy.ndarray
        The first output, which unpacks into all of them (``feCI, reCI = ...``);
        they are also attributes (``.reCI``), and ``.outputs`` is the ``CoefCI``
        NamedTuple (docs/migration.md, "One output or several").
        ``feCI`` (p x 2): Estimate -/+ tinv(1 - Alpha/2, DF) SE; ``reCI`` (Q x 2): the same
        with the EBPs and their SEPred (see :func:`randomEffects`).

    Examples
    --------
    >>> from fitglme import fitglme, load_example
    >>> glme = fitglme(load_example(), 'defects ~ 1 + newprocess + (1|factory)', Distribution='Poisson')
    >>> feCI, reCI = glme.coefCI(Alpha=0.01)
    >>> feCI.shape, reCI.shape
    ((2, 2), (20, 2))
    """
    where = "coefCI"
    opts = parse_options(args, kwargs, ("Alpha", "DFMethod"), where)
    alpha = check_alpha(opts.get("Alpha", 0.05), where)
    dfm = check_dfmethod(opts.get("DFMethod", "residual"), where)
    fe = fixedEffects(glme, Alpha=alpha, DFMethod=dfm).stats
    re = randomEffects(glme, Alpha=alpha, DFMethod=dfm).stats
    record = CoefCI(fe[["Lower", "Upper"]].to_numpy(float), re[["Lower", "Upper"]].to_numpy(float))
    return with_outputs(record, where)


# ---------------------------------------------------------------------------------------------
def _matrix(value: Any, name: str, ncol: int, what: str) -> np.ndarray:
    """A finite real matrix with ``ncol`` columns (a 1-D vector of length ncol is one row)."""
    if is_string(value) or value is None or isinstance(value, (dict, set)):
        raise FitglmeError(f"coefTest: {name} must be {what}; got {value!r}.", f"fitglme:Bad{name}")
    try:
        arr = np.asarray(value)
    except Exception:  # pragma: no cover - exotic inputs
        raise FitglmeError(f"coefTest: {name} must be {what}; got {value!r}.", f"fitglme:Bad{name}") from None
    if arr.dtype.kind not in "biuf" or arr.ndim > 2:
        raise FitglmeError(f"coefTest: {name} must be {what}; got {_short(value)}.", f"fitglme:Bad{name}")
    arr = np.array(arr, dtype=float, ndmin=2)
    if arr.shape[1] != ncol:
        raise FitglmeError(
            f"coefTest: {name} must be {what}; got an array of shape {np.shape(value)}.",
            f"fitglme:Bad{name}")
    if not np.all(np.isfinite(arr)):
        raise FitglmeError(f"coefTest: {name} must contain finite numbers only (no NaN or Inf).",
                           f"fitglme:Bad{name}")
    return arr


def _is_empty(value: Any) -> bool:
    try:
        return np.size(value) == 0
    except (TypeError, ValueError):  # ragged nesting: not empty, rejected by _matrix
        return False


def _short(value: Any) -> str:
    text = " ".join(repr(value).split())
    return text if len(text) <= 60 else text[:57] + "..."


def _test_value(value: Any, m: int) -> np.ndarray:
    what = f"a numeric vector with {m} element(s), one per row of H"
    if is_string(value) or isinstance(value, (dict, set)):
        raise FitglmeError(f"coefTest: C must be {what}; got {value!r}.", "fitglme:BadC")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):  # ragged nesting
        raise FitglmeError(f"coefTest: C must be {what}; got {_short(value)}.", "fitglme:BadC") from None
    if arr.dtype.kind not in "biuf" or (arr.ndim == 2 and min(arr.shape) != 1) or arr.ndim > 2:
        raise FitglmeError(f"coefTest: C must be {what}; got {_short(value)}.", "fitglme:BadC")
    arr = np.asarray(arr, dtype=float).reshape(-1)
    if arr.size != m:
        raise FitglmeError(f"coefTest: C must be {what}; got {arr.size} element(s).", "fitglme:BadC")
    if not np.all(np.isfinite(arr)):
        raise FitglmeError("coefTest: C must contain finite numbers only (no NaN or Inf).", "fitglme:BadC")
    return arr


def _full_rank(L: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB's ``fullrankH``: keep linearly independent rows of L; L theta = c must be consistent."""
    _, r, e = qr(L.T, mode="economic", pivoting=True)
    tol = np.spacing(np.linalg.norm(L, 2)) ** 0.75
    d = np.abs(np.diag(r))
    rank = int(np.sum(d > max(L.shape) * tol * (d[0] if d.size else 0.0)))
    keep = np.sort(e[: max(1, rank)])
    sol = np.linalg.lstsq(L[keep], c[keep], rcond=None)[0]
    if not np.all(np.abs(L @ sol - c) < tol):
        raise FitglmeError(
            "coefTest: the hypothesis is inconsistent: some rows of the contrast are linear "
            "combinations of others but their hypothesised values C do not match. Remove the "
            "redundant rows or make C consistent.", "fitglme:BadHypothesisMatrix")
    return L[keep], c[keep]


def _f_test(est: np.ndarray, V: np.ndarray | None, L: np.ndarray, c: np.ndarray, df2: float,
            cov_of=None) -> CoefTest:
    """F-test of L theta = c with Cov(theta) = V (or ``cov_of(L)`` giving L V L')."""
    if L.shape[0] == 0:
        return CoefTest(np.nan, np.nan, np.nan, np.nan)
    L, c = _full_rank(L, c)
    r = L.shape[0]
    delta = L @ est - c
    LVL = cov_of(L) if cov_of is not None else L @ V @ L.T
    try:
        F = float(delta @ np.linalg.solve(LVL, delta)) / r
    except np.linalg.LinAlgError:
        F = float(delta @ np.linalg.pinv(LVL) @ delta) / r
    if np.isinf(df2):
        p = float(sps.chi2.sf(F * r, r))
    else:
        p = float(sps.f.sf(F, r, df2))
    return CoefTest(p, F, float(r), float(df2))


def _joint_cov(glme, L: np.ndarray) -> np.ndarray:
    """L V L' for L = [H K] acting on (beta, b), V the joint covariance from the full system."""
    p = glme.NumCoefficients
    H, K = L[:, :p], L[:, p:]
    Ru = b_to_u(glme, K.T)
    Rb = H.T.copy()
    Xu, Xb = joint_solve(joint_factor(glme), Ru, Rb)
    out = Ru.T @ Xu + Rb.T @ Xb
    return 0.5 * (out + out.T)


def _default_H(glme) -> np.ndarray:
    """Every coefficient except the intercept (when the model has an intercept term)."""
    p = glme.NumCoefficients
    keep = np.ones(p, dtype=bool)
    for label, cols in zip(glme._design.term_labels, glme._design.term_columns):
        if label == "(Intercept)":
            keep[cols] = False
    return np.eye(p)[keep]


def coefTest(glme, H=None, C=None, *args, **kwargs) -> float:
    """F-test of linear hypotheses on the fixed (and random) effects.

    H0: ``H beta = C``, or with ``REContrast=K``: ``H beta + K B = C``.

    Parameters
    ----------
    glme : GeneralizedLinearMixedModel
    H : array_like (m x p), optional
        Fixed-effects contrasts; default: every coefficient except the intercept.  A 1-D
        vector of length p is one row.
    C : array_like (m,), optional
        Hypothesised values (zeros by default).
    *args, **kwargs : name-value options
        ``DFMethod`` (``'residual'``: DF2 = n - p, or ``'none'``: DF2 = Inf) and
        ``REContrast`` (K, m x Q, in the order of ``randomEffects``).  The name-value list may
        also start in place of H or C: ``coefTest(glme, H, 'DFMethod', 'none')``.

    Returns
    -------
    float
        The first output, which unpacks into all of them (``pVal, F, DF1, DF2 = ...``);
        they are also attributes (``.F``), and ``.outputs`` is the ``CoefTest``
        NamedTuple (docs/migration.md, "One output or several").
        ``pVal``, ``F``, ``DF1`` (rank of the contrast), ``DF2``.  All NaN when the contrast
        is empty (e.g. the default H of an intercept-only model).

    Examples
    --------
    >>> from fitglme import fitglme, load_example
    >>> glme = fitglme(load_example(), 'defects ~ 1 + newprocess + (1|factory)', Distribution='Poisson')
    >>> res = glme.coefTest([[0, 1]], [0], 'DFMethod', 'none')
    >>> res.DF1, res.DF2
    (1.0, inf)
    """
    where = "coefTest"
    if is_string(H):
        args, H, C = (H, C) + tuple(args), None, None
    elif is_string(C):
        args, C = (C,) + tuple(args), None
    opts = parse_options(args, kwargs, ("DFMethod", "REContrast"), where)
    dfm = check_dfmethod(opts.get("DFMethod", "residual"), where)
    p = glme.NumCoefficients
    H = _default_H(glme) if H is None else _matrix(H, "H", p, f"a numeric matrix with {p} columns "
                                                       "(one per fixed-effects coefficient)")
    m = H.shape[0]
    C = np.zeros(m) if C is None else _test_value(C, m)
    df2 = dof(glme, dfm)
    K = opts.get("REContrast")
    if K is None or (not is_string(K) and _is_empty(K)):
        record = _f_test(np.asarray(glme._result.beta, float), glme._result.cov_beta, H, C, df2)
        return with_outputs(record, where)
    Q = int(glme._layout.Q)
    K = _matrix(K, "REContrast", Q, f"a numeric {m}-by-{Q} matrix (one row per row of H, one "
                                     "column per random effect)")
    if K.shape[0] != m:
        raise FitglmeError(
            f"coefTest: REContrast must be a numeric {m}-by-{Q} matrix (one row per row of H); got "
            f"{K.shape[0]} row(s).", "fitglme:BadREContrast")
    est = np.concatenate([np.asarray(glme._result.beta, float), np.asarray(glme._result.b, float)])
    return with_outputs(_f_test(est, None, np.hstack([H, K]), C, df2, cov_of=lambda L: _joint_cov(glme, L)),
                        where)


# ---------------------------------------------------------------------------------------------
def anova(glme, *args, **kwargs) -> MatlabDataset:
    """Marginal F-tests that all coefficients of each fixed-effects term are zero.

    Parameters
    ----------
    glme : GeneralizedLinearMixedModel
    *args, **kwargs : name-value options
        ``DFMethod`` (``'residual'`` or ``'none'``).

    Returns
    -------
    MatlabDataset
        One row per fixed-effects term ('(Intercept)' included): Term, FStat, DF1, DF2,
        pValue; titled ``ANOVA marginal tests: DFMethod = 'residual'``.  A categorical term is
        tested jointly over its columns; a one-column term has FStat = tStat^2.

    Examples
    --------
    >>> from fitglme import fitglme, load_example
    >>> glme = fitglme(load_example(), 'defects ~ 1 + newprocess + supplier + (1|factory)', Distribution='Poisson')
    >>> list(glme.anova()['DF1'])
    [1.0, 1.0, 2.0]
    """
    where = "anova"
    opts = parse_options(args, kwargs, ("DFMethod",), where)
    dfm = check_dfmethod(opts.get("DFMethod", "residual"), where)
    p = glme.NumCoefficients
    beta = np.asarray(glme._result.beta, float)
    V = glme._result.cov_beta
    df2 = dof(glme, dfm)
    eye = np.eye(p)
    res = [_f_test(beta, V, eye[cols], np.zeros(len(cols)), df2) for cols in glme._design.term_columns]
    data = {"Term": list(glme._design.term_labels), "FStat": [r.F for r in res],
            "DF1": [r.DF1 for r in res], "DF2": [r.DF2 for r in res], "pValue": [r.pVal for r in res]}
    return dataset(glme, data, f"ANOVA marginal tests: DFMethod = '{dfm}'", ("Term",))


# ---------------------------------------------------------------------------------------------
class LRTDataset(MatlabDataset):
    """The ``compare`` table: a MatlabDataset whose first-row LRStat/deltaDF/pValue cells are
    absent (printed blank, as MATLAB's ``DoubleTableColumn`` with an absent mask); the values
    stored there are NaN."""

    _metadata = MatlabDataset._metadata + ["blank_cells"]

    def __init__(self, *args, blank_cells: dict | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.blank_cells = dict(blank_cells or {})

    def render(self, style: str | None = None, width: int | None = None) -> str:
        cols = []
        for name in self.columns:
            values = self[name].tolist()
            blank = self.blank_cells.get(name, ())
            values = [None if i in blank else v for i, v in enumerate(values)]
            if name in self.text_columns:
                kind = "text"
            elif not is_numeric_dtype(self[name].dtype):  # object or pandas 'str' dtype
                kind = "plain"
            else:
                kind = "number"
            cols.append(Column(str(name), values, kind))
        return render_dataset(cols, title=self.title, style=style or self.display_style,
                              width=width or self.display_width)


def _lrt_pvalue(lr: float, ddf: float) -> float:
    """MATLAB's ``1 - chi2cdf(LR, deltaDF)``; chi2cdf is NaN for deltaDF <= 0."""
    if not ddf > 0:
        return np.nan
    return float(1.0 - sps.chi2.cdf(lr, ddf))


def _effective_weights(glme) -> np.ndarray:
    return np.asarray(glme._resp.pw, float)


def _sparse_Z(glme) -> sp.csr_matrix:
    """The n x Q random-effects design (MATLAB's order), built without loops over rows or levels."""
    lay = glme._layout
    mats = []
    for k, blk in enumerate(glme._design.re_blocks):
        n, q = blk.Z.shape
        cols = blk.index[:, None] * q + np.arange(q)[None, :]
        mats.append(sp.csr_matrix((blk.Z.ravel(), (np.repeat(np.arange(n), q), cols.ravel())),
                                  shape=(n, lay.nlevels[k] * q)))
    return sp.hstack(mats, format="csr")


def _is_nested(small, big, dense_limit: float = 5e6) -> bool:
    """MATLAB's ``isMatrixNested``: the columns of ``small`` lie in the span of ``big``
    (dense least squares up to ``dense_limit`` elements of ``big``, else via its Gram matrix)."""
    n = big.shape[0]
    if small.shape[1] == 0:
        return True
    if sp.issparse(big) and n * big.shape[1] > dense_limit:
        G = (big.T @ big).toarray()
        w, U = np.linalg.eigh(G)
        keep = w > w.max() * big.shape[1] * np.finfo(float).eps
        coef = (U[:, keep] / w[keep]) @ (U[:, keep].T @ np.asarray((big.T @ small).todense()))
        err = np.abs(np.asarray(small.todense()) - big @ coef).max()
    else:
        Bd = big.toarray() if sp.issparse(big) else np.asarray(big, float)
        Sd = small.toarray() if sp.issparse(small) else np.asarray(small, float)
        coef = np.linalg.lstsq(Bd, Sd, rcond=None)[0]
        err = np.abs(Sd - Bd @ coef).max()
    return bool(err <= np.sqrt(np.finfo(float).eps) * max(big.shape))


def _check_nesting(small, big, sname: str, bname: str) -> None:
    """MATLAB's ``checkNestingRequirement`` (CheckNesting=true)."""
    def fail(what, ident):
        raise FitglmeError(f"compare: CheckNesting failed: {what}", f"fitglme:NestingCheck_{ident}")

    if small._method != big._method or small._method == "REMPL":
        fail(f"both models must be fitted with the same FitMethod, other than 'REMPL' (models "
             f"fitted by REML pseudo-likelihood cannot be compared by a likelihood ratio test); "
             f"{sname} uses '{small._method}' and {bname} uses '{big._method}'.", "fitmethod")
    if small.Distribution.lower() != big.Distribution.lower():
        fail(f"both models must have the same Distribution; {sname} is '{small.Distribution}' and "
             f"{bname} is '{big.Distribution}'.", "distribution")
    if small._link.name != big._link.name:
        fail(f"both models must have the same Link; {sname} uses '{small._link.name}' and {bname} "
             f"uses '{big._link.name}'.", "link")
    ws, wb = _effective_weights(small), _effective_weights(big)
    if ws.shape != wb.shape:
        fail(f"both models must be fitted to the same observations; {sname} uses {ws.size} and "
             f"{bname} uses {wb.size}.", "weights")
    if np.max(np.abs(ws - wb), initial=0.0) > np.sqrt(np.finfo(float).eps):
        fail(f"both models must have the same effective observation weights (Weights times "
             f"BinomialSize); {sname} and {bname} differ.", "weights")
    if not np.array_equal(small._resp.y, big._resp.y, equal_nan=True):
        fail(f"both models must be fitted to the same response vector; {sname} and {bname} differ.",
             "response")
    if big.LogLikelihood < small.LogLikelihood - loglik_tolerance(small, big):
        fail(f"the log-likelihood of {bname} ({big.LogLikelihood:.10g}) must be at least that of "
             f"{sname} ({small.LogLikelihood:.10g}).", "loglik")
    if not _is_nested(small._design.X, big._design.X):
        fail(f"the fixed-effects design matrix of {sname} must lie in the column span of that of "
             f"{bname}.", "nestedspanX")
    if not _is_nested(_sparse_Z(small), _sparse_Z(big)):
        fail(f"the random-effects design matrix of {sname} must lie in the column span of that of "
             f"{bname}.", "nestedspanZ")


def loglik_tolerance(small, big) -> float:
    """Log-likelihood differences up to this are equality in ``compare`` (docs/choices.md).

    ``max(|LL_small|, |LL_big|, 1) * max(sqrt(eps), PLTolerance of the MPL/REMPL fits)``: the
    log-likelihood is a sum whose rounding is ~eps |LL| (Laplace fits whose added variance is
    estimated at 0 differ by 1-2 eps |LL|), and a PL fit's pseudo-data log-likelihood is only
    determined to the PL iterations' relative tolerance (such pairs differ by up to ~1e-9 |LL|
    under the default PLTolerance 1e-8).  LRStat = 2 * tolerance is no evidence for either model.
    """
    rel = float(np.sqrt(np.finfo(float).eps))
    for m in (small, big):
        if m._method in ("MPL", "REMPL"):
            rel = max(rel, float(m._settings.pl_tolerance))
    return rel * max(abs(small.LogLikelihood), abs(big.LogLikelihood), 1.0)


def _warn_pseudo_data(small, big, sname: str, bname: str) -> None:
    """MATLAB's documentation: non-Normal models fitted by MPL or REMPL cannot be compared by a
    likelihood ratio test (its code warns, under CheckNesting, ``LRTUsingPseudoData``)."""
    pl = [m._method for m in (small, big) if m._method in ("MPL", "REMPL")]
    normal_identity = all(m.Distribution.lower() == "normal" and m._link.name.lower() == "identity"
                          for m in (small, big))
    if pl and not normal_identity:
        warn(f"compare: {sname} and {bname} are {' and '.join(sorted(set(pl)))} fits of a non-Normal "
             "model; their log-likelihoods are those of the pseudo-data linear mixed models, so the "
             "likelihood ratio test compares pseudo-data fits (refit both with FitMethod 'Laplace' or "
             "'ApproximateLaplace' for a test on the GLME likelihood).",
             "fitglme:LRTUsingPseudoData", stacklevel=4)


def _model_names(names: Any) -> tuple[str, str]:
    ok = (isinstance(names, (list, tuple)) and len(names) == 2 and all(is_string(n) for n in names))
    if not ok:
        raise FitglmeError(
            f"compare: names must be a pair of strings (name of glme, name of altglme) used in the "
            f"Model column; got {_short(names)}.", "fitglme:BadNames")
    return str(names[0]), str(names[1])


def compare(glme, altglme, *args, names: Sequence[str] = ("glme", "altglme"), **kwargs) -> LRTDataset:
    """Theoretical likelihood ratio test of two nested models (the smaller one first).

    Parameters
    ----------
    glme, altglme : GeneralizedLinearMixedModel
        ``glme`` must be nested in ``altglme``.
    *args, **kwargs : name-value options
        ``CheckNesting`` (False): check MATLAB's nesting requirements and raise when one fails.
    names : pair of str, keyword-only
        Names of the two models in the ``Model`` column (MATLAB shows the argument variable
        names); default ``('glme', 'altglme')``.

    Returns
    -------
    LRTDataset
        Titled ``Theoretical Likelihood Ratio Test``: Model, DF (number of parameters as in
        AIC), AIC, BIC, LogLik, LRStat = 2 (LogLik_alt - LogLik), deltaDF = DF_alt - DF,
        pValue = 1 - chi2cdf(LRStat, deltaDF) (NaN when deltaDF <= 0).  The first row's
        LRStat, deltaDF and pValue are NaN and print blank.

    Raises
    ------
    FitglmeError
        When an argument is not a model, when the larger model has the smaller
        log-likelihood by more than :func:`loglik_tolerance` (smaller differences are
        rounding and count as equality; LRStat is then ~0 and pValue 1), or (CheckNesting)
        when a nesting requirement fails.

    Warns
    -----
    FitglmeWarning
        ``fitglme:LRTUsingPseudoData`` when a model is an MPL or REMPL fit of a non-Normal
        model (MATLAB's documentation: such fits cannot be compared by a likelihood ratio
        test); ``fitglme:NestingCheck_modelswap`` when the models are swapped.

    Examples
    --------
    >>> from fitglme import fitglme, load_example
    >>> tbl = load_example()
    >>> small = fitglme(tbl, 'defects ~ 1 + (1|factory)', Distribution='Poisson', FitMethod='Laplace')
    >>> big = fitglme(tbl, 'defects ~ 1 + newprocess + (1|factory)', Distribution='Poisson', FitMethod='Laplace')
    >>> res = compare(small, big, names=('small', 'big'))
    >>> list(res['Model']), int(res['deltaDF'].iloc[1])
    (['small', 'big'], 1)
    """
    from ..model import GeneralizedLinearMixedModel

    where = "compare"
    for obj, label in ((glme, "glme"), (altglme, "altglme")):
        if not isinstance(obj, GeneralizedLinearMixedModel):
            raise FitglmeError(f"compare: {label} must be a GeneralizedLinearMixedModel; got "
                               f"{type(obj).__name__}.", "fitglme:BadClass")
    opts = parse_options(args, kwargs, ("CheckNesting",), where)
    check = as_bool(opts.get("CheckNesting", False), "compare: CheckNesting",
                    identifier="fitglme:BadCheckNesting")
    sname, bname = _model_names(names)
    small, big = glme, altglme
    tol = loglik_tolerance(small, big)
    if big._num_parameters < small._num_parameters and big.LogLikelihood <= small.LogLikelihood + tol:
        warn(f"compare: {bname} has fewer parameters than {sname} and no higher log-likelihood, so "
             f"{bname} is taken as the smaller (null) model: the models are swapped.",
             "fitglme:NestingCheck_modelswap", stacklevel=3)
        small, big, sname, bname = big, small, bname, sname
    if big.LogLikelihood < small.LogLikelihood - tol:
        raise FitglmeError(
            f"compare: the log-likelihood of {bname} ({big.LogLikelihood:.10g}) is smaller than that "
            f"of {sname} ({small.LogLikelihood:.10g}) by {small.LogLikelihood - big.LogLikelihood:.3g}, "
            f"more than the rounding tolerance {tol:.3g}; the second model must be the larger one, "
            f"with {sname} nested in it.", "fitglme:NestingCheck_loglik")
    if check:
        _check_nesting(small, big, sname, bname)
    _warn_pseudo_data(small, big, sname, bname)
    df = np.array([small._num_parameters, big._num_parameters], dtype=int)
    crit = [m.ModelCriterion for m in (small, big)]
    ll = np.array([float(c["LogLikelihood"].iloc[0]) for c in crit])
    lr = 2.0 * (ll[1] - ll[0])
    ddf = float(df[1] - df[0])
    data = {"Model": np.array([sname, bname], dtype=object), "DF": df,
            "AIC": [float(c["AIC"].iloc[0]) for c in crit], "BIC": [float(c["BIC"].iloc[0]) for c in crit],
            "LogLik": ll, "LRStat": [np.nan, lr], "deltaDF": [np.nan, ddf],
            "pValue": [np.nan, _lrt_pvalue(lr, ddf)]}
    blank = {c: (0,) for c in ("LRStat", "deltaDF", "pValue")}
    return LRTDataset(data, title="Theoretical Likelihood Ratio Test", style=glme.display_style,
                      width=glme.display_width, blank_cells=blank)


class HypothesisMethods:
    """Mixin of :class:`~fitglme.model.GeneralizedLinearMixedModel`: confidence intervals, tests, anova and model comparison.

    The methods are this module's functions, so ``glme.coefCI(...)`` and
    ``coefCI(glme, ...)`` are the same call.
    """

    coefCI = coefCI
    coefTest = coefTest
    anova = anova
    compare = compare
