"""fixedEffects, randomEffects, covarianceParameters, coefCI, coefTest, anova and compare.

The random-effects prediction errors are checked against an independent dense computation: Z is
built densely here, the weights are recomputed from the public estimates (Poisson-log: w mu;
Gamma-log, Laplace: the observed weights w y / (phi mu); Normal: w / sigma^2), and the full
(u, beta) system is inverted with numpy.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import fitglme as fg
from fitglme import FitglmeError, fitglme
from fitglme.methods.effects import CovarianceParameters, FixedEffects, RandomEffects
from fitglme.methods.hypothesis import CoefCI, CoefTest


# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    n = 150
    g = rng.integers(0, 12, n)
    h = rng.integers(0, 5, n)
    x = rng.normal(size=n)
    c = rng.choice(["a", "b", "c"], n)
    bg = rng.normal(scale=[0.5, 0.3], size=(12, 2))
    bh = rng.normal(scale=0.4, size=5)
    eta = 0.5 + 0.3 * x + np.where(c == "b", 0.2, np.where(c == "c", -0.3, 0)) + bg[g, 0] + bg[g, 1] * x + bh[h]
    return pd.DataFrame({
        "y": rng.poisson(np.exp(eta)), "x": x, "c": c,
        "g": [f"G{i:02d}" for i in g], "h": [f"H{i}" for i in h],
        "yn": eta + rng.normal(scale=0.5, size=n), "yg": rng.gamma(5.0, np.exp(eta) / 5.0),
        "w": rng.integers(1, 4, n).astype(float),
    })


def _fit(df, formula, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fitglme(df, formula, **kw)


@pytest.fixture(scope="module")
def pois(data):
    return _fit(data, "y ~ 1 + x + c + (1 + x|g) + (1|h)", Distribution="Poisson", FitMethod="Laplace")


@pytest.fixture(scope="module")
def normal(data):
    return _fit(data, "yn ~ 1 + x + c + (1 + x|g) + (1|h)", Weights="w")  # MPL (= ML for Normal)


@pytest.fixture(scope="module")
def gamma(data):
    return _fit(data, "yg ~ 1 + x + (1|g)", Distribution="Gamma", Link="log", FitMethod="Laplace")


# ----------------------------------------------------------------------------------------------
# dense reference computations (independent of the block kernel)
def _dense_Z(glme, df):
    """n x Q random-effects design from the data, in MATLAB's order."""
    parts = []
    for term in glme.fit_state.problem.design.re_blocks:
        levels = list(term.level_names)
        idx = np.array([levels.index(v) for v in df[term.group_name].astype(str)])
        cov = np.column_stack([np.ones(len(df)) if nm == "(Intercept)" else df[nm].to_numpy(float)
                               for nm in term.names])
        q = cov.shape[1]
        Zk = np.zeros((len(df), len(levels) * q))
        for a in range(q):
            Zk[np.arange(len(df)), idx * q + a] = cov[:, a]
        parts.append(Zk)
    return np.hstack(parts)


def _dense_lambda(glme):
    psi = glme.covarianceParameters().psi
    blocks = []
    for term, P in zip(glme.fit_state.problem.design.re_blocks, psi):
        w, U = np.linalg.eigh(P)
        root = U * np.sqrt(np.clip(w, 0, None))  # any square root: the result is invariant
        blocks.append(np.kron(np.eye(term.nlevels), root))
    Q = sum(b.shape[0] for b in blocks)
    lam = np.zeros((Q, Q))
    o = 0
    for b in blocks:
        lam[o:o + b.shape[0], o:o + b.shape[0]] = b
        o += b.shape[0]
    return lam


def _dense_joint_inverse(glme, df, weights):
    """Cov(beta, b - b_hat) from the dense inverse of the full (u, beta) system."""
    Z, lam, X = _dense_Z(glme, df), _dense_lambda(glme), glme.fit_state.problem.design.X
    ZL = Z @ lam
    Q, p = ZL.shape[1], X.shape[1]
    A = np.block([[ZL.T @ (weights[:, None] * ZL) + np.eye(Q), ZL.T @ (weights[:, None] * X)],
                  [X.T @ (weights[:, None] * ZL), X.T @ (weights[:, None] * X)]])
    Ai = np.linalg.inv(A)
    T = np.zeros((p + Q, Q + p))
    T[:p, Q:] = np.eye(p)
    T[p:, :Q] = lam
    return T @ Ai @ T.T, Z, lam  # order (beta, b)


