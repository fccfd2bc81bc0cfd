"""Fitted values, residuals, the response, design matrices and predictions.

MATLAB's ``designMatrix``, ``fitted``, ``residuals``, ``response`` and ``predict`` of
``GeneralizedLinearMixedModel``.  Conventions (docs/methods_prediction.md):

* Like MATLAB, the per-observation outputs of ``designMatrix``, ``fitted``, ``residuals`` and
  ``response`` have **one row per row of the fitting table** (N rows); rows not used in the fit
  (missing or excluded) hold NaN (zero rows in the sparse random-effects design).
* ``predict(glme)`` predicts at every row of the fitting table (MATLAB uses ``glme.Variables``),
  with **Offset 0 unless given** (MATLAB's default), so it equals ``fitted`` on the rows used
  when the model has no offset.
* Confidence intervals come from the delta method on the linear predictor: conditional
  predictions use the joint covariance of (beta, b) (MATLAB's ``covBetaHatBHat``), marginal ones
  ``CoefficientCovariance``; the limits are mapped through the inverse link.  The random-effects
  design is never formed densely: prediction variances are computed block-wise from the
  factorisation of the penalised system.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp
from scipy import stats
from scipy.linalg import solve_triangular

from ..design.variables import as_table, column
from ..engine.blocks import NotPositiveDefinite, factorize
from ..errors import FitglmeError
from ..inference import t_quantile
from ..options import as_bool, as_float_in, as_vector, is_string, match_string, parse_name_value
from ..outputs import with_outputs

__all__ = ["PredictionMethods", "designMatrix", "fitted", "residuals", "response", "predict"]

DESIGN_TYPES = ("Fixed", "Random")
RESIDUAL_TYPES = ("raw", "pearson")
DF_METHODS = ("Residual", "None")
PREDICT_OPTIONS = ("Conditional", "Simultaneous", "DFMethod", "Alpha", "Offset")


class DesignMatrix(NamedTuple):
    """``[Dsub, gnames] = designMatrix(glme, 'Random', gnumbers)``."""

    Dsub: sp.csc_matrix
    gnames: list


class Response(NamedTuple):
    """``[y, binomialsize] = response(glme)``; ``binomialsize`` is None unless Binomial."""

    y: np.ndarray
    binomialsize: np.ndarray | None


class Predict(NamedTuple):
    """``[ypred, ypredCI, DF] = predict(...)``."""

    ypred: np.ndarray
    ypredCI: np.ndarray
    DF: np.ndarray | float


# ------------------------------------------------------------------------------ helpers
def _pad(glme, values: np.ndarray, fill: float = np.nan) -> np.ndarray:
    """Values for the rows used in the fit -> one per table row (``fill`` elsewhere)."""
    N = len(glme._request.table)
    values = np.asarray(values, dtype=float)
    out = np.full((N,) + values.shape[1:], fill, dtype=float)
    out[glme._design.rows] = values
    return out


def _re_contribution(glme, blocks, b: np.ndarray | None = None) -> np.ndarray:
    """Z b for the rows of ``blocks`` (index -1: no contribution); ``b`` defaults to the EBPs."""
    b = glme._result.b if b is None else b
    M = blocks[0].index.shape[0] if blocks else 0
    out = np.zeros(M)
    for k, (blk, bk) in enumerate(zip(blocks, glme._layout.split(b))):
        seen = blk.index >= 0
        if bk.size and seen.any():
            out[seen] += np.einsum("ij,ij->i", blk.Z[seen], bk[blk.index[seen]])
    return out


def _linear_predictor(glme, X, blocks, offset, conditional: bool) -> np.ndarray:
    eta = X @ glme._result.beta + offset
    if conditional:
        eta = eta + _re_contribution(glme, blocks)
    return eta


def _mean(glme, eta: np.ndarray) -> np.ndarray:
    """g^-1(eta) constrained to the distribution's domain (MATLAB ``constrainMu``)."""
    mu = glme._dist.clip_mu(glme._link.inverse(eta))
    return np.where(np.isnan(eta), np.nan, mu)


def _fit_mean(glme, conditional: bool) -> np.ndarray:
    d = glme._design
    return _mean(glme, _linear_predictor(glme, d.X, d.re_blocks, glme._resp.offset, conditional))


