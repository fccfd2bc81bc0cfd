"""Metamorphic relations: transformations of the input that must leave the fit unchanged, or change
it in a way known in closed form, for every FitMethod where the relation holds.

* row permutation: the same fit;
* relabelled and reordered levels of a grouping variable: the same fit, the random effects
  permuted with their levels;
* relabelled levels of a categorical predictor, reordered non-reference levels: the same
  coefficients under the new names; a different reference level: the same model reparametrised
  (intercept b0 + b_B, the other level effects minus b_B);
* change of units of a continuous predictor x -> c x: its coefficient and SE divided by c, the rest
  unchanged (the REML log-likelihood moves by -log c: it holds -1/2 log det(X'V^-1 X)); Normal y -> c y: beta, SE, residual and random-effect standard deviations times c,
  correlations unchanged, LogLikelihood minus n log c (ML) or (n - p) log c (REML);
* Poisson, log link: an offset shifted by k moves the intercept by -k;
* Poisson: rows duplicated k times against integer Weights k: the same estimates (the kernels
  sum k (y log mu - mu) agree); the Laplace log-likelihoods differ by the parameter-free
  constant of MATLAB's weighted Poisson density (docs/matlab_source_notes.md item 5), computed here.
  (Normal has no such identity: a duplicated row counts twice in the n of the profiled residual
  variance, an integer weight does not.)

"Same" is 1e-9: fixed effects in units of their SE, covariance parameters relative, the
log-likelihood relative to max(1, |LogLikelihood|) (the target the optimum is pinned to).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import gammaln, xlogy

from fitglme import fitglme, load_example

TOL = 1e-9
METHODS = ("MPL", "REMPL", "Laplace", "ApproximateLaplace")

NORMAL_FORMULA = "y ~ 1 + x + c + (1 + x|g)"
POISSON_FORMULA = "defects ~ 1 + newprocess + time_dev + temp_dev + supplier + (1|factory)"


def _fit(df, formula, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fitglme(df, formula, **kw)


def _normal_table() -> pd.DataFrame:
    """120 rows, 12 groups (text labels), a 3-level categorical c, a correlated random slope."""
    rng = np.random.default_rng(20261202)
    m, k = 12, 10
    g = np.repeat([f"s{i:02d}" for i in range(m)], k)
    x = rng.normal(size=m * k)
    c = rng.choice(["lo", "mid", "hi"], size=m * k)
    u0 = rng.normal(scale=1.0, size=m)
    u1 = 0.4 * u0 + rng.normal(scale=0.5, size=m)
    idx = np.repeat(np.arange(m), k)
    eff = {"lo": 0.0, "mid": 0.7, "hi": -0.4}
    y = 2.0 + 0.8 * x + np.array([eff[v] for v in c]) + u0[idx] + u1[idx] * x + rng.normal(scale=0.6, size=m * k)
    return pd.DataFrame({"y": y, "x": x, "c": pd.Categorical(c, categories=["lo", "mid", "hi"]), "g": g})


@pytest.fixture(scope="module")
def normal():
    return _normal_table()


@pytest.fixture(scope="module")
def poisson():
    return load_example()


@pytest.fixture(scope="module")
def base_fits(normal, poisson):
    """Baseline fits per (distribution, method), shared by the tests (each fit once)."""
    out = {}
    for method in METHODS:
        out["Normal", method] = _fit(normal, NORMAL_FORMULA, FitMethod=method)
        out["Poisson", method] = _fit(poisson, POISSON_FORMULA, Distribution="Poisson", FitMethod=method)
    return out


def _data(dist, normal, poisson):
    return (normal, NORMAL_FORMULA, {}) if dist == "Normal" else (poisson, POISSON_FORMULA, {"Distribution": "Poisson"})


# ----------------------------------------------------------------------------------------------
# comparison
# ----------------------------------------------------------------------------------------------
def _coef(g) -> pd.DataFrame:
    return g.Coefficients.to_frame().set_index("Name")[["Estimate", "SE"]] if hasattr(g.Coefficients, "to_frame") \
        else pd.DataFrame(g.Coefficients).set_index("Name")[["Estimate", "SE"]]


def _cov_params(g) -> np.ndarray:
    return np.concatenate([np.asarray(e, float) for *_, e, _ in g._covariance_rows()])


def fit_differences(a, b, beta_b=None, se_b=None, cov_b=None, loglik_shift=0.0) -> dict:
    """How far fit ``b`` is from fit ``a`` once the transformation is undone: ``beta_b``/``se_b``
    (by a's coefficient names) and ``cov_b`` are b's values mapped back to a's scale."""
    ca = _coef(a)
    cb = _coef(b)
    est_b = cb["Estimate"].reindex(ca.index).to_numpy() if beta_b is None else np.asarray(beta_b, float)
    se_bb = cb["SE"].reindex(ca.index).to_numpy() if se_b is None else np.asarray(se_b, float)
    cov_a = _cov_params(a)
    cov_bb = _cov_params(b) if cov_b is None else np.asarray(cov_b, float)
    ll_a, ll_b = a.LogLikelihood, b.LogLikelihood - loglik_shift
    return {
        "beta (SE units)": float(np.max(np.abs(est_b - ca["Estimate"].to_numpy()) / ca["SE"].to_numpy())),
        "SE (relative)": float(np.max(np.abs(se_bb / ca["SE"].to_numpy() - 1))),
        "covariance parameters (relative)": float(np.max(np.abs(cov_bb / cov_a - 1))),
        "dispersion (relative)": abs(b.Dispersion / a.Dispersion - 1) if cov_b is None else 0.0,
        "LogLikelihood (relative)": abs(ll_b - ll_a) / max(1.0, abs(ll_a)),
    }


def assert_same(diffs: dict, tol: float = TOL):
    bad = {k: f"{v:.2e}" for k, v in diffs.items() if not v < tol}
    assert not bad, f"differences above {tol:g}: {bad}"


# ----------------------------------------------------------------------------------------------
# row permutation
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dist", ["Normal", "Poisson"])
def test_row_permutation(dist, method, base_fits, normal, poisson):
    df, formula, kw = _data(dist, normal, poisson)
    perm = np.random.default_rng(7).permutation(len(df))
    b = _fit(df.iloc[perm].reset_index(drop=True), formula, FitMethod=method, **kw)
    assert_same(fit_differences(base_fits[dist, method], b))


# ----------------------------------------------------------------------------------------------
# levels of the grouping variable
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dist", ["Normal", "Poisson"])
def test_grouping_levels_relabelled_and_reordered(dist, method, base_fits, normal, poisson):
    df, formula, kw = _data(dist, normal, poisson)
    gname = "g" if dist == "Normal" else "factory"
    old = list(pd.unique(df[gname].astype(str)))
    new_names = {lev: f"Q{(7 * i) % len(old):03d}x" for i, lev in enumerate(old)}  # a bijection
    order = [new_names[lev] for lev in old[::-1]]  # and a different level order
    df2 = df.copy()
    df2[gname] = pd.Categorical(df[gname].astype(str).map(new_names), categories=order)
    a, b = base_fits[dist, method], _fit(df2, formula, FitMethod=method, **kw)
    assert_same(fit_differences(a, b))
    # the random effects follow their levels
    Ba, Na, _ = a.randomEffects()
    Bb, Nb, _ = b.randomEffects()
    key_a = pd.Series(Ba, index=pd.MultiIndex.from_arrays([Na["Level"].map(new_names), Na["Name"]]))
    key_b = pd.Series(Bb, index=pd.MultiIndex.from_arrays([Nb["Level"], Nb["Name"]]))
    assert list(Nb["Level"].drop_duplicates()) == order
    scale = np.sqrt(a.Dispersion) if dist == "Normal" else 1.0
    assert np.max(np.abs(key_b.reindex(key_a.index).to_numpy() - key_a.to_numpy())) / scale < 1e-7


# ----------------------------------------------------------------------------------------------
# levels of a categorical predictor
# ----------------------------------------------------------------------------------------------
def _cat_setup(dist, normal, poisson):
    df, formula, kw = _data(dist, normal, poisson)
    var = "c" if dist == "Normal" else "supplier"
    return df, formula, kw, var, list(df[var].cat.categories)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dist", ["Normal", "Poisson"])
def test_categorical_levels_relabelled_and_reordered(dist, method, base_fits, normal, poisson):
    """Renamed levels, the non-reference levels in another order: the same coefficients by name."""
    df, formula, kw, var, levels = _cat_setup(dist, normal, poisson)
    ren = {lev: f"{lev}_{i}r" for i, lev in enumerate(levels)}
    df2 = df.copy()
    cats = [ren[levels[0]]] + [ren[lev] for lev in levels[:0:-1]]
    df2[var] = pd.Categorical(df[var].astype(str).map(ren), categories=cats)
    a, b = base_fits[dist, method], _fit(df2, formula, FitMethod=method, **kw)
    cb = _coef(b)
    back = {f"{var}_{ren[lev]}": f"{var}_{lev}" for lev in levels}
    cb.index = [back.get(n, n) for n in cb.index]
    ca = _coef(a)
    assert sorted(cb.index) == sorted(ca.index)
    assert_same(fit_differences(a, b, beta_b=cb["Estimate"].reindex(ca.index), se_b=cb["SE"].reindex(ca.index)))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dist", ["Normal", "Poisson"])
def test_categorical_reference_level_changed(dist, method, base_fits, normal, poisson):
    """Reference level L1 instead of L0: b0' = b0 + b_1, b_1' = -b_1, b_j' = b_j - b_1; the
    log-likelihood, covariance parameters and dispersion unchanged."""
    df, formula, kw, var, levels = _cat_setup(dist, normal, poisson)
    df2 = df.copy()
    df2[var] = df[var].cat.reorder_categories([levels[1], levels[0]] + levels[2:])
    a, b = base_fits[dist, method], _fit(df2, formula, FitMethod=method, **kw)
    ca, cb = _coef(a), _coef(b)
    name = lambda lev: f"{var}_{lev}"  # noqa: E731
    b1 = ca.loc[name(levels[1]), "Estimate"]
    expected = ca["Estimate"].copy()
    expected["(Intercept)"] += b1
    expected[name(levels[1])] = -b1
    for lev in levels[2:]:
        expected[name(lev)] -= b1
    got = cb["Estimate"].rename({name(levels[0]): name(levels[1])})
    d = fit_differences(a, b, beta_b=got.reindex(ca.index) - expected + ca["Estimate"], se_b=ca["SE"])
    assert_same(d)


# ----------------------------------------------------------------------------------------------
# changes of units
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dist", ["Normal", "Poisson"])
def test_continuous_predictor_rescaled(dist, method, base_fits, normal, poisson):
    """x -> c x (a fixed-effects-only predictor): its coefficient and SE divided by c."""
    df, formula, kw = _data(dist, normal, poisson)
    var, c = ("x", 3.5) if dist == "Normal" else ("temp_dev", 1000.0)  # e.g. degrees -> milli-degrees
    if dist == "Normal":
        # x also carries a random slope: use the formula without it for this relation
        formula = "y ~ 1 + x + c + (1|g)"
        a = _fit(df, formula, FitMethod=method, **kw)
    else:
        a = base_fits[dist, method]
    b = _fit(df.assign(**{var: df[var] * c}), formula, FitMethod=method, **kw)
    cb = _coef(b).reindex(_coef(a).index)
    factor = np.where(cb.index == var, c, 1.0)
    # REML: the restricted log-likelihood holds -1/2 log det(X'V^-1 X), which moves by -log c.
    shift = -np.log(c) if method == "REMPL" else 0.0
    assert_same(fit_differences(a, b, beta_b=cb["Estimate"] * factor, se_b=cb["SE"] * factor, loglik_shift=shift))


@pytest.mark.parametrize("method", METHODS)
def test_normal_response_rescaled(method, base_fits, normal):
    """y -> c y: beta, SE, standard deviations and sigma times c, correlations unchanged,
    LogLikelihood minus n log c (ML) or (n - p) log c (REML)."""
    c = 12.5
    a = base_fits["Normal", method]
    b = _fit(normal.assign(y=normal["y"] * c), NORMAL_FORMULA, FitMethod=method)
    cb = _coef(b).reindex(_coef(a).index)
    types = np.concatenate([np.asarray(t) for *_, t, _e, _p in b._covariance_rows()])
    cov_b = _cov_params(b) / np.where(types == "std", c, 1.0)
    n_eff = a.NumObservations - (a.NumCoefficients if method == "REMPL" else 0)
    d = fit_differences(a, b, beta_b=cb["Estimate"] / c, se_b=cb["SE"] / c, cov_b=cov_b,
                        loglik_shift=-n_eff * np.log(c))
    d["dispersion (relative)"] = abs(b.Dispersion / (c * c * a.Dispersion) - 1)
    assert_same(d)


@pytest.mark.parametrize("method", METHODS)
def test_poisson_offset_shift_moves_intercept(method, base_fits, poisson):
    k = 0.75
    a = base_fits["Poisson", method]
    b = _fit(poisson, POISSON_FORMULA, Distribution="Poisson", FitMethod=method, Offset=np.full(len(poisson), k))
    cb = _coef(b).reindex(_coef(a).index)
    est = cb["Estimate"].copy()
    est["(Intercept)"] += k
    assert_same(fit_differences(a, b, beta_b=est))


# ----------------------------------------------------------------------------------------------
# duplicated rows against integer weights
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
def test_poisson_duplicated_rows_equal_integer_weights(method, poisson):
    w = np.random.default_rng(3).integers(1, 4, len(poisson)).astype(float)
    dup = poisson.loc[poisson.index.repeat(w.astype(int))].reset_index(drop=True)
    a = _fit(poisson, POISSON_FORMULA, Distribution="Poisson", FitMethod=method, Weights=w)
    b = _fit(dup, POISSON_FORMULA, Distribution="Poisson", FitMethod=method)
    d = fit_differences(a, b)
    if method in ("Laplace", "ApproximateLaplace"):
        y = poisson["defects"].to_numpy(float)
        weighted = np.sum(xlogy(w * y, w) - gammaln(w * y + 1))  # MATLAB: sum log f(w y; w mu)
        duplicated = -np.sum(w * gammaln(y + 1))
        d["LogLikelihood (relative)"] = abs((b.LogLikelihood - duplicated) - (a.LogLikelihood - weighted)) \
            / max(1.0, abs(a.LogLikelihood))
    else:
        d.pop("LogLikelihood (relative)")  # the pseudo-data LMEs' constants differ (sum log w terms)
    assert_same(d)
