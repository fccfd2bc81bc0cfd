"""Property-based tests (hypothesis): random small tables and random formulas either fit or raise
``FitglmeError`` -- never another exception type -- and never modify the caller's data; the methods
of the models fitted either return or raise ``FitglmeError``; identical calls give bit-identical
results.

The strategies draw small tables (5-60 rows) with numeric, integer, logical, text and pandas
Categorical columns with missing values sprinkled in, a response compatible with a random
distribution (sometimes deliberately out of range), random fixed terms (main effects,
interactions, powers), one or two random-effects terms, and random options (FitMethod, Link,
DummyVarCoding, CovariancePattern, Weights, Offset, BinomialSize, Exclude, small iteration limits).
Runs are derandomized (fixed seed), so CI sees the same examples every run.
"""
from __future__ import annotations

import copy
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fitglme import FitglmeError, GeneralizedLinearMixedModel, fitglme

KINDS = ("float", "int", "bool", "str", "cat", "nullable")
GROUP_KINDS = ("str", "int", "cat", "bool")
DISTRIBUTIONS = ("Normal", "Binomial", "Poisson", "Gamma", "InverseGaussian")
FIT_METHODS = ("MPL", "REMPL", "Laplace", "ApproximateLaplace")
LINKS = {
    "Normal": (None, "identity", "log"),
    "Binomial": (None, "logit", "probit", "comploglog", "loglog"),
    "Poisson": (None, "log", "identity", 0.5),
    "Gamma": (None, "log", "reciprocal", -1),
    "InverseGaussian": (None, "log", -2),
}

