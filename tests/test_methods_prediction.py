"""designMatrix, fitted, residuals, response, predict, random and refit.

Every expectation is computed independently of the code under test: dense matrices and direct
formulas for the linear predictor, residuals and prediction variances; moments of the simulated
responses from the distribution's formulas with tolerances derived from their variances.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy import stats
from scipy.linalg import block_diag

from fitglme import (FitglmeError, designMatrix, fitglme, fitted, predict, random, refit,
                     residuals, response)
from fitglme.methods.prediction import _conditional_variance
from fitglme.methods.simulation import conditional_draw


# --------------------------------------------------------------------------------------------
# data and models
# --------------------------------------------------------------------------------------------
def _data(seed=0, G=12, H=5, per=8):
    rng = np.random.default_rng(seed)
    n = G * per
    g = np.repeat([f"g{i:02d}" for i in range(G)], per)
    h = rng.integers(0, H, n)
    x = rng.normal(size=n)
    c = rng.choice(["a", "b", "c"], n)
    bg = rng.normal(0, 0.7, G)[np.repeat(np.arange(G), per)]
    sg = rng.normal(0, 0.3, G)[np.repeat(np.arange(G), per)]
    bh = rng.normal(0, 0.4, H)[h]
    off = rng.uniform(-0.3, 0.3, n)
    eta = 0.5 + 0.4 * x + (c == "b") * 0.3 + bg + sg * x + bh
    size = rng.integers(1, 6, n)
    w = rng.uniform(0.5, 2.0, n)
    df = pd.DataFrame({
        "g": pd.Categorical(g), "h": pd.Categorical([f"h{k}" for k in h]), "x": x,
        "c": pd.Categorical(c, categories=["a", "b", "c"]), "off": off, "w": w, "size": size,
        "count": rng.poisson(np.exp(eta + off)),
        "prop": rng.binomial(size, 1 / (1 + np.exp(-(eta - 0.5)))) / size,
        "yn": eta + rng.normal(0, 0.5, n) / np.sqrt(w),
        "yg": rng.gamma(4.0, np.exp(eta) / 4.0),
    })
    return df


def _fit(df, formula, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fitglme(df, formula, **kw)


@pytest.fixture(scope="module")
def df():
    return _data()


@pytest.fixture(scope="module")
def pois(df):
    """Poisson Laplace, random intercept: canonical link, so C = W = w mu."""
    return _fit(df, "count ~ 1 + x + c + (1|g)", Distribution="Poisson", FitMethod="Laplace")


@pytest.fixture(scope="module")
def pois_off(df):
    return _fit(df, "count ~ 1 + x + (1|g)", Distribution="Poisson", FitMethod="Laplace", Offset="off")


@pytest.fixture(scope="module")
def normal(df):
    """Normal MPL with weights, correlated slope and a crossed term (two blocks, q = 2 and 1)."""
    return _fit(df, "yn ~ 1 + x + (1 + x|g) + (1|h)", Weights="w")


@pytest.fixture(scope="module")
def normal_rev(df):
    """The same terms, the smaller block first (the block solver reorders them internally)."""
    return _fit(df, "yn ~ 1 + x + (1|h) + (1 + x|g)", Weights="w")


@pytest.fixture(scope="module")
def binom(df):
    return _fit(df, "prop ~ 1 + x + (1|g)", Distribution="Binomial", BinomialSize="size")


@pytest.fixture(scope="module")
def excl(df):
    """Missing and excluded rows: outputs keep one row per table row."""
    d = df.copy()
    d.loc[3, "x"] = np.nan
    return _fit(d, "count ~ 1 + x + (1|g)", Distribution="Poisson", FitMethod="Laplace",
                Exclude=[5, 6]), d


def _dense_psi(glme):
    return block_diag(*[np.kron(np.eye(blk.nlevels), psi)
                        for blk, psi in zip(glme.fit_state.problem.design.re_blocks, glme.fit_state.result.psi)])


def _dense_joint_cov(glme, Wt):
    """Cov of (beta, b): inv([X'WX, X'WZ; Z'WX, Z'WZ + Psi^-1]) with the working weights Wt."""
    X = glme.fit_state.problem.design.X
    Z = designMatrix(glme, "Random").toarray()
    A = np.block([[X.T @ (Wt[:, None] * X), X.T @ (Wt[:, None] * Z)],
                  [Z.T @ (Wt[:, None] * X), Z.T @ (Wt[:, None] * Z) + np.linalg.inv(_dense_psi(glme))]])
    return np.linalg.inv(A), X, Z


# --------------------------------------------------------------------------------------------
# designMatrix / fitted / response / residuals
# --------------------------------------------------------------------------------------------
def test_design_matrices_give_the_linear_predictor(normal, pois_off):
    for glme in (normal, pois_off):
        X = designMatrix(glme)
        Z = designMatrix(glme, "Random")
        assert sp.issparse(Z) and Z.format == "csc"
        assert Z.shape == (len(glme.fit_state.spec.request.table), glme.fit_state.problem.layout.Q)
        B = glme.fit_state.result.b
        eta = X @ glme.fit_state.result.beta + Z @ B + glme.fit_state.spec.offset
        np.testing.assert_allclose(eta, glme.fit_state.result.eta, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(designMatrix(glme, "f"), X)  # prefix, case-insensitive


def test_random_design_column_order(normal):
    """Columns: term by term, level by level, name by name (MATLAB's order of B)."""
    tbl = normal.fit_state.spec.request.table
    Z = designMatrix(normal, "Random").toarray()
    glevels = list(tbl["g"].cat.categories)
    hlevels = sorted(tbl["h"].unique())
    G = len(glevels)
    gi = np.array([glevels.index(v) for v in tbl["g"]])
    hi = np.array([hlevels.index(v) for v in tbl["h"]])
    expect = np.zeros_like(Z)
    rows = np.arange(len(tbl))
    expect[rows, 2 * gi] = 1.0
    expect[rows, 2 * gi + 1] = tbl["x"]
    expect[rows, 2 * G + hi] = 1.0
    np.testing.assert_array_equal(Z, expect)


def test_design_matrix_gnumbers_are_zero_based(normal):
    Z = designMatrix(normal, "Random")
    G = normal.fit_state.problem.design.re_blocks[0].nlevels
    d1 = designMatrix(normal, "Random", [1])
    assert d1.gnames == ["h"]
    np.testing.assert_array_equal(d1.Dsub.toarray(), Z.toarray()[:, 2 * G:])
    d10 = designMatrix(normal, "Random", [1, 0])
    assert d10.gnames == ["h", "g"]
    np.testing.assert_array_equal(d10.Dsub.toarray(), np.hstack([Z.toarray()[:, 2 * G:], Z.toarray()[:, :2 * G]]))
    Dsub, gnames = designMatrix(normal, "Random", 0)
    assert gnames == ["g"] and Dsub.shape[1] == 2 * G


@pytest.mark.parametrize("bad", [2, -1, [0, 5], 0.5, "1", [], True])
def test_design_matrix_bad_gnumbers(normal, bad):
    with pytest.raises(FitglmeError, match="0-based") as e:
        designMatrix(normal, "Random", bad)
    assert e.value.identifier == "fitglme:BadGNumbers"


def test_design_matrix_bad_type(normal):
    with pytest.raises(FitglmeError, match="Fixed"):
        designMatrix(normal, "Mixed")
    with pytest.raises(FitglmeError, match="only to"):
        designMatrix(normal, "Fixed", [0])


def test_fitted_conditional_and_marginal(pois_off):
    X = designMatrix(pois_off)
    Z = designMatrix(pois_off, "Random")
    eta_m = X @ pois_off.fit_state.result.beta + pois_off.fit_state.spec.request.table["off"].to_numpy()
    np.testing.assert_allclose(fitted(pois_off, Conditional=False), np.exp(eta_m), rtol=1e-12)
    np.testing.assert_allclose(fitted(pois_off), np.exp(eta_m + Z @ pois_off.fit_state.result.b), rtol=1e-12)
    np.testing.assert_allclose(pois_off.fitted("cond", True), fitted(pois_off), rtol=0)


def test_response(binom, pois, df):
    y, n = response(binom)
    np.testing.assert_array_equal(y, df["prop"])
    np.testing.assert_array_equal(n, df["size"])
    y, n = pois.response()
    np.testing.assert_array_equal(y, df["count"])
    assert n is None


def test_pearson_residuals_direct_formula(normal, binom, df):
    # Normal: (y - mu) / sqrt(phi / w); phi estimated (not 1)
    mu = fitted(normal)
    assert abs(normal.Dispersion - 1) > 0.1
    np.testing.assert_allclose(residuals(normal, ResidualType="Pearson"),
                               (df["yn"] - mu) / np.sqrt(normal.Dispersion / df["w"]), rtol=1e-12)
    np.testing.assert_allclose(residuals(normal), df["yn"] - mu, rtol=1e-12)
    # Binomial proportions: (y - mu) / sqrt(mu (1 - mu) / n), marginal too
    for cond in (True, False):
        mu = fitted(binom, Conditional=cond)
        r = residuals(binom, "ResidualType", "pearson", "Conditional", cond)
        np.testing.assert_allclose(r, (df["prop"] - mu) / np.sqrt(mu * (1 - mu) / df["size"]), rtol=1e-12)
        np.testing.assert_allclose(residuals(binom, Conditional=cond), df["prop"] - mu, rtol=1e-12)


def test_rows_not_used_are_nan(excl):
    glme, d = excl
    N = len(d)
    unused = np.zeros(N, bool)
    unused[[3, 5, 6]] = True
    for v in (fitted(glme), residuals(glme), response(glme).y, designMatrix(glme)[:, 1]):
        assert v.shape == (N,)
        assert np.isnan(v[unused]).all() and not np.isnan(v[~unused]).any()
    Z = designMatrix(glme, "Random")
    assert Z.shape[0] == N and Z[unused].nnz == 0
    # predict(glme) predicts every table row: excluded rows too, missing rows are NaN
    p = predict(glme, Offset=0)
    assert np.isnan(p.ypred[3]) and not np.isnan(np.delete(p.ypred, 3)).any()
    np.testing.assert_allclose(p.ypred[~unused], fitted(glme)[~unused], rtol=1e-12)
    b = glme.fit_state.result.b[d["g"].cat.codes.to_numpy()[5]]
    assert p.ypred[5] == pytest.approx(np.exp(glme.fit_state.result.beta @ [1, d["x"][5]] + b), rel=1e-12)


def test_bad_options(pois):
    with pytest.raises(FitglmeError, match="Conditional"):
        fitted(pois, Conditional="yes")
    with pytest.raises(FitglmeError, match="unknown option"):
        fitted(pois, Conditonal=True)
    with pytest.raises(FitglmeError, match="ResidualType"):
        residuals(pois, ResidualType="standardized")


# --------------------------------------------------------------------------------------------
# predict
# --------------------------------------------------------------------------------------------
def test_predict_on_original_data_equals_fitted(pois, normal):
    for glme in (pois, normal):
        for cond in (True, False):
            p = predict(glme, Conditional=cond)
            np.testing.assert_allclose(p.ypred, fitted(glme, Conditional=cond), rtol=1e-12)
            assert (p.ypredCI[:, 0] < p.ypred).all() and (p.ypred < p.ypredCI[:, 1]).all()


def test_predict_offset_defaults_to_zero(pois_off, df):
    """MATLAB's predict Offset defaults to zeros, also on the original data."""
    np.testing.assert_allclose(predict(pois_off, Offset=df["off"].to_numpy()).ypred, fitted(pois_off), rtol=1e-12)
    np.testing.assert_allclose(predict(pois_off).ypred, fitted(pois_off) / np.exp(df["off"]), rtol=1e-12)
    np.testing.assert_allclose(predict(pois_off, df, "Offset", df["off"]).ypred, fitted(pois_off), rtol=1e-12)


def test_predict_unseen_group_is_marginal(pois, df):
    new = df.iloc[[0, 1, 20, 21]].copy()
    new["g"] = new["g"].cat.add_categories(["NEW"])
    new.loc[new.index[[1, 3]], "g"] = "NEW"
    pc = predict(pois, new)
    pm = predict(pois, new, Conditional=False)
    full = predict(pois)
    np.testing.assert_allclose(pc.ypred[[1, 3]], pm.ypred[[1, 3]], rtol=1e-12)
    np.testing.assert_allclose(pc.ypredCI[[1, 3]], pm.ypredCI[[1, 3]], rtol=1e-9)
    np.testing.assert_allclose(pc.ypred[[0, 2]], full.ypred[[0, 20]], rtol=1e-12)
    np.testing.assert_allclose(pc.ypredCI[[0, 2]], full.ypredCI[[0, 20]], rtol=1e-12)
    assert not np.allclose(pc.ypred[[0, 2]], pm.ypred[[0, 2]])


def test_predict_missing_rows_and_unseen_level(pois, df):
    new = df.head(3).copy()
    new.loc[1, "x"] = np.nan
    p = predict(pois, new)
    assert np.isnan(p.ypred[1]) and np.isnan(p.ypredCI[1]).all() and not np.isnan(p.ypred[[0, 2]]).any()
    bad = df.head(2).copy()
    bad["c"] = bad["c"].cat.add_categories(["zz"])
    bad.loc[0, "c"] = "zz"
    with pytest.raises(FitglmeError, match="zz") as e:
        predict(pois, bad)
    assert e.value.identifier == "fitglme:UnknownLevel"
    with pytest.raises(FitglmeError, match="'x'"):
        predict(pois, df[["g", "c", "count"]])


def _ci(eta, var, crit, inv):
    lo, hi = inv(eta - crit * np.sqrt(var)), inv(eta + crit * np.sqrt(var))
    return np.column_stack([np.minimum(lo, hi), np.maximum(lo, hi)])


def test_predict_conditional_intervals_dense(pois, normal, normal_rev):
    """Delta method with the joint covariance of (beta, b), built densely here."""
    n = pois.NumObservations
    w = normal.fit_state.spec.request.table["w"].to_numpy()
    # Poisson/log (canonical): W = mu;  Normal/identity MPL: W = w / phi
    cases = [(pois, fitted(pois), np.exp), (normal, w / normal.Dispersion, lambda e: e),
             (normal_rev, w / normal_rev.Dispersion, lambda e: e)]
    for glme, Wt, inv in cases:
        cov, X, Z = _dense_joint_cov(glme, Wt)
        C = np.hstack([X, Z])
        var = np.einsum("ij,jk,ik->i", C, cov, C)
        eta = X @ glme.fit_state.result.beta + Z @ glme.fit_state.result.b
        p, Q = glme.NumCoefficients, Z.shape[1]
        dfe = n - p
        for alpha in (0.05, 0.2):
            got = predict(glme, Alpha=alpha)
            np.testing.assert_allclose(got.ypredCI, _ci(eta, var, stats.t.ppf(1 - alpha / 2, dfe), inv), rtol=1e-7)
            np.testing.assert_array_equal(got.DF, np.full(n, dfe))
        got = predict(glme, DFMethod="none")
        np.testing.assert_allclose(got.ypredCI, _ci(eta, var, stats.norm.ppf(0.975), inv), rtol=1e-7)
        assert np.isinf(got.DF).all()
        got = predict(glme, Simultaneous=True)
        crit = np.sqrt((p + Q) * stats.f.ppf(0.95, p + Q, dfe))
        np.testing.assert_allclose(got.ypredCI, _ci(eta, var, crit, inv), rtol=1e-7)
        assert got.DF == dfe


def test_variance_paths_agree(pois, normal, normal_rev, df):
    """Both ways of forming L2^{-1}(c2 - C'y1) (per-batch solve / precomputed inverse) agree,
    also with unseen levels and in small batches."""
    new = df.iloc[::7].copy()
    for col in ("g", "h"):
        new[col] = new[col].cat.add_categories(["NEW"])
    new.loc[new.index[::3], "g"] = "NEW"
    new.loc[new.index[1::4], "h"] = "NEW"
    for glme in (pois, normal, normal_rev):
        spec = glme.fit_state.problem.design.spec
        for tbl in (df, new):
            X, blocks = spec.fixed_matrix(tbl), spec.random_blocks(tbl)
            a = _conditional_variance(glme, X, blocks, method="direct")
            b = _conditional_variance(glme, X, blocks, method="precomputed", batch_floats=50)
            np.testing.assert_allclose(a, b, rtol=1e-10)


def test_predict_marginal_intervals(pois):
    X = designMatrix(pois)
    V = pois.CoefficientCovariance
    var = np.einsum("ij,jk,ik->i", X, V, X)
    eta = X @ pois.fit_state.result.beta
    p = pois.NumCoefficients
    got = predict(pois, Conditional=False)
    np.testing.assert_allclose(got.ypredCI, _ci(eta, var, stats.t.ppf(0.975, pois.DFE), np.exp), rtol=1e-9)
    got = predict(pois, Conditional=False, Simultaneous=True, DFMethod="None")
    np.testing.assert_allclose(got.ypredCI, _ci(eta, var, np.sqrt(stats.chi2.ppf(0.95, p)), np.exp), rtol=1e-9)


def test_predict_decreasing_link_sorts_limits(df):
    glme = _fit(df, "yg ~ 1 + x + (1|g)", Distribution="Gamma")  # reciprocal link
    p = predict(glme)
    assert (p.ypredCI[:, 0] <= p.ypred).all() and (p.ypred <= p.ypredCI[:, 1]).all()


@pytest.mark.parametrize("kw, match", [
    ({"Alpha": 1.5}, "Alpha"), ({"Alpha": "x"}, "Alpha"), ({"DFMethod": "satterthwaite"}, "DFMethod"),
    ({"Simultaneous": 2}, "Simultaneous"), ({"Offset": np.zeros(3)}, "Offset"),
    ({"BinomialSize": 1}, "unknown option"),
])
def test_predict_bad_options(pois, kw, match):
    with pytest.raises(FitglmeError, match=match):
        predict(pois, **kw)


def test_predict_positional_options(pois):
    a = predict(pois, "Conditional", False, "alpha", 0.1)
    b = predict(pois, None, Conditional=False, Alpha=0.1)
    np.testing.assert_array_equal(a.ypredCI, b.ypredCI)


# --------------------------------------------------------------------------------------------
# random
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, mu, phi, w, size, var", [
    ("Normal", 2.0, 0.7, 2.0, 1, lambda m, p, w, s: p / w),
    ("Poisson", 3.0, 1.0, 2.0, 1, lambda m, p, w, s: m / w),
    ("Binomial", 0.3, 1.0, 2.0, 3, lambda m, p, w, s: m * (1 - m) / (w * s)),
    ("Gamma", 2.0, 0.5, 2.0, 1, lambda m, p, w, s: p * m ** 2 / w),
    ("InverseGaussian", 1.5, 0.4, 2.0, 1, lambda m, p, w, s: p * m ** 3 / w),
])
def test_conditional_draws_have_the_distribution_moments(name, mu, phi, w, size, var):
    K = 200_000  # (conditional_draw is what random(glme) draws y | b with: _conditional_draw)
    y = conditional_draw(name, phi, np.full(K, mu), np.full(K, w), np.full(K, float(size)), np.random.default_rng(5))
    v = var(mu, phi, w, size)
    assert abs(y.mean() - mu) < 5 * np.sqrt(v / K)
    assert abs(y.var() / v - 1) < 0.05
    if name == "Binomial":
        np.testing.assert_allclose(y * w * size, np.round(y * w * size), atol=1e-12)