def _options(args, kwargs, names, where):
    return parse_name_value(args, kwargs, names, where)


def _new_design(glme, tbl, *, unseen_to_nan: bool):
    """(rows usable, X, blocks, M) for a new table; missing rows (and, with ``unseen_to_nan``,
    rows with a categorical level unknown to the model) are left out."""
    tbl = as_table(tbl)
    spec = glme._design.spec
    M = len(tbl)
    bad = spec.missing_rows(tbl)
    if unseen_to_nan:
        for var, lev in spec.predictor_levels.items():
            if lev is not None:
                bad |= lev.encode(column(tbl, var))[1]
    ok = np.flatnonzero(~bad)
    sub = tbl.iloc[ok] if bad.any() else tbl
    return ok, spec.fixed_matrix(sub), spec.random_blocks(sub), M


def _sparse_z(blocks, terms, offsets, widths, rows, nrows) -> sp.csc_matrix:
    """Sparse Z (nrows x sum widths) for the chosen terms; row i of the blocks goes to rows[i]."""
    r_all, c_all, v_all = [], [], []
    for k, off in zip(terms, offsets):
        blk = blocks[k]
        q = blk.q
        seen = blk.index >= 0
        r = np.repeat(rows[seen], q)
        c = (off + blk.index[seen][:, None] * q + np.arange(q)[None, :]).ravel()
        r_all.append(r)
        c_all.append(c)
        v_all.append(blk.Z[seen].ravel())
    ncols = int(sum(widths))
    if not r_all:
        return sp.csc_matrix((nrows, ncols))
    coo = sp.coo_matrix((np.concatenate(v_all), (np.concatenate(r_all), np.concatenate(c_all))),
                        shape=(nrows, ncols))
    return coo.tocsc()


# ------------------------------------------------------------------------------ designMatrix
def designMatrix(glme, kind: str = "Fixed", gnumbers: Any = None):
    """Fixed- or random-effects design matrix (MATLAB ``designMatrix``).

    Parameters
    ----------
    glme : GeneralizedLinearMixedModel
    kind : {'Fixed', 'Random'}
        Case-insensitive, prefixes allowed.
    gnumbers : int or sequence of int, optional
        **0-based** numbers of the random-effects terms (grouping variables) whose columns are
        wanted, in the order wanted: ``0`` is the first random term of the formula (MATLAB's
        ``1``).  Repeats are allowed, as in MATLAB.  Only with ``kind='Random'``.

    Returns
    -------
    numpy.ndarray or scipy.sparse.csc_matrix
        ``'Fixed'``: dense N-by-p X.  ``'Random'``: sparse N-by-Q Z, columns in the order of B
        (term by term, level by level, name by name).  With ``gnumbers``:
        ``Dsub``, the columns of those terms, which unpacks into ``Dsub, gnames`` (their
        grouping-variable names; also ``.gnames``; ``.outputs`` is the ``DesignMatrix``
        NamedTuple).  N is the height of the fitting table: rows not used in the fit are NaN in X and
        zero in Z (as MATLAB).

    Examples
    --------
    >>> from fitglme import fitglme, load_example
    >>> glme = fitglme(load_example(), 'defects ~ 1 + newprocess + (1|factory)', Distribution='Poisson')
    >>> designMatrix(glme).shape
    (100, 2)
    >>> Z, names = designMatrix(glme, 'Random', [0])
    >>> Z.shape, names
    ((100, 20), ['factory'])
    """
    kind = match_string(kind, DESIGN_TYPES, "designMatrix: type", identifier="fitglme:BadDesignType")
    d = glme._design
    N = len(glme._request.table)
    if kind == "Fixed":
        if gnumbers is not None:
            raise FitglmeError(
                "designMatrix: gnumbers selects random-effects terms and applies only to "
                f"designMatrix(glme, 'Random', gnumbers); got gnumbers = {gnumbers!r} with 'Fixed'.",
                "fitglme:BadGNumbers",
            )
        return _pad(glme, d.X)
    blocks = d.re_blocks
    R = len(blocks)
    widths_all = [b.nlevels * b.q for b in blocks]
    if gnumbers is None:
        terms = list(range(R))
    else:
        terms = _gnumbers(gnumbers, R)
    widths = [widths_all[k] for k in terms]
    offsets = np.concatenate([[0], np.cumsum(widths)])[:-1].astype(np.int64)
    Z = _sparse_z(blocks, terms, offsets, widths, d.rows, N)
    if gnumbers is None:
        return Z
    return with_outputs(DesignMatrix(Z, [blocks[k].group_name for k in terms]), "designMatrix")


