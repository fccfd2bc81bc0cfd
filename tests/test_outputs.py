"""One output or several (docs/migration.md, "One output or several"), one-row tables whose variables
are scalars, and compare's log-likelihood tolerance.

Every multi-output method returns its first output, which unpacks into all outputs (MATLAB's
``[a, b, c] = f(...)``) and otherwise behaves as that first output.  Each method is checked both
ways here; compat_tests/test_matlab_snippets.py runs MathWorks' documented calls.
"""
from __future__ import annotations

import copy
import dataclasses
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import fitglme as fg
from fitglme import FitglmeError, FitglmeWarning, fitglme, load_example
from fitglme.methods.effects import CovarianceParameters, FixedEffects, RandomEffects
from fitglme.methods.hypothesis import CoefCI, CoefTest, loglik_tolerance
from fitglme.methods.plots import PartialDependence
from fitglme.methods.prediction import DesignMatrix, Predict, Response
from fitglme.outputs import ArrayOutputs, OneRowDataset, with_outputs

FORMULA = "defects ~ 1 + newprocess + time_dev + temp_dev + supplier + (1|factory)"


def _fit(tbl, formula, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fitglme(tbl, formula, **kw)


@pytest.fixture(scope="module")
def mfr():
    return load_example()


@pytest.fixture(scope="module")
def glme(mfr):
    return _fit(mfr, FORMULA, Distribution="Poisson", FitMethod="Laplace", DummyVarCoding="effects")


# Every multi-output method: (call, record class, first output's type).
CALLS = {
    "fixedEffects": (lambda m: fg.fixedEffects(m), FixedEffects, np.ndarray),
    "randomEffects": (lambda m: fg.randomEffects(m), RandomEffects, np.ndarray),
    "covarianceParameters": (lambda m: fg.covarianceParameters(m), CovarianceParameters, list),
    "coefCI": (lambda m: fg.coefCI(m), CoefCI, np.ndarray),
    "coefTest": (lambda m: fg.coefTest(m), CoefTest, float),
    "designMatrix": (lambda m: fg.designMatrix(m, "Random", 0), DesignMatrix, sp.csc_matrix),
    "response": (lambda m: fg.response(m), Response, np.ndarray),
    "predict": (lambda m: fg.predict(m, m.Variables.head(7)), Predict, np.ndarray),
    "partialDependence": (lambda m: fg.partialDependence(m, "time_dev", QueryPoints=[0.0, 0.1, 0.2]),
                          PartialDependence, np.ndarray),
}


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, pd.DataFrame):
        return a.equals(b)
    if sp.issparse(a):
        return (a != b).nnz == 0 and a.shape == b.shape
    if isinstance(a, list):
        return len(a) == len(b) and all(x == y if isinstance(x, str) else _same(x, y) for x, y in zip(a, b))
    return bool(np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True))


@pytest.mark.parametrize("method", list(CALLS))
def test_every_multi_output_method_both_ways(glme, method):
    call, record_cls, first_type = CALLS[method]
    one = call(glme)                              # MATLAB: beta = fixedEffects(glme)
    assert isinstance(one, first_type)
    assert isinstance(one.outputs, record_cls)
    names = record_cls._fields
    unpacked = tuple(call(glme).outputs)
    # unpacking all outputs (MATLAB: [a, b, ...] = f(glme)) gives the record's values, by name too
    if len(names) == 2:
        a, b = call(glme)
        got = (a, b)
    elif len(names) == 3:
        a, b, c = call(glme)
        got = (a, b, c)
    else:
        a, b, c, d = call(glme)
        got = (a, b, c, d)
    assert len(got) == len(names)
    for value, name, ref in zip(got, names, unpacked):
        assert _same(value, ref) and _same(getattr(one, name), ref), name
    # the first k outputs (MATLAB's [a, b] = f(glme) when f has three)
    first, second = call(glme)
    assert _same(first, unpacked[0]) and _same(second, unpacked[1])
    # the one-output value is the first output, not a tuple of outputs
    assert _same(one, unpacked[0])
    assert not isinstance(one, tuple)