def test_random_normal_moments(normal, df):
    """y = X beta + Z b_new + e: mean X beta, variance z'Psi z + phi / w, for every row."""
    K = 3000
    Y = np.stack([random(normal, seed=s) for s in range(K)])
    X = designMatrix(normal)
    Z = designMatrix(normal, "Random").toarray()
    mean = X @ normal.fit_state.result.beta
    var = np.einsum("ij,jk,ik->i", Z, _dense_psi(normal), Z) + normal.Dispersion / df["w"].to_numpy()
    z = (Y.mean(0) - mean) / np.sqrt(var / K)
    assert np.abs(z).max() < 5
    ratio = Y.var(0, ddof=1) / var  # each ~ chi2_{K-1}/(K-1): sd sqrt(2/(K-1))
    assert np.abs(ratio - 1).max() < 5 * np.sqrt(2 / (K - 1))


def test_random_poisson_mean(pois):
    """E y = exp(eta_marginal + psi / 2) (random intercept): new b are drawn."""
    K = 4000
    rng = np.random.default_rng(11)
    Y = np.stack([random(pois, seed=rng) for _ in range(K)])
    psi = float(pois.fit_state.result.psi[0][0, 0])
    m = np.exp(np.log(fitted(pois, Conditional=False)) + psi / 2)
    var = m + m ** 2 * (np.exp(psi) - 1)
    z = (Y.mean(0) - m) / np.sqrt(var / K)
    assert np.abs(z).max() < 5
    # with the EBPs instead the mean would be the conditional fit: far off for some group
    zc = (Y.mean(0) - fitted(pois)) / np.sqrt(var / K)
    assert np.abs(zc).max() > 5


