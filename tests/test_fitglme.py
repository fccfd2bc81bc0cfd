"""End-to-end tests of fitglme: calling conventions, options, bookkeeping and invariants."""
from __future__ import annotations

import copy
import warnings

import numpy as np
import pandas as pd
import pytest

from fitglme import FitglmeError, FitglmeWarning, GeneralizedLinearMixedModel, fitglme, load_example

F = "defects ~ 1 + newprocess + time_dev + temp_dev + supplier + (1|factory)"


@pytest.fixture(scope="module")
def mfr():
    return load_example()


@pytest.fixture(scope="module")
def base(mfr):
    return fitglme(mfr, F, "Distribution", "Poisson", "FitMethod", "Laplace")


def small_binomial(seed=3, n_groups=12, per=8):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), per)
    x = rng.normal(size=g.size)
    eta = -0.3 + 0.8 * x + rng.normal(scale=0.7, size=n_groups)[g]
    size = rng.integers(1, 6, g.size)
    k = rng.binomial(size, 1 / (1 + np.exp(-eta)))
    return pd.DataFrame({"y": k / size, "x": x, "g": [f"G{i:02d}" for i in g], "n": size})


def test_positional_keyword_prefix_and_case_give_the_same_model(mfr, base):
    a = fitglme(mfr, F, "distribution", "poisson", "fitmethod", "laplace")
    b = fitglme(mfr, F, Distribution="Poisson", FitMethod="Laplace")
    c = fitglme(mfr, F, "Dist", "Pois", FitMeth="Lap")
    for m in (a, b, c):
        np.testing.assert_array_equal(m.Coefficients["Estimate"], base.Coefficients["Estimate"])
        assert m.LogLikelihood == base.LogLikelihood


