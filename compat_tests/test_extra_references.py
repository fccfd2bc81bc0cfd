"""fitglme against the independent R references of reference_outputs/extra/.

The references (made by reference_outputs/generate/extra_references.R; provenance in
reference_outputs/PROVENANCE.md) cover what reference_outputs/lme4 does not: the inverse Gaussian
distribution (MATLAB's default link, power -2), Gamma with its default link (power -1), the power
link (0.5), a custom link (cauchit,
given as a Link/Derivative/SecondDerivative/Inverse struct), DummyVarCoding 'full', Offset,
Exclude, CovariancePattern Diagonal / Isotropic / CompSymm, coefTest and predict intervals.

Every case is compared on: the log-likelihood (two-sided), every fixed effect and SE by name, every
covariance-parameter row (group, names, types and count must be identical: a missing row fails),
the dispersion, the random-effect modes and SEPred, the fitted values, and where the reference has
them, coefTest results and predict intervals (conditional and marginal, on new rows with an unseen
group level).

Tolerances (``TOL``), by kind of fit, come from the references' precision and the margins
measured on this machine (``python -m compat_tests.test_extra_references`` prints them):

* ``laplace`` (Laplace: the generator's own Laplace fit, lme4::glmer or glmmTMB, all Newton-polished
  to a gradient <= 1e-7 in the deviance): log-likelihood within 1e-7 absolute; estimates, SEs,
  standard deviations, dispersion, modes, SEPred, fitted values, prediction limits and coefTest F
  within 1e-7 relative.  Largest measured: 2.6e-8 (modes), 1.2e-8 (fixed effects), 9.0e-9 (logLik,
  ours higher), all pattern_sim_poisson_diag_laplace, where glmer's optimum is the least polished;
  every laplace_ri and glmmTMB case is within 5e-8 (F of poisson_sqrt_sim_laplace) and mostly 1e-9.
* ``approx`` (ApproximateLaplace against lme4::glmer nAGQ = 0, Newton-polished): lme4 reports its
  joint (u, beta) PIRLS deviance, which on pattern_sim_poisson_diag_approxlaplace is 2.25e-6 below
  the Laplace log-likelihood at the same (theta, beta) (lme4's own nAGQ = 1 deviance function, stored
  as ``LogLikelihood_laplace_at_estimates``).  Our LogLikelihood is compared with the latter
  within 1e-7 (measured 1e-12); everything else within 1e-6 relative (measured 2.1e-7, the modes of
  that case: lme4 maximises its slightly different objective, which moves the optimum by ~1e-7).
* ``pql`` (MPL / REMPL against MASS::glmmPQL's iteration run to 1e-16, ML / REML pseudo-data fits): 1e-6 relative, log-likelihood
  2e-6 absolute.  Largest measured: 3.1e-7 (modes of cauchit_sim_mpl), 1.9e-7 (its random-effect
  SD), 4.8e-7 in logLik (offset_sim_poisson_mpl; the pseudo-likelihood moves with the PL stopping
  point); fixed effects within 6e-9.
* ``normal`` (Normal MPL/REMPL against lmer or a dense (RE)ML fit, polished to a gradient
  <= 6e-8 (lmer's deviance) and <= 3e-9 (the dense fits)): 1e-6 relative, log-likelihood 1e-8
  absolute.  Largest measured: 6.6e-8 (the CompSymm correlation of pattern_sim_normal_cs_reml),
  4.9e-8 (its SD), logLik 3.4e-13.  The references are good to ~1e-9; the tolerance leaves room
  for the LME optimiser, whose covariance parameters are currently pinned only to ~1e-5 across
  BLAS kernels: on another kernel these cases can fail until that is fixed; the tolerance is not to
  be loosened for it.
* Fitted values and prediction limits: relative error with an absolute floor of the median |value|
  (Normal means cross 0).  Correlations are compared absolutely (a correlation near 0, as in
  pattern_sim_poisson_cs_laplace, has no useful relative error); random-effect modes relative to
  max(|B|, SEPred).
* coefTest: F within the kind's tolerance relative, the p-value within 20x that (a p-value's
  relative error is |d log p / d F| ~ 10-20 times F's here).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from fitglme import coefTest, fitted, predict

from .references import EXTRA, EXTRA_CASES, cauchit_link, fit_case, load_case

#: per kind of fit: (log-likelihood absolute, everything else relative); see the module docstring.
TOL = {"laplace": (1e-7, 1e-7), "approx": (1e-7, 1e-6), "pql": (2e-6, 1e-6), "normal": (1e-8, 1e-6)}


def kind(ref: dict) -> str:
    o = ref["matlab"]["options"]
    if o["Distribution"].lower() == "normal":
        return "normal"
    if o["FitMethod"] == "ApproximateLaplace":
        return "approx"
    return "pql" if o["FitMethod"] in ("MPL", "REMPL") else "laplace"


def _rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b) / np.abs(b))) if a.size else 0.0


def _rel_floor(a, b) -> float:
    """Relative error with an absolute floor of median |b|: a Normal mean or prediction limit
    near 0 is judged on the scale of the typical value (fitted values and limits only)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), np.median(np.abs(b)))))