def test_random_binomial_new_data(binom, df):
    """New data: own grouping, BinomialSize, mean E logistic(eta + b) by Gauss-Hermite."""
    new = df.iloc[:6].copy()
    new["g"] = new["g"].cat.add_categories(["NEW"])
    new.loc[new.index[:3], "g"] = "NEW"
    K = 2500
    Y = np.stack([random(binom, new, BinomialSize=4, seed=s) for s in range(K)])
    np.testing.assert_allclose(Y * 4, np.round(Y * 4), atol=1e-12)
    eta = designMatrix(binom)[:6] @ binom.fit_state.result.beta
    psi = float(binom.fit_state.result.psi[0][0, 0])
    t, wq = np.polynomial.hermite_e.hermegauss(60)
    p = (1 / (1 + np.exp(-(eta[:, None] + np.sqrt(psi) * t[None, :])))) @ wq / wq.sum()
    p2 = (1 / (1 + np.exp(-(eta[:, None] + np.sqrt(psi) * t[None, :]))) ** 2) @ wq / wq.sum()
    var = p * (1 - p) / 4 + (p2 - p ** 2) * (1 - 1 / 4)
    assert np.abs((Y.mean(0) - p) / np.sqrt(var / K)).max() < 5
    # rows 0-2 share the new level: their draws are correlated through one b; rows 3-5 too
    assert np.corrcoef(Y[:, 0], Y[:, 1])[0, 1] > 0.05


