"""fitted / designMatrix / the joint (beta, b) covariance of predict against the lme4 references.

* ``fitted(glme)`` and ``fitted(glme, Conditional=False)`` against ``FittedConditional`` and
  ``FittedMarginal`` (mu = g^-1(X beta + Z b + offset), g^-1(X beta + offset), one per CSV row):
  Laplace cases within 1e-4 relative (the README's suggested tolerance for fitted values), the
  other target cases (ApproximateLaplace, MPL/PQL, lmer) within 1e-3.
* ``designMatrix`` alone: the reference's own estimates pushed through our X and Z reproduce the
  reference's fitted values to rounding (checks the column order of Z = the order of B).
* The covariance behind conditional prediction intervals: the prediction variance of a single
  random effect (x = 0, z = unit vector) is SEPred^2 of the reference (the b-block of the joint
  (beta, u) inverse, theta fixed; MATLAB's covBetaHatBHat).

glmer fits of models with a non-canonical link use a different Laplace objective from MATLAB's
(expected instead of observed Hessian; their ``*_glmmTMB`` twins are the targets, see
test_lme4_references.py), so their fitted values are not expected to match ours; they are still
used for the designMatrix check, which does not depend on our estimates.
"""
from __future__ import annotations

import numpy as np
import pytest

from fitglme import designMatrix, fitted
from fitglme.design.builder import ReBlock
from fitglme.methods.prediction import _conditional_variance

from .references import LME4_CASES, fit_case, load_case


def _info_only(case: str) -> bool:
    """glmer (lme4) fit of a non-canonical link: a different objective from MATLAB's."""
    ref, _ = load_case(case)
    o = ref["matlab"]["options"]
    glmer = str(ref["r"]["engine"]).startswith("lme4::glmer")
    canonical = (o["Distribution"].lower(), str(o["Link"]).lower()) in {
        ("binomial", "logit"), ("poisson", "log"), ("normal", "identity")}
    return glmer and not canonical


TARGETS = [c for c in LME4_CASES if not _info_only(c)]
LAPLACE = [c for c in TARGETS if load_case(c)[0]["matlab"]["options"]["FitMethod"] == "Laplace"]
OTHERS = [c for c in TARGETS if c not in LAPLACE]


def _rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.abs(b)))


def _check_fitted(case: str, tol: float) -> None:
    glme, ref = fit_case(case)
    r = ref["results"]
    cond = fitted(glme)
    marg = fitted(glme, "Conditional", False)
    assert cond.shape == (len(r["FittedConditional"]),)
    assert _rel(cond, r["FittedConditional"]) < tol
    assert _rel(marg, r["FittedMarginal"]) < tol


def test_case_lists():
    assert len(LAPLACE) >= 8 and "grouseticks_poisson_laplace" in LAPLACE
    assert "cloglog_binary_sim_laplace" not in TARGETS


@pytest.mark.parametrize("case", LAPLACE)
def test_fitted_laplace(case):
    _check_fitted(case, 1e-4)


@pytest.mark.parametrize("case", OTHERS)
def test_fitted_other_methods(case):
    _check_fitted(case, 1e-3)


@pytest.mark.parametrize("case", LME4_CASES)
def test_design_matrices_reproduce_reference_fitted_values(case):
    glme, ref = fit_case(case)
    r = ref["results"]
    est = dict(zip(r["coefficients"]["Name"], r["coefficients"]["Estimate"]))
    beta = np.array([est[nm] for nm in glme.CoefficientNames])
    b = np.asarray(r["RandomEffects"]["Estimate"], float)
    X = designMatrix(glme)
    Z = designMatrix(glme, "Random")
    assert Z.shape == (X.shape[0], b.size)
    offset = glme.fit_state.spec.offset
    eta_m = X @ beta + offset
    eta_c = eta_m + Z @ b
    assert _rel(glme.Link.Inverse(eta_c), r["FittedConditional"]) < 1e-12
    assert _rel(glme.Link.Inverse(eta_m), r["FittedMarginal"]) < 1e-12


def _unit_blocks(glme):
    """One pseudo-row per random effect j: z = e_j (level of row j, column a), x = 0."""
    lay = glme.fit_state.problem.layout
    Q = lay.Q
    out = []
    for k, blk in enumerate(glme.fit_state.problem.design.re_blocks):
        idx = np.full(Q, -1, dtype=np.int64)
        Z = np.zeros((Q, blk.q))
        j = lay.offsets[k] + np.arange(blk.nlevels * blk.q)
        idx[j] = np.repeat(np.arange(blk.nlevels), blk.q)
        Z[j, np.tile(np.arange(blk.q), blk.nlevels)] = 1.0
        out.append(ReBlock(blk.group_name, blk.group_vars, blk.level_names, idx, Z, blk.names))
    return out


@pytest.mark.parametrize("case", LAPLACE + [c for c in OTHERS if c.endswith(("laplace", "_ml", "_mpl"))])
def test_joint_covariance_matches_sepred(case):
    glme, ref = fit_case(case)
    sepred = np.asarray(ref["results"]["RandomEffects"]["SEPred"], float)
    var = _conditional_variance(glme, np.zeros((glme.fit_state.problem.layout.Q, glme.NumCoefficients)), _unit_blocks(glme))
    tol = 1e-4 if case in LAPLACE else 1e-3
    assert _rel(np.sqrt(var), sepred) < tol