def _gnumbers(g: Any, R: int) -> list[int]:
    what = (f"designMatrix: gnumbers must be 0-based random-term numbers, integers in 0..{R - 1} "
            f"(the formula has {R} random-effects term(s))")
    if is_string(g) or isinstance(g, (bool, np.bool_, dict, set)):
        raise FitglmeError(f"{what}; got {g!r}.", "fitglme:BadGNumbers")
    try:
        arr = np.asarray(g)
    except Exception:
        raise FitglmeError(f"{what}; got {g!r}.", "fitglme:BadGNumbers") from None
    if arr.dtype.kind not in "iuf" or arr.ndim > 1:
        raise FitglmeError(f"{what}; got {g!r}.", "fitglme:BadGNumbers")
    arr = arr.reshape(-1)
    if arr.size == 0:
        raise FitglmeError(f"{what}; got an empty list.", "fitglme:BadGNumbers")
    bad = ~np.isfinite(arr) | (arr != np.round(arr)) | (arr < 0) | (arr >= R)
    if bad.any():
        v = arr[np.flatnonzero(bad)[0]]
        hint = " (numbers are 0-based: MATLAB's 1 is 0 here)" if v == R else ""
        raise FitglmeError(f"{what}; got {v!r}{hint}.", "fitglme:BadGNumbers")
    return [int(v) for v in arr]


# ------------------------------------------------------------------------------ fitted etc.
def fitted(glme, *args: Any, **kwargs: Any) -> np.ndarray:
    """Fitted conditional (default) or marginal means (MATLAB ``fitted``).

    Parameters
    ----------
    glme : GeneralizedLinearMixedModel
    Conditional : bool, default True
        True: g^-1(X beta + Z b + offset) with the EBPs b; False: g^-1(X beta + offset) (b = 0).

    Returns
    -------
    numpy.ndarray
        (N,): one value per row of the fitting table, NaN for rows not used in the fit
        (Binomial: probabilities).

    Examples
    --------
    >>> from fitglme import fitglme, load_example
    >>> glme = fitglme(load_example(), 'defects ~ 1 + newprocess + (1|factory)', Distribution='Poisson')
    >>> mu = fitted(glme)
    >>> mu0 = glme.fitted('Conditional', False)
    """
    opts = _options(args, kwargs, ("Conditional",), "fitted")
    cond = as_bool(opts.get("Conditional", True), "Conditional", identifier="fitglme:BadConditional")
    return _pad(glme, _fit_mean(glme, cond))


def residuals(glme, *args: Any, **kwargs: Any) -> np.ndarray:
    """Raw or Pearson residuals, conditional or marginal (MATLAB ``residuals``).

    Parameters
    ----------
    glme : GeneralizedLinearMixedModel
    Conditional : bool, default True
        Use the conditional (with b) or marginal (b = 0) fitted values.
    ResidualType : {'raw', 'pearson'}
        ``'raw'``: y - mu.  ``'pearson'``: (y - mu) / sqrt(Dispersion * V(mu) / w_eff), where V is
        the variance function and w_eff the prior weight (times BinomialSize for Binomial), as
        MATLAB's ``getPearsonResiduals``.

    Returns
    -------
    numpy.ndarray
        (N,), NaN for rows not used in the fit.

    Examples
    --------
    >>> from fitglme import fitglme, load_example
    >>> glme = fitglme(load_example(), 'defects ~ 1 + newprocess + (1|factory)', Distribution='Poisson')
    >>> r = residuals(glme, ResidualType='pearson', Conditional=False)
    """
    opts = _options(args, kwargs, ("Conditional", "ResidualType"), "residuals")
    cond = as_bool(opts.get("Conditional", True), "Conditional", identifier="fitglme:BadConditional")
    rtype = match_string(opts.get("ResidualType", "raw"), RESIDUAL_TYPES, "ResidualType",
                         identifier="fitglme:BadResidualType")
    mu = _fit_mean(glme, cond)
    r = glme._resp.y - mu
    if rtype == "pearson":
        sd = np.sqrt(glme._result.dispersion * glme._dist.variance(mu) / glme._resp.pw)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = r / sd
    return _pad(glme, r)