def _eta(glme, df, Z):
    return glme.fit_state.problem.design.X @ glme.fixedEffects().beta + Z @ glme.randomEffects().B


def _check_sepred(glme, df, weights):
    V, Z, lam = _dense_joint_inverse(glme, df, weights)
    p = glme.NumCoefficients
    se = glme.randomEffects().stats["SEPred"].to_numpy()
    np.testing.assert_allclose(se, np.sqrt(np.diag(V)[p:]), rtol=1e-7)
    # ... and it is not just the conditional variance given beta (which is smaller).
    ZL = Z @ lam
    cond = lam @ np.linalg.inv(ZL.T @ (weights[:, None] * ZL) + np.eye(ZL.shape[1])) @ lam.T
    assert np.all(np.sqrt(np.diag(cond)) < se)
    return V


def test_sepred_poisson_laplace_dense(pois, data):
    Z = _dense_Z(pois, data)
    mu = np.exp(_eta(pois, data, Z))
    np.testing.assert_allclose(mu, pois.fit_state.result.mu, rtol=1e-10)  # our dense Z is the model's
    _check_sepred(pois, data, mu)  # canonical link: W = w mu


def test_sepred_gamma_laplace_uses_observed_weights(gamma, data):
    Z = _dense_Z(gamma, data)
    mu = np.exp(_eta(gamma, data, Z))
    phi = gamma.covarianceParameters().mse
    _check_sepred(gamma, data, data["yg"].to_numpy() / mu / phi)  # -d2 loglik / d eta2


def test_sepred_normal_pl_scaled_by_dispersion(normal, data):
    _check_sepred(normal, data, data["w"].to_numpy() / normal.Dispersion)


# ----------------------------------------------------------------------------------------------
def test_namedtuples_and_call_forms(pois):
    assert FixedEffects._fields == ("beta", "betanames", "stats")
    assert RandomEffects._fields == ("B", "BNames", "stats")
    assert CovarianceParameters._fields == ("psi", "mse", "stats")
    assert CoefCI._fields == ("feCI", "reCI")
    assert CoefTest._fields == ("pVal", "F", "DF1", "DF2")
    a, b = pois.fixedEffects(), fg.fixedEffects(pois)
    np.testing.assert_array_equal(a.beta, b.beta)
    pd.testing.assert_frame_equal(a.stats.to_frame(), b.stats.to_frame())
    np.testing.assert_array_equal(pois.randomEffects().B, fg.randomEffects(pois).B)
    assert pois.anova().equals(fg.anova(pois))
    assert fg.coefTest(pois) == pois.coefTest()
    np.testing.assert_array_equal(fg.coefCI(pois).feCI, pois.coefCI().feCI)
    beta, names, st = pois.fixedEffects()
    assert list(names["Name"]) == pois.CoefficientNames == list(st["Name"])
    assert list(st.columns) == ["Name", "Estimate", "SE", "tStat", "DF", "pValue", "Lower", "Upper"]
    B, BN, rs = pois.randomEffects()
    assert list(BN.columns) == ["Group", "Level", "Name"]
    assert list(rs.columns) == ["Group", "Level", "Name", "Estimate", "SEPred", "tStat", "DF", "pValue",
                                "Lower", "Upper"]
    # MATLAB order: term by term, level by level, name by name.
    assert list(BN["Name"][:4]) == ["(Intercept)", "x", "(Intercept)", "x"]
    lv = pois.fit_state.problem.design.re_blocks[0].level_names  # grp2idx order (first appearance for text)
    assert list(BN["Level"][:4]) == [lv[0], lv[0], lv[1], lv[1]]
    assert list(BN["Group"][-5:]) == ["h"] * 5 and len(B) == 12 * 2 + 5


def test_fixed_effects_stats_and_options(pois):
    # The numbers (SE, tStat, pValue, intervals under Alpha / DFMethod) are compared with the lme4
    # references in compat_tests/test_methods_references.py; here: the options' spelling and DF.
    st = pois.fixedEffects().stats
    assert set(st["DF"]) == {pois.NumObservations - pois.NumCoefficients}
    st2 = pois.fixedEffects("alpha", 0.01, "dfm", "None").stats  # case-insensitive, prefixes
    st3 = pois.fixedEffects(Alpha=0.01, DFMethod="none").stats
    pd.testing.assert_frame_equal(st2.to_frame(), st3.to_frame())
    assert np.all(np.isinf(st2["DF"]))
    assert np.all(st2["Upper"] - st2["Lower"] > st["Upper"] - st["Lower"])  # 99% wider than 95%


