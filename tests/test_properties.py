"""Property-based tests (hypothesis): random small tables and random formulas either fit or raise
``FitglmeError`` -- never another exception type -- and never modify the caller's data; the methods
of the models fitted either return or raise ``FitglmeError``; identical calls give bit-identical
results.

A FitglmeError counts as a failure unless ``expected_error_reason`` says why this input deserves
it (a deliberately invalid value the strategy drew, a link that leaves the mean's domain, a
rank-deficient or too small design, ...). Normal identity-link fits are checked for correctness
against a dense computation at their own covariance parameters (GLS fixed effects, BLUPs, their
covariance, the profiled dispersion and the (restricted) log-likelihood), which holds whatever the
optimiser's iteration limits; the metamorphic relations are in tests/test_metamorphic.py.

The strategies draw small tables (5-60 rows) with numeric, integer, logical, text and pandas
Categorical columns with missing values sprinkled in, a response compatible with a random
distribution (sometimes deliberately out of range), random fixed terms (main effects,
interactions, powers), one or two random-effects terms, and random options (FitMethod, Link,
DummyVarCoding, CovariancePattern, Weights, Offset, BinomialSize, Exclude, small iteration limits).
Runs are derandomized (fixed seed), so CI sees the same examples every run.
"""
from __future__ import annotations

import copy
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from scipy.linalg import block_diag

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