def test_random_reproducible_and_shapes(pois, excl, df):
    a, b, c = random(pois, seed=7), random(pois, seed=7), random(pois, seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(random(pois, seed=np.random.default_rng(7)), a)
    glme, d = excl
    y = random(glme, seed=1)
    assert y.shape == (len(d),) and np.isnan(y[[3, 5, 6]]).all() and not np.isnan(np.delete(y, [3, 5, 6])).any()
    y = random(glme, "Offset", 0.0, seed=1)  # options without tblnew: every table row (MATLAB)
    assert np.isnan(y[3]) and not np.isnan(np.delete(y, 3)).any()
    new = df.head(4).copy()
    new.loc[2, "g"] = np.nan
    y = random(pois, new, seed=0)
    assert np.isnan(y[2]) and not np.isnan(y[[0, 1, 3]]).any()


@pytest.mark.parametrize("kw, match", [
    ({"seed": -1}, "seed"), ({"seed": 1.5}, "seed"), ({"Weights": 0.5}, "Weights"),
    ({"BinomialSize": 2}, "BinomialSize"), ({"Offset": [1, 2]}, "Offset"), ({"Alpha": 1}, "unknown option"),
])
def test_random_bad_options(pois, df, kw, match):
    with pytest.raises(FitglmeError, match=match):
        random(pois, df.head(3), **kw)


# --------------------------------------------------------------------------------------------
# refit
# --------------------------------------------------------------------------------------------
def test_refit_original_response_reproduces_fit(pois, binom):
    for glme in (pois, binom):
        y = response(glme).y
        new = refit(glme, y)
        assert new is not glme
        np.testing.assert_allclose(new.fit_state.result.beta, glme.fit_state.result.beta, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(new.fit_state.result.b, glme.fit_state.result.b, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(new.fit_state.result.psi[0], glme.fit_state.result.psi[0], rtol=1e-8)
        assert new.LogLikelihood == pytest.approx(glme.LogLikelihood, rel=1e-10)
        assert new.FitMethod == glme.FitMethod and new.Distribution == glme.Distribution


def test_refit_new_response(pois):
    ynew = random(pois, seed=4)
    new = pois.refit(ynew)
    np.testing.assert_array_equal(response(new).y, ynew)
    assert not np.allclose(new.fit_state.result.beta, pois.fit_state.result.beta)
    np.testing.assert_array_equal(response(pois).y, pois.fit_state.spec.request.table["count"])  # unchanged


def test_refit_table_length_with_unused_rows(excl):
    glme, d = excl
    y = response(glme).y  # N values, NaN on unused rows
    assert np.isnan(y).sum() == 3
    new = refit(glme, y)
    np.testing.assert_allclose(new.fit_state.result.beta, glme.fit_state.result.beta, rtol=1e-8)
    new2 = refit(glme, y[~np.isnan(y)])  # n values
    np.testing.assert_allclose(new2.fit_state.result.beta, glme.fit_state.result.beta, rtol=1e-8)


@pytest.mark.parametrize("bad, match", [
    (np.ones(5), "elements"), ("y", "numeric"), (np.array(["a"] * 96), "numeric"),
    (np.full(96, -1.0), "response must be"), (np.full(96, 0.5), "integer"),
    (np.r_[np.nan, np.ones(95)], "finite"), (np.ones((96, 2, 1)), "vector or an"),
    # (an (n, k) matrix is k responses since the many-fits refit: tests/test_manyfits.py)
])
def test_refit_bad_response(pois, bad, match):
    with pytest.raises(FitglmeError, match=match):
        refit(pois, bad)