def test_random_effects_stats(pois):
    # Values against the references: compat_tests/test_methods_references.py.
    B, _, st = pois.randomEffects("Alpha", 0.1)
    fe, re = pois.coefCI("Alpha", 0.1)
    np.testing.assert_array_equal(re, st[["Lower", "Upper"]].to_numpy())  # one computation, two methods
    assert fe.shape == (pois.NumCoefficients, 2) and re.shape == (len(B), 2)


def test_titles(pois):
    first = lambda t: str(t).splitlines()[0]  # noqa: E731
    assert first(pois.fixedEffects().stats) == "    Fixed effect coefficients: DFMethod = 'residual', Alpha = 0.05"
    assert first(pois.fixedEffects(DFMethod="none", Alpha=0.01).stats) == \
        "    Fixed effect coefficients: DFMethod = 'none', Alpha = 0.01"
    assert first(pois.randomEffects().stats) == "    Random effect coefficients: DFMethod = 'residual', Alpha = 0.05"
    assert first(pois.anova()) == "    ANOVA marginal tests: DFMethod = 'residual'"
    assert first(pois.anova(DFMethod="none")) == "    ANOVA marginal tests: DFMethod = 'none'"
    st = pois.covarianceParameters().stats
    assert [first(t) for t in st[:2]] == ["    Covariance Type: FullCholesky", "    Covariance Type: Isotropic"]
    assert st[2].title is None and first(st[2]).split() == ["Group", "Name", "Estimate", "Lower", "Upper"]
    lines = str(pois.fixedEffects().stats).splitlines()
    assert lines[1] == "" and lines[2].split()[:2] == ["Name", "Estimate"]
    assert lines[3].lstrip().startswith("'(Intercept)'")


def test_covariance_parameters(pois, data):
    psi, mse, st = pois.covarianceParameters()
    assert len(psi) == 2 and psi[0].shape == (2, 2) and mse == 1.0
    sd = np.sqrt(np.diag(psi[0]))
    t0 = st[0]
    assert list(t0.columns) == ["Group", "Name1", "Name2", "Type", "Estimate", "Lower", "Upper"]
    assert list(t0["Type"]) == ["std", "corr", "std"] and list(t0["Name1"]) == ["(Intercept)", "x", "x"]
    np.testing.assert_allclose(t0["Estimate"], [sd[0], psi[0][1, 0] / sd.prod(), sd[1]])
    assert np.all(t0["Lower"] < t0["Estimate"]) and np.all(t0["Estimate"] < t0["Upper"])
    assert t0["Lower"][1] > -1 and t0["Upper"][1] < 1  # a correlation stays in (-1, 1)
    err = st[-1]
    assert list(err["Group"]) == ["Error"] and list(err["Name"]) == ["sqrt(Dispersion)"]
    assert err["Estimate"].iloc[0] == 1.0
    assert (err["Lower"].iloc[0], err["Upper"].iloc[0]) == (1.0, 1.0)  # fixed dispersion
    # Wald on the natural scale: log(std) interval symmetric, narrower for a larger Alpha.
    lo, up = np.log(t0["Lower"][0]), np.log(t0["Upper"][0])
    assert np.log(t0["Estimate"][0]) == pytest.approx((lo + up) / 2, rel=1e-10)
    t90 = pois.covarianceParameters(Alpha=0.1).stats[0]
    ratio = stats.norm.ppf(0.95) / stats.norm.ppf(0.975)
    assert np.log(t90["Upper"][0] / t90["Estimate"][0]) == pytest.approx(ratio * (up - lo) / 2, rel=1e-8)
    diag = _fit(data, "yn ~ 1 + x + (1 + x|g)", CovariancePattern="Diagonal")
    assert diag.covarianceParameters().stats[0].title == "Covariance Type: Diagonal"


def test_covariance_cis_pl_and_laplace_paths_agree_for_normal(data):
    # Normal-identity: MPL (beta-profiled LME Hessian) and Laplace (exact likelihood, Hessian in
    # beta, natural parameters and log sigma jointly) are two code paths to the same intervals.
    f = "yn ~ 1 + x + (1 + x|g) + (1|h)"
    a, b = _fit(data, f, Weights="w"), _fit(data, f, Weights="w", FitMethod="Laplace")
    sa, sb = a.covarianceParameters().stats, b.covarianceParameters().stats
    for ta, tb in zip(sa, sb):
        for col in ("Estimate", "Lower", "Upper"):
            np.testing.assert_allclose(ta[col], tb[col], rtol=2e-4)
    assert np.all(np.isfinite(sa[-1][["Lower", "Upper"]].to_numpy()))
    assert sa[-1]["Lower"][0] < a.Dispersion ** 0.5 < sa[-1]["Upper"][0]