def response(glme, *args: Any, **kwargs: Any) -> np.ndarray:
    """The response used in the fit and, for Binomial, the sizes (MATLAB ``response``).

    Returns
    -------
    numpy.ndarray
        The first output, which unpacks into all of them (``y, binomialsize = ...``);
        they are also attributes (``.binomialsize``), and ``.outputs`` is the ``Response``
        NamedTuple (docs/migration.md, "One output or several").
        ``y`` (N,): the response (Binomial: proportions), NaN for rows not used in the fit;
        ``binomialsize`` (N,) with NaN for unused rows for Binomial models, else None
        (MATLAB's ``[]``).

    Examples
    --------
    >>> from fitglme import fitglme, load_example
    >>> glme = fitglme(load_example(), 'defects ~ 1 + newprocess + (1|factory)', Distribution='Poisson')
    >>> y, n = response(glme)
    >>> n is None
    True
    """
    if args or kwargs:
        given = [repr(a)[:40] for a in args] + [f"{k}=..." for k in kwargs]
        raise FitglmeError(
            f"response takes no arguments other than the model; got {', '.join(given)}.",
            "fitglme:BadNameValue",
        )
    y = _pad(glme, glme._resp.y)
    size = None if glme._resp.size is None else _pad(glme, glme._resp.size)
    return with_outputs(Response(y, size), "response")


# ------------------------------------------------------------------------------ predict
def predict(glme, tblnew: Any = None, *args: Any, **kwargs: Any) -> np.ndarray:
    """Predicted means with confidence intervals (MATLAB ``predict``).

    Parameters
    ----------
    glme : GeneralizedLinearMixedModel
    tblnew : DataFrame or dict, optional
        New data with every predictor and grouping variable of the model (the response is not
        needed).  Omitted (or an option name given in its place, as in MATLAB): the fitting table,
        every row of it.  Rows with a missing predictor or grouping value give NaN.  A group level
        not seen in the fit contributes no random effect (and no random-effect variance) for that
        term; an unseen level of a categorical fixed predictor raises ``FitglmeError``
        (``'fitglme:UnknownLevel'``).
    Conditional : bool, default True
        Include the EBPs of the random effects (True) or only the fixed effects (False).
    Alpha : float in [0, 1], default 0.05
        Intervals have confidence 100(1 - Alpha)%.
    DFMethod : {'Residual', 'None'}, default 'Residual'
        DF = n - p, or Inf (normal quantiles).
    Simultaneous : bool, default False
        Pointwise intervals (t quantile) or Scheffe-type simultaneous bounds,
        multiplier sqrt(k F(1 - Alpha; k, DF)) with k = p + Q (conditional) or p (marginal).
    Offset : vector of length M (or a scalar), default 0
        Offset of the new rows.  MATLAB's default is zeros, also without tblnew: pass
        ``Offset=`` to include the fit's offset.

    Returns
    -------
    numpy.ndarray
        The first output, which unpacks into all of them (``ypred, ypredCI, DF = ...``);
        they are also attributes (``.ypredCI``), and ``.outputs`` is the ``Predict``
        NamedTuple (docs/migration.md, "One output or several").
        ``ypred`` (M,), ``ypredCI`` (M, 2) [lower, upper] on the response scale, ``DF``: (M,) for
        pointwise intervals, a float for simultaneous ones.

    Examples
    --------
    >>> from fitglme import fitglme, load_example
    >>> tbl = load_example()
    >>> glme = fitglme(tbl, 'defects ~ 1 + newprocess + (1|factory)', Distribution='Poisson')
    >>> ypred, ci, df = predict(glme, tbl.head(3), Conditional=False)
    >>> ci.shape
    (3, 2)
    """
    if is_string(tblnew):
        args = (tblnew,) + tuple(args)
        tblnew = None
    opts = _options(args, kwargs, PREDICT_OPTIONS, "predict")
    cond = as_bool(opts.get("Conditional", True), "Conditional", identifier="fitglme:BadConditional")
    simul = as_bool(opts.get("Simultaneous", False), "Simultaneous", identifier="fitglme:BadSimultaneous")
    dfm = match_string(opts.get("DFMethod", "Residual"), DF_METHODS, "DFMethod", identifier="fitglme:BadDFMethod")
    alpha = as_float_in(opts.get("Alpha", 0.05), "Alpha", 0.0, 1.0, identifier="fitglme:BadAlpha")

    tbl = glme._request.table if tblnew is None else as_table(tblnew)
    ok, X, blocks, M = _new_design(glme, tbl, unseen_to_nan=tblnew is None)
    offset = as_vector(opts.get("Offset", 0.0), "Offset", M, allow_scalar=True,
                       identifier="fitglme:BadOffset", index=tbl.index)
    eta = _linear_predictor(glme, X, blocks, offset[ok], cond)
    var = _conditional_variance(glme, X, blocks) if cond else _marginal_variance(glme, X)

    p = glme.NumCoefficients
    dfe = float(glme.DFE) if dfm == "Residual" else np.inf
    if simul:
        k = p + (glme._layout.Q if cond else 0)
        if np.isinf(dfe):
            crit = float(np.sqrt(stats.chi2.ppf(1 - alpha, k)))
        else:
            crit = float(np.sqrt(k * stats.f.ppf(1 - alpha, k, dfe)))
        DF: np.ndarray | float = dfe
    else:
        crit = float(t_quantile(alpha, dfe))
        DF = np.full(M, dfe)
    half = crit * np.sqrt(np.maximum(var, 0.0))
    ypred = np.full(M, np.nan)
    ci = np.full((M, 2), np.nan)
    ypred[ok] = _mean(glme, eta)
    lims = np.column_stack([_mean(glme, eta - half), _mean(glme, eta + half)])
    ci[ok] = np.sort(lims, axis=1)  # decreasing links swap the limits (MATLAB: min/max)
    return with_outputs(Predict(ypred, ci, DF), "predict")


