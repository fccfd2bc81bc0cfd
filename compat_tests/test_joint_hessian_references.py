"""CovarianceMethod 'JointHessian' against the references' SE_full_hessian.

SE_full_hessian: SEs of the fixed effects from the Hessian of the Laplace objective in (theta, beta)
(glmmTMB: sdreport, exact; glmer: numDeriv on lme4's deviance function).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from fitglme import fitglme

from .references import case_options, load_case

CASES = ["binary_crossed_sim_logit_laplace", "cbpp_binomial_laplace", "cloglog_binary_sim_laplace_glmmTMB",
         "gamma_sim_log_laplace_glmmTMB", "grouseticks_poisson_laplace", "mfr_sim_poisson_laplace",
         "mfr_sim_poisson_laplace_effects", "probit_binomial_sim_laplace_glmmTMB"]
#: glmer's numerical Hessian on the very flat weighted-Poisson optimum differs from ours by 3.3e-3; our
#: Laplace objective there agrees with lme4's logLik (compat_tests/test_lme4_references.py), and the
#: glmmTMB cases (exact AD Hessians) agree to 1e-7. The margin is stated here and is not loosened silently.
KNOWN = {"poisson_weights_sim_laplace": 5e-3}


@pytest.mark.parametrize("case", CASES + sorted(KNOWN))
def test_joint_hessian_se(case):
    ref, df = load_case(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = fitglme(df, ref["matlab"]["formula"], CovarianceMethod="JointHessian", **case_options(ref))
    names = ref["results"]["coefficients"]["Name"]
    se = g.Coefficients.set_index("Name").loc[names, "SE"].to_numpy()
    rel = np.max(np.abs(se / np.array(ref["results"]["SE_full_hessian"]) - 1))
    # glmmTMB: exact (AD) Hessians -> 1e-6 (our Hessian is a central difference of exact gradients);
    # glmer: numDeriv Hessians -> 1e-4.
    tol = KNOWN.get(case, 1e-6 if "glmmTMB" in case else 1e-4)
    assert rel < tol
    # and the conditional SEs are different numbers (the option really changes the computation)
    cond = ref["results"]["coefficients"]["SE"]
    assert np.max(np.abs(se / np.array(cond) - 1)) > 1e-5