PROPERTY_SETTINGS = settings(
    max_examples=1000,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


# ----------------------------------------------------------------------------------------------
# strategies
# ----------------------------------------------------------------------------------------------
def _column(draw, kind: str, n: int, rng: np.random.Generator, nlev: int):
    """A column of the given storage kind, with missing values sometimes sprinkled in."""
    labels = [f"L{i}" for i in range(nlev)]
    if kind == "float":
        col = rng.normal(size=n)
    elif kind == "int":
        col = rng.integers(0, max(nlev, 2), n)
    elif kind == "nullable":
        col = pd.array(rng.integers(-2, 3, n), dtype="Int64")
    elif kind == "bool":
        col = rng.random(n) < 0.5
    elif kind == "str":
        col = np.array(labels, dtype=object)[rng.integers(0, nlev, n)]
    else:  # cat
        extra = ["unused"] if draw(st.booleans()) else []
        col = pd.Categorical(np.array(labels, dtype=object)[rng.integers(0, nlev, n)],
                             categories=labels + extra)
    s = pd.Series(col)
    if draw(st.integers(0, 4)) == 0:  # sprinkle missing values
        k = draw(st.integers(1, max(1, n // 4)))
        idx = rng.choice(n, size=min(k, n), replace=False)
        if kind in ("int", "bool"):
            s = s.astype(object)
            s.iloc[idx] = draw(st.sampled_from([None, np.nan]))
        elif kind == "str":
            s.iloc[idx] = draw(st.sampled_from([None, np.nan, ""]))
        else:
            s.iloc[idx] = None
    return s


def _response(draw, dist: str, n: int, rng: np.random.Generator, size: np.ndarray):
    if dist == "Normal":
        y = rng.normal(size=n)
    elif dist == "Binomial":
        form = draw(st.sampled_from(["int", "bool", "prop"]))
        if form == "prop":
            y = rng.binomial(size.astype(int), 0.4) / size
        else:
            y = (rng.random(n) < 0.4)
            y = y if form == "bool" else y.astype(int)
    elif dist == "Poisson":
        y = rng.poisson(2.0, n)
    else:
        y = rng.gamma(2.0, 1.0, n) + 1e-3
    y = pd.Series(y)
    bad = draw(st.integers(0, 12))
    if bad == 0:  # a value out of range for the distribution
        y = y.astype(float)
        y.iloc[int(rng.integers(0, n))] = draw(st.sampled_from([-1.0, 0.5, 1.5, 0.0, np.inf]))
    elif bad == 1:
        y = y.astype(float)
        y.iloc[int(rng.integers(0, n))] = np.nan
    return y


@st.composite
def problems(draw):
    """(table, formula, name-value kwargs) for one random fit."""
    n = draw(st.one_of(st.integers(5, 12), st.integers(5, 25), st.integers(5, 60)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    dist = draw(st.sampled_from(DISTRIBUTIONS))

    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=3))
    preds = [f"x{i}" for i in range(len(kinds))]
    gkinds = draw(st.lists(st.sampled_from(GROUP_KINDS), min_size=1, max_size=2))
    groups = [f"g{i}" for i in range(len(gkinds))]

    data = {}
    for name, kind in zip(preds, kinds):
        data[name] = _column(draw, kind, n, rng, draw(st.integers(1, 4)))
    for name, kind in zip(groups, gkinds):
        data[name] = _column(draw, kind, n, rng, draw(st.integers(1, 6)))
    size = rng.integers(1, 5, n).astype(float)
    link = draw(st.sampled_from(LINKS[dist]))
    data["y"] = _response(draw, dist, n, rng, size)
    if dist == "Normal" and link == "log" and draw(st.integers(0, 4)) > 0:
        data["y"] = data["y"].abs() + 0.1  # mostly inside the log link's domain
    data["n"] = size
    tbl = pd.DataFrame(data)

    # fixed terms
    terms = []
    for p, kind in zip(preds, kinds):
        numeric = kind in ("float", "int", "nullable")
        # a power of a categorical variable is an error: drawn now and then
        how = draw(st.sampled_from(["", "main", "main", "power"] if numeric else
                                   ["", "main", "main", "main", "main", "main", "main", "power"]))
        if how == "main":
            terms.append(p)
        elif how == "power":
            terms.append(f"{p}^2")
    if len(preds) > 1 and draw(st.booleans()):
        a, b = draw(st.permutations(preds))[:2]
        terms.append(f"{a}{draw(st.sampled_from([':', '*']))}{b}")
    lead = draw(st.sampled_from(["", "", "1 + ", "-1 + "]))
    fixed = lead + (" + ".join(terms) if terms else ("1" if lead != "-1 + " else "x0"))

    # random terms
    rterms = []
    for _ in range(draw(st.sampled_from([1, 1, 1, 2]))):
        g = draw(st.sampled_from(groups))
        if len(groups) > 1 and draw(st.integers(0, 4)) == 0:
            g = ":".join(groups)
        lhs = draw(st.sampled_from(["1", "1", "x0", f"{draw(st.sampled_from(preds))} - 1"]))
        rterms.append(f"({lhs}|{g})")
    formula = f"y ~ {fixed} + {' + '.join(rterms)}"

    # options
    kw = {"Distribution": dist}
    method = draw(st.sampled_from(FIT_METHODS))
    kw["FitMethod"] = method
    if link is not None:
        kw["Link"] = link
    # small iteration limits keep every example fast (non-convergence only warns)
    kw["PLIterations"] = draw(st.integers(1, 8))
    kw["InitPLIterations"] = draw(st.integers(1, 3))
    kw["OptimizerOptions"] = {"MaxIter": draw(st.integers(3, 40)), "MaxFunEvals": 80}
    kw["EBOptions"] = {"MaxIter": draw(st.integers(3, 20))}
    if draw(st.booleans()):
        kw["DummyVarCoding"] = draw(st.sampled_from(["reference", "effects", "full"]))
    if len(rterms) == 1 and draw(st.integers(0, 3)) == 0:
        kw["CovariancePattern"] = draw(st.sampled_from(
            ["FullCholesky", "Full", "Diagonal", "Isotropic", "CompSymm"]))
    if draw(st.integers(0, 3)) == 0:
        w = rng.integers(1, 4, n).astype(float)
        if dist in ("Normal", "Gamma", "InverseGaussian") and draw(st.booleans()):
            w = w * 0.5
        kw["Weights"] = w
    if draw(st.integers(0, 3)) == 0:
        kw["Offset"] = draw(st.sampled_from(["offset_vector", 0.25]))
        if kw["Offset"] == "offset_vector":
            kw["Offset"] = rng.normal(scale=0.1, size=n)
    if dist == "Binomial" and draw(st.booleans()):
        kw["BinomialSize"] = draw(st.sampled_from(["n", "vector"]))
        if kw["BinomialSize"] == "vector":
            kw["BinomialSize"] = size.copy()
    if draw(st.integers(0, 3)) == 0:
        kw["Exclude"] = sorted(set(rng.integers(0, n, draw(st.integers(0, n))).tolist()))
    if draw(st.integers(0, 4)) == 0:
        kw["DispersionFlag"] = True
    if draw(st.integers(0, 9)) == 0:
        kw["MuStart"] = {"Normal": 0.0, "Binomial": 0.5}.get(dist, 1.0)
    return tbl, formula, kw


# ----------------------------------------------------------------------------------------------
# properties
# ----------------------------------------------------------------------------------------------
def _snapshot(tbl, kw):
    return copy.deepcopy(tbl), {k: copy.deepcopy(v) for k, v in kw.items()}


def _assert_unchanged(tbl, kw, before):
    tbl0, kw0 = before
    pd.testing.assert_frame_equal(tbl, tbl0, check_exact=True)
    for k, v in kw0.items():
        if isinstance(v, np.ndarray):
            np.testing.assert_array_equal(kw[k], v, strict=True)
        else:
            assert kw[k] == v


def fit_or_error(tbl, formula, kw):
    """The model, or the FitglmeError raised; any other exception propagates (a test failure)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return fitglme(tbl, formula, **kw)
        except FitglmeError as err:
            assert isinstance(err.identifier, str) and err.identifier.startswith(("fitglme:", "stats:"))
            assert str(err)
            return err


@PROPERTY_SETTINGS
@given(problems())
def test_random_models_fit_or_raise_fitglme_error(problem):
    tbl, formula, kw = problem
    before = _snapshot(tbl, kw)
    out = fit_or_error(tbl, formula, kw)
    _assert_unchanged(tbl, kw, before)
    event(out.identifier if isinstance(out, FitglmeError) else f"fit {kw['FitMethod']}")
    if isinstance(out, FitglmeError):
        return
    assert isinstance(out, GeneralizedLinearMixedModel)
    est = np.asarray(out.Coefficients["Estimate"], dtype=float)
    assert not np.isinf(est).any()  # finite or NaN
    assert len(est) == out.NumCoefficients
    text = str(out)
    assert "Generalized linear mixed-effects model" in text


METHOD_CALLS = (
    lambda m: (m.Coefficients, m.ModelCriterion, m.Rsquared, m.VariableInfo, m.ObservationInfo,
               m.display("glme", style="braces")),
    lambda m: m.fixedEffects(),
    lambda m: m.randomEffects(),
    lambda m: m.covarianceParameters(),
    lambda m: m.coefCI(),
    lambda m: m.coefTest(),
    lambda m: m.coefTest(np.eye(m.NumCoefficients)[:1], 0, "REContrast", np.ones((1, int(m._layout.Q)))),
    lambda m: str(m.anova()),
    lambda m: (m.fitted(), m.fitted("Conditional", False)),
    lambda m: (m.residuals(), m.residuals("ResidualType", "Pearson")),
    lambda m: m.response(),
    lambda m: (m.predict(), m.predict(m.Variables, "Conditional", False, "Simultaneous", True)),
    lambda m: m.random(seed=1),
    lambda m: (m.designMatrix("Fixed"), m.designMatrix("Random")),
)


@settings(max_examples=200, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(problems())
def test_methods_of_random_models_return_or_raise_fitglme_error(problem):
    tbl, formula, kw = problem
    before = _snapshot(tbl, kw)
    model = fit_or_error(tbl, formula, kw)
    event("fit" if isinstance(model, GeneralizedLinearMixedModel) else "fit error")
    if isinstance(model, FitglmeError):
        return
    for call in METHOD_CALLS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                call(model)
            except FitglmeError as err:
                event(f"method error {err.identifier}")
    _assert_unchanged(tbl, kw, before)


@settings(max_examples=50, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(problems())
def test_identical_calls_give_identical_results(problem):
    tbl, formula, kw = problem
    a = fit_or_error(tbl, formula, kw)
    b = fit_or_error(tbl, formula, kw)
    event("error" if isinstance(a, FitglmeError) else "fit")
    if isinstance(a, FitglmeError):
        assert isinstance(b, FitglmeError)
        assert (a.identifier, str(a)) == (b.identifier, str(b))
        return
    ca, cb = a.Coefficients, b.Coefficients
    np.testing.assert_array_equal(np.asarray(ca["Estimate"], float), np.asarray(cb["Estimate"], float))
    np.testing.assert_array_equal(np.asarray(ca["SE"], float), np.asarray(cb["SE"], float))
    assert (a.LogLikelihood == b.LogLikelihood) or (np.isnan(a.LogLikelihood) and np.isnan(b.LogLikelihood))
    assert str(a) == str(b)


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__, "-q"])