# ------------------------------------------------------------------------------ variances
def _marginal_variance(glme, X: np.ndarray) -> np.ndarray:
    """x' Cov(beta) x per row."""
    return np.einsum("ij,jk,ik->i", X, glme._result.cov_beta, X)


def _joint_factor(glme):
    """Factorisation of the penalised system in (u, beta), u ~ N(0, I) on the absolute scale, so
    that its inverse is the covariance of (u - u_hat, beta - beta_hat) (MATLAB
    ``covBetaHatBHat``: observed weights for Laplace fits, expected weights for PL fits)."""
    cached = glme.__dict__.get("_prediction_factor")
    if cached is not None:
        return cached
    res, d = glme._result, glme._design
    zts = [blk.Z @ L for blk, L in zip(d.re_blocks, res.Ls)]
    if glme._method in ("MPL", "REMPL"):
        W = res.W / res.dispersion
    else:
        W = res.W
    try:
        fac = factorize(glme._layout, zts, W, d.X)
    except NotPositiveDefinite:  # observed weights not positive definite: expected weights
        W = glme._resp.working(res.eta, res.dispersion, observed=False)[2]
        try:
            fac = factorize(glme._layout, zts, W, d.X)
        except NotPositiveDefinite:
            from .effects import degenerate_system_error

            raise degenerate_system_error() from None
    glme.__dict__["_prediction_factor"] = fac
    return fac