def _fit(case):
    return fit_case(case, EXTRA)


def _order(glme, ref) -> list[int]:
    """Our coefficient index of each reference coefficient (by name; every name must exist)."""
    names = ref["results"]["coefficients"]["Name"]
    assert sorted(names) == sorted(glme.CoefficientNames), (glme.CoefficientNames, names)
    return [glme.CoefficientNames.index(n) for n in names]


def _covariance_errors(glme, ref) -> tuple[float, float]:
    """(max relative error of the std rows, max absolute error of the corr rows); the groups, their
    level counts, names, types and the number of rows must be identical."""
    ours = glme._covariance_rows()
    theirs = ref["results"]["CovarianceParameters"][:-1]
    assert len(ours) == len(theirs)
    std_err, corr_err = 0.0, 0.0
    for (g, m, n1, n2, t, e, _), rc in zip(ours, theirs):
        assert (g, m) == (rc["Group"], rc["NumLevels"])
        assert (list(n1), list(n2), list(t)) == (rc["Name1"], rc["Name2"], rc["Type"])
        e, r = np.asarray(e, float), np.asarray(rc["Estimate"], float)
        s = np.array(t) == "std"
        std_err = max(std_err, _rel(e[s], r[s]))
        if (~s).any():
            corr_err = max(corr_err, float(np.max(np.abs(e[~s] - r[~s]))))
    return std_err, corr_err


def measure(case: str) -> dict:
    """Every measured difference of one case (ours against the reference)."""
    glme, ref = _fit(case)
    r = ref["results"]
    order = _order(glme, ref)
    coef = glme.Coefficients
    est = coef["Estimate"].to_numpy()[order]
    se = coef["SE"].to_numpy()[order]
    std_err, corr_err = _covariance_errors(glme, ref)
    B, _, st = glme.randomEffects()
    rB, rsp = np.asarray(r["RandomEffects"]["Estimate"]), np.asarray(r["RandomEffects"]["SEPred"])
    used = np.asarray(r.get("used_rows", np.arange(r["NumObservations"])), int)
    # ApproximateLaplace: lme4 (nAGQ = 0) reports its joint (u, beta) PIRLS deviance; the Laplace
    # log-likelihood at its estimates (lme4's nAGQ = 1 deviance function) is the comparable value.
    ll_ref = r.get("LogLikelihood_laplace_at_estimates", r["LogLikelihood"])
    return {
        "loglik": glme.LogLikelihood - ll_ref,
        "beta": _rel(est, r["coefficients"]["Estimate"]),
        "se": _rel(se, r["coefficients"]["SE"]),
        "std": std_err,
        "corr": corr_err,
        "dispersion": _rel([glme.Dispersion], [r["Dispersion"]]),
        "B": float(np.max(np.abs(B - rB) / np.maximum(np.abs(rB), rsp))),
        "SEPred": _rel(st["SEPred"].to_numpy(), rsp),
        "fitted": max(_rel_floor(fitted(glme)[used], r["FittedConditional"]),
                      _rel_floor(fitted(glme, Conditional=False)[used], r["FittedMarginal"])),
    }


