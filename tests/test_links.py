"""Tests for fitglme.family.links."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from fitglme.errors import FitglmeError, FitglmeWarning
from fitglme.family import (
    EPS,
    TINY,
    Link,
    canonical_link_spec,
    is_canonical,
    make_link,
)

PREFIX = "stats:classreg:regr:lmeutils:StandardGeneralizedLinearMixedModel:"

UNIT_LINKS = ["logit", "probit", "comploglog", "loglog"]
POS_LINKS = ["log", "reciprocal"]
POWERS = [-2.0, -1.0, -0.5, 0.5, 1.0, 2.0, 3.0]


def _make(spec, dist="Normal"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitglmeWarning)
        return make_link(spec, dist)


def _grid(spec):
    if spec in UNIT_LINKS:
        return np.linspace(0.02, 0.98, 49)
    if spec == "identity":
        return np.linspace(-3.0, 3.0, 41)
    return np.linspace(0.1, 5.0, 50)


ALL_SPECS = ["identity"] + POS_LINKS + UNIT_LINKS + POWERS


def _warned_ids(fn):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = fn()
    return out, [getattr(w.message, "identifier", None) for w in rec]


# ------------------------------------------------------------------ math
@pytest.mark.parametrize("spec", ALL_SPECS)
def test_inverse_of_link_is_identity(spec):
    lk = _make(spec)
    mu = _grid(spec)
    np.testing.assert_allclose(lk.inverse(lk.link(mu)), mu, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("spec", ALL_SPECS)
def test_deriv_matches_central_differences(spec):
    lk = _make(spec)
    mu = _grid(spec)
    h = 1e-6 * np.maximum(1.0, np.abs(mu))
    fd = (lk.link(mu + h) - lk.link(mu - h)) / (2 * h)
    np.testing.assert_allclose(lk.deriv(mu), fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("spec", ALL_SPECS)
def test_deriv2_matches_central_differences(spec):
    lk = _make(spec)
    mu = _grid(spec)
    h = 1e-5 * np.maximum(1.0, np.abs(mu))
    fd = (lk.deriv(mu + h) - lk.deriv(mu - h)) / (2 * h)
    np.testing.assert_allclose(lk.deriv2(mu), fd, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("spec", ALL_SPECS)
def test_mu_eta_is_reciprocal_of_deriv(spec):
    lk = _make(spec)
    mu = _grid(spec)
    eta = lk.link(mu)
    np.testing.assert_allclose(lk.mu_eta(eta), 1.0 / lk.deriv(mu), rtol=1e-10)
    # and matches a finite difference of the inverse link
    h = 1e-6 * np.maximum(1.0, np.abs(eta))
    fd = (lk.inverse(eta + h) - lk.inverse(eta - h)) / (2 * h)
    np.testing.assert_allclose(lk.mu_eta(eta), fd, rtol=1e-6)


def test_known_values():
    assert _make("logit").link(0.5) == 0.0
    assert _make("probit").inverse(0.0) == 0.5
    np.testing.assert_allclose(_make("comploglog").link(1 - np.exp(-1.0)), 0.0, atol=1e-15)
    np.testing.assert_allclose(_make("loglog").link(np.exp(-1.0)), 0.0, atol=1e-15)
    np.testing.assert_allclose(_make("loglog").inverse(0.0), np.exp(-1.0))
    np.testing.assert_allclose(_make("reciprocal").link(4.0), 0.25)
    np.testing.assert_allclose(_make(-2.0).link(2.0), 0.25)
    np.testing.assert_allclose(_make(0.5).inverse(3.0), 9.0)


# --------------------------------------------------------------- clipping
@pytest.mark.parametrize("spec", UNIT_LINKS)
def test_unit_links_keep_mu_in_eps_1_minus_eps(spec):
    lk = _make(spec)
    eta = np.array([-1e308, -1e4, -50.0, 0.0, 50.0, 1e4, 1e308, -np.inf, np.inf])
    mu = lk.inverse(eta)
    assert np.all(np.isfinite(mu))
    assert np.all(mu >= EPS * (1 - 1e-12)) and np.all(mu <= 1 - EPS / 2)
    assert np.all(np.isfinite(lk.link(mu)))
    d = lk.mu_eta(eta)
    assert np.all(np.isfinite(d))


def test_log_and_reciprocal_clipping():
    lk = _make("log")
    mu = lk.inverse(np.array([-1e5, 1e5]))
    np.testing.assert_allclose(mu, [TINY, 1 / TINY], rtol=1e-12)
    rc = _make("reciprocal")
    mu = rc.inverse(np.array([-1.0, 0.0, 1e300]))
    assert np.all(np.isfinite(mu)) and np.all(mu > 0)
    pw = _make(-1.0)
    mu = pw.inverse(np.array([-3.0, 0.0, 2.0]))
    assert np.all(np.isfinite(mu)) and np.all(mu > 0)
    np.testing.assert_allclose(mu[2], 0.5)


def test_identity_not_clipped_and_vectorised_shapes():
    lk = _make("identity")
    x = np.arange(6.0).reshape(2, 3) - 10
    assert lk.inverse(x).shape == (2, 3)
    np.testing.assert_array_equal(lk.inverse(x), x)
    assert np.asarray(_make("logit").inverse(0.3)).shape == ()


# ------------------------------------------------------------ make_link
def test_defaults_per_distribution():
    assert _make(None, "Normal").kind == "identity"
    assert _make(None, "binomial").kind == "logit"
    assert _make(None, "Poisson").kind == "log"
    g = _make(None, "Gamma")
    assert (g.kind, g.power) == ("power", -1.0)
    ig = _make(None, "InverseGaussian")
    assert (ig.kind, ig.power) == ("power", -2.0)
    assert canonical_link_spec("gamma") == -1.0


def test_names_follow_matlab_display():
    assert _make("identity").name == "Identity"
    assert _make("LOG").name == "Log"
    assert _make("logit").name == "Logit"
    assert _make("comploglog").name == "Comploglog"
    assert _make(-1).name == "Power"
    assert _make(-1).matlab_name == "power"
    assert _make(2.5).name == "Power"
    assert _make("reciprocal").name == "Reciprocal"


def test_string_prefixes_and_case():
    assert _make("Log").kind == "log"  # exact match wins over logit/loglog
    assert _make("logi").kind == "logit"
    assert _make("LOGL").kind == "loglog"
    assert _make("pro").kind == "probit"
    assert _make("c").kind == "comploglog"
    with pytest.raises(FitglmeError) as ei:
        _make("lo")
    assert ei.value.identifier == "fitglme:BadLink"
    assert "ambiguous" in str(ei.value) and "'logit'" in str(ei.value)
    with pytest.raises(FitglmeError) as ei:
        _make("cauchit")
    assert ei.value.identifier == "fitglme:BadLink"
    assert "'cauchit'" in str(ei.value) and "'comploglog'" in str(ei.value)


def test_numeric_power_zero_is_log():
    assert _make(0).kind == "log"
    assert _make(np.float64(0.0)).kind == "log"
    assert _make(np.array(2.0)).power == 2.0
    for bad in (np.inf, np.nan):
        with pytest.raises(FitglmeError) as ei:
            _make(bad)
        assert ei.value.identifier == "fitglme:BadLink"
    with pytest.raises(FitglmeError):
        _make(True)
    with pytest.raises(FitglmeError):
        _make([1, 2])


def test_is_canonical():
    assert is_canonical(_make("identity"), "Normal")
    assert is_canonical(_make("logit"), "Binomial")
    assert not is_canonical(_make("probit"), "Binomial")
    assert is_canonical(_make("log"), "Poisson")
    assert is_canonical(_make(-1), "Gamma")
    assert is_canonical(_make("reciprocal"), "Gamma")
    assert is_canonical(_make(-2), "InverseGaussian")
    assert not is_canonical(_make(-1), "InverseGaussian")


# ------------------------------------------------------------ warnings
@pytest.mark.parametrize(
    "spec, dist, expected",
    [
        ("logit", "Binomial", []),
        ("log", "Poisson", []),
        ("logit", "Poisson", []),  # MATLAB does not warn here
        ("probit", "Binomial", []),
        (-1, "Gamma", ["BadDistLinkCombination1"]),
        (None, "Gamma", ["BadDistLinkCombination1"]),
        (None, "InverseGaussian", ["BadDistLinkCombination1"]),
        ("reciprocal", "Normal", ["BadDistLinkCombination1"]),
        ("identity", "Binomial", ["BadDistLinkCombination2"]),
        ("log", "Binomial", ["BadDistLinkCombination2"]),
        ("identity", "Poisson", ["BadDistLinkCombination3"]),
        ("identity", "Gamma", ["BadDistLinkCombination3"]),
        ("identity", "InverseGaussian", ["BadDistLinkCombination3"]),
    ],
)
def test_distribution_link_warnings(spec, dist, expected):
    _, ids = _warned_ids(lambda: make_link(spec, dist))
    assert ids == [PREFIX + e for e in expected]


def test_warning_can_be_suppressed():
    _, ids = _warned_ids(lambda: make_link(-1, "Gamma", warn_combination=False))
    assert ids == []


# ------------------------------------------------------------ custom link
def _logit_struct(**extra):
    d = {
        "Link": lambda mu: np.log(mu / (1 - mu)),
        "Derivative": lambda mu: 1 / (mu * (1 - mu)),
        "Inverse": lambda eta: 1 / (1 + np.exp(-eta)),
    }
    d.update(extra)
    return d


def test_custom_link_dict_matches_builtin():
    s = _logit_struct(SecondDerivative=lambda mu: (2 * mu - 1) / (mu * (1 - mu)) ** 2)
    lk = make_link(s, "Binomial")
    ref = _make("logit")
    mu = np.linspace(0.05, 0.95, 19)
    assert lk.kind == "custom" and lk.name == "Custom"
    np.testing.assert_allclose(lk.link(mu), ref.link(mu), atol=1e-12)
    np.testing.assert_allclose(lk.deriv(mu), ref.deriv(mu))
    np.testing.assert_allclose(lk.deriv2(mu), ref.deriv2(mu))
    np.testing.assert_allclose(lk.inverse(ref.link(mu)), mu)
    np.testing.assert_allclose(lk.mu_eta(ref.link(mu)), ref.mu_eta(ref.link(mu)))
    st = lk.as_struct()
    assert set(st) == {"Name", "Link", "Derivative", "SecondDerivative", "Inverse"}


def test_custom_link_keys_case_insensitive_and_name():
    s = {k.lower(): v for k, v in _logit_struct().items()}
    s["NAME"] = "myLogit"
    lk = make_link(s, "Binomial")
    assert lk.matlab_name == "myLogit" and lk.name == "MyLogit"
    assert not lk.has_second_derivative


def test_custom_link_object_with_attributes():
    class S:
        Link = staticmethod(lambda mu: mu)
        Derivative = staticmethod(lambda mu: np.ones_like(mu))
        Inverse = staticmethod(lambda eta: eta)

    lk = make_link(S(), "Normal")
    np.testing.assert_array_equal(lk.inverse([1.0, 2.0]), [1.0, 2.0])


def test_custom_link_missing_field():
    s = _logit_struct()
    del s["Inverse"]
    with pytest.raises(FitglmeError) as ei:
        make_link(s, "Binomial")
    assert ei.value.identifier == "fitglme:BadLink"
    assert "'Inverse'" in str(ei.value)


def test_custom_link_without_second_derivative():
    lk = make_link(_logit_struct(), "Binomial")  # fine for MPL/REMPL
    with pytest.raises(FitglmeError) as ei:
        lk.deriv2(np.array([0.5]))
    assert ei.value.identifier == "fitglme:MustSupplySecondDerivative"
    assert "SecondDerivative" in str(ei.value)
    make_link(_logit_struct(), "Binomial", fit_method="MPL")
    with pytest.raises(FitglmeError) as ei:
        make_link(_logit_struct(), "Binomial", fit_method="Laplace")
    assert ei.value.identifier == "fitglme:MustSupplySecondDerivative"
    assert "'Laplace'" in str(ei.value)


def test_custom_link_bad_callables():
    with pytest.raises(FitglmeError) as ei:
        make_link(_logit_struct(Link=3.0), "Binomial")
    assert "'Link'" in str(ei.value) and "callable" in str(ei.value)
    with pytest.raises(FitglmeError) as ei:
        make_link(_logit_struct(Derivative=lambda mu: np.ones(len(mu) + 1)), "Binomial")
    assert ei.value.identifier == "fitglme:BadLink" and "'Derivative'" in str(ei.value)
    with pytest.raises(FitglmeError) as ei:
        make_link(_logit_struct(Inverse=lambda eta: 1 / 0), "Binomial")
    assert "'Inverse'" in str(ei.value) and "ZeroDivisionError" in str(ei.value)
    with pytest.raises(FitglmeError) as ei:
        make_link(_logit_struct(Bogus=len), "Binomial")
    assert "bogus" in str(ei.value)
    with pytest.raises(FitglmeError) as ei:
        make_link(object(), "Binomial")
    assert ei.value.identifier == "fitglme:BadLink"


def test_custom_scalar_output_broadcast():
    lk = make_link(
        {"Link": lambda m: m, "Derivative": lambda m: 1.0, "Inverse": lambda e: e,
         "SecondDerivative": lambda m: 0.0},
        "Normal",
    )
    np.testing.assert_array_equal(lk.deriv(np.zeros(4)), np.ones(4))
    np.testing.assert_array_equal(lk.deriv2(np.zeros(4)), np.zeros(4))


def test_link_equality_and_repr():
    assert _make("logit") == _make("LOGIT")
    assert _make(-1) == _make(-1.0)
    assert _make(-1) != _make("reciprocal")
    assert "Power" in repr(_make(2))
    assert isinstance(_make("log"), Link)
    assert _make(_make("probit")).kind == "probit"