#: No shrink phase: a failure is reported on the first failing example as drawn (shrinking these
#: examples costs minutes on a loaded machine); the draws are derandomized, so it is reproducible.
PHASES = (Phase.explicit, Phase.reuse, Phase.generate)
PROPERTY_SETTINGS = settings(
    max_examples=1000,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    phases=PHASES,
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


def _response(draw, dist: str, n: int, rng: np.random.Generator, size: np.ndarray, notes: set):
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
        notes.add("bad_response")
    elif bad == 1:
        y = y.astype(float)
        y.iloc[int(rng.integers(0, n))] = np.nan
    return y


@st.composite
def problems(draw):
    """(table, formula, name-value kwargs, notes) for one random fit; notes name the deliberately
    invalid parts drawn ("bad_response", "categorical_power")."""
    notes: set[str] = set()
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
    data["y"] = _response(draw, dist, n, rng, size, notes)
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
            if not numeric:
                notes.add("categorical_power")
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
    return tbl, formula, kw, notes


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


#: Links whose inverse does not map the real line into the distribution's mean domain (mu > 0):
#: the iterations can leave the domain and the fit break down. None = the canonical link
#: (reciprocal for Gamma, -2 for InverseGaussian).
OUT_OF_DOMAIN_LINKS = {"Poisson": ("identity", 0.5), "Gamma": (None, "reciprocal", -1),
                       "InverseGaussian": (None, -2)}
CANONICAL = {"Normal": (None, "identity"), "Binomial": (None, "logit"), "Poisson": (None, "log"),
             "Gamma": (None, "reciprocal", -1), "InverseGaussian": (None, -2)}


def _binomial_counts_invalid(tbl, kw) -> bool:
    y = pd.to_numeric(tbl["y"], errors="coerce").to_numpy(float)
    size = kw.get("BinomialSize")
    m = tbl["n"].to_numpy(float) if isinstance(size, str) else (np.ones(len(tbl)) if size is None else size)
    w = kw.get("Weights", np.ones(len(tbl)))
    k = y * m * w
    ok = np.isnan(y) | ((y >= 0) & (y <= 1) & (np.abs(k - np.round(k)) < 1e-8))
    return not ok.all()


def _unidentifiable_random_term(tbl, formula, kw) -> bool:
    """Some random term has a single level, or fewer levels than covariance parameters, even
    counted over a superset of the rows used (rows not excluded with its grouping columns
    present), with q counted as if every predictor were numeric (a lower bound)."""
    keep = np.ones(len(tbl), dtype=bool)
    keep[list(set(kw.get("Exclude", [])))] = False
    for lhs, grp in re.findall(r"\(([^|()]*)\|([^)]+)\)", formula):
        cols = [c.strip() for c in grp.split(":")]
        sub = tbl.loc[keep, cols].dropna()
        levels = len(sub.astype(str).drop_duplicates())
        q = 1 if lhs.strip() == "1" or "- 1" in lhs else 2
        if levels <= 1 or q * (q + 1) // 2 > levels:
            return True
    return False


def expected_error_reason(err: FitglmeError, tbl, formula, kw, notes) -> str | None:
    """Why this input deserves this error, or None (then the error is a failure)."""
    ident, msg, dist = err.identifier, str(err), kw["Distribution"]
    link = kw.get("Link")
    rows_left = len(tbl) - len(set(kw.get("Exclude", [])))
    if ident == "fitglme:BadFormula" and "categorical_power" in notes and "power" in msg:
        return "a power of a categorical variable was drawn"
    if ident in ("fitglme:BadResponse", "fitglme:BadData") and "bad_response" in notes:
        return "a response value outside the distribution's range was drawn"
    if ident == "fitglme:BadResponse" and dist == "Binomial" and _binomial_counts_invalid(tbl, kw):
        return "the proportions times BinomialSize times Weights are not whole counts"
    if ident == "fitglme:BadMuStart" and dist == "Normal" and link == "log":
        y = pd.to_numeric(tbl["y"], errors="coerce")
        if kw.get("MuStart") == 0.0 or (y <= 0).any():
            return "the log link's starting mean needs y > 0 (or MuStart 0 was drawn)"
    if ident == "fitglme:RankDeficient" and "rank deficient" in msg:
        return ("small random tables (1-4-level categoricals, powers and interactions of 0/1 columns) "
                "are often collinear; a rank-deficient X is refused, as in MATLAB")
    if ident == "fitglme:TooFewObservations":
        m = re.search(r"There are (\d+) observations but (\d+) fixed", msg)
        if m and int(m.group(1)) <= int(m.group(2)) and int(m.group(1)) <= len(tbl):
            return "no more rows than fixed-effects coefficients"
    if ident == "fitglme:NoRows" and ("Exclude" in kw or tbl.isna().any().any()):
        return "every row is excluded or has a missing value"
    if ident == "fitglme:NumericalFailure":
        if link in OUT_OF_DOMAIN_LINKS.get(dist, ()):
            return "the link leaves the mean's domain"
        if (kw["FitMethod"] in ("Laplace", "ApproximateLaplace") and link not in CANONICAL[dist]
                and "not positive definite" in msg):
            return "observed-Hessian weights of a non-canonical link can make the penalised system indefinite"
        y = pd.to_numeric(tbl["y"], errors="coerce")
        if dist in ("Poisson", "Binomial") and "not positive definite" in msg and (y == 0).any():
            # e.g. a cell of an interaction whose only count is 0: no finite MLE, mu -> 0.
            return "quasi-separation: zero responses can drive the mean and its working weight to 0"
        if _unidentifiable_random_term(tbl, formula, kw):
            return ("a random term with a single level or fewer levels than covariance parameters is "
                    "not identifiable (its covariance runs to the boundary)")
        if kw["FitMethod"] in ("MPL", "REMPL") and "pseudo-likelihood iterations diverged" in msg:
            # MATLAB's pseudo-likelihood iterations take full steps (no step control): on a few rows
            # of a log-link model they can overshoot without bound (tests/test_fitglme.py checks the
            # message on a fixed data set).
            return "the pseudo-likelihood iterations diverged"
        if rows_left <= 8 and "exactly 0" in msg:
            return "a handful of rows can be fitted exactly (zero residual variance)"
    return None


def check_error_expected(err, tbl, formula, kw, notes):
    reason = expected_error_reason(err, tbl, formula, kw, notes)
    assert reason is not None, f"{err.identifier} on a valid input: {err}\n{formula} {kw}"
    return reason


def dense_lme_differences(g) -> dict:
    """A Normal identity-link fit against the dense GLS/BLUP computation at its own covariance
    parameters psi and dispersion s2: V = Z Psi Z' + s2 W^-1, beta = (X'V^-1 X)^-1 X'V^-1 (y - offset),
    b = Psi Z'V^-1 r, Cov(beta) = (X'V^-1 X)^-1, s2 = s2 r'V^-1 r / (n or n - p) (profiled), and
    the Gaussian (ML) or restricted (REML) log-likelihood."""
    rows = g.fit_state.problem.design.rows  # the rows used (designMatrix keeps excluded / missing rows)
    X = np.asarray(g.designMatrix("Fixed"), float)[rows]
    Z = g.designMatrix("Random")
    Z = (Z.toarray() if hasattr(Z, "toarray") else np.asarray(Z, float))[rows]
    y, w, off = g.fit_state.problem.resp.y, g.fit_state.problem.resp.w, g.fit_state.problem.resp.offset
    Psi = block_diag(*[np.kron(np.eye(b.nlevels), np.asarray(p, float))
                       for b, p in zip(g.fit_state.problem.design.re_blocks, g.fit_state.result.psi)])
    s2, (n, p) = g.Dispersion, X.shape
    V = Z @ Psi @ Z.T + s2 * np.diag(1 / w)
    Vi = np.linalg.inv(V)
    C = np.linalg.inv(X.T @ Vi @ X)
    beta = C @ (X.T @ Vi @ (y - off))
    r = y - off - X @ beta
    b = Psi @ (Z.T @ (Vi @ r))
    s2_hat = s2 * (r @ Vi @ r) / (n if g.FitMethod == "MPL" else n - p)
    ll = -0.5 * (n * np.log(2 * np.pi) + np.linalg.slogdet(V)[1] + r @ Vi @ r)
    if g.FitMethod == "REMPL":
        ll += -0.5 * np.linalg.slogdet(X.T @ Vi @ X)[1] + 0.5 * p * np.log(2 * np.pi)
    se = np.sqrt(np.diag(C))
    return {"beta (SE units)": float(np.max(np.abs(beta - g.fit_state.result.beta) / se)),
            "b": float(np.max(np.abs(b - g.randomEffects().B)) / max(np.abs(b).max(), np.sqrt(s2))),
            "CoefficientCovariance": float(np.max(np.abs(C - g.CoefficientCovariance) / np.outer(se, se))),
            "Dispersion": abs(s2_hat / s2 - 1),
            "LogLikelihood": abs(ll - g.LogLikelihood) / max(1.0, abs(ll))}


#: Dense against ours at the same parameters: both are exact computations of the same quantities,
#: differing by rounding (1e-13 on the lme4 cases); 1e-7 leaves room for the conditioning of
#: small random designs.
DENSE_TOL = 1e-7


@PROPERTY_SETTINGS
@given(problems())
def test_random_models_fit_or_raise_fitglme_error(problem):
    tbl, formula, kw, notes = problem
    before = _snapshot(tbl, kw)
    out = fit_or_error(tbl, formula, kw)
    _assert_unchanged(tbl, kw, before)
    event(out.identifier if isinstance(out, FitglmeError) else f"fit {kw['FitMethod']}")
    if isinstance(out, FitglmeError):
        event(check_error_expected(out, tbl, formula, kw, notes))
        return
    assert isinstance(out, GeneralizedLinearMixedModel)
    est = np.asarray(out.Coefficients["Estimate"], dtype=float)
    assert not np.isinf(est).any()  # finite or NaN
    assert len(est) == out.NumCoefficients
    text = str(out)
    assert "Generalized linear mixed-effects model" in text
    if (kw["Distribution"] == "Normal" and kw.get("Link") in (None, "identity") and kw["FitMethod"] in ("MPL", "REMPL")
            and out.Dispersion > 0):  # beta, b and sigma are profiled out at every theta
        event("dense LME check")
        diffs = dense_lme_differences(out)
        assert max(diffs.values()) < DENSE_TOL, diffs


METHOD_CALLS = (
    lambda m: (m.Coefficients, m.ModelCriterion, m.Rsquared, m.VariableInfo, m.ObservationInfo,
               m.display("glme", style="braces")),
    lambda m: m.fixedEffects(),
    lambda m: m.randomEffects(),
    lambda m: m.covarianceParameters(),
    lambda m: m.coefCI(),
    lambda m: m.coefTest(),
    lambda m: m.coefTest(np.eye(m.NumCoefficients)[:1], 0, "REContrast", np.ones((1, int(m.fit_state.problem.layout.Q)))),
    lambda m: str(m.anova()),
    lambda m: (m.fitted(), m.fitted("Conditional", False)),
    lambda m: (m.residuals(), m.residuals("ResidualType", "Pearson")),
    lambda m: m.response(),
    lambda m: (m.predict(), m.predict(m.Variables, "Conditional", False, "Simultaneous", True)),
    lambda m: m.random(seed=1),
    lambda m: (m.designMatrix("Fixed"), m.designMatrix("Random")),
)


PREDICT_ON_TABLE = 11  # METHOD_CALLS index of predict(m.Variables, ...)


def expected_method_error_reason(err: FitglmeError, index: int, tbl, formula, kw, notes) -> str | None:
    """Why a method of a fitted model may raise this error, or None (then it is a failure)."""
    if err.identifier == "fitglme:UnknownLevel" and index == PREDICT_ON_TABLE:
        return "the whole table (excluded and incomplete rows too) can hold levels the fit never saw"
    if err.identifier == "fitglme:NumericalFailure":
        return expected_error_reason(err, tbl, formula, kw, notes)
    return None


@settings(max_examples=200, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck), phases=PHASES)
@given(problems())
def test_methods_of_random_models_return_or_raise_fitglme_error(problem):
    tbl, formula, kw, notes = problem
    before = _snapshot(tbl, kw)
    model = fit_or_error(tbl, formula, kw)
    event("fit" if isinstance(model, GeneralizedLinearMixedModel) else "fit error")
    if isinstance(model, FitglmeError):
        check_error_expected(model, tbl, formula, kw, notes)
        return
    for index, call in enumerate(METHOD_CALLS):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                call(model)
            except FitglmeError as err:
                reason = expected_method_error_reason(err, index, tbl, formula, kw, notes)
                assert reason is not None, f"method {index}: {err.identifier} on a valid call: {err}"
                event(f"method error {err.identifier}: {reason}")
    _assert_unchanged(tbl, kw, before)


@settings(max_examples=50, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck), phases=PHASES)
@given(problems())
def test_identical_calls_give_identical_results(problem):
    tbl, formula, kw, notes = problem
    a = fit_or_error(tbl, formula, kw)
    b = fit_or_error(tbl, formula, kw)
    event("error" if isinstance(a, FitglmeError) else "fit")
    if isinstance(a, FitglmeError):
        check_error_expected(a, tbl, formula, kw, notes)
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
