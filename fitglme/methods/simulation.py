"""Simulation from a fitted model and refitting to a new response.

MATLAB's ``random`` and ``refit`` of ``GeneralizedLinearMixedModel`` (choices and evidence in
docs/methods_prediction.md):

* ``random`` draws **new** random effects b ~ N(0, Psi_k) for every level of every grouping
  term, then y | b from the conditional distribution with mean g^-1(X beta + Z b + offset), as
  MATLAB's ``StandardGeneralizedLinearMixedModel.random`` / ``conditionalRandom``.
* ``refit`` fits the same model (formula, options, weights, exclusions, ...) to a new response.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..design.variables import as_table, column
from ..errors import FitglmeError
from ..options import as_positive_int, as_vector, is_string, parse_name_value
from ..random_streams import child_seeds, resolve_rng, seed_sequence
from .prediction import _mean, _new_design, _pad

__all__ = ["SimulationMethods", "random", "refit"]

RANDOM_OPTIONS = ("Weights", "BinomialSize", "Offset", "NumSimulations")


def _draw_b(glme, nlevels: list[int], rng: np.random.Generator) -> list[np.ndarray]:
    """New random effects: (m_k, q_k) per term, rows ~ N(0, Psi_k) (b = L_k u, u ~ N(0, I))."""
    out = []
    for m, L in zip(nlevels, glme._result.Ls):
        u = rng.standard_normal((m, L.shape[0]))
        out.append(u @ L.T)
    return out


def _own_groups(tbl: pd.DataFrame, spec) -> tuple[list[np.ndarray], list[int]]:
    """Level index of every row within ``tbl`` itself, per random term (grouping levels of the
    new data, seen in the fit or not; -1 for a missing value)."""
    idx, counts = [], []
    for r in spec.random:
        codes = []
        for v in r.group.group_vars:
            c, _ = pd.factorize(column(tbl, v), use_na_sentinel=True)
            codes.append(np.asarray(c, dtype=np.int64))
        C = np.column_stack(codes) if codes else np.zeros((len(tbl), 0), dtype=np.int64)
        valid = (C >= 0).all(axis=1)
        ix = np.full(len(tbl), -1, dtype=np.int64)
        if valid.any():
            _, inv = np.unique(C[valid], axis=0, return_inverse=True)
            ix[valid] = inv.ravel()
            counts.append(int(inv.max()) + 1)
        else:
            counts.append(0)
        idx.append(ix)
    return idx, counts


def _conditional_draw(glme, mu, w, size, rng) -> np.ndarray:
    """y | b given the conditional means (MATLAB ``conditionalRandom``)."""
    return conditional_draw(glme._dist.name, float(glme._result.dispersion), mu, w, size, rng)


def simulate_fit_rows(X, blocks, beta, Ls, offset, w, size, dist, link, phi, rng) -> np.ndarray:
    """A response for the observations of a fit: new random effects b_k ~ N(0, L_k L_k') per level
    (one (m_k, q_k) standard-normal draw per term, in term order), then y | b (one draw per row).

    ``blocks``: (Z_k, index_k, nlevels_k) per term.  ``random(glme)`` and every bootstrap replicate
    draw through this function, so that replicate j's response is ``random(glme, seed=child_j)``.
    """
    eta = X @ beta + offset
    for (Z, index, m), L in zip(blocks, Ls):
        bk = rng.standard_normal((m, L.shape[0])) @ L.T
        eta += np.einsum("ij,ij->i", Z, bk[index])
    mu = dist.clip_mu(link.inverse(eta))
    mu = np.where(np.isnan(eta), np.nan, mu)
    return conditional_draw(dist.name, phi, mu, w, np.ones_like(w) if size is None else size, rng)


def conditional_draw(name: str, phi: float, mu, w, size, rng) -> np.ndarray:
    """y | b given the conditional means for the distribution ``name`` with dispersion ``phi``."""
    if name == "Binomial":
        m = np.round(w * size).astype(np.int64)
        return rng.binomial(m, mu) / m
    if name == "Poisson":
        return rng.poisson(w * mu) / w
    with np.errstate(divide="ignore", invalid="ignore"):
        if name == "Normal":
            y = rng.normal(mu, np.sqrt(phi / np.where(w > 0, w, np.nan)))
        elif name == "Gamma":
            shape = w / phi
            y = rng.gamma(np.where(w > 0, shape, 1.0), mu / np.where(w > 0, shape, 1.0))
        else:  # InverseGaussian: mean mu, shape lambda = w / phi
            y = rng.wald(mu, np.where(w > 0, w / phi, 1.0))
    return np.where(w > 0, y, np.nan)


def random(glme, tblnew: Any = None, *args: Any, seed: Any = None, **kwargs: Any) -> np.ndarray:
    """Simulate responses from the fitted model (MATLAB ``random``).

    New random effects are drawn from N(0, Psi) for every level of every grouping term (the
    EBPs are not used), then responses from the conditional distribution given them.

    Parameters
    ----------
    glme : GeneralizedLinearMixedModel
    tblnew : DataFrame or dict, optional
        New data (predictors and grouping variables).  Its grouping levels are its own: each level
        present gets a fresh random effect.  Omitted with no options: the observations of the fit,
        with the fit's weights, binomial sizes and offset; the result has one value per row of
        the fitting table, NaN for rows not used.  Omitted but options given (MATLAB's
        ``random(glme, Name, Value)``): every row of the fitting table, with the defaults below.
        Rows with a missing predictor or grouping value give NaN.
    Weights : vector (M,) or scalar, default 1
        Prior weights (positive integers for Binomial and Poisson).
    BinomialSize : vector (M,) or scalar, default 1
        Number of trials (Binomial).  The simulated response is a proportion.
    Offset : vector (M,) or scalar, default 0
    NumSimulations : int, optional
        k independent simulations at once: the result is (M, k), column j drawn with the child
        seed ``SeedSequence(seed, spawn_key=(j,))`` (see docs/many_fits.md), i.e. column j equals
        ``random(glme, ..., seed=that)``.  Without it the result is a vector.
    seed : None, int, numpy.random.SeedSequence or numpy.random.Generator
        Python extra: the random stream of this call.  None (default): drawn from numpy's global
        state, so ``np.random.seed(1)`` before the call reproduces it, as MATLAB's ``rng(1)`` does
        (the rule of every random draw, docs/migration.md).  The same seed gives the same draws.

    Returns
    -------
    numpy.ndarray
        Simulated responses (Normal: variance Dispersion / w; Binomial: Binomial(n w, mu) / (n w);
        Poisson: Poisson(w mu) / w; Gamma: shape w / Dispersion, mean mu; InverseGaussian: mean
        mu, shape w / Dispersion).

    Examples
    --------
    >>> from fitglme import fitglme, load_example
    >>> glme = fitglme(load_example(), 'defects ~ 1 + newprocess + (1|factory)', Distribution='Poisson')
    >>> ysim = random(glme, seed=1)
    >>> ysim.shape
    (100,)
    """
    if is_string(tblnew):
        args = (tblnew,) + tuple(args)
        tblnew = None
    opts = parse_name_value(args, kwargs, RANDOM_OPTIONS, "random")
    if "NumSimulations" in opts:
        k = as_positive_int(opts.pop("NumSimulations"), "random: NumSimulations",
                            identifier="fitglme:BadNumSimulations")
        seeds = child_seeds(seed_sequence(seed, "random"), k)
        return np.column_stack([random(glme, tblnew, **opts, seed=sj) for sj in seeds])
    rng = resolve_rng(seed, "random")
    dist = glme._dist
    if tblnew is None and not opts:
        d = glme._design
        resp = glme._resp
        y = simulate_fit_rows(d.X, [(b.Z, b.index, b.nlevels) for b in d.re_blocks], glme._result.beta,
                              glme._result.Ls, resp.offset, resp.w, resp.size, glme._dist, glme._link,
                              float(glme._result.dispersion), rng)
        return _pad(glme, y)

    tbl = glme._request.table if tblnew is None else as_table(tblnew)
    M = len(tbl)
    w = as_vector(opts.get("Weights", 1.0), "Weights", M, allow_scalar=True, nonnegative=True,
                  integer=dist.name in ("Binomial", "Poisson"), identifier="fitglme:BadWeights", index=tbl.index)
    if dist.name in ("Binomial", "Poisson") and np.any(w < 1):
        i = int(np.flatnonzero(w < 1)[0])
        raise FitglmeError(
            f"random: Weights for the {dist.name} distribution must be positive integers; element "
            f"{i} (0-based) is {w[i]!r}.",
            "fitglme:BadWeights",
        )
    if "BinomialSize" in opts and dist.name != "Binomial":
        raise FitglmeError(
            f"random: BinomialSize applies only to the Binomial distribution; the model's "
            f"distribution is {dist.name!r}.",
            "fitglme:BadBinomialSize",
        )
    size = as_vector(opts.get("BinomialSize", 1.0), "BinomialSize", M, allow_scalar=True,
                     positive=True, integer=True, identifier="fitglme:BadBinomialSize", index=tbl.index)
    offset = as_vector(opts.get("Offset", 0.0), "Offset", M, allow_scalar=True,
                       identifier="fitglme:BadOffset", index=tbl.index)
    ok, X, blocks, _ = _new_design(glme, tbl, unseen_to_nan=tblnew is None)
    sub = tbl.iloc[ok]
    own, counts = _own_groups(sub, glme._design.spec)
    bs = _draw_b(glme, counts, rng)
    eta = X @ glme._result.beta + offset[ok]
    for blk, ix, bk in zip(blocks, own, bs):
        seen = ix >= 0
        eta[seen] += np.einsum("ij,ij->i", blk.Z[seen], bk[ix[seen]])
    y = np.full(M, np.nan)
    y[ok] = _conditional_draw(glme, _mean(glme, eta), w[ok], size[ok], rng)
    return y


def _response_column(glme, y: np.ndarray, what: str) -> np.ndarray:
    """One response (n used rows, or N table rows of which the used ones are taken), checked."""
    n = glme.NumObservations
    N = len(glme._request.table)
    rows = glme._design.rows
    if y.size == N and N != n:
        y = y[rows]
    elif y.size != n:
        extra = f" or {N} (one per table row)" if N != n else ""
        raise FitglmeError(
            f"refit: {what} must have {n} elements (one per observation used in the fit){extra}; "
            f"got {y.size}.",
            "fitglme:BadYNew",
        )
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        i = int(bad[0])
        raise FitglmeError(
            f"refit: {what} must be finite for every observation used in the fit; element {i} "
            f"(0-based, among the {n} observations used) is {y[i]!r}.",
            "fitglme:BadYNew",
        )
    resp = glme._resp
    try:
        glme._dist.validate_response(y, resp.w, resp.size)
    except FitglmeError as exc:
        raise FitglmeError(f"refit: {what}: {exc}", exc.identifier) from None
    return y


def refit(glme, ynew: Any, *args: Any, **kwargs: Any):
    """Refit the model to a new response (MATLAB ``refit``); every other setting is reused.

    Parameters
    ----------
    glme : GeneralizedLinearMixedModel
    ynew : array_like
        The new response, either one value per observation used in the fit
        (``glme.NumObservations``, MATLAB's documented form) or one per row of the fitting table
        (MATLAB's implementation; values of rows not used in the fit are ignored and may be NaN).
        Binomial: proportions, as ``response(glme)`` returns them.  The values must be permitted
        for the distribution (see ``response``).  An (n, k) matrix or DataFrame with k >= 2
        columns (or any 2-D input with ``Options``) refits k models on the same design, one per
        column: the simulation-study loop (docs/many_fits.md).
    Options : dict, optional
        ``statset('UseParallel', True, ...)`` for the k-column form: the refits run on local
        processes or a Dask cluster (see :func:`fitglme.statset`).

    Returns
    -------
    GeneralizedLinearMixedModel, or a list of k of them for a k-column ``ynew``
        New fitted models; ``glme`` is unchanged.  The k-column form starts every refit from the
        original estimates and reuses the design (the same optimum as a one-column refit, to the
        optimiser's tolerance); its warnings name the column, and a column whose fit fails raises
        a FitglmeError naming it after the batch.

    Examples
    --------
    >>> from fitglme import fitglme, load_example
    >>> glme = fitglme(load_example(), 'defects ~ 1 + newprocess + (1|factory)', Distribution='Poisson')
    >>> glme2 = refit(glme, random(glme, seed=3))
    """
    opts = parse_name_value(args, kwargs, ("Options",), "refit")
    n = glme.NumObservations
    N = len(glme._request.table)
    if is_string(ynew) or ynew is None or isinstance(ynew, (dict, set)):
        raise FitglmeError(
            f"refit: ynew must be a numeric vector with {n} elements (one per observation used in "
            f"the fit) or {N} (one per table row); got {ynew!r:.60}.",
            "fitglme:BadYNew",
        )
    if isinstance(ynew, (pd.Series, pd.DataFrame)):
        ynew = ynew.to_numpy()
    try:
        raw = np.asarray(ynew)
    except (TypeError, ValueError):  # ragged nesting
        raw = np.asarray(None)
    if raw.dtype.kind not in "biuf":
        raise FitglmeError(
            f"refit: ynew must be numeric (real numbers); got values of type {raw.dtype}.",
            "fitglme:BadYNew",
        )
    if raw.ndim > 2:
        raise FitglmeError(f"refit: ynew must be a vector or an (n, k) matrix; got an array of shape {raw.shape}.",
                           "fitglme:BadYNew")
    many = raw.ndim == 2 and (raw.shape[1] > 1 or "Options" in opts)
    if not many:
        if raw.ndim == 2 and min(raw.shape) != 1:
            raise FitglmeError(f"refit: ynew must be a vector; got an array of shape {raw.shape}.",
                               "fitglme:BadYNew")
        y = _response_column(glme, raw.astype(float).reshape(-1), "ynew")
        return type(glme).from_request(glme._request, response_override=y)
    if raw.shape[0] not in (n, N):
        raise FitglmeError(
            f"refit: ynew must have {n} rows (one per observation used in the fit)"
            f"{f' or {N} (one per table row)' if N != n else ''}, one column per model; got shape {raw.shape}.",
            "fitglme:BadYNew",
        )
    Y = [_response_column(glme, raw[:, j].astype(float), f"column {j} (0-based) of ynew")
         for j in range(raw.shape[1])]
    return _refit_many(glme, Y, opts.get("Options"))


def _refit_many(glme, Y: list, options) -> list:
    """k refits on the same design (see refit)."""
    from ..errors import FitglmeWarning
    from ..parallel import run_chunks
    from ..parallel import parallel_options
    from .manyfits import make_plan, refit_task

    popts = parallel_options(options, "refit")
    plan = make_plan(glme)
    out: list = [None] * len(Y)
    failures = []
    notes = []
    for _pos, rows in run_chunks(refit_task, plan, list(enumerate(Y)), popts, where="refit",
                                 progress_label="refit"):
        for j, res, ids, err, msg in rows:
            if res is None:
                failures.append((j, err, msg))
            else:
                out[j] = glme._with_result(Y[j], res)
            notes.extend((j, ident, text) for ident, text in ids)
    import warnings

    for j, ident, text in sorted(notes):
        warnings.warn(FitglmeWarning(f"refit, column {j} (0-based) of ynew: {text}", ident), stacklevel=3)
    if failures:
        j, err, msg = sorted(failures)[0]
        raise FitglmeError(f"refit: the fit to column {j} (0-based) of ynew failed "
                           f"({len(failures)} of {len(Y)} columns failed): {msg}", err)
    return out


class SimulationMethods:
    """Mixin of :class:`~fitglme.model.GeneralizedLinearMixedModel`: simulated responses and refits.

    The methods are this module's functions, so ``glme.random(...)`` and
    ``random(glme, ...)`` are the same call.
    """

    random = random
    refit = refit