@pytest.mark.parametrize("case", EXTRA_CASES)
def test_fit_matches_reference(case):
    glme, ref = _fit(case)
    tol_ll, tol = TOL[kind(ref)]
    d = measure(case)
    assert abs(d["loglik"]) < tol_ll, f"LogLikelihood differs by {d['loglik']:.3g}"
    for key in ("beta", "se", "std", "corr", "dispersion", "B", "SEPred", "fitted"):
        assert d[key] < tol, f"{key}: {d[key]:.3g} (tolerance {tol:g})"
    r = ref["results"]
    assert glme.NumObservations == r["NumObservations"] and glme.DFE == r["DFE"]
    assert glme.DispersionEstimated == r["DispersionEstimated"]
    # the parameter count of AIC/BIC as R counts it (p + covariance parameters [+ dispersion]);
    # then AIC follows from the log-likelihood compared above
    assert glme._num_parameters == r["NumParameters_for_AIC"]
    aic_ref = r["AIC"] - 2 * (r.get("LogLikelihood_laplace_at_estimates", r["LogLikelihood"]) - r["LogLikelihood"])
    assert abs(float(glme.ModelCriterion["AIC"][0]) - aic_ref) < 2 * tol_ll


@pytest.mark.parametrize("case", [c for c in EXTRA_CASES if "coefTest" in load_case(c, EXTRA)[0]["results"]])
def test_coeftest_matches_r(case):
    """MATLAB's F test of H beta = C (DFMethod 'residual' and 'none'), computed in R from the
    reference's own estimates and CoefficientCovariance."""
    glme, ref = _fit(case)
    tol = TOL[kind(ref)][1]
    order = _order(glme, ref)
    p = glme.NumCoefficients
    for t in ref["results"]["coefTest"]:
        Href = np.array(t["H"], float).reshape(-1, p)
        H = np.zeros_like(Href)
        H[:, order] = Href  # reference column j is our coefficient order[j]
        C = np.asarray(t["C"], float)
        res = coefTest(glme, H, C)
        assert (res.DF1, res.DF2) == (t["DF1"], t["DF2_residual"]), t["description"]
        assert abs(res.F / t["F"] - 1) < tol, t["description"]
        assert abs(res.pVal / t["pValue_residual"] - 1) < 20 * tol, t["description"]
        none = coefTest(glme, H, C, "DFMethod", "none")
        assert np.isinf(none.DF2) and abs(none.F / t["F"] - 1) < tol
        assert abs(none.pVal / t["pValue_none"] - 1) < 20 * tol, t["description"]


PREDICT_CASES = [c for c in EXTRA_CASES if "predict" in load_case(c, EXTRA)[0]["results"]]


@pytest.mark.parametrize("case", PREDICT_CASES)
@pytest.mark.parametrize("conditional", [True, False])
def test_predict_intervals_match_dense_r(case, conditional):
    """predict on new rows (two with an unseen group level "NEW", which contribute no random
    effect) against R: eta = x'beta [+ z'b] + offset, variance c' Sigma c with Sigma the dense
    inverse of [X Z]' W [X Z] + blockdiag(0, Psi^-1) (conditional; W the observed weights for
    Laplace, the final PL weights for MPL, 1/sigma^2 for Normal) or x' CoefficientCovariance x
    (marginal), limits g^-1(eta -/+ t(0.975, n - p) sd) sorted."""
    glme, ref = _fit(case)
    tol = TOL[kind(ref)][1]
    P = ref["results"]["predict"]
    new = pd.read_csv(EXTRA / P["data_file"], dtype={c: str for c in ref["categorical_levels"]})
    assert (new[ref["results"]["CovarianceParameters"][0]["Group"]] == "NEW").sum() == 2
    kw = {"Offset": new[P["Offset"]].to_numpy()} if P.get("Offset") else {}
    ypred, ci, df = predict(glme, new, Conditional=conditional, **kw)
    R = P["Conditional" if conditional else "Marginal"]
    assert np.all(df == P["DF"])
    assert _rel_floor(ypred, R["ypred"]) < tol
    assert _rel_floor(ci[:, 0], R["lower"]) < tol
    assert _rel_floor(ci[:, 1], R["upper"]) < tol


