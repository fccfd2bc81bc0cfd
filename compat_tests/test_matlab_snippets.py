"""MathWorks' documented calls of fitglme and the GeneralizedLinearMixedModel methods, pasted and
translated as docs/migration.md writes them, run on our data, asserting MATLAB's semantics.

Each snippet is the MATLAB code of a documentation example or syntax line (the ``mfr`` model of the
method pages: ``defects ~ 1 + newprocess + time_dev + temp_dev + supplier + (1|factory)``, Poisson,
Laplace, effects coding; our ``load_example()`` has mfr's shape with simulated numbers) next to its
Python translation.  The checks are MATLAB's meaning of the result: its type, its shape, which
output it is (matched against an independent property or identity: ``beta`` is
``glme.Coefficients.Estimate``, ``predict(glme)`` is ``fitted(glme)``, the coefTest of one
coefficient is its t-test, ...) and which rows it has.  Every multi-output method appears in its
one-output form (MATLAB's ``beta = fixedEffects(glme)``) and unpacked.

Tolerances (rel 1e-9 to 1e-12): both sides are the same quantity computed along different paths
(e.g. ``predict`` and ``fitted``, a t-test and the F-test of one coefficient), so they differ by
rounding only (measured: at most 1.5e-16 relative on this model).  Identities such as "pVal is the upper tail of F(DF1, DF2) at F" state which output
is which (MATLAB's definitions), not the numbers.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy import stats

import fitglme
from fitglme import GeneralizedLinearMixedModel, fitglme as fit, load_example

from .references import load_case

MFR_FIT = ("glme = fitglme(mfr, 'defects ~ 1 + newprocess + time_dev + temp_dev + supplier + (1|factory)', "
           "'Distribution', 'Poisson', 'Link', 'log', 'FitMethod', 'Laplace', 'DummyVarCoding', 'effects')")
P, Q, N = 6, 20, 100   # fixed effects (intercept, newprocess, time_dev, temp_dev, 2 supplier), factories, rows


@dataclass(frozen=True)
class Snippet:
    name: str
    matlab: str
    python: str
    check: Callable[[dict], None]


def _quiet_fit(*args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(*args, **kw)


@pytest.fixture(scope="module")
def env():
    mfr = load_example()
    ns = {"np": np, "pd": pd, "mfr": mfr, "fitglme": fit}
    ns.update({name: getattr(fitglme, name) for name in fitglme.__all__ if name != "fitglme"})
    exec(MFR_FIT, ns)
    _ref, cbpp = load_case("cbpp_binomial_laplace")
    ns["cbpp"] = cbpp
    ns["glmeb"] = _quiet_fit(cbpp, "incidence_prop ~ 1 + period + (1|herd)", "Distribution", "Binomial",
                             "BinomialSize", cbpp["size"], "FitMethod", "Laplace")
    ns["glme_small"] = _quiet_fit(mfr, "defects ~ 1 + newprocess + (1|factory)", "Distribution", "Poisson",
                                  "FitMethod", "Laplace")
    return ns


def _est(ns, col="Estimate"):
    return ns["glme"].Coefficients[col].to_numpy(float)


def _is_vector(v, n):
    assert isinstance(v, np.ndarray) and v.shape == (n,) and v.dtype == float, (type(v), np.shape(v))


# ---------------------------------------------------------------------------------------------
def _fit_check(ns):
    glme = ns["glme"]
    assert isinstance(glme, GeneralizedLinearMixedModel)
    # MATLAB's page shows supplier_C, supplier_B: mfr.mat's category order is C, B, A; ours is A, B, C
    assert glme.CoefficientNames == ["(Intercept)", "newprocess", "time_dev", "temp_dev", "supplier_A",
                                     "supplier_B"]
    assert glme.NumObservations == N and glme.FitMethod == "Laplace" and glme.Distribution == "Poisson"


def _beta(ns):
    beta = ns["beta"]
    _is_vector(beta, P)
    assert np.array_equal(beta, _est(ns))                       # the estimates, not the names
    assert beta[1] == _est(ns)[1] and len(beta) == P             # beta(2): the newprocess coefficient
    assert np.allclose(np.exp(beta), np.exp(_est(ns))) and np.array_equal(beta < 0, _est(ns) < 0)


def _beta_names(ns):
    assert np.array_equal(ns["beta"], _est(ns))
    assert list(ns["betanames"]["Name"]) == ns["glme"].CoefficientNames and ns["betanames"].shape == (P, 1)


def _beta_stats(ns):
    st = ns["stats"]
    assert st.title == "Fixed effect coefficients: DFMethod = 'none', Alpha = 0.01"
    assert np.all(np.isinf(st["DF"])) and list(st["Name"]) == ns["glme"].CoefficientNames
    z = stats.norm.ppf(0.995)
    assert np.allclose(st["Upper"] - st["Estimate"], z * st["SE"], rtol=1e-12)   # 99% normal limits


def _B(ns):
    _is_vector(ns["B"], Q)
    assert np.array_equal(ns["B"], ns["glme"].randomEffects().stats["Estimate"].to_numpy())   # the EBPs
    assert ns["B"][0] == ns["glme"].randomEffects().stats["Estimate"].iloc[0]                # B(1): F01


def _B_names(ns):
    names = ns["BNames"]
    assert list(names.columns) == ["Group", "Level", "Name"] and len(names) == Q
    assert list(names["Level"]) == list(ns["mfr"]["factory"].cat.categories)        # level order
    assert set(names["Group"]) == {"factory"} and set(names["Name"]) == {"(Intercept)"}


def _B_stats_rows(ns):
    first3 = ns["first3"]
    assert len(first3) == 3 and list(first3["Level"]) == ["F01", "F02", "F03"]     # stats(1:3,:)
    assert np.array_equal(first3["Estimate"].to_numpy(), ns["B"][:3])


def _psi(ns):
    psi = ns["psi"]
    assert isinstance(psi, list) and len(psi) == 1 and psi[0].shape == (1, 1)       # psi{1}: 1-by-1
    sd = ns["glme"].covarianceParameters().stats[0]["Estimate"].iloc[0]
    assert psi[0][0, 0] == pytest.approx(sd ** 2, rel=1e-12)                        # a variance


def _psi_all(ns):
    assert ns["dispersion"] == 1.0                                                  # Poisson
    assert len(ns["cstats"]) == 2 and ns["cstats"][0].title == "Covariance Type: Isotropic"
    assert ns["err_est"] == 1.0 and isinstance(ns["err_est"], float)               # stats{2}.Estimate


def _feci(ns):
    feCI = ns["feCI"]
    assert isinstance(feCI, np.ndarray) and feCI.shape == (P, 2)
    assert np.allclose(feCI[:, 0], _est(ns, "Lower"), rtol=1e-12)                 # feCI(:,1): lower
    assert np.allclose(feCI[:, 1], _est(ns, "Upper"), rtol=1e-12)


def _feci_99(ns):
    assert ns["feCI99"].shape == (P, 2)
    assert np.all(ns["feCI99"][:, 0] < ns["feCI"][:, 0]) and np.all(ns["feCI99"][:, 1] > ns["feCI"][:, 1])


def _reci(ns):
    assert ns["feCI"].shape == (P, 2) and ns["reCI"].shape == (Q, 2)
    assert np.all(ns["reCI"][:, 0] < ns["glme"].randomEffects()) and np.all(
        ns["reCI"][:, 1] > ns["glme"].randomEffects())


def _pval_default(ns):
    pVal = ns["pVal"]
    assert isinstance(pVal, float) and 0.0 <= pVal <= 1.0
    assert isinstance(pVal < 0.05, bool)                                            # if pVal < 0.05
    F, DF1, DF2 = ns["F"], ns["DF1"], ns["DF2"]
    assert DF1 == P - 1 and DF2 == N - P                                            # all but the intercept
    assert pVal == pytest.approx(stats.f.sf(F, DF1, DF2), rel=1e-10)


def _pval_one_coefficient(ns):
    t = ns["glme"].Coefficients["tStat"].iloc[1]
    assert ns["pVal"] == pytest.approx(ns["glme"].Coefficients["pValue"].iloc[1], rel=1e-9)
    assert ns["F"] == pytest.approx(t ** 2, rel=1e-10) and ns["DF1"] == 1


def _pval_contrast(ns):
    assert isinstance(ns["pVal"], float) and ns["DF1"] == 1 and ns["DF2"] == N - P
    b = _est(ns)
    V = ns["glme"].CoefficientCovariance
    F = (b[4] - b[5]) ** 2 / (V[4, 4] + V[5, 5] - 2 * V[4, 5])
    assert ns["F"] == pytest.approx(F, rel=1e-10)


def _pval_recontrast(ns):
    assert ns["pVal_re"] == pytest.approx(ns["pVal_fe"], rel=1e-9)                 # K = 0 adds nothing
    assert isinstance(ns["pVal_re"], float)


def _anova(ns):
    a = ns["stats"]
    assert list(a["Term"]) == ["(Intercept)", "newprocess", "time_dev", "temp_dev", "supplier"]
    assert list(a["DF1"]) == [1, 1, 1, 1, 2] and a.title == "ANOVA marginal tests: DFMethod = 'residual'"
    assert a["pValue"].iloc[1] == pytest.approx(ns["glme"].Coefficients["pValue"].iloc[1], rel=1e-9)


def _compare(ns):
    r = ns["results"]
    assert list(r["Model"]) == ["glme_small", "glme"] and r["deltaDF"].iloc[1] == 4
    lr = 2 * (ns["glme"].LogLikelihood - ns["glme_small"].LogLikelihood)
    assert r["LRStat"].iloc[1] == pytest.approx(lr, rel=1e-12)
    assert r["pValue"].iloc[1] == pytest.approx(1 - stats.chi2.cdf(lr, 4), rel=1e-9)


def _design_fixed(ns):
    X = ns["X"]
    assert isinstance(X, np.ndarray) and X.shape == (N, P) and np.all(X[:, 0] == 1)
    assert np.array_equal(X[:, 1], ns["mfr"]["newprocess"].to_numpy(float))


def _design_random(ns):
    Z = ns["Z"]
    assert sp.issparse(Z) and Z.shape == (N, Q)
    eta = ns["X"] @ ns["glme"].fixedEffects() + Z @ ns["glme"].randomEffects()
    assert np.allclose(np.exp(eta), ns["glme"].fitted(), rtol=1e-10)               # X beta + Z b


def _design_sub(ns):
    Dsub = ns["Dsub"]
    assert sp.issparse(Dsub) and Dsub.shape == (N, Q) and (Dsub != ns["glme"].designMatrix("Random")).nnz == 0


def _design_sub_names(ns):
    assert ns["gnames"] == ["factory"] and ns["Dsub"].shape == (N, Q)


def _fitted(ns):
    _is_vector(ns["mufit"], N)
    assert np.all(ns["mufit"] > 0)


def _fitted_marginal(ns):
    _is_vector(ns["mumarg"], N)
    assert np.allclose(np.log(ns["mumarg"]), ns["X"] @ _est(ns), rtol=1e-10)       # no random effects


def _residuals(ns):
    r, rp = ns["r"], ns["rp"]
    _is_vector(r, N)
    mu = ns["glme"].fitted()
    assert np.allclose(r, ns["mfr"]["defects"] - mu) and np.allclose(rp, r / np.sqrt(mu), rtol=1e-10)


def _response(ns):
    y = ns["y"]
    _is_vector(y, N)
    assert np.array_equal(y, ns["mfr"]["defects"].to_numpy(float)) and y[0] == ns["mfr"]["defects"].iloc[0]
    assert np.array_equal(y * 2, 2 * ns["mfr"]["defects"].to_numpy(float))


def _response_poisson_size(ns):
    assert ns["binomialsize"] is None                                               # MATLAB: []


def _response_binomial(ns):
    cbpp = ns["cbpp"]
    assert np.allclose(ns["yb"], cbpp["incidence_prop"]) and np.array_equal(ns["nb"], cbpp["size"])


def _predict_new(ns):
    ypred = ns["ypred"]
    _is_vector(ypred, 10)
    assert np.allclose(ypred, ns["glme"].fitted()[:10], rtol=1e-10)                # same rows, conditional


def _predict_ci(ns):
    ypred, ci = ns["ypred"], ns["ypredCI"]
    _is_vector(ypred, 10)
    assert ci.shape == (10, 2) and np.all(ci[:, 0] < ypred) and np.all(ypred < ci[:, 1])


def _predict_all(ns):
    ypred, DF = ns["ypred"], ns["DF"]
    assert np.allclose(ypred, ns["glme"].fitted(), rtol=1e-10) and ns["ypredCI"].shape == (N, 2)
    assert np.all(DF == N - P) and DF.shape == (N,)


def _predict_marginal(ns):
    assert np.allclose(ns["ypred"], ns["glme"].fitted("Conditional", False), rtol=1e-10)


def _random(ns):
    ysim = ns["ysim"]
    _is_vector(ysim, N)
    assert np.all(ysim >= 0) and np.all(ysim == np.round(ysim))                      # Poisson counts


def _refit(ns):
    new = ns["glmenew"]
    assert isinstance(new, GeneralizedLinearMixedModel) and new.CoefficientNames == ns["glme"].CoefficientNames
    assert np.array_equal(new.response(), ns["ysim"])


def _pd_one(ns):
    _is_vector(ns["pdv"], 100)                                                      # 100 query points


def _pd_xy(ns):
    x = ns["x"]
    _is_vector(x, 100)
    t = ns["mfr"]["time_dev"]
    assert x[0] == t.min() and x[-1] == t.max() and ns["y"] is None and ns["pdv"].shape == (100,)


def _pd_two(ns):
    assert ns["pdv"].shape == (3, 2) and list(ns["x"]) == [0.0, 0.1] and list(ns["y"]) == [0.0, 0.05, 0.1]


def _criterion(ns):
    assert isinstance(ns["aic"], float) and ns["aic"] == ns["glme"].ModelCriterion["AIC"].iloc[0]
    assert ns["better"] in ("glme", "glme_small")
    ref = "glme" if ns["glme"].ModelCriterion["AIC"].iloc[0] < ns["glme_small"].ModelCriterion["AIC"].iloc[0] \
        else "glme_small"
    assert ns["better"] == ref


def _rsquared(ns):
    assert isinstance(ns["r2"], float) and 0 < ns["r2"] < 1


def _coef_column(ns):
    assert ns["pv2"] == ns["glme"].Coefficients["pValue"].iloc[1] and isinstance(ns["pv2"], float)


def _disp(ns):
    assert ns["text"].splitlines()[0] == "glme = "
    assert "Generalized linear mixed-effects model fit by ML" in ns["text"]


SNIPPETS = [
    Snippet("fitglme mfr",
            "glme = fitglme(mfr,'defects ~ 1 + newprocess + time_dev + temp_dev + supplier + (1|factory)',"
            "'Distribution','Poisson','Link','log','FitMethod','Laplace','DummyVarCoding','effects');",
            MFR_FIT, _fit_check),
    Snippet("fixedEffects one output", "beta = fixedEffects(glme);", "beta = fixedEffects(glme)", _beta),
    Snippet("fixedEffects two outputs", "[beta,betanames] = fixedEffects(glme);",
            "beta, betanames = fixedEffects(glme)", _beta_names),
    Snippet("fixedEffects three outputs, options",
            "[~,~,stats] = fixedEffects(glme,'DFMethod','none','Alpha',0.01);",
            "_, _, stats = glme.fixedEffects('DFMethod', 'none', 'Alpha', 0.01)", _beta_stats),
    Snippet("randomEffects one output", "B = randomEffects(glme);", "B = randomEffects(glme)", _B),
    Snippet("randomEffects two outputs", "[B,BNames] = randomEffects(glme);",
            "B, BNames = randomEffects(glme)", _B_names),
    Snippet("randomEffects stats rows", "[B,BNames,stats] = randomEffects(glme);\nstats(1:3,:)",
            "B, BNames, stats = randomEffects(glme)\nfirst3 = stats.iloc[0:3]", _B_stats_rows),
    Snippet("covarianceParameters one output", "psi = covarianceParameters(glme);\npsi{1}",
            "psi = covarianceParameters(glme)\npsi[0]", _psi),
    Snippet("covarianceParameters three outputs",
            "[psi,dispersion,stats] = covarianceParameters(glme);\nstats{2}.Estimate",
            "psi, dispersion, cstats = covarianceParameters(glme)\nerr_est = cstats[1].Estimate", _psi_all),
    Snippet("coefCI one output", "feCI = coefCI(glme)", "feCI = coefCI(glme)", _feci),
    Snippet("coefCI Alpha", "feCI = coefCI(glme);\nfeCI99 = coefCI(glme,'Alpha',0.01);",
            "feCI = coefCI(glme)\nfeCI99 = coefCI(glme, 'Alpha', 0.01)", _feci_99),
    Snippet("coefCI two outputs", "[feCI,reCI] = coefCI(glme);", "feCI, reCI = coefCI(glme)", _reci),
    Snippet("coefTest one output, default H", "pVal = coefTest(glme)\n[~,F,DF1,DF2] = coefTest(glme);",
            "pVal = coefTest(glme)\n_, F, DF1, DF2 = coefTest(glme)", _pval_default),
    Snippet("coefTest one coefficient", "[pVal,F,DF1] = coefTest(glme,[0 1 0 0 0 0]);",
            "pVal, F, DF1 = coefTest(glme, [0, 1, 0, 0, 0, 0])", _pval_one_coefficient),
    Snippet("coefTest supplier contrast", "H = [0 0 0 0 1 -1];\n[pVal,F,DF1,DF2] = coefTest(glme,H);",
            "H = [0, 0, 0, 0, 1, -1]\npVal, F, DF1, DF2 = coefTest(glme, H)", _pval_contrast),
    Snippet("coefTest REContrast",
            "pVal_fe = coefTest(glme,[0 1 0 0 0 0]);\n"
            "pVal_re = coefTest(glme,[0 1 0 0 0 0],0,'REContrast',zeros(1,20));",
            "pVal_fe = coefTest(glme, [0, 1, 0, 0, 0, 0])\n"
            "pVal_re = coefTest(glme, [0, 1, 0, 0, 0, 0], 0, 'REContrast', np.zeros((1, 20)))", _pval_recontrast),
    Snippet("anova", "stats = anova(glme)", "stats = anova(glme)", _anova),
    Snippet("compare", "results = compare(glme_small,glme)",
            "results = compare(glme_small, glme, names=('glme_small', 'glme'))", _compare),
    Snippet("designMatrix fixed", "X = designMatrix(glme,'Fixed');", "X = designMatrix(glme, 'Fixed')",
            _design_fixed),
    Snippet("designMatrix random", "X = designMatrix(glme);\nZ = designMatrix(glme,'Random');",
            "X = designMatrix(glme)\nZ = designMatrix(glme, 'Random')", _design_random),
    Snippet("designMatrix gnumbers one output", "Dsub = designMatrix(glme,'Random',1);",
            "Dsub = designMatrix(glme, 'Random', 0)", _design_sub),
    Snippet("designMatrix gnumbers two outputs", "[Dsub,gnames] = designMatrix(glme,'Random',1);",
            "Dsub, gnames = designMatrix(glme, 'Random', 0)", _design_sub_names),
    Snippet("fitted", "mufit = fitted(glme);", "mufit = fitted(glme)", _fitted),
    Snippet("fitted marginal", "X = designMatrix(glme);\nmumarg = fitted(glme,'Conditional',false);",
            "X = designMatrix(glme)\nmumarg = fitted(glme, 'Conditional', False)", _fitted_marginal),
    Snippet("residuals", "r = residuals(glme);\nrp = residuals(glme,'ResidualType','Pearson');",
            "r = residuals(glme)\nrp = residuals(glme, 'ResidualType', 'Pearson')", _residuals),
    Snippet("response one output", "y = response(glme);", "y = response(glme)", _response),
    Snippet("response two outputs, Poisson", "[y,binomialsize] = response(glme);",
            "y, binomialsize = response(glme)", _response_poisson_size),
    Snippet("response two outputs, Binomial", "[yb,nb] = response(glmeb);", "yb, nb = response(glmeb)",
            _response_binomial),
    Snippet("predict one output", "tblnew = mfr(1:10,:);\nypred = predict(glme,tblnew);",
            "tblnew = mfr.iloc[0:10]\nypred = predict(glme, tblnew)", _predict_new),
    Snippet("predict two outputs", "tblnew = mfr(1:10,:);\n[ypred,ypredCI] = predict(glme,tblnew,'Alpha',0.01);",
            "tblnew = mfr.iloc[0:10]\nypred, ypredCI = predict(glme, tblnew, 'Alpha', 0.01)", _predict_ci),
    Snippet("predict three outputs", "[ypred,ypredCI,DF] = predict(glme);",
            "ypred, ypredCI, DF = predict(glme)", _predict_all),
    Snippet("predict marginal", "ypred = predict(glme,'Conditional',false);",
            "ypred = predict(glme, 'Conditional', False)", _predict_marginal),
    Snippet("random", "ysim = random(glme);", "ysim = random(glme)", _random),
    Snippet("refit", "ysim = random(glme);\nglmenew = refit(glme,ysim);",
            "ysim = random(glme)\nglmenew = refit(glme, ysim)", _refit),
    Snippet("partialDependence one output", "pdv = partialDependence(glme,'time_dev');",
            "pdv = partialDependence(glme, 'time_dev')", _pd_one),
    Snippet("partialDependence three outputs", "[pdv,x,y] = partialDependence(glme,'time_dev');",
            "pdv, x, y = partialDependence(glme, 'time_dev')", _pd_xy),
    Snippet("partialDependence two variables",
            "[pdv,x,y] = partialDependence(glme,{'time_dev','temp_dev'},'QueryPoints',{[0 0.1],[0 0.05 0.1]});",
            "pdv, x, y = partialDependence(glme, ['time_dev', 'temp_dev'], 'QueryPoints', "
            "[[0, 0.1], [0, 0.05, 0.1]])", _pd_two),
    Snippet("ModelCriterion comparison",
            "aic = glme.ModelCriterion.AIC;\n"
            "if glme.ModelCriterion.AIC < glme_small.ModelCriterion.AIC\n  better = 'glme';\n"
            "else\n  better = 'glme_small';\nend",
            "aic = glme.ModelCriterion.AIC\n"
            "better = 'glme' if glme.ModelCriterion.AIC < glme_small.ModelCriterion.AIC else 'glme_small'",
            _criterion),
    Snippet("Rsquared", "r2 = glme.Rsquared.Ordinary;", "r2 = glme.Rsquared.Ordinary", _rsquared),
    Snippet("Coefficients column", "pv2 = glme.Coefficients.pValue(2);",
            "pv2 = glme.Coefficients['pValue'].iloc[1]", _coef_column),
    Snippet("display", "glme", "text = glme.display('glme')", _disp),
]


def test_corpus_size_and_coverage():
    assert len(SNIPPETS) >= 30
    assert len({s.name for s in SNIPPETS}) == len(SNIPPETS)
    one_output = {"fixedEffects", "randomEffects", "covarianceParameters", "coefCI", "coefTest",
                  "designMatrix", "response", "predict", "partialDependence"}
    for method in one_output:                      # every multi-output method in its one-output form
        assert any(s.name.startswith(method) and "one output" in s.name for s in SNIPPETS), method


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[s.name for s in SNIPPETS])
def test_matlab_snippet(env, snippet):
    ns = dict(env)
    np.random.seed(0)  # MATLAB's rng(0) before a script: the random draws are the same in every run
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")            # boundary fits of the simulated data
        exec(compile(snippet.python, f"<{snippet.name}>", "exec"), ns)
    snippet.check(ns)