def test_dict_table_and_caller_data_unchanged(mfr):
    original = copy.deepcopy(mfr)
    d = {c: mfr[c].to_numpy() for c in mfr.columns}
    d_copy = copy.deepcopy(d)
    w = np.tile([1.0, 2.0], len(mfr) // 2)  # Poisson weights must be positive integers (MATLAB)
    w_copy = w.copy()
    m = fitglme(d, F, Distribution="Poisson", Weights=w, Exclude=[0, 5])
    pd.testing.assert_frame_equal(mfr, original)
    for k in d:
        np.testing.assert_array_equal(d[k], d_copy[k])
    np.testing.assert_array_equal(w, w_copy)
    assert m.NumObservations == len(mfr) - 2


def test_exclude_and_missing_recorded_in_observation_info(mfr):
    df = mfr.copy()
    df.loc[3, "time_dev"] = np.nan
    df["supplier"] = df["supplier"].astype(object)
    df.loc[7, "supplier"] = None
    mask = np.zeros(len(df), bool)
    mask[[10, 11]] = True
    m = fitglme(df, F, Distribution="Poisson", Exclude=mask)
    info = m.ObservationInfo
    assert list(info.columns) == ["Weights", "Excluded", "Missing", "Subset", "BinomSize"]
    assert info["Missing"].sum() == 2 and info["Missing"].iloc[3] and info["Missing"].iloc[7]
    assert info["Excluded"].sum() == 2 and info["Excluded"].iloc[10]
    assert info["Subset"].sum() == m.NumObservations == len(df) - 4
    assert m.DFE == m.NumObservations - m.NumCoefficients
    # 0-based positions select the same rows as the mask
    m2 = fitglme(df, F, Distribution="Poisson", Exclude=[10, 11])
    np.testing.assert_allclose(m2.Coefficients["Estimate"], m.Coefficients["Estimate"], rtol=1e-10)


def test_weights_offset_and_size_as_column_names():
    df = small_binomial()
    df["off"] = 0.1
    a = fitglme(df, "y ~ x + (1|g)", Distribution="Binomial", BinomialSize="n", Offset="off")
    b = fitglme(df, "y ~ x + (1|g)", Distribution="Binomial", BinomialSize=df["n"].to_numpy(),
                Offset=np.full(len(df), 0.1))
    np.testing.assert_array_equal(a.Coefficients["Estimate"], b.Coefficients["Estimate"])
    c = fitglme(df, "y ~ x + (1|g)", Distribution="Binomial", BinomialSize="n")
    # an offset of 0.1 on every row moves the intercept by -0.1 (same fit otherwise)
    assert a.Coefficients["Estimate"][0] == pytest.approx(c.Coefficients["Estimate"][0] - 0.1, abs=1e-6)
    assert a.ObservationInfo["BinomSize"].tolist() == df["n"].tolist()


@pytest.mark.parametrize("pattern,nparams", [("FullCholesky", 3), ("Full", 3), ("Diagonal", 2),
                                              ("Isotropic", 1), ("CompSymm", 2)])
def test_covariance_patterns(pattern, nparams):
    df = small_binomial(seed=5, n_groups=20, per=10)
    m = fitglme(df, "y ~ x + (x|g)", Distribution="Binomial", BinomialSize="n", FitMethod="Laplace",
                CovariancePattern=pattern)
    psi = m.fit_state.result.psi[0]
    assert m.fit_state.result.n_cov_params == nparams
    assert np.all(np.linalg.eigvalsh(psi) >= -1e-12)
    if pattern == "Diagonal":
        assert psi[0, 1] == 0
    if pattern == "Isotropic":
        assert psi[0, 0] == pytest.approx(psi[1, 1]) and psi[0, 1] == 0
    if pattern == "CompSymm":
        assert psi[0, 0] == pytest.approx(psi[1, 1])


def test_logical_pattern_equals_diagonal():
    df = small_binomial(seed=5, n_groups=20, per=10)
    a = fitglme(df, "y ~ x + (x|g)", Distribution="Binomial", BinomialSize="n", CovariancePattern=np.eye(2, dtype=bool))
    b = fitglme(df, "y ~ x + (x|g)", Distribution="Binomial", BinomialSize="n", CovariancePattern="Diagonal")
    np.testing.assert_allclose(a.fit_state.result.psi[0], b.fit_state.result.psi[0], rtol=1e-6, atol=1e-10)


def test_full_patterns_equal_and_two_uncorrelated_terms_equal_diagonal():
    df = small_binomial(seed=7, n_groups=20, per=10)
    a = fitglme(df, "y ~ x + (1|g) + (x-1|g)", Distribution="Binomial", BinomialSize="n", FitMethod="Laplace")
    b = fitglme(df, "y ~ x + (x|g)", Distribution="Binomial", BinomialSize="n", FitMethod="Laplace",
                CovariancePattern="Diagonal")
    assert a.LogLikelihood == pytest.approx(b.LogLikelihood, abs=1e-6)
    np.testing.assert_allclose(a.Coefficients["Estimate"], b.Coefficients["Estimate"], atol=1e-5)


def test_custom_link_equals_builtin():
    df = small_binomial()
    logit = {
        "Link": lambda mu: np.log(mu / (1 - mu)),
        "Derivative": lambda mu: 1 / (mu * (1 - mu)),
        "SecondDerivative": lambda mu: (2 * mu - 1) / (mu * (1 - mu)) ** 2,
        "Inverse": lambda eta: 1 / (1 + np.exp(-eta)),
    }
    a = fitglme(df, "y ~ x + (1|g)", Distribution="Binomial", BinomialSize="n", Link=logit, FitMethod="Laplace")
    b = fitglme(df, "y ~ x + (1|g)", Distribution="Binomial", BinomialSize="n", FitMethod="Laplace")
    np.testing.assert_allclose(a.Coefficients["Estimate"], b.Coefficients["Estimate"], rtol=1e-6)
    assert a.LogLikelihood == pytest.approx(b.LogLikelihood, abs=1e-7)


def test_power_link_zero_is_log(mfr):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = fitglme(mfr, F, Distribution="Poisson", Link=0, FitMethod="Laplace")
    b = fitglme(mfr, F, Distribution="Poisson", Link="log", FitMethod="Laplace")
    np.testing.assert_allclose(a.Coefficients["Estimate"], b.Coefficients["Estimate"], rtol=1e-8)


def test_dispersion_flag_changes_only_mpl(mfr):
    a = fitglme(mfr, F, Distribution="Poisson")
    b = fitglme(mfr, F, Distribution="Poisson", DispersionFlag=True)
    assert a.Dispersion == 1 and not a.DispersionEstimated
    assert b.DispersionEstimated and b.Dispersion != 1
    c = fitglme(mfr, F, Distribution="Poisson", FitMethod="Laplace", DispersionFlag=True)
    assert c.Dispersion == 1 and not c.DispersionEstimated


def test_pl_nonconvergence_warns_and_returns_model(mfr):
    with pytest.warns(FitglmeWarning) as rec:
        m = fitglme(mfr, F, Distribution="Poisson", PLIterations=1)
    assert isinstance(m, GeneralizedLinearMixedModel)
    assert any("PLUnableToConverge" in w.message.identifier for w in rec)


def test_boundary_fit_reaches_zero_variance():
    rng = np.random.default_rng(11)
    df = pd.DataFrame({"x": rng.normal(size=60), "g": np.repeat(list("abcdef"), 10)})
    df["y"] = rng.poisson(np.exp(0.2 + 0.3 * df["x"]))
    for method in ("MPL", "Laplace"):
        with pytest.warns(FitglmeWarning) as rec:
            m = fitglme(df, "y ~ x + (1|g)", Distribution="Poisson", FitMethod=method)
        assert any(w.message.identifier == "fitglme:BoundaryFit" for w in rec)
        assert np.all(np.isfinite(m.Coefficients["SE"]))
        assert m.fit_state.result.psi[0][0, 0] < 1e-6


@pytest.mark.parametrize("method", ["MPL", "REMPL", "Laplace", "ApproximateLaplace"])
@pytest.mark.parametrize("dist,link", [("Gamma", "log"), ("InverseGaussian", "log"), ("Normal", "identity"),
                                       ("Gamma", None)])
def test_continuous_distributions_fit(dist, link, method):
    rng = np.random.default_rng(2)
    g = np.repeat(np.arange(15), 8)
    x = rng.normal(size=g.size)
    mu = np.exp(0.5 + 0.3 * x + rng.normal(scale=0.3, size=15)[g])
    y = rng.gamma(shape=4, scale=mu / 4) if dist != "Normal" else mu + rng.normal(scale=0.2, size=g.size)
    df = pd.DataFrame({"y": y, "x": x, "g": g})
    kw = {} if link is None else {"Link": link}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = fitglme(df, "y ~ x + (1|g)", Distribution=dist, FitMethod=method, **kw)
    assert m.DispersionEstimated and m.Dispersion > 0
    assert np.all(np.isfinite(m.Coefficients["SE"])) and np.isfinite(m.LogLikelihood)
    if link == "log":
        assert m.Coefficients["Estimate"][1] == pytest.approx(0.3, abs=0.15)


def test_property_values(base):
    assert base.Distribution == "Poisson" and base.FitMethod == "Laplace"
    assert base.Link.Name == "Log"
    assert base.ResponseName == "defects"
    assert base.NumCoefficients == base.NumEstimatedCoefficients == 6
    assert str(base.Formula) == "defects ~ 1 + newprocess + time_dev + temp_dev + supplier + (1 | factory)"
    # AIC/BIC/Deviance, tStat, pValue, SE and the whole CoefficientCovariance are compared with
    # the lme4 references (the REMPL BIC with log(n - p) too): compat_tests/test_lme4_references.py.
    assert base.NumCoefficients + base.NumCovarianceParameters == 7
    assert 0 < base.Rsquared.Ordinary < 1


@pytest.mark.parametrize(
    "args,kwargs,ident",
    [
        (("Distribution", "Poison"), {}, "fitglme:BadDistribution"),
        (("FitMethod", "REML"), {}, "fitglme:BadFitMethod"),
        (("Distribution",), {}, "fitglme:BadNameValue"),
        ((), {"Foo": 1}, "fitglme:UnknownOption"),
        ((), {"Weights": np.ones(3)}, "fitglme:BadWeights"),
        ((), {"CovariancePattern": "Banded"}, "fitglme:BadCovariancePattern"),
        ((), {"Exclude": [1000]}, "fitglme:BadExclude"),
    ],
)
def test_bad_inputs_raise_clear_errors(mfr, args, kwargs, ident):
    with pytest.raises(FitglmeError) as exc:
        fitglme(mfr, F, *args, **kwargs)
    assert exc.value.identifier == ident


def test_formula_errors(mfr):
    with pytest.raises(FitglmeError) as exc:
        fitglme(mfr, "defects ~ newprocess + (1|factory", Distribution="Poisson")
    assert exc.value.identifier == "fitglme:BadFormula"
    with pytest.raises(FitglmeError) as exc:
        fitglme(mfr, "defects ~ newprocess", Distribution="Poisson")
    assert exc.value.identifier == "fitglme:NoRandomEffects"
    with pytest.raises(FitglmeError) as exc:
        fitglme(mfr, "defects ~ nosuch + (1|factory)", Distribution="Poisson")
    assert exc.value.identifier == "fitglme:UnknownVariable"


def test_rank_deficient_design_names_the_column(mfr):
    df = mfr.copy()
    df["twice"] = 2 * df["time_dev"]
    with pytest.raises(FitglmeError) as exc:
        fitglme(df, "defects ~ time_dev + twice + (1|factory)", Distribution="Poisson")
    assert exc.value.identifier == "fitglme:RankDeficient" and "twice" in str(exc.value)


def test_quasi_separation_warns_and_returns_model():
    rng = np.random.default_rng(4)
    x = rng.normal(size=80)
    df = pd.DataFrame({"x": x, "y": (x > 0).astype(float), "g": np.repeat(list("abcdefgh"), 10)})
    with pytest.warns(FitglmeWarning) as rec:
        m = fitglme(df, "y ~ x + (1|g)", Distribution="Binomial", FitMethod="Laplace")
    assert any(w.message.identifier == "fitglme:QuasiSeparation" for w in rec)
    assert isinstance(m, GeneralizedLinearMixedModel)


def test_diverging_pseudo_likelihood_says_so():
    """A log-link InverseGaussian fit whose pseudo-likelihood steps overshoot (an outlying y = 0.0104
    among 19 rows: the linear predictor changes by ~77 times its size in the second iteration) gives
    an error that names the divergence and the way out, not a bare "not positive definite"."""
    from fitglme import FitglmeError

    tbl = pd.DataFrame({
        "x0": [-2, 0, 0, 1, -2, -2, -2, 0, 2, 1, 1, -2, 0, 1, -1, -1, 0, 1, 0],
        "x1": [-0.863484, -0.298615, -0.278334, 0.382528, -1.534727, 1.661035, -2.000968, -0.997514,
               -0.731186, -0.241241, 0.384956, -0.300328, -0.958557, -0.003866, 0.794744, 0.162475,
               1.318099, 0.971639, 0.502748],
        "x2": np.array([1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 0, 1, 0, 0, 1], bool),
        "g0": ["L1", "L3", "L1", "L1", "L2", "L1", "L0", "L0", "L1", "L2", "L3", "L3", "L0", "L0", "L0",
               "L0", "L1", "L3", "L0"],
        "y": [2.420085, 2.443270, 1.426703, 3.055265, 1.839464, 1.753222, 2.733414, 3.261224, 2.374049,
              3.821488, 0.010398, 1.807737, 0.959716, 3.527503, 0.926755, 0.646191, 1.221087, 1.571971,
              2.416821],
    })
    with pytest.raises(FitglmeError, match="pseudo-likelihood iterations diverged") as err:
        fitglme(tbl, "y ~ x0 + x1^2 + x2 + (x1 - 1|g0)", "Distribution", "InverseGaussian", "Link", "log",
                "DummyVarCoding", "effects")
    assert err.value.identifier == "fitglme:NumericalFailure"
    assert "Laplace" in str(err.value)
    # Without the squared term the iterations survive their divergence at iteration 2 (eta changing
    # by ~126 times its size) for one or more steps, how many depending on the CPU kernel's
    # rounding (measured: 1 under OpenBLAS Haswell, 3 under Sandybridge, where an iteration in
    # between changed eta by less than its size): the error names the first divergent iteration.
    with pytest.raises(FitglmeError, match=r"changed by 126 times its size at iteration 2") as err:
        fitglme(tbl, "y ~ x0 + x1 + x2 + (x1 - 1|g0)", "Distribution", "InverseGaussian", "Link", "log",
                "DummyVarCoding", "effects", "PLIterations", 6, "InitPLIterations", 1)
    assert err.value.identifier == "fitglme:NumericalFailure"


def test_methods_come_from_the_declared_mixins():
    """Every public method function is a method of the model through one of the mixin classes in
    its class statement (no attachment at import time), and the same object as the free function."""
    import fitglme as fg
    from fitglme.methods import MIXINS, public_functions
    from fitglme.model import GeneralizedLinearMixedModel

    assert set(MIXINS) <= set(GeneralizedLinearMixedModel.__mro__)
    for name, fn in public_functions().items():
        assert name not in vars(GeneralizedLinearMixedModel), name
        assert getattr(GeneralizedLinearMixedModel, name) is fn is getattr(fg, name), name


def test_fit_state_is_typed_and_refit_uses_the_constructor(mfr):
    from fitglme.engine.result import EngineResult
    from fitglme.problem_builder import FitOutcome, ModelSpec, ProblemParts

    glme = fitglme(mfr, "defects ~ 1 + newprocess + (1|factory)", Distribution="Poisson")
    state = glme.fit_state
    assert isinstance(state, FitOutcome) and isinstance(state.spec, ModelSpec)
    assert isinstance(state.problem, ProblemParts) and isinstance(state.result, EngineResult)
    assert "_result" not in vars(glme) and "_design" not in vars(glme)
    new = glme.refit(glme.response())
    assert type(new) is type(glme) and new.fit_state.spec.request is state.spec.request
    np.testing.assert_array_equal(new.fit_state.result.beta, state.result.beta)  # same response, same path
