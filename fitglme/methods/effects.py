"""``fixedEffects``, ``randomEffects`` and ``covarianceParameters`` (MATLAB's GLME methods).

Rules (docs/methods_inference.md has the evidence):

* ``DFMethod`` is ``'residual'`` (DF = n - p) or ``'none'`` (DF = Inf); ``Alpha`` is a real
  scalar in [0, 1] (MATLAB's ``validateAlpha`` accepts both ends).
* Titles are MATLAB's message texts with the DFMethod value as the GLME validator returns it,
  i.e. lower case: ``Fixed effect coefficients: DFMethod = 'residual', Alpha = 0.05``.
* Covariance-parameter intervals: Wald intervals on the natural scale from a numerical Hessian
  (MATLAB computes them on demand under the default 'conditional' CovarianceMethod; see
  :func:`covarianceParameters`).
* ``SEPred`` is the root conditional mean squared error of prediction of b (Booth & Hobert):
  the random-effects diagonal of the inverse of the full penalised system over (u, beta) at the
  final weights -- MATLAB's ``getEstimateAndVariance`` with expected weights for MPL/REMPL and
  observed (Hessian) weights for Laplace/ApproximateLaplace -- mapped to b = Lambda u and scaled
  by the dispersion.  It is wider than the conditional SD of b given beta.

The joint (u, beta) factorisation is shared with :mod:`.hypothesis` (``coefTest`` with
``REContrast``, ``coefCI``) through :func:`joint_factor` and :func:`joint_solve`.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from scipy import stats as sps
from scipy.linalg import solve_triangular

from ..display.tables import MatlabDataset
from ..engine.blocks import NotPositiveDefinite, factorize
from ..engine.lme import ThetaMap
from ..engine.objectives import laplace_about_fit, pseudo_data_about_fit
from ..errors import FitglmeError
from ..inference import t_quantile, two_sided_p
from ..options import as_float_in, match_string, parse_name_value
from ..outputs import OneRowDataset, with_outputs

__all__ = ["EffectsMethods", "fixedEffects", "randomEffects", "covarianceParameters"]

DF_METHODS = ("residual", "none")


class FixedEffects(NamedTuple):
    """Output of :func:`fixedEffects` (MATLAB's ``[beta, betanames, stats]``)."""

    beta: np.ndarray
    betanames: MatlabDataset
    stats: MatlabDataset


class RandomEffects(NamedTuple):
    """Output of :func:`randomEffects` (MATLAB's ``[B, BNames, stats]``)."""

    B: np.ndarray
    BNames: MatlabDataset
    stats: MatlabDataset


class CovarianceParameters(NamedTuple):
    """Output of :func:`covarianceParameters` (MATLAB's ``[psi, mse, stats]``)."""

    psi: list
    mse: float
    stats: list


# ---------------------------------------------------------------------------------------------
# option helpers shared with hypothesis.py
# ---------------------------------------------------------------------------------------------
def parse_options(args, kwargs, names, where: str) -> dict[str, Any]:
    """Name-value options of a method (positional MATLAB pairs and/or keywords)."""
    return parse_name_value(tuple(args), dict(kwargs), names, where)


def check_alpha(value: Any, where: str) -> float:
    """Alpha: a real scalar in [0, 1] (MATLAB's ``validateAlpha``)."""
    return as_float_in(value, f"{where}: Alpha", 0.0, 1.0, (True, True), identifier="fitglme:BadAlpha")


def check_dfmethod(value: Any, where: str) -> str:
    """DFMethod: 'residual' or 'none' (case-insensitive, prefixes); returned in lower case."""
    return match_string(value, DF_METHODS, f"{where}: DFMethod", identifier="fitglme:BadDFMethod")


def dof(glme, dfmethod: str) -> float:
    """Denominator degrees of freedom: n - p ('residual') or Inf ('none')."""
    return float(glme.NumObservations - glme.NumCoefficients) if dfmethod == "residual" else np.inf


def num2str(x: float) -> str:
    """MATLAB's ``num2str`` of a scalar in [0, 1] (``%.5g``-like; integers print plainly)."""
    x = float(x)
    if x == int(x):
        return str(int(x))
    return f"{x:.5g}"


def dataset(glme, data, title=None, text=(), cls=MatlabDataset) -> MatlabDataset:
    """A MatlabDataset (or subclass ``cls``) in the model's display style and width."""
    return cls(data, title=title, text_columns=text, style=glme.display_style, width=glme.display_width)


# ---------------------------------------------------------------------------------------------
# the joint (u, beta) system
# ---------------------------------------------------------------------------------------------
def _weights_and_factors(glme):
    """Effective weights and absolute factors of the system whose inverse is Cov(u, beta).

    Laplace fits keep W with 1/dispersion inside and absolute factors (u ~ N(0, I)); PL fits
    keep W at dispersion 1, so W / sigma^2 with the absolute factors gives the same system as
    sigma^2 times the inverse of the relative one.
    """
    res = glme._result
    W = np.asarray(res.W, float)
    if glme._method in ("MPL", "REMPL"):
        W = W / float(res.dispersion)
    return W, [np.asarray(L, float) for L in res.Ls]


def joint_factor(glme):
    """Factorisation of ``[L'Z'WZL + I, L'Z'WX; X'WZL, X'WX]`` at the final weights (cached)."""
    cache = glme.__dict__.setdefault("_effects_cache", {})
    if "factor" not in cache:
        W, Ls = _weights_and_factors(glme)
        zts = [blk.Z @ L for blk, L in zip(glme._design.re_blocks, Ls)]
        try:
            cache["factor"] = factorize(glme._layout, zts, W, glme._design.X)
        except NotPositiveDefinite:
            raise degenerate_system_error() from None
    return cache["factor"]


def degenerate_system_error() -> FitglmeError:
    """The error for a model whose penalised system at the estimates is not positive definite."""
    return FitglmeError(
        "The penalised system of the model at its estimates is not positive definite (the working "
        "weights at the fitted means are degenerate), so the joint covariance of the fixed and "
        "random effects is not available. The fit itself is unreliable: see the warnings it gave "
        "(e.g. PL iterations that did not converge), and refit with more iterations or another "
        "link or FitMethod.",
        "fitglme:NumericalFailure",
    )


def joint_solve(fac, Ru: np.ndarray, Rb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``A [Xu; Xb] = [Ru; Rb]`` for many right-hand sides (columns), u in public order.

    Vectorised version of ``BlockFactor.solve``: Ru is (Q, M), Rb is (p, M).
    """
    lay = fac.layout
    m1, q1, f = lay.m1, lay.q1, lay.first
    M = Ru.shape[1]
    r1 = Ru[lay.offsets[f]:lay.offsets[f + 1]]
    r2 = np.concatenate([Ru[lay.offsets[k]:lay.offsets[k + 1]] for k in lay.rest] + [Rb], axis=0)
    y1 = np.einsum("kab,kbm->kam", fac.L1inv, r1.reshape(m1, q1, M)).reshape(m1 * q1, M)
    t = r2 - fac.C.T @ y1
    if fac.L2.shape[0]:
        x2 = solve_triangular(fac.L2.T, solve_triangular(fac.L2, t, lower=True, check_finite=False),
                              lower=False, check_finite=False)
    else:
        x2 = t
    s = (y1 - fac.C @ x2).reshape(m1, q1, M)
    x1 = np.einsum("kba,kbm->kam", fac.L1inv, s).reshape(m1 * q1, M)
    Xu = np.empty((lay.Q, M))
    Xu[lay.offsets[f]:lay.offsets[f + 1]] = x1
    for j, k in enumerate(lay.rest):
        Xu[lay.offsets[k]:lay.offsets[k + 1]] = x2[lay.rest_offsets[j]:lay.rest_offsets[j + 1]]
    return Xu, x2[lay.Q2:]


def b_to_u(glme, Kb: np.ndarray) -> np.ndarray:
    """Lambda' applied to (Q, M) coefficients on b: the same linear forms on u (b = Lambda u)."""
    _, Ls = _weights_and_factors(glme)
    lay = glme._layout
    out = np.empty_like(Kb, dtype=float)
    for k, L in enumerate(Ls):
        sl = slice(lay.offsets[k], lay.offsets[k + 1])
        blk = Kb[sl].reshape(lay.nlevels[k], lay.qs[k], -1)
        out[sl] = np.einsum("ba,kbm->kam", L, blk).reshape(-1, Kb.shape[1])
    return out


def sepred(glme) -> np.ndarray:
    """Root conditional MSE of prediction of every random effect (MATLAB's B order)."""
    cache = glme.__dict__.setdefault("_effects_cache", {})
    if "sepred" not in cache:
        blocks = joint_factor(glme).inverse_diag_blocks()
        _, Ls = _weights_and_factors(glme)
        parts = [np.einsum("ab,kbc,ac->ka", L, blk, L).ravel() for L, blk in zip(Ls, blocks)]
        var = np.concatenate(parts) if parts else np.zeros(0)
        cache["sepred"] = np.sqrt(np.clip(var, 0.0, None))
    return cache["sepred"].copy()


def re_names(glme) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group, Level and Name of every element of B (term by term, level by level, name by name)."""
    g, lv, nm = [], [], []
    for blk in glme._design.re_blocks:
        m, q = blk.nlevels, len(blk.names)
        g.append(np.full(m * q, blk.group_name, dtype=object))
        lv.append(np.repeat(np.asarray(blk.level_names, dtype=object), q))
        nm.append(np.tile(np.asarray(blk.names, dtype=object), m))
    if not g:
        return (np.zeros(0, dtype=object),) * 3
    return np.concatenate(g), np.concatenate(lv), np.concatenate(nm)


def _stats_columns(est, se, df, alpha):
    with np.errstate(divide="ignore", invalid="ignore"):
        t = est / se
    dfv = np.full(est.shape, df)
    half = t_quantile(alpha, dfv) * se
    return t, dfv, two_sided_p(t, dfv), est - half, est + half


# ---------------------------------------------------------------------------------------------
# covariance-parameter confidence intervals (MATLAB's on-demand Wald intervals)
# ---------------------------------------------------------------------------------------------
def _natural(rows, est) -> np.ndarray:
    """Canonical (std / corr) -> natural (log std, log((1+r)/(1-r))) parameters of one term."""
    est = np.asarray(est, float)
    is_std = np.array([t == "std" for _, _, t in rows])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(is_std, np.log(est), np.log((1 + est) / (1 - est)))


def _canonical(rows, nat) -> np.ndarray:
    is_std = np.array([t == "std" for _, _, t in rows])
    with np.errstate(over="ignore", invalid="ignore"):
        return np.where(is_std, np.exp(nat), np.tanh(np.asarray(nat) / 2.0))


def _psi_from_natural(pat, rows, nat) -> np.ndarray:
    """Covariance matrix of one term from its natural parameters (MATLAB's setNaturalParameters)."""
    q, val = pat.q, _canonical(rows, nat)
    if pat.name == "Isotropic":
        return val[0] ** 2 * np.eye(q)
    if pat.name == "CompSymm":
        r = val[1] if q > 1 else 0.0
        return val[0] ** 2 * ((1 - r) * np.eye(q) + r * np.ones((q, q)))
    sd, R = np.zeros(q), np.eye(q)
    for (i, j, t), v in zip(rows, val):
        if t == "std":
            sd[i] = v
        else:
            R[i, j] = R[j, i] = v
    return np.outer(sd, sd) * R


def _factors_from_natural(glme, eta):
    Ls, o = [], 0
    for pat in glme._patterns:
        rows = pat.report_rows()
        Ls.append(np.linalg.cholesky(_psi_from_natural(pat, rows, eta[o:o + len(rows)])))
        o += len(rows)
    return Ls


def _u_start(glme) -> np.ndarray:
    lay, res = glme._layout, glme._result
    parts = [(bk @ np.linalg.pinv(L).T).ravel() for bk, L in zip(lay.split(np.asarray(res.b, float)), res.Ls)]
    return np.concatenate(parts)


def _objective(glme):
    """Negative log-likelihood over x = [(beta); eta; (log sigma)] and the point x0 (MATLAB's
    ``makeNegativeLaplacianLogLikelihoodNaturalParameters`` for ML fits; for MPL/REMPL the
    beta-profiled ML/REML log-likelihood of the final pseudo-data LME): the engine's deviances
    (fitglme.engine.objectives) in MATLAB's natural parameters."""
    res, resp, X, lay = glme._result, glme._resp, glme._design.X, glme._layout
    Zs = [blk.Z for blk in glme._design.re_blocks]
    eta0 = np.concatenate([_natural(pat.report_rows(), e) for *_, e, pat in glme._covariance_rows()])
    k, p, free = eta0.size, X.shape[1], bool(res.dispersion_estimated)
    logs0 = [0.5 * np.log(res.dispersion)] if free else []
    thetas = ThetaMap(list(glme._patterns))
    b = np.asarray(res.b, float)
    if glme._method in ("Laplace", "ApproximateLaplace"):
        # Huge counts: the objective relative to the fit (differences are all the Hessian needs).
        laplace = laplace_about_fit(resp, X, lay, Zs, thetas, _u_start(glme), res.beta, b, dispersion_free=free)

        def f(x):
            phi = float(np.exp(2 * x[-1])) if free else 1.0
            return 0.5 * laplace.deviance(_factors_from_natural(glme, x[p:p + k]), x[:p], phi)

        return f, np.concatenate([res.beta, eta0, logs0])
    # PL: pseudo-data and working weights at the final linear predictor.
    pseudo = pseudo_data_about_fit(resp, X, lay, Zs, thetas, np.asarray(res.eta, float), res.beta, b,
                                   reml=glme._method == "REMPL", dispersion_free=free)

    def f(x):
        # absolute factors L (cov b = L L') -> relative ones L / sigma, sigma^2 = s2 held
        s2 = float(np.exp(2 * x[-1])) if free else 1.0
        Ls = [L / np.sqrt(s2) for L in _factors_from_natural(glme, x[:k])]
        return 0.5 * pseudo.deviance(Ls, s2)

    return f, np.concatenate([eta0, logs0])


def _hessian(f, x) -> np.ndarray:
    """MATLAB's ``getHessian``: central differences with step eps^(1/4)."""
    h = np.finfo(float).eps ** 0.25
    k = x.size
    H = np.zeros((k, k))
    f0 = f(x)
    E = np.eye(k) * h
    for i in range(k):
        H[i, i] = (f(x + 2 * E[i]) + f(x - 2 * E[i]) - 2 * f0) / (4 * h * h)
        for j in range(i + 1, k):
            H[i, j] = H[j, i] = (f(x + E[i] + E[j]) + f(x - E[i] - E[j])
                                 - f(x - E[i] + E[j]) - f(x + E[i] - E[j])) / (4 * h * h)
    return H


def _cov_natural_scale(H) -> np.ndarray:
    """MATLAB's ``covarianceOnNaturalScale``: pinv, NaN for non-estimable or negative-variance
    directions."""
    C = np.linalg.pinv(H)
    U, sv, Vt = np.linalg.svd(H)
    tol = np.sqrt(np.finfo(float).eps) * (sv[0] if sv.size else 0.0)
    V = Vt[sv > tol].T
    resid = np.eye(H.shape[0]) - V @ V.T  # rows of I off the row space of H are not estimable
    ok = (np.abs(resid).max(axis=1) <= np.sqrt(np.finfo(float).eps)) & (np.diag(C) >= 0)
    C[~ok, :] = np.nan
    C[:, ~ok] = np.nan
    return C


def natural_covariance(glme) -> np.ndarray:
    """Covariance of x = [(beta;) eta; log sigma] from the numerical Hessian (cached); the log
    sigma row and column are zero when the dispersion is fixed."""
    cache = glme.__dict__.setdefault("_effects_cache", {})
    if "natcov" not in cache:
        f, x0 = _objective(glme)
        k = x0.size
        if not np.all(np.isfinite(x0)):
            C = np.full((k, k), np.nan)
        else:
            try:
                with np.errstate(all="ignore"):
                    C = _cov_natural_scale(_hessian(f, x0))
            except (NotPositiveDefinite, np.linalg.LinAlgError, FloatingPointError, ValueError):
                C = np.full((k, k), np.nan)
        if not glme._result.dispersion_estimated:
            C = np.pad(C, ((0, 1), (0, 1)))
        cache["natcov"] = C
    return cache["natcov"]


def _covariance_cis(glme, alpha):
    """Lower/Upper of every canonical covariance parameter (per term) and of sqrt(Dispersion)."""
    C = natural_covariance(glme)
    ml = glme._method in ("Laplace", "ApproximateLaplace")
    skip = glme.NumCoefficients if ml else 0
    sd = np.sqrt(np.diag(C)[skip:])
    z = -sps.norm.ppf(alpha / 2)
    out, o = [], 0
    for *_, est, pat in glme._covariance_rows():
        rows = pat.report_rows()
        nat = _natural(rows, est)
        half = z * sd[o:o + len(rows)]
        out.append((_canonical(rows, nat - half), _canonical(rows, nat + half)))
        o += len(rows)
    ls = 0.5 * np.log(glme._result.dispersion)
    sig = (float(np.exp(ls - z * sd[o])), float(np.exp(ls + z * sd[o])))
    return out, sig


# ---------------------------------------------------------------------------------------------
# public methods
# ---------------------------------------------------------------------------------------------
def fixedEffects(glme, *args, **kwargs) -> np.ndarray:
    """Estimates of the fixed effects and related statistics.

    Parameters
    ----------
    glme : GeneralizedLinearMixedModel
    *args, **kwargs : name-value options
        ``Alpha`` (0.05; confidence level 100(1 - Alpha)%) and ``DFMethod`` (``'residual'``:
        DF = n - p, or ``'none'``: DF = Inf), as MATLAB pairs or keywords.

    Returns
    -------
    numpy.ndarray
        The first output, which unpacks into all of them (``beta, betanames, stats = ...``);
        they are also attributes (``.stats``), and ``.outputs`` is the ``FixedEffects``
        NamedTuple (docs/migration.md, "One output or several").
        ``beta`` (p,), ``betanames`` (MatlabDataset with column ``Name``) and ``stats``
        (MatlabDataset titled ``Fixed effect coefficients: DFMethod = 'residual', Alpha = 0.05``
        with Name, Estimate, SE, tStat, DF, pValue, Lower, Upper).

    Examples
    --------
    >>> from fitglme import fitglme, load_example
    >>> glme = fitglme(load_example(), 'defects ~ 1 + newprocess + (1|factory)', Distribution='Poisson')
    >>> beta, names, stats = glme.fixedEffects('Alpha', 0.01)
    >>> list(stats.columns)
    ['Name', 'Estimate', 'SE', 'tStat', 'DF', 'pValue', 'Lower', 'Upper']
    """
    where = "fixedEffects"
    opts = parse_options(args, kwargs, ("Alpha", "DFMethod"), where)
    alpha = check_alpha(opts.get("Alpha", 0.05), where)
    dfm = check_dfmethod(opts.get("DFMethod", "residual"), where)
    beta = np.asarray(glme._result.beta, float).copy()
    se = np.sqrt(np.clip(np.diag(glme._result.cov_beta), 0.0, None))
    t, dfv, p, lo, up = _stats_columns(beta, se, dof(glme, dfm), alpha)
    names = list(glme.CoefficientNames)
    betanames = dataset(glme, {"Name": names}, text=("Name",))
    title = f"Fixed effect coefficients: DFMethod = '{dfm}', Alpha = {num2str(alpha)}"
    stats = dataset(glme, {"Name": names, "Estimate": beta, "SE": se, "tStat": t, "DF": dfv,
                           "pValue": p, "Lower": lo, "Upper": up}, title, ("Name",))
    return with_outputs(FixedEffects(beta, betanames, stats), where)


def randomEffects(glme, *args, **kwargs) -> np.ndarray:
    """Empirical Bayes predictors of the random effects and related statistics.

    ``B`` holds the conditional modes of b given the estimated parameters, ordered as MATLAB
    (term by term, level by level, name by name).  ``SEPred`` is the root conditional mean
    squared error of prediction: the b-part of the inverse of the full penalised system over
    (u, beta), so it includes the uncertainty of the fixed effects; tStat = Estimate / SEPred;
    CIs use ``tinv(1 - Alpha/2, DF)``.

    Parameters
    ----------
    glme : GeneralizedLinearMixedModel
    *args, **kwargs : name-value options
        ``Alpha`` (0.05) and ``DFMethod`` (``'residual'`` or ``'none'``).

    Returns
    -------
    numpy.ndarray
        The first output, which unpacks into all of them (``B, BNames, stats = ...``);
        they are also attributes (``.stats``), and ``.outputs`` is the ``RandomEffects``
        NamedTuple (docs/migration.md, "One output or several").
        ``B`` (Q,), ``BNames`` (Group, Level, Name) and ``stats`` (Group, Level, Name,
        Estimate, SEPred, tStat, DF, pValue, Lower, Upper), titled
        ``Random effect coefficients: DFMethod = 'residual', Alpha = 0.05``.

    Examples
    --------
    >>> from fitglme import fitglme, load_example
    >>> glme = fitglme(load_example(), 'defects ~ 1 + newprocess + (1|factory)', Distribution='Poisson')
    >>> B, BNames, stats = randomEffects(glme, DFMethod='none')
    >>> B.shape, list(BNames.columns)
    ((20,), ['Group', 'Level', 'Name'])
    """
    where = "randomEffects"
    opts = parse_options(args, kwargs, ("Alpha", "DFMethod"), where)
    alpha = check_alpha(opts.get("Alpha", 0.05), where)
    dfm = check_dfmethod(opts.get("DFMethod", "residual"), where)
    B = np.asarray(glme._result.b, float).copy()
    se = sepred(glme)
    t, dfv, p, lo, up = _stats_columns(B, se, dof(glme, dfm), alpha)
    g, lv, nm = re_names(glme)
    text = ("Group", "Level", "Name")
    bnames = dataset(glme, {"Group": g, "Level": lv, "Name": nm}, text=text)
    title = f"Random effect coefficients: DFMethod = '{dfm}', Alpha = {num2str(alpha)}"
    stats = dataset(glme, {"Group": g, "Level": lv, "Name": nm, "Estimate": B, "SEPred": se,
                           "tStat": t, "DF": dfv, "pValue": p, "Lower": lo, "Upper": up}, title, text)
    return with_outputs(RandomEffects(B, bnames, stats), where)


def _pattern_type(glme, k: int, pat) -> str:
    """MATLAB's covariance Type of term k: a one-column term defaults to 'Isotropic' when the
    user gave no CovariancePattern (fitglme's own default rule); a logical pattern is 'Patterned'."""
    if pat.name == "Pattern":
        return "Patterned"
    given = "CovariancePattern" in (glme._request.options or {})
    if not given and pat.q == 1:
        return "Isotropic"
    return pat.name


def covarianceParameters(glme, *args, **kwargs) -> list:
    """Covariance parameters of the random effects and the dispersion.

    Parameters
    ----------
    glme : GeneralizedLinearMixedModel
    *args, **kwargs : name-value options
        ``Alpha`` (0.05).

    Returns
    -------
    list
        The first output, which unpacks into all of them (``psi, mse, stats = ...``);
        they are also attributes (``.stats``), and ``.outputs`` is the ``CovarianceParameters``
        NamedTuple (docs/migration.md, "One output or several").
        ``psi``: list of R covariance matrices of b (q_k x q_k, absolute scale);
        ``mse``: the dispersion; ``stats``: R + 1 MatlabDatasets.  Table k is titled
        ``Covariance Type: <pattern>`` with Group, Name1, Name2, Type ('std' / 'corr'),
        Estimate, Lower, Upper; the last one is the error term (Group 'Error', Name
        'sqrt(Dispersion)').

    Notes
    -----
    The intervals are MATLAB's Wald intervals on the natural scale (log std, log((1+r)/(1-r)),
    log sigma), mapped back.  Their covariance is computed on demand, as MATLAB does under the
    default ``CovarianceMethod='conditional'``: the pseudo-inverse of a central-difference
    Hessian (step eps^(1/4)) of the negative Laplace log-likelihood in (beta, natural
    parameters, log sigma) for Laplace/ApproximateLaplace fits, or of the beta-profiled ML
    (MPL) / REML (REMPL) log-likelihood of the final pseudo-data LME for PL fits.
    Non-estimable directions give NaN; a fixed dispersion gives the interval [1, 1].

    Examples
    --------
    >>> from fitglme import fitglme, load_example
    >>> glme = fitglme(load_example(), 'defects ~ 1 + newprocess + (1|factory)', Distribution='Poisson')
    >>> psi, mse, stats = covarianceParameters(glme)
    >>> stats[0].title, float(mse)
    ('Covariance Type: Isotropic', 1.0)
    """
    where = "covarianceParameters"
    opts = parse_options(args, kwargs, ("Alpha",), where)
    alpha = check_alpha(opts.get("Alpha", 0.05), where)
    res = glme._result
    psi = [np.array(P, dtype=float, copy=True) for P in res.psi]
    mse = float(res.dispersion)
    cis, sig_ci = _covariance_cis(glme, alpha)
    tables = []
    for k, (group, _m, n1, n2, types, est, pat) in enumerate(glme._covariance_rows()):
        data = {"Group": [group] * len(types), "Name1": list(n1), "Name2": list(n2), "Type": list(types),
                "Estimate": np.asarray(est, float), "Lower": cis[k][0], "Upper": cis[k][1]}
        tables.append(dataset(glme, data, f"Covariance Type: {_pattern_type(glme, k, pat)}",
                              ("Group", "Name1", "Name2", "Type")))
    # MATLAB makes the error table's Group a char column (printed plainly) and Name a cell.
    err = {"Group": np.array(["Error"], dtype=object), "Name": ["sqrt(Dispersion)"],
           "Estimate": [np.sqrt(mse)], "Lower": [sig_ci[0]], "Upper": [sig_ci[1]]}
    tables.append(dataset(glme, err, None, ("Name",), cls=OneRowDataset))  # stats[-1].Estimate: a scalar
    return with_outputs(CovarianceParameters(psi, mse, tables), where)


class EffectsMethods:
    """Mixin of :class:`~fitglme.model.GeneralizedLinearMixedModel`: fixed effects, random effects and covariance parameters.

    The methods are this module's functions, so ``glme.fixedEffects(...)`` and
    ``fixedEffects(glme, ...)`` are the same call.
    """

    fixedEffects = fixedEffects
    randomEffects = randomEffects
    covarianceParameters = covarianceParameters