def _conditional_variance(glme, X: np.ndarray, blocks, batch_floats: int = 4_000_000,
                          memory_floats: int = 25_000_000, method: str | None = None) -> np.ndarray:
    """c' A^{-1} c per row for c = [Lambda' z; x] (rows of the new design), in batches of rows.

    With the block Cholesky factor L = [[L1, 0], [C', L2]] of A (first random term block
    diagonal, the other terms and X in the dense part of size n2 = Q2 + p), the value is
    |y1|^2 + |y2|^2 with y1 = L1^{-1} c1 (one level per row) and y2 = L2^{-1} (c2 - C' y1).
    y2 is either solved per batch (cost n2^2 per row) or, when it is cheaper and fits in memory,
    assembled from L2^{-1} and G = L2^{-1} C' computed once (cost n2 * (nonzeros of c) per row).
    ``method`` ('direct' / 'precomputed') overrides that choice (tests).
    """
    fac = _joint_factor(glme)
    lay = glme._layout
    Ls = glme._result.Ls
    M = X.shape[0]
    out = np.zeros(M)
    if M == 0:
        return out
    f = lay.first
    m1, q1, Q2 = lay.m1, lay.q1, lay.Q2
    p = X.shape[1]
    n2 = Q2 + p
    nnz = q1 + p + sum(lay.qs[k] for k in lay.rest)
    direct_cost = M * n2 * n2
    pre_cost = (m1 * q1 + n2) * n2 * n2 + M * n2 * nnz
    if method is None:
        precompute = n2 > 0 and pre_cost < direct_cost and (m1 * q1 + n2) * n2 <= memory_floats
    else:
        precompute = n2 > 0 and method == "precomputed"
    if precompute:
        Linv2 = solve_triangular(fac.L2, np.eye(n2), lower=True, check_finite=False)
        G = (fac.C @ Linv2.T).reshape(m1, q1, n2)  # rows of (L2^{-1} C')'
        LinvT = Linv2.T  # row j: column j of L2^{-1}
    B = max(1, min(M, batch_floats // max(n2 * (q1 if precompute else 1) + q1, 1)))
    for start in range(0, M, B):  # batches of rows, vectorised within
        sl = slice(start, min(M, start + B))
        nb = sl.stop - sl.start
        # first term: y1 = L1^{-1} c1 (only the row's own level is non-zero)
        idx1 = blocks[f].index[sl]
        seen = idx1 >= 0
        lev1 = np.where(seen, idx1, 0)
        c1 = blocks[f].Z[sl] @ Ls[f]
        y1 = np.einsum("bij,bj->bi", fac.L1inv[lev1], c1) * seen[:, None]
        # the rest terms' entries of c2: (row, column of the dense part, value)
        parts = []
        for j, k in enumerate(lay.rest):
            idx = blocks[k].index[sl]
            sk = idx >= 0
            ck = (blocks[k].Z[sl] @ Ls[k]) * sk[:, None]
            q = lay.qs[k]
            ccols = lay.rest_offsets[j] + np.where(sk, idx, 0)[:, None] * q + np.arange(q)[None, :]
            parts.append((ccols, ck))
        if n2 == 0:
            y2sq = np.zeros(nb)
        elif precompute:
            y2 = X[sl] @ LinvT[Q2:] - np.einsum("bi,bin->bn", y1, G[lev1])
            for ccols, ck in parts:
                for a in range(ck.shape[1]):
                    y2 += ck[:, a:a + 1] * LinvT[ccols[:, a]]
            y2sq = (y2 ** 2).sum(axis=1)
        else:
            rows = np.repeat(np.arange(nb), q1)
            cols = (lev1[:, None] * q1 + np.arange(q1)[None, :]).ravel()
            Y1 = sp.csr_matrix((y1.ravel(), (rows, cols)), shape=(nb, m1 * q1))
            prod = Y1 @ fac.C  # (sparse when C is: crossed scalar terms, fitglme.engine.crossed)
            rhs = -(prod.toarray() if sp.issparse(prod) else np.asarray(prod))
            for ccols, ck in parts:
                np.add.at(rhs, (np.repeat(np.arange(nb), ck.shape[1]), ccols.ravel()), ck.ravel())
            rhs[:, Q2:] += X[sl]
            y2sq = (solve_triangular(fac.L2, rhs.T, lower=True, check_finite=False) ** 2).sum(axis=0)
        out[sl] = (y1 ** 2).sum(axis=1) + y2sq
    return out


class PredictionMethods:
    """Mixin of :class:`~fitglme.model.GeneralizedLinearMixedModel`: design matrices, fitted values, residuals, response and predictions.

    The methods are this module's functions, so ``glme.designMatrix(...)`` and
    ``designMatrix(glme, ...)`` are the same call.
    """

    designMatrix = designMatrix
    fitted = fitted
    residuals = residuals
    response = response
    predict = predict