# ----------------------------------------------------------------------------------------------
def test_coeftest_identity_rows_reproduce_t_tests(pois):
    st = pois.fixedEffects().stats
    stn = pois.fixedEffects(DFMethod="none").stats
    p = pois.NumCoefficients
    for j in range(p):
        r = pois.coefTest(np.eye(p)[j])
        assert r.F == pytest.approx(st["tStat"][j] ** 2, rel=1e-10)
        assert r.pVal == pytest.approx(st["pValue"][j], rel=1e-8, abs=1e-300)
        assert (r.DF1, r.DF2) == (1.0, pois.DFE)
        rn = pois.coefTest(np.eye(p)[[j]], [0], "DFMethod", "none")
        assert rn.pVal == pytest.approx(stn["pValue"][j], rel=1e-8) and np.isinf(rn.DF2)
    # A hypothesised value equal to the estimate gives F = 0.
    assert pois.coefTest(np.eye(p)[1], [st["Estimate"][1]]).F == pytest.approx(0, abs=1e-20)


def test_coeftest_joint_and_default(pois):
    # F and p of the default test against the references' beta and covariance:
    # compat_tests/test_methods_references.py::test_coeftest_default_against_reference.
    p = pois.NumCoefficients
    H = np.eye(p)[1:]
    r = pois.coefTest()  # default: all but the intercept
    F = r.F
    assert r.DF1 == p - 1 and r.DF2 == pois.DFE
    assert pois.coefTest(H) == r
    # Redundant rows are dropped (MATLAB's fullrankH); inconsistent ones are an error.
    r2 = pois.coefTest(np.vstack([H, H[:1] * 2]), np.zeros(p))
    assert r2.DF1 == p - 1 and r2.F == pytest.approx(F, rel=1e-8)
    with pytest.raises(FitglmeError, match="inconsistent"):
        pois.coefTest(np.vstack([H[:1], H[:1]]), [0.0, 1.0])


def test_coeftest_recontrast(pois, data):
    B, _, st = pois.randomEffects()
    p, Q = pois.NumCoefficients, len(B)
    for i in (0, 3, Q - 1):
        K = np.zeros((1, Q))
        K[0, i] = 1
        r = pois.coefTest(np.zeros((1, p)), [0], REContrast=K)
        assert r.F == pytest.approx((B[i] / st["SEPred"][i]) ** 2, rel=1e-8)
        assert r.pVal == pytest.approx(st["pValue"][i], rel=1e-7)
    # A joint contrast mixing beta and b, against the dense joint covariance.
    V, _, _ = _dense_joint_inverse(pois, data, pois.fit_state.result.mu)
    rng = np.random.default_rng(1)
    H, K = rng.normal(size=(3, p)), rng.normal(size=(3, Q))
    L = np.hstack([H, K])
    d = L @ np.concatenate([pois.fixedEffects().beta, B]) - 0.1
    F = d @ np.linalg.solve(L @ V @ L.T, d) / 3
    r = pois.coefTest(H, [0.1] * 3, "REContrast", K, "DFMethod", "none")
    assert r.F == pytest.approx(F, rel=1e-7) and r.DF1 == 3 and np.isinf(r.DF2)
    assert r.pVal == pytest.approx(stats.chi2.sf(3 * F, 3), rel=1e-7)


def test_anova_terms(pois):
    a = pois.anova()
    assert list(a["Term"]) == ["(Intercept)", "x", "c"]
    assert list(a["DF1"]) == [1, 1, 2] and set(a["DF2"]) == {pois.DFE}
    st = pois.fixedEffects().stats
    assert a["FStat"][1] == pytest.approx(st["tStat"][1] ** 2, rel=1e-10)
    cols = pois.fit_state.problem.design.term_columns[2]
    r = pois.coefTest(np.eye(pois.NumCoefficients)[cols])
    assert (a["FStat"][2], a["pValue"][2]) == pytest.approx((r.F, r.pVal), rel=1e-12)


