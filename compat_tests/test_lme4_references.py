"""fitglme against the independent R fits stored in reference_outputs/lme4/.

Tolerances are the core issue's:
* LogLikelihood within 1e-5 of the reference, or higher (we maximise the same objective);
* fixed effects and SEs within 1e-4 relative; covariance parameters within 1e-3 relative;
* PQL cases (MPL with DispersionFlag true, MASS::glmmPQL algorithm) within 1e-3;
* lmer cases (Normal MPL = ML, REMPL = REML) within 1e-5.

For Laplace fits with a non-canonical link (probit, comploglog, Gamma-log) MATLAB uses the link's
second derivative, i.e. the exact observed Hessian, as glmmTMB does: the ``*_glmmTMB`` cases are the
targets.  glmer's fits of those models (expected Hessian; for Gamma also a non-ML dispersion) are
kept as information and checked only for the direction of the difference (see INFO_ONLY).
"""
from __future__ import annotations

import numpy as np
import pytest

from .references import LME4_CASES, compare, fit_case, poisson_weight_constant_shift

#: glmer fits of models whose MATLAB target is a different objective (documented in the module
#: docstring and in docs/fit_methods.md): compared for information, not to tolerance.
INFO_ONLY = {
    "cloglog_binary_sim_laplace",
    "probit_binomial_sim_laplace",
    "gamma_sim_log_laplace_glmer",
    "gamma_sim_log_approxlaplace_glmer",
    "cloglog_binary_sim_approxlaplace",
    "probit_binomial_sim_approxlaplace",
}

LMER = {c for c in LME4_CASES if c.startswith(("sleepstudy", "normal_weights"))}
PQL = {c for c in LME4_CASES if c.endswith("_mpl")}
#: Coefficients whose estimate is tiny next to its SE: relative error is measured against max(|est|, SE).
#: mfr time_dev: estimate 0.0043, SE 1.08; the reference optimum itself carries ~5e-7 of slack there
#: (our LogLikelihood is 3.5e-10 higher than lme4's).
FLAT = {"mfr_sim_poisson_laplace", "mfr_sim_poisson_laplace_effects"}

TARGETS = [c for c in LME4_CASES if c not in INFO_ONLY]


@pytest.mark.parametrize("case", TARGETS)
def test_reference_case(case):
    glme, ref = fit_case(case)
    d = compare(glme, ref)
    assert d.names_match, (glme.CoefficientNames, ref["results"]["coefficients"]["Name"])
    if case in LMER:
        tol_b = tol_se = tol_cov = 1e-5
    elif case in PQL:
        tol_b = tol_se = tol_cov = 1e-3
    else:
        tol_b, tol_se, tol_cov = 1e-4, 1e-4, 1e-3
    assert d.loglik > -1e-5, f"LogLikelihood {d.loglik:.3g} below the reference"  # (Poisson-weight constant removed)
    beta_err = d.beta_scaled if case in FLAT else d.beta_rel
    assert beta_err < tol_b, f"fixed effects: {beta_err:.3g}"
    assert d.se_rel < tol_se, f"SE: {d.se_rel:.3g}"
    assert d.cov_rel < tol_cov, f"covariance parameters: {d.cov_rel:.3g}"
    assert d.dispersion_rel < max(tol_cov, 1e-6), f"dispersion: {d.dispersion_rel:.3g}"
    assert glme.NumObservations == ref["results"]["NumObservations"]
    assert glme.DFE == ref["results"]["DFE"]


def test_weighted_poisson_uses_matlab_constant():
    glme, ref = fit_case("poisson_weights_sim_laplace")
    shift = poisson_weight_constant_shift(glme, ref)
    assert abs(shift) > 1.0  # the conventions really differ on this data
    assert abs(glme.LogLikelihood - shift - ref["results"]["LogLikelihood"]) < 1e-5


@pytest.mark.parametrize("case", sorted(FLAT))
def test_flat_coefficient_still_close_relative(case):
    """Even where the relative criterion is measured against the SE, stay within 2e-4 relative."""
    glme, ref = fit_case(case)
    assert compare(glme, ref).beta_rel < 2e-4


@pytest.mark.parametrize("case", sorted(INFO_ONLY))
def test_glmer_expected_hessian_cases_differ_as_documented(case):
    """glmer optimises a different objective here; ours must be at least as high where both are
    the same likelihood up to the Hessian choice, and the estimates close in the canonical sense."""
    glme, ref = fit_case(case)
    d = compare(glme, ref)
    assert d.names_match
    if "gamma" in case:
        # glmer's Gamma logLik is not the ML Laplace likelihood: no order relation; the
        # dispersion/coefficients are still in the same neighbourhood.
        assert d.beta_rel < 0.05
    else:
        assert d.beta_rel < 0.05 and d.cov_rel < 0.05


def test_probit_and_cloglog_targets_use_observed_hessian():
    """The glmmTMB optimum is reproduced closely while glmer's differs by ~0.1-0.2 in logLik."""
    for tmb, glmer in [("cloglog_binary_sim_laplace_glmmTMB", "cloglog_binary_sim_laplace"),
                       ("probit_binomial_sim_laplace_glmmTMB", "probit_binomial_sim_laplace")]:
        g, ref_tmb = fit_case(tmb)
        _, ref_glmer = fit_case(glmer)
        assert abs(g.LogLikelihood - ref_tmb["results"]["LogLikelihood"]) < 1e-6
        assert abs(g.LogLikelihood - ref_glmer["results"]["LogLikelihood"]) > 1e-2


def test_fitted_values_match_laplace_references():
    glme, ref = fit_case("grouseticks_poisson_laplace")
    mu = glme._result.mu
    np.testing.assert_allclose(mu, ref["results"]["FittedConditional"], rtol=1e-4)