def test_case_coverage():
    """The features this module exists for are all present (a lost file fails here)."""
    opts = {c: load_case(c, EXTRA)[0]["matlab"]["options"] for c in EXTRA_CASES}
    assert any(o["Distribution"] == "InverseGaussian" and o["FitMethod"] == "Laplace" for o in opts.values())
    assert any(o["Distribution"] == "InverseGaussian" and o["FitMethod"] == "MPL" for o in opts.values())
    assert any(o["Distribution"] == "InverseGaussian" and o["FitMethod"] == "REMPL" for o in opts.values())
    assert any(o["Distribution"] == "Gamma" and "Link" not in o for o in opts.values())
    assert {o.get("Link") for o in opts.values() if isinstance(o.get("Link"), float)} == {0.5}
    assert sum(isinstance(o.get("Link"), dict) for o in opts.values()) == 2
    assert any(o.get("DummyVarCoding") == "full" for o in opts.values())
    assert any(o.get("Exclude") for o in opts.values())
    assert sum(bool(o.get("Offset")) for o in opts.values()) >= 3
    pats = {(o["Distribution"], o.get("CovariancePattern")) for o in opts.values()}
    for dist in ("Normal", "Poisson"):
        assert {(dist, p) for p in ("Diagonal", "Isotropic", "CompSymm")} <= pats
    assert len(PREDICT_CASES) >= 8


def test_full_dummy_coding_names():
    glme, _ = _fit("offset_sim_poisson_full_laplace")
    assert glme.CoefficientNames == ["cond_A", "cond_B", "cond_C", "x"]


def test_excluded_rows_are_nan_and_not_fitted():
    glme, ref = _fit("offset_sim_poisson_exclude_laplace")
    excl = ref["matlab"]["options"]["Exclude"]
    _, df = load_case("offset_sim_poisson_exclude_laplace", EXTRA)
    mu = fitted(glme)
    assert mu.shape == (len(df),)
    assert np.all(np.isnan(mu[excl]))
    assert np.sum(~np.isnan(mu)) == len(df) - len(excl) == ref["results"]["NumObservations"]
    # the same rows as a boolean mask: the same fit
    from fitglme import fitglme

    from .references import case_options

    opts = case_options(ref)
    mask = np.zeros(len(df), bool)
    mask[excl] = True
    opts["Exclude"] = mask
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g2 = fitglme(df, ref["matlab"]["formula"], **opts)
    assert g2.LogLikelihood == pytest.approx(glme.LogLikelihood, abs=1e-9)


def test_custom_link_without_second_derivative_for_mpl():
    """MATLAB needs SecondDerivative only for Laplace / ApproximateLaplace: the MPL fit without it
    is the same reference fit; Laplace without it is refused."""
    from fitglme import FitglmeError, fitglme

    ref, df = load_case("cauchit_sim_mpl", EXTRA)
    link = cauchit_link()
    del link["SecondDerivative"]
    tol = TOL["pql"][1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        glme = fitglme(df, ref["matlab"]["formula"], Distribution="Binomial", BinomialSize="size",
                       FitMethod="MPL", DispersionFlag=True, Link=link)
    est = glme.Coefficients["Estimate"].to_numpy()[_order(glme, ref)]
    assert _rel(est, ref["results"]["coefficients"]["Estimate"]) < tol
    assert glme.Link.Name.lower() == "cauchit"  # the struct's Name (display-cased by the model)
    with pytest.raises(FitglmeError) as err:
        fitglme(df, ref["matlab"]["formula"], Distribution="Binomial", BinomialSize="size",
                FitMethod="Laplace", Link=link)
    assert err.value.identifier == "fitglme:MustSupplySecondDerivative"


def main() -> None:  # pragma: no cover - reporting helper
    keys = ("loglik", "beta", "se", "std", "corr", "dispersion", "B", "SEPred", "fitted")
    print(f"{'case':38s} " + " ".join(f"{k:>10s}" for k in keys))
    for case in EXTRA_CASES:
        d = measure(case)
        print(f"{case:38s} " + " ".join(f"{d[k]:10.2e}" for k in keys))


if __name__ == "__main__":  # pragma: no cover
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        main()