def test_first_output_behaves_as_the_array(glme):
    beta = fg.fixedEffects(glme)
    est = glme.Coefficients["Estimate"].to_numpy()
    p = glme.NumCoefficients
    assert len(beta) == p and beta.shape == (p,)
    assert beta[1] == est[1] and isinstance(beta[1], float)         # indexing: a coefficient
    assert type(beta[1:3]) is np.ndarray and np.array_equal(beta[1:3], est[1:3])
    assert np.array_equal(beta * 2, est * 2) and type(beta * 2) is np.ndarray   # arithmetic
    assert np.allclose(np.exp(beta), np.exp(est)) and type(np.exp(beta)) is np.ndarray
    assert np.array_equal(beta < 0, est < 0)                          # comparisons
    assert np.mean(beta) == pytest.approx(est.mean()) and beta.sum() == pytest.approx(est.sum())
    assert list(beta) == list(est) and [b for b in beta] == list(est)  # iteration: the elements
    assert sum(beta) == pytest.approx(est.sum())
    assert list(zip(glme.CoefficientNames, beta)) == list(zip(glme.CoefficientNames, est))
    assert np.array_equal(np.concatenate([beta, beta]), np.concatenate([est, est]))
    assert repr(beta) == repr(est) and str(beta) == str(est)          # printing: the array's
    assert pd.Series(beta).tolist() == list(est)
    b0, *rest = beta                                                  # starred unpacking: outputs
    assert np.array_equal(b0, est) and len(rest) == 2 and rest[1].title.startswith("Fixed effect")


def test_derived_values_are_plain_and_unpack_into_elements(glme):
    beta = fg.fixedEffects(glme)
    p = glme.NumCoefficients
    parts = beta.ravel()
    assert len(tuple(parts)) == p
    b = tuple(beta[:])                                                # a slice unpacks elementwise
    assert len(b) == p
    copied = copy.copy(beta)
    assert len(list(copied)) == p and repr(copied) == repr(np.asarray(beta))
    with pytest.raises(AttributeError, match="carries no other outputs"):
        copied.outputs


def test_coeftest_scalar_first_output(glme):
    pVal = fg.coefTest(glme)
    ref = fg.coefTest(glme).outputs
    assert isinstance(pVal, float) and pVal == ref.pVal
    assert (pVal < 0.05) == (ref.pVal < 0.05) and isinstance(pVal < 0.05, bool)
    assert np.exp(pVal) == pytest.approx(np.exp(ref.pVal)) and pVal * 2 == 2 * ref.pVal
    assert repr(pVal) == repr(ref.pVal) and f"{pVal:.4f}" == f"{ref.pVal:.4f}"
    assert pVal.DF1 == ref.DF1 and pVal.F == ref.F
    with pytest.raises(TypeError, match="not iterable; unpack the call"):
        list(pVal)
    pv, F, DF1, DF2 = fg.coefTest(glme, [[0, 1, 0, 0, 0, 0]])
    assert DF1 == 1.0 and DF2 == glme.DFE


def test_unpacking_is_told_from_iteration_in_every_form():
    """The detection itself (fitglme.outputs._unpack_targets): plain, nested, for-target and starred
    unpacking get the outputs; a starred target with names after the star and 300 names take the
    EXTENDED_ARG prefix of the instruction."""
    res = with_outputs(CoefTest(0.5, 0.25, 1.0, 10.0), "coefTest")
    arr = with_outputs(FixedEffects(np.arange(300.0), "names", "stats"), "fixedEffects")

    def inner():
        a, b, c = arr
        return b

    assert inner() == "names"
    for p, F, d1, d2 in [res, res]:
        assert d2 == 10.0
    first, *middle, last = res
    assert first == 0.5 and middle == [0.25, 1.0] and last == 10.0
    ns = {"arr": arr}
    names = "(" + ", ".join(f"v{i}" for i in range(300)) + ",)"
    exec(names + " = arr.ravel()", ns)                                           # elements
    assert ns["v299"] == 299.0
    with pytest.raises(FitglmeError, match="cannot unpack them into 300 names"):  # count decoded
        exec(names + " = arr", ns)
    exec("w0, *wr, " + ", ".join(f"u{i}" for i in range(2)) + " = arr", ns)       # outputs
    assert ns["w0"] is not None and ns["wr"] == [] and ns["u1"] == "stats"
    assert [*arr][:2] == [0.0, 1.0] and (lambda *a: len(a))(*arr) == 300          # elements


def test_unpacking_into_too_many_names_is_an_error(glme):
    with pytest.raises(FitglmeError, match=r"fixedEffects has 3 outputs \(beta, betanames, stats\); "
                                           r"cannot unpack them into 4 names") as err:
        a, b, c, d = fg.fixedEffects(glme)
    assert err.value.identifier == "fitglme:TooManyOutputs"


