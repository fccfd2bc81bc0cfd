"""The optimiser-related fitglme options (issue: all of MATLAB's options)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from fitglme import FitglmeError, fitglme, load_example
from fitglme.fit_options import statset

F = "defects ~ 1 + newprocess + time_dev + temp_dev + supplier + (1|factory)"


@pytest.fixture(scope="module")
def mfr():
    return load_example()


@pytest.fixture(scope="module")
def base(mfr):
    return fitglme(mfr, F, Distribution="Poisson", FitMethod="Laplace")


@pytest.mark.parametrize("kw", [
    {"Optimizer": "fminsearch"}, {"Optimizer": "fminunc"}, {"UseSequentialFitting": True},
    {"StartMethod": "random"}, {"EBMethod": "TrustRegion2D", "EBOptions": {"MaxIter": 50, "TolFun": 1e-10}},
    {"EBMethod": "LineSearchNewton"}, {"OptimizerOptions": statset("fitglme", MaxIter=200)},
])
def test_options_reach_the_same_optimum(mfr, base, kw):
    g = fitglme(mfr, F, Distribution="Poisson", FitMethod="Laplace", **kw)
    np.testing.assert_allclose(g.Coefficients["Estimate"], base.Coefficients["Estimate"], atol=1e-6)
    assert g.LogLikelihood == pytest.approx(base.LogLikelihood, abs=1e-8)


def test_random_start_is_reproducible(mfr):
    np.random.seed(7)
    a = fitglme(mfr, F, Distribution="Poisson", StartMethod="random")
    np.random.seed(7)
    b = fitglme(mfr, F, Distribution="Poisson", StartMethod="random")
    np.testing.assert_array_equal(a.Coefficients["Estimate"], b.Coefficients["Estimate"])


def test_joint_hessian_changes_se_not_estimates(mfr, base):
    g = fitglme(mfr, F, Distribution="Poisson", FitMethod="Laplace", CovarianceMethod="JointHessian")
    np.testing.assert_array_equal(g.Coefficients["Estimate"], base.Coefficients["Estimate"])
    assert not np.allclose(g.Coefficients["SE"], base.Coefficients["SE"], rtol=1e-4)
    # the joint covariance is symmetric positive definite
    C = g.CoefficientCovariance
    np.testing.assert_allclose(C, C.T)
    assert np.all(np.linalg.eigvalsh(C) > 0)


def test_check_hessian_warns_on_boundary_fit():
    import pandas as pd

    rng = np.random.default_rng(11)
    df = pd.DataFrame({"x": rng.normal(size=60), "g": np.repeat(list("abcdef"), 10)})
    df["y"] = rng.poisson(np.exp(0.2 + 0.3 * df["x"]))
    with pytest.warns(Warning) as rec:
        fitglme(df, "y ~ x + (1|g)", Distribution="Poisson", FitMethod="Laplace", CheckHessian=True)
    assert any("NotSPDHessian" in getattr(w.message, "identifier", "") for w in rec)


def test_check_hessian_quiet_on_regular_fit(mfr):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fitglme(mfr, F, Distribution="Poisson", FitMethod="Laplace", CheckHessian=True)


def test_verbose_prints_progress(mfr, capsys):
    fitglme(mfr, F, Distribution="Poisson", Verbose=1)
    out = capsys.readouterr().out
    assert "PL iteration   1" in out and "relative change in eta" in out
    fitglme(mfr, F, Distribution="Poisson", FitMethod="Laplace", Verbose=1)
    out = capsys.readouterr().out
    assert "Laplace iteration" in out and "final objective" in out
    fitglme(mfr, F, Distribution="Poisson", FitMethod="Laplace", Verbose=2, EBOptions={"Display": "iter"})
    assert "PIRLS iteration" in capsys.readouterr().out


def test_statset_defaults_and_errors():
    s = statset("fitglme")
    assert s == {"TolFun": 1e-6, "TolX": 1e-12, "MaxIter": 10000, "MaxFunEvals": 10000, "Display": "off"}
    assert statset("eb")["MaxIter"] == 100
    with pytest.raises(FitglmeError):
        statset("fitglme", MaxIter=-1)
    with pytest.raises(FitglmeError):
        statset("fitglme", Bogus=1)


@pytest.mark.parametrize("kw,ident", [
    ({"Optimizer": "bfgs"}, "fitglme:BadOptimizer"),
    ({"EBMethod": "magic"}, "fitglme:BadEBMethod"),
    ({"StartMethod": "zero"}, "fitglme:BadStartMethod"),
    ({"CovarianceMethod": "sandwich"}, "fitglme:BadCovarianceMethod"),
    ({"Verbose": 3}, "fitglme:BadVerbose"),
    ({"OptimizerOptions": {"MaxIter": 0}}, "fitglme:BadOptimizerOptions"),
    ({"EBOptions": 5}, "fitglme:BadEBOptions"),
    ({"CheckHessian": "yes"}, "fitglme:BadCheckHessian"),
])
def test_bad_option_values(mfr, kw, ident):
    with pytest.raises(FitglmeError) as exc:
        fitglme(mfr, F, Distribution="Poisson", **kw)
    assert exc.value.identifier == ident