def test_intercept_only_default_coeftest_is_nan(data):
    m = _fit(data, "y ~ 1 + (1|g)", Distribution="Poisson", FitMethod="Laplace")
    assert all(np.isnan(v) for v in m.coefTest().outputs)


# ----------------------------------------------------------------------------------------------
def test_compare_display_and_rules(data, pois):
    small = _fit(data, "y ~ 1 + x + (1 + x|g)", Distribution="Poisson", FitMethod="Laplace")
    res = fg.compare(small, pois)
    assert list(res["Model"]) == ["glme", "altglme"]
    assert list(res["DF"]) == [small._num_parameters, pois._num_parameters]
    assert res["LRStat"][1] == pytest.approx(2 * (pois.LogLikelihood - small.LogLikelihood))
    assert res["deltaDF"][1] == 3
    assert res["pValue"][1] == pytest.approx(1 - stats.chi2.cdf(res["LRStat"][1], 3))
    lines = str(res).splitlines()
    assert lines[0] == "    Theoretical Likelihood Ratio Test" and lines[1] == ""
    assert lines[2].split() == ["Model", "DF", "AIC", "BIC", "LogLik", "LRStat", "deltaDF", "pValue"]
    assert lines[3].startswith("    glme    ")  # plain Model column, no quotes
    assert len(lines[3].split()) == 5 and len(lines[3]) == len(lines[2])  # blanks padded
    assert "NaN" not in lines[3]
    with pytest.raises(FitglmeError, match="smaller than"):  # larger model, lower likelihood
        fg.compare(pois, _fit(data, "y ~ 1 + x + c + (1 + x|g) + (1|h)", Distribution="Poisson",
                              FitMethod="ApproximateLaplace", Offset=np.full(len(data), -5.0)))


def test_compare_nonpositive_deltadf_gives_nan_pvalue(data):
    first = _fit(data, "yn ~ 1 + c + (1|h)")  # 5 parameters, poor fit
    second = _fit(data, "yn ~ 1 + x + (1|g)")  # 4 parameters, better fit: no swap
    assert second.LogLikelihood > first.LogLikelihood
    res = fg.compare(first, second, names=("first", "second"))
    assert list(res["Model"]) == ["first", "second"] and res["deltaDF"][1] == -1
    assert np.isnan(res["pValue"][1])  # chi2cdf with deltaDF <= 0 is NaN in MATLAB
    assert str(res).splitlines()[4].rstrip().endswith("NaN")
    a, b = _fit(data, "yn ~ 1 + x + c + (1|g)"), _fit(data, "yn ~ 1 + x + (1 + x|g)")  # 6 and 6
    lo, hi = (a, b) if a.LogLikelihood <= b.LogLikelihood else (b, a)
    res0 = fg.compare(lo, hi)
    assert res0["deltaDF"][1] == 0 and np.isnan(res0["pValue"][1])


def test_compare_checknesting_mpl_warns_and_design_checks(data):
    s = _fit(data, "y ~ 1 + x + (1|g)", Distribution="Poisson")
    b = _fit(data, "y ~ 1 + x + c + (1|g)", Distribution="Poisson")
    assert b.LogLikelihood >= s.LogLikelihood
    with pytest.warns(Warning, match="pseudo"):
        fg.compare(s, b, CheckNesting=True)
    s2 = _fit(data, "y ~ 1 + c + (1|g)", Distribution="Poisson", FitMethod="Laplace")
    b2 = _fit(data, "y ~ 1 + x + (1 + x|g)", Distribution="Poisson", FitMethod="Laplace")
    assert b2.LogLikelihood >= s2.LogLikelihood
    with pytest.raises(FitglmeError, match="fixed-effects design") as err:
        fg.compare(s2, b2, CheckNesting=True)
    assert err.value.identifier == "fitglme:NestingCheck_nestedspanX"
    s3 = _fit(data, "y ~ 1 + x + (1|h)", Distribution="Poisson", FitMethod="Laplace")
    b3 = _fit(data, "y ~ 1 + x + (1 + x|g)", Distribution="Poisson", FitMethod="Laplace")
    assert b3.LogLikelihood >= s3.LogLikelihood
    with pytest.raises(FitglmeError, match="random-effects design"):
        fg.compare(s3, b3, CheckNesting=True)
    lap = _fit(data, "y ~ 1 + x + c + (1|g)", Distribution="Poisson", FitMethod="Laplace")
    with pytest.raises(FitglmeError, match="FitMethod"):
        fg.compare(s, lap, CheckNesting=True) if lap.LogLikelihood >= s.LogLikelihood else \
            fg.compare(lap, s, CheckNesting=True)


# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("call, match", [
    (lambda m: m.fixedEffects(Alpha=1.5), r"Alpha.*\[0, 1\].*1\.5"),
    (lambda m: m.randomEffects("Alpha", "big"), r"Alpha.*'big'"),
    (lambda m: m.fixedEffects(DFMethod="satterthwaite"), r"DFMethod.*'residual'.*'none'.*satterthwaite"),
    (lambda m: m.anova("DFMethod", 3), r"DFMethod.*3"),
    (lambda m: m.coefCI(Alpah=0.1), r"unknown option 'Alpah'.*Alpha"),
    (lambda m: m.fixedEffects("Alpha"), r"no value"),
    (lambda m: m.covarianceParameters(DFMethod="none"), r"unknown option 'DFMethod'"),
    (lambda m: m.coefTest(np.ones((1, 3))), r"H must be a numeric matrix with 4 columns.*\(1, 3\)"),
    (lambda m: m.coefTest(np.eye(4)[:2], [1, 2, 3]), r"C must be .*2 element.*got 3"),
    (lambda m: m.coefTest(np.eye(4)[:2], REContrast=np.ones((2, 4))), r"REContrast must be .*2-by-29"),
    (lambda m: m.coefTest(np.eye(4)[:2], REContrast=np.ones((1, 29))), r"REContrast.*2-by-29.*1 row"),
    (lambda m: m.coefTest([[np.nan] * 4]), r"H must contain finite"),
    (lambda m: m.coefTest("abc"), r"no value|unknown option"),
    (lambda m: fg.compare(m, "model"), r"altglme must be a GeneralizedLinearMixedModel.*str"),
    (lambda m: fg.compare(m, m, CheckNesting="yes"), r"CheckNesting.*logical.*'yes'"),
    (lambda m: fg.compare(m, m, names=("a",)), r"names must be a pair of strings"),
])
def test_option_errors(pois, call, match):
    with pytest.raises(FitglmeError, match=match):
        call(pois)


def test_alpha_bounds_are_matlabs(pois):
    # MATLAB's validateAlpha accepts 0 and 1 (infinite / zero-width intervals).
    st0 = pois.fixedEffects(Alpha=0).stats
    assert np.all(np.isinf(st0["Upper"]))
    st1 = pois.fixedEffects(Alpha=1).stats
    np.testing.assert_allclose(st1["Lower"], st1["Estimate"])
    assert str(st1).splitlines()[0].endswith("Alpha = 1")


def test_lrt_table_layout_matches_a_real_matlab_compare_display():
    # MATLAB's own compare output (LME doc example, older release; the same titled-dataset
    # formatter): blank first-row cells, plain Model column, DF right-aligned.
    from fitglme.methods.hypothesis import LRTDataset

    matlab = [
        "    Theoretical Likelihood Ratio Test",
        "",
        "    Model     DF    AIC       BIC       LogLik     LRStat    deltaDF    pValue   ",
        "    lme        6    285.38    304.86    -136.69                                  ",
        "    lmeAlt    18     262.9    321.34    -113.45    46.485    12         5.722e-06",
    ]
    t = LRTDataset({"Model": ["lme", "lmeAlt"], "DF": [6, 18], "AIC": [285.38, 262.9], "BIC": [304.86, 321.34],
                    "LogLik": [-136.69, -113.45], "LRStat": [np.nan, 46.485], "deltaDF": [np.nan, 12.0],
                    "pValue": [np.nan, 5.722e-06]}, title="Theoretical Likelihood Ratio Test",
                   blank_cells={c: (0,) for c in ("LRStat", "deltaDF", "pValue")})
    assert str(t).splitlines() == matlab


def test_nesting_check_both_paths(data):
    from fitglme.methods.hypothesis import _is_nested, _sparse_Z

    inner = _fit(data, "y ~ 1 + x + (1|g)", Distribution="Poisson", FitMethod="Laplace")
    outer = _fit(data, "y ~ 1 + x + (1 + x|g) + (1|h)", Distribution="Poisson", FitMethod="Laplace")
    Zi, Zo = _sparse_Z(inner), _sparse_Z(outer)
    np.testing.assert_array_equal(Zo.toarray(), _dense_Z(outer, data))
    for limit in (5e6, 0):  # dense least squares / Gram-matrix route
        assert _is_nested(Zi, Zo, limit)
        assert not _is_nested(Zo, Zi, limit)