def test_psi_list_and_sparse_first_outputs(glme):
    psi = fg.covarianceParameters(glme)
    assert len(psi) == 1 and psi[0].shape == (1, 1)                   # MATLAB: psi{1}
    assert [P.shape for P in psi] == [(1, 1)]                        # iteration: the matrices
    assert psi.mse == 1.0 and psi.stats[-1].Estimate == 1.0
    Dsub = fg.designMatrix(glme, "Random", 0)
    Z = fg.designMatrix(glme, "Random")
    assert sp.issparse(Dsub) and Dsub.shape == (100, 20) and (Dsub != Z).nnz == 0
    assert np.allclose(Dsub @ np.ones(20), 1.0) and Dsub.gnames == ["factory"]
    assert len(list(Dsub)) == 100                                     # rows, as a sparse matrix


def test_outputs_pickle_and_attributes(glme):
    res = fg.predict(glme, glme.Variables.head(4))
    back = pickle.loads(pickle.dumps(res))
    assert np.array_equal(back, res) and np.array_equal(back.ypredCI, res.ypredCI)
    ypred, ci, DF = back
    assert ci.shape == (4, 2) and np.all(DF == glme.DFE)
    assert res._fields == ("ypred", "ypredCI", "DF")
    with pytest.raises(AttributeError):
        res.no_such_output


def test_with_outputs_wraps_a_record():
    rec = CoefTest(0.5, 0.25, 1.0, 10.0)
    out = with_outputs(rec, "coefTest")
    assert out == 0.5 and out.outputs is rec
    arr = with_outputs(FixedEffects(np.arange(3.0), None, None), "fixedEffects")
    assert isinstance(arr, ArrayOutputs) and arr.betanames is None


# ---------------------------------------------------------------------------------------------
# one-row tables
def test_model_criterion_variables_are_scalars(mfr, glme):
    small = _fit(mfr, "defects ~ 1 + newprocess + (1|factory)", Distribution="Poisson", FitMethod="Laplace")
    crit = glme.ModelCriterion
    assert isinstance(crit, OneRowDataset)
    for name in ("AIC", "BIC", "LogLikelihood", "Deviance"):
        assert isinstance(getattr(crit, name), float)
        assert getattr(crit, name) == crit[name].iloc[0]
    assert crit.LogLikelihood == glme.LogLikelihood
    if small.ModelCriterion.AIC < glme.ModelCriterion.AIC:            # MATLAB: if m1.ModelCriterion.AIC < ...
        better = "small"
    else:
        better = "glme"
    assert better == ("small" if small.ModelCriterion["AIC"].iloc[0] < crit["AIC"].iloc[0] else "glme")
    assert len(crit["AIC"]) == 1                                      # bracket access stays pandas
    assert str(crit).splitlines()[0].split() == ["AIC", "BIC", "LogLikelihood", "Deviance"]
    assert isinstance(glme.Rsquared.Ordinary, float) and isinstance(glme.Rsquared.Adjusted, float)
    err = fg.covarianceParameters(glme).stats[-1]                     # the Error table: one row
    assert isinstance(err.Estimate, float) and err.Estimate == 1.0


# ---------------------------------------------------------------------------------------------
# compare: log-likelihoods equal to rounding are equal
def _with_loglik(glme, loglik):
    state = glme.fit_state
    return type(glme)(state.spec, state.problem, dataclasses.replace(state.result, loglik=loglik))


def test_compare_rounding_level_difference_is_equality(mfr):
    small = _fit(mfr, "defects ~ 1 + newprocess + (1|factory)", Distribution="Poisson", FitMethod="Laplace")
    big = _fit(mfr, "defects ~ 1 + newprocess + time_dev + (1|factory)", Distribution="Poisson",
               FitMethod="Laplace")
    ll = small.LogLikelihood
    tol = loglik_tolerance(small, big)
    assert tol == pytest.approx(np.sqrt(np.finfo(float).eps) * abs(ll), rel=0.5)
    for delta in (np.spacing(abs(ll)), 1e-13, 0.5 * tol):             # rounding: a table, p = 1
        res = fg.compare(small, _with_loglik(big, ll - delta))
        # LRStat = 2 (LL_big - LL_small), to the rounding of the subtraction (a few ulps of LL)
        assert res["LRStat"][1] == pytest.approx(-2 * delta, abs=8 * np.spacing(abs(ll)))
        assert res["pValue"][1] == 1.0
    with pytest.raises(FitglmeError, match=r"smaller than that of glme .* by 0\.001, more than the "
                                           r"rounding tolerance") as err:
        fg.compare(small, _with_loglik(big, ll - 1e-3))
    assert err.value.identifier == "fitglme:NestingCheck_loglik"
    assert "-%.10g" % abs(ll - 1e-3) in str(err.value)                # digits that show the difference


