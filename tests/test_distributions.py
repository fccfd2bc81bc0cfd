"""Tests for fitglme.family.distributions."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import special, stats

from fitglme.errors import FitglmeError
from fitglme.family import (
    BINOMIAL_RESPONSE_MESSAGE,
    Distribution,
    make_distribution,
)

RNG = np.random.default_rng(20240611)
REF = Path(__file__).resolve().parent.parent / "reference_outputs" / "lme4"


# ------------------------------------------------------------- naming
@pytest.mark.parametrize(
    "given, canon, spelling",
    [
        ("Normal", "Normal", "normal"),
        ("normal", "Normal", "normal"),
        ("Gaussian", "Normal", "gaussian"),
        ("n", "Normal", "normal"),
        ("BINOMIAL", "Binomial", "binomial"),
        ("bin", "Binomial", "binomial"),
        ("Poisson", "Poisson", "poisson"),
        ("p", "Poisson", "poisson"),
        ("gamma", "Gamma", "gamma"),
        ("gam", "Gamma", "gamma"),
        ("gau", "Normal", "gaussian"),
        ("InverseGaussian", "InverseGaussian", "inversegaussian"),
        ("inverse gaussian", "InverseGaussian", "inverse gaussian"),
        ("inv", "InverseGaussian", "inversegaussian"),
    ],
)
def test_make_distribution_names(given, canon, spelling):
    d = make_distribution(given)
    assert isinstance(d, Distribution)
    assert d.name == canon
    assert d.matlab_name == spelling
    assert d.display_name == spelling[0].upper() + spelling[1:]


@pytest.mark.parametrize("bad", ["g", "ga", "weibull", "", 3, None])
def test_make_distribution_rejects(bad):
    with pytest.raises(FitglmeError) as ei:
        make_distribution(bad)
    assert ei.value.identifier == "fitglme:BadDistribution"
    msg = str(ei.value)
    assert "'Normal'" in msg and "'InverseGaussian'" in msg
    if bad in ("g", "ga"):
        assert "ambiguous" in msg


def test_dispersion_fixed_flags():
    assert make_distribution("Binomial").dispersion_fixed
    assert make_distribution("Poisson").dispersion_fixed
    for d in ("Normal", "Gamma", "InverseGaussian"):
        assert not make_distribution(d).dispersion_fixed


# ----------------------------------------------------------- variance
@pytest.mark.parametrize(
    "name, v",
    [
        ("Normal", lambda m: np.ones_like(m)),
        ("Binomial", lambda m: m * (1 - m)),
        ("Poisson", lambda m: m),
        ("Gamma", lambda m: m**2),
        ("InverseGaussian", lambda m: m**3),
    ],
)
def test_variance_and_derivative(name, v):
    d = make_distribution(name)
    mu = np.linspace(0.05, 0.95, 19)
    np.testing.assert_allclose(d.variance(mu), v(mu))
    h = 1e-6
    fd = (d.variance(mu + h) - d.variance(mu - h)) / (2 * h)
    np.testing.assert_allclose(d.variance_deriv(mu), fd, rtol=1e-7, atol=1e-9)


# ------------------------------------------------------ log-likelihood
def test_binomial_loglik_against_scipy():
    n = 40
    size = RNG.integers(1, 12, n).astype(float)
    w = RNG.integers(1, 4, n).astype(float)
    m = w * size
    k = RNG.binomial(m.astype(int), 0.3).astype(float)
    y = k / m
    mu = RNG.uniform(0.05, 0.95, n)
    d = make_distribution("Binomial")
    got = d.loglik_terms(y, mu, w, 1.0, size)
    np.testing.assert_allclose(got, stats.binom.logpmf(k, m, mu), rtol=1e-12)
    assert np.isclose(d.loglik(y, mu, w, 1.0, size), stats.binom.logpmf(k, m, mu).sum())


def test_poisson_loglik_against_scipy_and_conventions():
    y = RNG.poisson(3.0, 50).astype(float)
    mu = RNG.uniform(0.5, 6.0, 50)
    d = make_distribution("Poisson")
    np.testing.assert_allclose(d.loglik_terms(y, mu), stats.poisson.logpmf(y, mu), rtol=1e-12)
    w = RNG.integers(1, 4, 50).astype(float)
    # lme4 convention (default): weights multiply the log density
    np.testing.assert_allclose(d.loglik_terms(y, mu, w), w * stats.poisson.logpmf(y, mu), rtol=1e-12)
    # MATLAB convention: the count w*y is Poisson with mean w*mu
    dm = make_distribution("Poisson", weight_convention="matlab")
    yw = y / w
    np.testing.assert_allclose(dm.loglik_terms(yw, mu, w), stats.poisson.logpmf(y, w * mu), rtol=1e-12)
    # both agree when the weights are 1
    np.testing.assert_allclose(dm.loglik_terms(y, mu), d.loglik_terms(y, mu))
    with pytest.raises(FitglmeError) as ei:
        make_distribution("Poisson", weight_convention="R")
    assert "weight_convention" in str(ei.value)


def test_normal_loglik_against_scipy():
    y = RNG.normal(size=30)
    mu = RNG.normal(size=30)
    w = RNG.uniform(0.2, 3.0, 30)
    phi = 1.7
    d = make_distribution("Normal")
    ref = stats.norm.logpdf(y, mu, np.sqrt(phi / w))
    np.testing.assert_allclose(d.loglik_terms(y, mu, w, phi), ref, rtol=1e-12)
    np.testing.assert_allclose(d.loglik_terms(y, mu, None, phi), stats.norm.logpdf(y, mu, np.sqrt(phi)))


def test_gamma_loglik_against_scipy():
    mu = RNG.uniform(0.5, 4.0, 30)
    w = RNG.uniform(0.5, 2.0, 30)
    phi = 0.4
    k = w / phi
    y = RNG.gamma(k, mu / k)
    d = make_distribution("Gamma")
    ref = stats.gamma.logpdf(y, a=k, scale=mu / k)
    np.testing.assert_allclose(d.loglik_terms(y, mu, w, phi), ref, rtol=1e-11)
    # Var = phi mu^2 / w
    np.testing.assert_allclose(stats.gamma.var(a=k, scale=mu / k), phi * mu**2 / w)


def test_inverse_gaussian_loglik_against_scipy():
    mu = RNG.uniform(0.5, 3.0, 30)
    w = RNG.uniform(0.5, 2.0, 30)
    phi = 0.3
    lam = w / phi
    y = stats.invgauss.rvs(mu / lam, scale=lam, random_state=RNG)
    d = make_distribution("InverseGaussian")
    ref = stats.invgauss.logpdf(y, mu / lam, scale=lam)
    np.testing.assert_allclose(d.loglik_terms(y, mu, w, phi), ref, rtol=1e-11)
    np.testing.assert_allclose(stats.invgauss.var(mu / lam, scale=lam), phi * mu**3 / w)


def test_zero_weight_rows_contribute_nothing():
    for name in ("Normal", "Gamma", "InverseGaussian"):
        d = make_distribution(name)
        t = d.loglik_terms([1.0, 2.0], [1.5, 1.5], [0.0, 1.0], 0.5)
        assert t[0] == 0.0 and np.isfinite(t[1])


def test_boundary_values_without_nan():
    b = make_distribution("Binomial")
    t = b.loglik_terms([0.0, 1.0], [0.0, 1.0], None, 1.0, [3.0, 3.0])
    np.testing.assert_array_equal(t, [0.0, 0.0])
    p = make_distribution("Poisson")
    assert p.loglik_terms(0.0, 0.0) == 0.0
    assert np.all(np.isfinite(p.unit_deviance([0.0, 2.0], [0.5, 2.0])))
    assert np.all(np.isfinite(b.unit_deviance([0.0, 1.0, 0.5], [0.3, 0.3, 0.5])))


@pytest.mark.parametrize("name", ["Normal", "Gamma", "InverseGaussian"])
@pytest.mark.parametrize("phi", [0.01, 0.3, 5.0])
def test_loglik_dispersion_derivative_matches_differences(name, phi):
    """The closed forms of d loglik / d log phi against the base class's central differences of
    the terms (step 1e-6: their truncation and rounding errors are ~1e-10 relative here, measured
    worst 6e-10; rtol 1e-7 leaves room while catching any wrong term, which is O(1))."""
    d = make_distribution(name)
    mu = RNG.uniform(0.5, 3.0, 200)
    y = mu * RNG.uniform(0.3, 2.0, 200)
    w = RNG.uniform(0.0, 3.0, 200)
    w[:5] = 0.0
    exact = d.loglik_dispersion_derivative(y, mu, w, phi)
    differenced = Distribution.loglik_dispersion_derivative(d, y, mu, w, phi)
    assert exact == pytest.approx(differenced, rel=1e-7)


def test_gamma_dispersion_derivative_with_huge_mu():
    """A huge mean (an inverse link near eta = 0) rounds (y - mu)/mu to -1: the derivative stays
    finite and equal to the differenced one (rtol as above)."""
    d = make_distribution("Gamma")
    y, mu = np.array([1.0, 2.0]), np.array([1e77, 2.5])
    exact = d.loglik_dispersion_derivative(y, mu, None, 0.2)
    assert np.isfinite(exact)
    assert exact == pytest.approx(Distribution.loglik_dispersion_derivative(d, y, mu, None, 0.2), rel=1e-7)


# ------------------------------------------------------------ deviance
@pytest.mark.parametrize("name", ["Normal", "Binomial", "Poisson", "Gamma", "InverseGaussian"])
def test_unit_deviance_is_twice_loglik_difference(name):
    """d(y, mu) = 2 [log p(y | mu = y) - log p(y | mu)] with unit weight and phi = 1."""
    d = make_distribution(name)
    if name == "Binomial":
        size = np.full(20, 10.0)
        y = RNG.integers(1, 10, 20) / 10.0
    else:
        size = None
        y = RNG.uniform(0.5, 3.0, 20) if name != "Poisson" else RNG.integers(1, 8, 20).astype(float)
    mu = d.clip_mu(y * RNG.uniform(0.7, 1.3, 20)) if name != "Binomial" else RNG.uniform(0.1, 0.9, 20)
    ll_sat = d.loglik_terms(y, y, None, 1.0, size)
    ll = d.loglik_terms(y, mu, None, 1.0, size)
    m = size if size is not None else 1.0
    np.testing.assert_allclose(m * d.unit_deviance(y, mu), 2 * (ll_sat - ll), rtol=1e-9, atol=1e-12)
    assert np.isclose(d.deviance(y, mu, None, size), np.sum(2 * (ll_sat - ll)))


def test_unit_deviance_zero_at_mu_equals_y():
    for name in ("Normal", "Binomial", "Poisson", "Gamma", "InverseGaussian"):
        d = make_distribution(name)
        y = np.array([0.2, 0.5, 0.9])
        np.testing.assert_allclose(d.unit_deviance(y, y), 0.0, atol=1e-15)


# ----------------------------------------------------- start and clip
def test_initial_mu_matches_matlab_defaults():
    y = np.array([0.0, 0.5, 1.0])
    np.testing.assert_allclose(make_distribution("Binomial").initial_mu(y, [4, 4, 4]),
                               (4 * y + 0.5) / 5)
    np.testing.assert_allclose(make_distribution("Poisson").initial_mu([0.0, 3.0]), [0.25, 3.25])
    np.testing.assert_allclose(make_distribution("Gamma").initial_mu([2.0, 0.0]), [2.0, np.finfo(float).eps])
    np.testing.assert_allclose(make_distribution("Normal").initial_mu([-1.0, 2.0]), [-1.0, 2.0])


def test_clip_mu():
    eps = np.finfo(float).eps
    np.testing.assert_allclose(make_distribution("Binomial").clip_mu([-1.0, 0.0, 0.5, 1.0, 2.0]),
                               [eps, eps, 0.5, 1 - eps, 1 - eps])
    np.testing.assert_allclose(make_distribution("Poisson").clip_mu([-1.0, 0.0, 3.0]), [eps, eps, 3.0])
    out = make_distribution("Gamma").clip_mu([np.inf])
    assert np.isfinite(out).all()
    np.testing.assert_allclose(make_distribution("Normal").clip_mu([-5.0, 5.0]), [-5.0, 5.0])


def test_validate_mustart():
    b = make_distribution("Binomial")
    np.testing.assert_allclose(b.validate_mustart(0.3, 3), [0.3, 0.3, 0.3])
    with pytest.raises(FitglmeError) as ei:
        b.validate_mustart([0.2, 1.0, 0.5], 3)
    assert ei.value.identifier == "fitglme:BadMuStart"
    assert "element 1" in str(ei.value) and "(0,1)" in str(ei.value)
    with pytest.raises(FitglmeError) as ei:
        make_distribution("Poisson").validate_mustart([1.0, 2.0], 3)
    assert "length 3" in str(ei.value)
    with pytest.raises(FitglmeError):
        make_distribution("Gamma").validate_mustart([1.0, 0.0, 1.0], 3)
    np.testing.assert_allclose(make_distribution("Normal").validate_mustart([-3.0, 0.0], 2), [-3.0, 0.0])


# ------------------------------------------------- response validation
def test_validate_response_accepts_permitted_values():
    make_distribution("Binomial").validate_response([0, 1 / 3, 2 / 3, 1], None, [3, 3, 3, 3])
    make_distribution("Binomial").validate_response([0.25, 0.5], [2, 1], [2, 2])
    make_distribution("Binomial").validate_response([0, 1, 1])
    make_distribution("Poisson").validate_response([0, 1, 2.5], [1, 1, 2])
    make_distribution("Gamma").validate_response([0.1, 5.0], [0.0, 2.5])
    make_distribution("InverseGaussian").validate_response([0.1, 5.0])
    make_distribution("Normal").validate_response([-1e10, 0.0, 3.0], [0.0, 1.0, 0.5])


def test_binomial_rejects_with_matlab_message():
    b = make_distribution("Binomial")
    with pytest.raises(FitglmeError) as ei:
        b.validate_response([0.0, 0.5, 0.4], None, [2, 2, 2])
    e = ei.value
    assert e.identifier == "fitglme:BadResponse"
    assert BINOMIAL_RESPONSE_MESSAGE in str(e)
    assert "Row 2 (0-based)" in str(e) and "0.4" in str(e)
    with pytest.raises(FitglmeError) as ei:
        b.validate_response([0.0, 1.5])
    assert "Row 1" in str(ei.value) and "1.5" in str(ei.value)
    with pytest.raises(FitglmeError) as ei:
        b.validate_response([0.5, 0.5], None, [2, 2.5])
    assert ei.value.identifier == "fitglme:BadBinomialSize"
    assert "row 1" in str(ei.value) and "2.5" in str(ei.value)
    with pytest.raises(FitglmeError) as ei:
        b.validate_response([0.5, 0.5], [1, 0], [2, 2])
    assert ei.value.identifier == "fitglme:BadWeights"
    assert "positive integers" in str(ei.value)


def test_poisson_rejects():
    p = make_distribution("Poisson")
    with pytest.raises(FitglmeError) as ei:
        p.validate_response([1, 2, -1])
    assert ei.value.identifier == "fitglme:BadResponse"
    assert "row 2 (0-based)" in str(ei.value) and "-1.0" in str(ei.value)
    with pytest.raises(FitglmeError) as ei:
        p.validate_response([1, 2.5])
    assert "row 1" in str(ei.value) and "2.5" in str(ei.value)
    with pytest.raises(FitglmeError) as ei:
        p.validate_response([1, 2], [1.5, 1])
    assert ei.value.identifier == "fitglme:BadWeights"
    # almost-integer counts pass (MATLAB's sqrt(eps) tolerance)
    p.validate_response([1 + 1e-10, 2])


@pytest.mark.parametrize("name", ["Gamma", "InverseGaussian"])
def test_positive_distributions_reject_nonpositive(name):
    d = make_distribution(name)
    with pytest.raises(FitglmeError) as ei:
        d.validate_response([1.0, 0.0])
    assert ei.value.identifier == "fitglme:BadResponse"
    assert "row 1" in str(ei.value) and "(0,Inf)" in str(ei.value)
    with pytest.raises(FitglmeError) as ei:
        d.validate_response([1.0, 2.0], [1.0, -1.0])
    assert ei.value.identifier == "fitglme:BadWeights"


def test_normal_rejects_nonfinite_and_bad_lengths():
    d = make_distribution("Normal")
    with pytest.raises(FitglmeError) as ei:
        d.validate_response([1.0, np.inf])
    assert ei.value.identifier == "fitglme:BadResponse" and "row 1" in str(ei.value)
    with pytest.raises(FitglmeError) as ei:
        d.validate_response([1.0, 2.0], [1.0, 1.0, 1.0])
    assert ei.value.identifier == "fitglme:BadWeights" and "2" in str(ei.value)
    with pytest.raises(FitglmeError) as ei:
        d.validate_response(["a", "b"])
    assert ei.value.identifier == "fitglme:BadResponse"


# ------------------------------------------- reference log-lik constants
@pytest.mark.parametrize("case", ["cbpp_binomial_laplace", "mfr_sim_poisson_laplace",
                                  "grouseticks_poisson_laplace", "poisson_weights_sim_laplace"])
def test_loglik_constant_matches_reference(case):
    """The parameter-free part of our log density equals lme4's LogLikelihood_constant."""
    import pandas as pd

    meta = json.loads((REF / f"{case}.json").read_text())
    data = pd.read_csv(REF / meta["data_file"])
    opts = meta["matlab"]["options"]
    y = data[meta["response"]].to_numpy(float)
    w = data[opts["Weights"]].to_numpy(float) if opts.get("Weights") else np.ones_like(y)
    size = data[opts["BinomialSize"]].to_numpy(float) if opts.get("BinomialSize") else None
    d = make_distribution(opts["Distribution"])
    d.validate_response(y, w, size)
    if d.name == "Binomial":
        m = w * size
        const = np.sum(special.gammaln(m + 1) - special.gammaln(m * y + 1) - special.gammaln(m - m * y + 1))
        # loglik minus the kernel is the constant
        mu = np.full_like(y, 0.3)
        kernel = np.sum(special.xlogy(m * y, mu) + special.xlog1py(m * (1 - y), -mu))
        got = d.loglik(y, mu, w, 1.0, size) - kernel
    else:
        mu = np.full_like(y, 2.0)
        kernel = np.sum(w * (special.xlogy(y, mu) - mu))
        got = d.loglik(y, mu, w) - kernel
        const = None
    expected = meta["results"]["LogLikelihood_constant"]
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    if const is not None:
        np.testing.assert_allclose(const, expected, rtol=1e-10)
