"""fitglme against the independent R fits stored in reference_outputs/lme4/.

Every target case is compared on: the log-likelihood, two-sided, after removing the parameter-free
constants (computed here from the data; the reference's own ``LogLikelihood_constant`` is checked
against the same computation), AIC/BIC/Deviance, the fixed effects and their SEs, the whole
CoefficientCovariance, every covariance group (group, levels, names, types and count: a missing or
extra group fails), the dispersion, lme4's theta and the random effects' CondSD where the reference
has them, and the conditional fitted values.

For Laplace fits with a non-canonical link (probit, comploglog, Gamma-log) MATLAB uses the link's
second derivative, i.e. the exact observed Hessian, as glmmTMB does: the ``*_glmmTMB`` cases are the
targets.  glmer's fits of those models (expected Hessian; for Gamma also a non-ML dispersion) are
kept as information and checked only for the direction of the difference (see INFO_ONLY).

Tolerances (TOLERANCES below) are per class of case. Each is a margin over the worst error measured
in its class (``python -m compat_tests.references`` prints the table; the figures are quoted in the
comments) and never tighter than what the references themselves pin (their README and each JSON's
``diagnostics``). No tolerance is looser than the one it replaced (before: loglik > -1e-5; b, SE 1e-4,
covariance parameters 1e-3, PQL 1e-3, lmer 1e-5).
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
APPROX = {c for c in LME4_CASES if "_approxlaplace" in c} - INFO_ONLY
#: Laplace references that sit measurably below the optimum: our LogLikelihood is 4.2e-6
#: (poisson_weights, "the very flat optimum" of the references' README) and 3.1e-6 (grouseticks)
#: higher than lme4's, whose Newton polish ended at deviance gradients 2.2e-7 / 9.2e-7. These
#: references pin the estimates to ~1e-5 only.
LAPLACE_FLAT = {"poisson_weights_sim_laplace", "grouseticks_poisson_laplace"}
LAPLACE = {c for c in LME4_CASES if "_laplace" in c} - INFO_ONLY - LAPLACE_FLAT
#: Coefficients whose estimate is tiny next to its SE: relative error is measured against max(|est|, SE).
#: mfr time_dev: estimate 0.0043, SE 1.08; the reference optimum itself carries ~5e-7 of slack there
#: (our LogLikelihood is 3.5e-10 higher than lme4's).
FLAT = {"mfr_sim_poisson_laplace", "mfr_sim_poisson_laplace_effects"}

TARGETS = [c for c in LME4_CASES if c not in INFO_ONLY]

#: Per class: loglik as (lowest, highest) allowed value of ours - reference (constants removed);
#: the rest are upper bounds on the Diffs fields of compat_tests/references.py (relative errors;
#: coef_cov relative to sqrt(C_ii C_jj); criteria absolute). "worst" = the largest error measured in
#: the class on x86-64 / OpenBLAS (2026-12-02, before the LME optimum was pinned by its gradient;
#: sleepstudy_normal_reml, known to fail then at 1.5e-5 in its covariance parameters, is left out).
TOLERANCES = {
    # lmer (Normal MPL = ML, REMPL = REML). The references' Newton polish ended with last steps of
    # <= 8e-8 in theta and deviance changes <= 5e-13: they pin theta-dependent quantities to ~1e-7,
    # so those get 1e-6 (10x that pin; worst measured: cov/theta 5.7e-8, coef_cov 1.2e-8, SE 6.1e-9,
    # CondSD 1.2e-9, dispersion 1.1e-9). The log-likelihood is flat in theta at the optimum:
    # worst 1.4e-11 -> 1e-9. beta (GLS given theta, insensitive to theta): worst 4.0e-13 -> 1e-10.
    # fitted values: worst 5.3e-10, but they follow the modes, linear in theta: 1e-7 (the pin).
    "lmer": dict(loglik=(-1e-9, 1e-9), beta=1e-10, beta_flat=1e-10, se=1e-6, coef_cov=1e-6, cov=1e-6,
                 dispersion=1e-6, criteria=2e-9, theta=1e-6, condsd=1e-6, fitted=1e-7),
    # Laplace, references at their optimum (glmer polished to deviance gradients <= 9.3e-7, glmmTMB
    # to |gradient| < 1e-8). Worst measured: loglik 2.4e-8, beta 2.6e-8 (FLAT in SE units 4.7e-7),
    # SE 1.7e-8, coef_cov 3.3e-8, cov 2.2e-8, theta 2.2e-8, CondSD 1.5e-8, fitted 7.9e-8,
    # dispersion (Gamma glmmTMB) 6.8e-9 -> 1e-6 everywhere (13x to 67x), FLAT beta 1e-5 (21x).
    "laplace": dict(loglik=(-1e-6, 1e-6), beta=1e-6, beta_flat=1e-5, se=1e-6, coef_cov=1e-6, cov=1e-6,
                    dispersion=1e-6, criteria=2e-6, theta=1e-6, condsd=1e-6, fitted=1e-6),
    # Laplace, references measurably below the optimum (LAPLACE_FLAT). Worst measured: loglik +4.2e-6,
    # beta 8.0e-6, SE 8.6e-6, coef_cov 1.7e-5, cov 9.5e-6, theta 9.5e-6, CondSD 3.3e-6, fitted 4.7e-6
    # -> 1e-4 (10x to 30x; coef_cov 2e-4). loglik: above the reference is expected (it is below the
    # optimum): up to 1e-4 (24x); below it at most the former bound 1e-5.
    "laplace_flat": dict(loglik=(-1e-5, 1e-4), beta=1e-4, beta_flat=1e-4, se=1e-4, coef_cov=2e-4, cov=1e-4,
                         dispersion=1e-6, criteria=2e-4, theta=1e-4, condsd=1e-4, fitted=1e-4),
    # ApproximateLaplace (glmer nAGQ = 0, polished). Worst measured (grouseticks): loglik +1.1e-6,
    # beta 1.0e-7, SE 1.7e-7, coef_cov 3.4e-7, cov/theta 3.8e-7, CondSD 3.1e-7, fitted 2.3e-7
    # -> 1e-5 (26x to 100x). loglik as laplace_flat (the reference 1.1e-6 below ours).
    "approx": dict(loglik=(-1e-5, 1e-4), beta=1e-5, beta_flat=1e-5, se=1e-5, coef_cov=1e-5, cov=1e-5,
                   dispersion=1e-6, criteria=2e-4, theta=1e-5, condsd=1e-5, fitted=1e-5),
    # PQL (MPL with DispersionFlag, the glmmPQL algorithm stopped at sum(d eta^2) < 1e-16 sum(eta^2):
    # ~1e-8 of iteration slack in the reference). Worst measured: beta 5.1e-8, SE 1.1e-8,
    # coef_cov 2.2e-8, cov 2.6e-8, dispersion 1.0e-8, CondSD 1.6e-8, fitted 2.2e-8 -> 1e-6 (20x to
    # 100x, 100x the reference's slack). loglik (the final pseudo-data LME's): worst 3.5e-7 -> 1e-5.
    "pql": dict(loglik=(-1e-5, 1e-5), beta=1e-6, beta_flat=1e-6, se=1e-6, coef_cov=1e-6, cov=1e-6,
                dispersion=1e-6, criteria=2e-5, theta=1e-6, condsd=1e-6, fitted=1e-6),
}


def case_class(case: str) -> str:
    for name, members in [("lmer", LMER), ("pql", PQL), ("approx", APPROX), ("laplace_flat", LAPLACE_FLAT),
                          ("laplace", LAPLACE)]:
        if case in members:
            return name
    raise KeyError(case)  # every target belongs to exactly one class (test_classes_cover_targets)


def test_classes_cover_targets():
    classes = [LMER, PQL, APPROX, LAPLACE_FLAT, LAPLACE]
    assert sorted(c for cl in classes for c in cl) == sorted(TARGETS)


@pytest.mark.parametrize("case", TARGETS)
def test_reference_case(case):
    glme, ref = fit_case(case)
    r = ref["results"]
    d = compare(glme, ref)
    tol = TOLERANCES[case_class(case)]
    assert d.names_match, (glme.CoefficientNames, r["coefficients"]["Name"])
    assert not d.problems, d.problems
    assert glme.NumObservations == r["NumObservations"]
    assert glme.DFE == r["DFE"]
    assert glme.NumCoefficients + glme.NumCovarianceParameters == r["NumParameters_for_AIC"]
    lo, hi = tol["loglik"]
    assert lo < d.loglik < hi, f"LogLikelihood: ours - reference = {d.loglik:.3g}, allowed ({lo:g}, {hi:g})"
    assert d.criteria < tol["criteria"], f"AIC/BIC/Deviance: {d.criteria:.3g}"
    if case in FLAT:
        assert d.beta_scaled < tol["beta_flat"], f"fixed effects (scaled): {d.beta_scaled:.3g}"
    else:
        assert d.beta_rel < tol["beta"], f"fixed effects: {d.beta_rel:.3g}"
    assert d.se_rel < tol["se"], f"SE: {d.se_rel:.3g}"
    # t = b / SE: its error is at most that of b in units of max(|b|, SE) plus the SE's relative
    # error (worst measured: 1.7e-5, poisson_weights); log p moves by ~|t| dt, i.e. by at most about
    # twice t's relative error (measured ratio <= 1.6).
    tol_t = max(tol["beta"], tol["beta_flat"]) + tol["se"]
    assert d.tstat < tol_t, f"tStat: {d.tstat:.3g}"
    assert d.log_pvalue < 2 * tol_t, f"pValue (log): {d.log_pvalue:.3g}"
    assert d.coef_cov < tol["coef_cov"], f"CoefficientCovariance: {d.coef_cov:.3g}"
    assert d.cov_rel < tol["cov"], f"covariance parameters: {d.cov_rel:.3g}"
    assert d.dispersion_rel < tol["dispersion"], f"dispersion: {d.dispersion_rel:.3g}"
    if d.theta_rel is not None:  # glmer/lmer references only (glmmTMB and PQL have no theta)
        assert d.theta_rel < tol["theta"], f"theta: {d.theta_rel:.3g}"
    assert d.condsd_rel is not None, "every reference carries CondSD"
    assert d.condsd_rel < tol["condsd"], f"CondSD: {d.condsd_rel:.3g}"
    assert d.fitted_rel < tol["fitted"], f"fitted values: {d.fitted_rel:.3g}"


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
    mu = glme.fit_state.result.mu
    np.testing.assert_allclose(mu, ref["results"]["FittedConditional"], rtol=1e-4)