@pytest.mark.parametrize("fit_method", ["Laplace", "MPL", "REMPL"])
def test_compare_added_variance_at_zero_is_not_refused(fit_method):
    """The issue's experiment: a model and the same model with an added random intercept whose
    variance is estimated at 0 (seeds where the difference came out negative before)."""
    refused_before = {"Laplace": (1, 8), "MPL": (0, 9), "REMPL": (5, 14)}[fit_method]
    for seed in refused_before:
        rng = np.random.default_rng(seed)
        n = 120
        g, h, x = rng.integers(0, 12, n), rng.integers(0, 6, n), rng.normal(size=n)
        y = rng.poisson(np.exp(0.5 + 0.3 * x + rng.normal(scale=0.5, size=12)[g]))
        tbl = pd.DataFrame({"y": y, "x": x, "g": [f"g{i:02d}" for i in g], "h": [f"h{i}" for i in h]})
        s = _fit(tbl, "y ~ 1 + x + (1|g)", Distribution="Poisson", FitMethod=fit_method)
        b = _fit(tbl, "y ~ 1 + x + (1|g) + (1|h)", Distribution="Poisson", FitMethod=fit_method)
        assert np.sqrt(fg.covarianceParameters(b)[1][0, 0]) < 1e-6   # the added variance is at 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FitglmeWarning)
            res = fg.compare(s, b)
        assert abs(res["LRStat"][1]) <= 2 * loglik_tolerance(s, b) and res["pValue"][1] > 0.99


def test_compare_pl_fits_of_non_normal_models_warn_without_checknesting(mfr):
    s = _fit(mfr, "defects ~ 1 + newprocess + (1|factory)", Distribution="Poisson")       # MPL
    # MPL: the pseudo-data differ between the fits, so a larger model may have the lower LL; take
    # the first larger model that does not (the data are fixed, so the choice is too)
    larger = (_fit(mfr, f"defects ~ 1 + newprocess + {t} + (1|factory)", Distribution="Poisson")
              for t in ("time_dev", "temp_dev", "supplier", "time_dev + temp_dev + supplier"))
    b = next(m for m in larger if m.LogLikelihood >= s.LogLikelihood)
    with pytest.warns(FitglmeWarning, match="MPL fits of a non-Normal model") as rec:
        fg.compare(s, b)
    assert [w.message.identifier for w in rec] == ["fitglme:LRTUsingPseudoData"]
    assert rec[0].filename == __file__                                 # points at this line
    with pytest.warns(FitglmeWarning, match="pseudo-data") as rec2:
        fg.compare(s, b, CheckNesting=True)
    assert len(rec2) == 1                                              # once, with CheckNesting too
    lap_s = _fit(mfr, "defects ~ 1 + newprocess + (1|factory)", Distribution="Poisson", FitMethod="Laplace")
    lap_b = _fit(mfr, "defects ~ 1 + newprocess + time_dev + (1|factory)", Distribution="Poisson",
                 FitMethod="Laplace")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fg.compare(lap_s, lap_b)                                        # Laplace: no warning
    norm_s = _fit(mfr, "temp_dev ~ 1 + (1|factory)")                    # Normal MPL = ML: no warning
    norm_b = _fit(mfr, "temp_dev ~ 1 + time_dev + (1|factory)")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fg.compare(norm_s, norm_b)
    rs = _fit(mfr, "defects ~ 1 + newprocess + (1|factory)", Distribution="Poisson", FitMethod="REMPL")
    rb = _fit(mfr, "defects ~ 1 + newprocess + (1|factory) + (1|supplier)", Distribution="Poisson",
              FitMethod="REMPL")
    with pytest.warns(FitglmeWarning, match="REMPL fits"):
        fg.compare(rs, rb) if rb.LogLikelihood >= rs.LogLikelihood - loglik_tolerance(rs, rb) else \
            fg.compare(rb, rs)
