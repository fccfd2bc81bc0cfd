"""Bad input: every wrong argument raises ``FitglmeError`` with a MATLAB-style identifier and a
message naming the argument, the bad value and what is allowed; numerical trouble warns and still
returns a model; the caller's data is never modified; a failed call leaves no state behind.

See docs/errors.md for the identifiers and warnings.
"""
from __future__ import annotations

import copy
import re
import time
import warnings
from contextlib import contextmanager
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from fitglme import FitglmeError, FitglmeWarning, GeneralizedLinearMixedModel, fitglme, load_example

F = "defects ~ 1 + newprocess + time_dev + temp_dev + supplier + (1|factory)"
FORMULA = "y ~ x + (1|g)"


# ----------------------------------------------------------------------------------------------
# helpers and data
# ----------------------------------------------------------------------------------------------
@contextmanager
def raises(identifier: str, *fragments: str):
    """Expect FitglmeError with ``identifier`` whose message contains every fragment."""
    with pytest.raises(FitglmeError) as info:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield info
    err = info.value
    assert isinstance(err, ValueError)
    assert err.identifier == identifier, f"{err.identifier} != {identifier}: {err}"
    msg = str(err)
    for frag in fragments:
        assert frag in msg, f"{frag!r} not in message: {msg}"


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def idents(record) -> list[str]:
    return [getattr(w.message, "identifier", type(w.message).__name__) for w in record]


@pytest.fixture(scope="module")
def df():
    """40 rows, 4 groups: a Poisson count y, a proportion p (BinomialSize 2), a positive z."""
    rng = np.random.default_rng(0)
    n = 40
    return pd.DataFrame({
        "y": rng.poisson(2.0, n),
        "x": rng.normal(size=n),
        "g": np.repeat(list("abcd"), 10),
        "p": rng.integers(0, 3, n) / 2,
        "z": rng.gamma(2.0, 1.0, n),
        "one": "same",
        "sz": np.full(n, 2.0),
        "txt": list("uv") * (n // 2),
    })


@pytest.fixture(scope="module")
def mfr():
    return load_example()


@pytest.fixture(scope="module")
def glme(mfr):
    return fitglme(mfr, F, Distribution="Poisson")


def binomial_table(seed=5, n_groups=20, per=10):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), per)
    x = rng.normal(size=g.size)
    eta = -0.3 + 0.8 * x + rng.normal(scale=0.7, size=n_groups)[g]
    size = rng.integers(1, 6, g.size)
    k = rng.binomial(size, 1 / (1 + np.exp(-eta)))
    return pd.DataFrame({"y": k / size, "x": x, "g": [f"G{i:02d}" for i in g], "n": size})


# ----------------------------------------------------------------------------------------------
# the exception family
# ----------------------------------------------------------------------------------------------
def test_error_class_is_a_value_error_with_identifier(df):
    assert issubclass(FitglmeError, ValueError)
    with pytest.raises(ValueError) as info:  # catchable as ValueError
        fitglme(df, FORMULA, Distribution="Poison")
    assert isinstance(info.value, FitglmeError)
    assert re.fullmatch(r"fitglme:\w+", info.value.identifier)


# ----------------------------------------------------------------------------------------------
# tbl and formula
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("tbl,shown", [
    ([[1, 2]], "list"), (np.ones((3, 3)), "ndarray"), (None, "NoneType"), (5, "int"),
    (pd.Series([1.0, 2.0]), "Series"), ("y ~ x", "str"),
])
def test_tbl_not_a_table(tbl, shown):
    with raises("fitglme:BadTable", "tbl must be a pandas DataFrame", shown):
        fitglme(tbl, FORMULA)


def test_tbl_dict_of_unequal_columns():
    with raises("fitglme:BadTable", "tbl", "{'y': 2, 'x': 1, 'g': 2}"):
        fitglme({"y": [1, 2], "x": [1], "g": ["a", "b"]}, FORMULA)


def test_tbl_with_repeated_variable_names(df):
    with raises("fitglme:BadTable", "tbl", "unique", "'x'"):
        fitglme(pd.concat([df, df[["x"]]], axis=1), FORMULA)


def test_formula_not_a_string(df):
    with raises("fitglme:BadFormula", "formula must be a string", "int 5"):
        fitglme(df, 5)
    with raises("fitglme:BadFormula", "formula must be a string", "bytes"):
        fitglme(df, b"y ~ x + (1|g)")


@pytest.mark.parametrize("formula,where,fragment", [
    ("y ~ x + (1|g", 13, "unbalanced parentheses"),
    ("y x + (1|g)", 3, "expected '~'"),
    ("y ~ x ++ (1|g)", 8, "expected a term"),
    ("y ~ x + (1|g) $", 15, "unexpected character '$'"),
    ("y ~ 2 + (1|g)", 5, "the number 2 is not a term"),
    ("y ~ x + (1|y)", 12, "cannot be a grouping variable"),
    ("", 1, "the formula is empty"),
    ("y ~ x + (1|g))", 14, "found ')'"),
    ("y ~ x + 1|g", 10, "'|' is only allowed"),
])
def test_formula_syntax_errors_say_where(df, formula, where, fragment):
    with raises("fitglme:BadFormula", f"at character {where}", fragment, repr(formula)):
        fitglme(df, formula)


def test_formula_syntax_error_shows_a_caret(df):
    with pytest.raises(FitglmeError) as info:
        fitglme(df, "y ~ x ++ (1|g)")
    lines = str(info.value).splitlines()
    caret = next(i for i, line in enumerate(lines) if line.strip() == "^")
    assert lines[caret - 1].strip() == "y ~ x ++ (1|g)"
    assert lines[caret].index("^") - lines[caret - 1].index("y") == 7  # under the second '+'


def test_formula_without_random_effects(df):
    with raises("fitglme:NoRandomEffects", "'y ~ x'", "(1|g)"):
        fitglme(df, "y ~ x")


def test_categorical_power_in_formula(df):
    with raises("fitglme:BadFormula", "'g^2'", "'g'", "continuous"):
        fitglme(df, "y ~ g^2 + (1|g)")


@pytest.mark.parametrize("formula,var", [
    ("y ~ nosuch + (1|g)", "nosuch"), ("y ~ x + (1|nosuch)", "nosuch"), ("w ~ x + (1|g)", "w"),
    ("y ~ x + (nosuch|g)", "nosuch"), ("y ~ x:nosuch + (1|g)", "nosuch"),
])
def test_variables_not_in_the_table(df, formula, var):
    with raises("fitglme:UnknownVariable", f"'{var}'", "Available variables: y, x, g"):
        fitglme(df, formula)


def test_response_of_wrong_type(df):
    with raises("fitglme:BadResponse", "'txt'", "numeric or logical"):
        fitglme(df, "txt ~ x + (1|g)")


@pytest.mark.parametrize("column,value,ident,fragment", [
    ("y", np.inf, "fitglme:BadData", "'y' (the response) has the value inf in row 3"),
    ("x", -np.inf, "fitglme:BadData", "'x' (the continuous predictor) has the value -inf in row 3"),
])
def test_inf_in_model_variables(df, column, value, ident, fragment):
    bad = df.copy()
    bad[column] = bad[column].astype(float)
    bad.loc[3, column] = value
    with raises(ident, fragment):
        fitglme(bad, FORMULA)


@pytest.mark.parametrize("values,fragment", [
    (["a", 1] * 20, "mixes values of types ['int', 'str']"),
    ([1j] * 40, "complex"),
    (pd.to_datetime(["2020-01-01"] * 40), "datetime"),
])
def test_predictor_of_unsupported_type(df, values, fragment):
    with raises("fitglme:BadData", "'x'", fragment):
        fitglme(df.assign(x=values), FORMULA)


# ----------------------------------------------------------------------------------------------
# the response and the distribution
# ----------------------------------------------------------------------------------------------
def test_binomial_response_not_a_proportion(df):
    with raises("fitglme:BadResponse", "Binomial", "proportions", "Row 0"):
        fitglme(df.assign(b=df["y"] + 2), "b ~ x + (1|g)", Distribution="Binomial")


def test_binomial_proportion_inconsistent_with_binomial_size(df):
    bad = df.assign(p=df["p"] + 0.1)  # 0.1 * 2 trials is not a count
    with raises("fitglme:BadResponse", "Binomial", "BinomialSize", "Row 0"):
        fitglme(bad, "p ~ x + (1|g)", Distribution="Binomial", BinomialSize=2)


def test_binomial_proportions_with_binomial_size_fit(df):
    m = quiet(fitglme, df, "p ~ x + (1|g)", Distribution="Binomial", BinomialSize="sz")
    assert m.ObservationInfo["BinomSize"].tolist() == [2.0] * len(df)


@pytest.mark.parametrize("y,fragment", [(-1.0, "-1.0 is negative"), (1.5, "times Weights 1.0 is not an integer")])
def test_poisson_response_not_a_nonnegative_integer(df, y, fragment):
    bad = df.assign(y=df["y"].astype(float))
    bad.loc[2, "y"] = y
    with raises("fitglme:BadResponse", "Poisson", "row 2 (0-based)", fragment):
        fitglme(bad, FORMULA, Distribution="Poisson")


@pytest.mark.parametrize("dist", ["Gamma", "InverseGaussian"])
@pytest.mark.parametrize("z", [0.0, -2.5])
def test_positive_response_required(df, dist, z):
    bad = df.copy()
    bad.loc[5, "z"] = z
    with raises("fitglme:BadResponse", dist, "(0,Inf)", f"row 5 (0-based) is {z!r}"):
        fitglme(bad, "z ~ x + (1|g)", Distribution=dist)


# ----------------------------------------------------------------------------------------------
# Weights, BinomialSize, Offset
# ----------------------------------------------------------------------------------------------
def with_value(n, i, v, base=1.0):
    out = np.full(n, base)
    out[i] = v
    return out


@pytest.mark.parametrize("weights,fragments", [
    (lambda n: with_value(n, 4, np.nan), ["Weights", "finite", "element 4", "nan"]),
    (lambda n: with_value(n, 4, np.inf), ["Weights", "finite", "element 4", "inf"]),
    (lambda n: with_value(n, 4, -1.0), ["Weights", "nonnegative", "element 4", "-1.0"]),
    (lambda n: np.ones(3), ["Weights", f"must have 40 elements", "got 3"]),
    (lambda n: np.ones((n, 2)), ["Weights", "shape (40, 2)"]),
    (lambda n: "nosuch", ["Weights", "'nosuch' is not a variable of the table"]),
    (lambda n: "txt", ["Weights", "table variable 'txt' must be numeric"]),
    (lambda n: ["a"] * n, ["Weights", "not real numbers"]),
    (lambda n: None, ["Weights", "got None"]),
])
def test_bad_weights(df, weights, fragments):
    with raises("fitglme:BadWeights", *fragments):
        fitglme(df, FORMULA, Weights=weights(len(df)))


@pytest.mark.parametrize("dist,formula", [("Poisson", FORMULA), ("Binomial", "p ~ x + (1|g)")])
@pytest.mark.parametrize("w", [0.5, 0.0])
def test_weights_must_be_positive_integers_for_counts(df, dist, formula, w):
    kw = {"BinomialSize": "sz"} if dist == "Binomial" else {}
    with raises("fitglme:BadWeights", "Weights", dist, "positive integers", "row 7", repr(w)):
        fitglme(df, formula, Distribution=dist, Weights=with_value(len(df), 7, w), **kw)


def test_all_weights_zero(df):
    with raises("fitglme:BadWeights", "Weights", "weight 0", "at least one weight must be positive"):
        fitglme(df, "z ~ x + (1|g)", Distribution="Gamma", Weights=np.zeros(len(df)), FitMethod="Laplace")


@pytest.mark.parametrize("method", ["MPL", "REMPL", "Laplace", "ApproximateLaplace"])
def test_zero_weights_equal_leaving_the_rows_out(df, method):
    w = with_value(len(df), np.arange(10), 0.0)
    a = quiet(fitglme, df, "x ~ z + (1|g)", Weights=w, FitMethod=method)
    b = quiet(fitglme, df.iloc[10:], "x ~ z + (1|g)", FitMethod=method)
    np.testing.assert_allclose(a.Coefficients["Estimate"], b.Coefficients["Estimate"], rtol=1e-6, atol=1e-8)
    assert a.LogLikelihood == pytest.approx(b.LogLikelihood, abs=1e-6)


@pytest.mark.parametrize("size,fragments", [
    (lambda n: with_value(n, 6, 2.5, 2.0), ["integer-valued", "element 6", "2.5"]),
    (lambda n: with_value(n, 6, 0.0, 2.0), ["positive", "element 6", "0.0"]),
    (lambda n: with_value(n, 6, -2.0, 2.0), ["positive", "element 6", "-2.0"]),
    (lambda n: with_value(n, 6, np.nan, 2.0), ["finite", "element 6", "nan"]),
    (lambda n: with_value(n, 6, np.inf, 2.0), ["finite", "element 6", "inf"]),
    (lambda n: np.full(n + 1, 2.0), ["must have 40 elements", "got 41"]),
    (lambda n: "nosuch", ["'nosuch' is not a variable"]),
    (lambda n: "txt", ["table variable 'txt' must be numeric"]),
])
def test_bad_binomial_size(df, size, fragments):
    with raises("fitglme:BadBinomialSize", "BinomialSize", *fragments):
        fitglme(df, "p ~ x + (1|g)", Distribution="Binomial", BinomialSize=size(len(df)))


def test_binomial_size_with_another_distribution(df):
    with raises("fitglme:BadBinomialSize", "BinomialSize", "Binomial", "'Poisson'"):
        fitglme(df, FORMULA, Distribution="Poisson", BinomialSize=2)


@pytest.mark.parametrize("offset,fragments", [
    (lambda n: with_value(n, 9, np.nan, 0.0), ["finite", "element 9", "nan"]),
    (lambda n: with_value(n, 9, -np.inf, 0.0), ["finite", "element 9", "-inf"]),
    (lambda n: np.zeros(n - 1), ["must have 40 elements", "got 39"]),
    (lambda n: {"a": 1}, ["{'a': 1}"]),
    (lambda n: "nosuch", ["'nosuch' is not a variable"]),
])
def test_bad_offset(df, offset, fragments):
    with raises("fitglme:BadOffset", "Offset", *fragments):
        fitglme(df, FORMULA, Distribution="Poisson", Offset=offset(len(df)))


# ----------------------------------------------------------------------------------------------
# Exclude, missing rows, sizes
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("exclude,fragments", [
    ([40], ["0..39", "got 40"]),
    ([-1], ["0..39", "got -1"]),
    (np.zeros(3, bool), ["N = 40", "got 3 elements"]),
    ([1.5], ["integers", "1.5"]),
    ("abc", ["'abc'"]),
    ([[1, 2], [3]], ["[[1, 2], [3]]"]),
    (np.ones((2, 2), int), ["shape (2, 2)"]),
    (True, ["scalar logical True"]),
    ({1: 2}, ["{1: 2}"]),
])
def test_bad_exclude(df, exclude, fragments):
    with raises("fitglme:BadExclude", "Exclude", *fragments):
        fitglme(df, FORMULA, Exclude=exclude)


def test_every_row_excluded(df):
    with raises("fitglme:NoRows", "No rows are left", "40 rows", "40 more excluded"):
        fitglme(df, FORMULA, Exclude=np.ones(len(df), bool))


def test_every_row_missing(df):
    with raises("fitglme:NoRows", "40 with a missing value"):
        fitglme(df.assign(x=np.nan), FORMULA)


def test_every_row_missing_or_excluded(df):
    x = df["x"].copy()
    x.iloc[:20] = np.nan
    with raises("fitglme:NoRows", "20 with a missing value", "20 more excluded"):
        fitglme(df.assign(x=x), FORMULA, Exclude=np.arange(20, 40))


def test_empty_table(df):
    with raises("fitglme:NoRows", "0 rows"):
        fitglme(df.iloc[:0], FORMULA)


def test_fewer_observations_than_coefficients(df):
    # 3 rows of group 'a' and 2 of 'b' (reference coding: 1 + x + g_b + x:g_b = 4 columns) ...
    small = df.iloc[7:12]
    # ... x*txt*g has 8 coefficients for 5 observations
    with raises("fitglme:TooFewObservations", "5 observations", "8 fixed-effects coefficients",
                "(Intercept)"):
        fitglme(small, "y ~ x*txt*g + (1|g)", Distribution="Poisson")


@pytest.mark.parametrize("method,dist,response", [("REMPL", "Poisson", "y"), ("MPL", "Normal", "x"),
                                                  ("Laplace", "Gamma", "z")])
def test_rempl_or_estimated_dispersion_needs_a_residual_degree_of_freedom(df, method, dist, response):
    small = df.iloc[[0, 1, 10, 11]]  # 4 rows: g*txt has 4 coefficients
    formula = f"{response} ~ g*txt + (1|g)"
    with raises("fitglme:TooFewObservations", "4 observations", "4 fixed-effects coefficients", "n - p >= 1"):
        fitglme(small, formula, Distribution=dist, FitMethod=method)


def test_as_many_observations_as_coefficients_is_enough_without_dispersion(df):
    small = df.iloc[[0, 1, 10, 11, 20, 21]]
    m = quiet(fitglme, small.assign(y=[1, 2, 3, 1, 2, 4]), "y ~ g*txt + (1|g)", Distribution="Poisson",
              FitMethod="Laplace")
    assert m.NumObservations == m.NumCoefficients == 6


def test_single_level_grouping_variable_fits_with_a_warning(df):
    with pytest.warns(FitglmeWarning) as rec:
        m = fitglme(df, "y ~ x + (1|one)", Distribution="Poisson")
    assert isinstance(m, GeneralizedLinearMixedModel)
    single = [w.message for w in rec if w.message.identifier == "fitglme:SingleLevelGroup"]
    assert single and "'one'" in str(single[0]) and "'same'" in str(single[0])
    assert np.all(np.isfinite(m.Coefficients["Estimate"]))


def test_single_level_after_exclusion_warns(df):
    with pytest.warns(FitglmeWarning) as rec:
        fitglme(df, FORMULA, Distribution="Poisson", Exclude=np.arange(10, 40))
    assert "fitglme:SingleLevelGroup" in idents(rec)


@pytest.mark.parametrize("extra,formula,aliased", [
    ({"x2": lambda d: 2 * d["x"]}, "y ~ x + x2 + (1|g)", "'x2'"),
    ({"c": lambda d: np.ones(len(d))}, "y ~ c + x + (1|g)", "'c'"),
    ({"x2": lambda d: d["x"] - 1}, "y ~ x + x2 + (1|g)", "'x2'"),
    ({"h": lambda d: d["g"]}, "y ~ g + h + (1|g)", "'h_b', 'h_c', 'h_d'"),
])
def test_rank_deficient_design_names_aliased_columns(df, extra, formula, aliased):
    d = df.assign(**{k: f(df) for k, f in extra.items()})
    with raises("fitglme:RankDeficient", "rank deficient", aliased):
        fitglme(d, formula, Distribution="Poisson")


# ----------------------------------------------------------------------------------------------
# option names
# ----------------------------------------------------------------------------------------------
def test_unknown_option_name_suggests_the_closest(df):
    with raises("fitglme:UnknownOption", "unknown option 'Distrbution'", "Did you mean 'Distribution'?"):
        fitglme(df, FORMULA, "Distrbution", "Poisson")
    with raises("fitglme:UnknownOption", "'Foo'", "Valid options"):
        fitglme(df, FORMULA, Foo=1)


@pytest.mark.parametrize("prefix,matches", [
    ("D", "'DispersionFlag', 'Distribution', 'DummyVarCoding'"),
    ("Opt", "'Optimizer', 'OptimizerOptions'"),
    ("Cov", "'CovarianceMethod', 'CovariancePattern'"),
    ("E", "'EBMethod', 'EBOptions', 'Exclude'"),
])
def test_ambiguous_option_prefix(df, prefix, matches):
    with raises("fitglme:AmbiguousOption", f"'{prefix}' is ambiguous", matches):
        fitglme(df, FORMULA, prefix, 1)


def test_option_pairs_and_duplicates(df):
    with raises("fitglme:BadNameValue", "'Distribution' has no value"):
        fitglme(df, FORMULA, "Distribution")
    with raises("fitglme:BadNameValue", "argument 1", "got 5"):
        fitglme(df, FORMULA, 5, 6)
    with raises("fitglme:DuplicateOption", "'Distribution' is given more than once"):
        fitglme(df, FORMULA, "Distribution", "Poisson", Distribution="Normal")
    with raises("fitglme:DuplicateOption", "'Link'"):
        fitglme(df, FORMULA, "Link", "log", "li", "identity")


# ----------------------------------------------------------------------------------------------
# option values (one or more bad values per option)
# ----------------------------------------------------------------------------------------------
BAD_OPTION_VALUES = [
    ("Distribution", "Poison", "fitglme:BadDistribution", ["Distribution", "'Poison'", "'Poisson'"]),
    ("Distribution", 3, "fitglme:BadDistribution", ["Distribution", "got 3"]),
    ("Distribution", "gam", "fitglme:BadDistribution", ["Distribution", "'Gamma'"]),  # unique prefix: ok below
    ("FitMethod", "REML", "fitglme:BadFitMethod", ["FitMethod", "'REML'", "'REMPL'"]),
    ("FitMethod", 1, "fitglme:BadFitMethod", ["FitMethod", "got 1"]),
    ("Link", "logg", "fitglme:BadLink", ["Link", "'logg'", "'logit'"]),
    ("Link", "lo", "fitglme:BadLink", ["Link", "'lo' is ambiguous", "'log', 'logit', 'loglog'"]),
    ("Link", np.nan, "fitglme:BadLink", ["Link", "nan", "finite"]),
    ("Link", [1, 2], "fitglme:BadLink", ["Link", "[1, 2]"]),
    ("Link", True, "fitglme:BadLink", ["Link", "True"]),
    ("DummyVarCoding", "dummy", "fitglme:BadDummyVarCoding", ["DummyVarCoding", "'dummy'", "'effects'"]),
    ("CovariancePattern", "Banded", "fitglme:BadCovariancePattern", ["CovariancePattern", "'Banded'", "CompSymm"]),
    ("CovariancePattern", 3, "fitglme:BadCovariancePattern", ["CovariancePattern", "got 3"]),
    ("CovariancePattern", ["Full", "Full"], "fitglme:BadCovariancePattern", ["1 term(s) but 2 pattern(s)"]),
    ("CovariancePattern", np.ones((3, 3), bool), "fitglme:BadCovariancePattern", ["1-by-1 logical matrix"]),
    ("DispersionFlag", "yes", "fitglme:BadDispersionFlag", ["DispersionFlag", "'yes'", "true/false"]),
    ("DispersionFlag", 2, "fitglme:BadDispersionFlag", ["DispersionFlag", "got 2"]),
    ("PLIterations", 0, "fitglme:BadPLIterations", ["PLIterations", "positive integer", "got 0"]),
    ("PLIterations", 1.5, "fitglme:BadPLIterations", ["PLIterations", "got 1.5"]),
    ("PLIterations", "10", "fitglme:BadPLIterations", ["PLIterations", "'10'"]),
    ("PLIterations", np.inf, "fitglme:BadPLIterations", ["PLIterations", "inf"]),
    ("PLIterations", True, "fitglme:BadPLIterations", ["PLIterations", "True"]),
    ("PLTolerance", -1, "fitglme:BadPLTolerance", ["PLTolerance", "positive", "got -1"]),
    ("PLTolerance", np.nan, "fitglme:BadPLTolerance", ["PLTolerance", "nan"]),
    ("InitPLIterations", 0, "fitglme:BadInitPLIterations", ["InitPLIterations", "got 0"]),
    ("MuStart", -1, "fitglme:BadMuStart", ["MuStart", "(0,Inf)", "-1.0"]),
    ("MuStart", np.ones(3), "fitglme:BadMuStart", ["MuStart", "length 40", "got 3 values"]),
    ("MuStart", "a", "fitglme:BadMuStart", ["MuStart", "'a'"]),
    ("MuStart", np.nan, "fitglme:BadMuStart", ["MuStart", "nan"]),
    ("Optimizer", "bfgs", "fitglme:BadOptimizer", ["Optimizer", "'bfgs'", "'quasinewton'"]),
    ("OptimizerOptions", {"Foo": 1}, "fitglme:BadOptimizerOptions", ["OptimizerOptions", "'Foo'", "MaxIter"]),
    ("OptimizerOptions", {"MaxIter": -1}, "fitglme:BadOptimizerOptions", ["OptimizerOptions.MaxIter", "-1"]),
    ("OptimizerOptions", {"TolFun": "x"}, "fitglme:BadOptimizerOptions", ["OptimizerOptions.TolFun", "'x'"]),
    ("OptimizerOptions", 5, "fitglme:BadOptimizerOptions", ["OptimizerOptions", "int"]),
    ("EBMethod", "x", "fitglme:BadEBMethod", ["EBMethod", "'x'", "'LineSearchNewton'"]),
    ("EBOptions", {"TolFun": 0}, "fitglme:BadEBOptions", ["EBOptions.TolFun", "got 0"]),
    ("EBOptions", {"Display": "loud"}, "fitglme:BadEBOptions", ["EBOptions.Display", "'loud'", "'iter'"]),
    ("StartMethod", "x", "fitglme:BadStartMethod", ["StartMethod", "'x'", "'random'"]),
    ("CovarianceMethod", "x", "fitglme:BadCovarianceMethod", ["CovarianceMethod", "'x'", "'JointHessian'"]),
    ("CheckHessian", "x", "fitglme:BadCheckHessian", ["CheckHessian", "'x'"]),
    ("UseSequentialFitting", "x", "fitglme:BadUseSequentialFitting", ["UseSequentialFitting", "'x'"]),
    ("Verbose", 5, "fitglme:BadVerbose", ["Verbose", "0, 1 or 2", "got 5"]),
    ("Verbose", "1", "fitglme:BadVerbose", ["Verbose", "'1'"]),
]


@pytest.mark.parametrize("name,value,ident,fragments", BAD_OPTION_VALUES,
                         ids=[f"{n}={v!r:.20}" for n, v, *_ in BAD_OPTION_VALUES])
def test_bad_option_values(df, name, value, ident, fragments):
    if name == "Distribution" and value == "gam":
        # a unique prefix is accepted (MATLAB's validatestring); the Poisson counts include 0,
        # which the Gamma distribution rejects
        with raises("fitglme:BadResponse", "Gamma"):
            fitglme(df, FORMULA, Distribution=value)
        return
    kw = {} if name in ("Distribution",) else {"Distribution": "Poisson"}
    with raises(ident, *fragments):
        fitglme(df, FORMULA, **{name: value}, **kw)


def test_every_option_has_a_bad_value_test():
    from fitglme.api import OPTION_NAMES

    tested = {name for name, *_ in BAD_OPTION_VALUES} | {"Weights", "Offset", "BinomialSize", "Exclude"}
    assert set(OPTION_NAMES) == tested


def test_covariance_pattern_matrix_must_be_symmetric(df):
    with raises("fitglme:BadCovariancePattern", "symmetric"):
        fitglme(df, "y ~ x + (x|g)", Distribution="Poisson", CovariancePattern=np.array([[1, 1], [0, 1]], bool))


def test_default_start_outside_the_link_domain(df):
    bad = df.assign(x=df["x"] + 3.0)
    bad.loc[4, "x"] = -0.5
    with raises("fitglme:BadMuStart", "default starting mean", "'Log'", "row 4", "-0.5", "MuStart"):
        fitglme(bad, "x ~ z + (1|g)", Link="log")
    m = quiet(fitglme, bad, "x ~ z + (1|g)", Link="log", MuStart=1.0)  # a start in the domain fits
    assert np.all(np.isfinite(m.Coefficients["Estimate"]))


def test_mustart_outside_the_link_domain(df):
    with raises("fitglme:BadMuStart", "MuStart", "'Log'", "-0.5"):
        fitglme(df, "x ~ z + (1|g)", Link="log", MuStart=-0.5)


@pytest.mark.parametrize("dist,formula,link,ident,breaks", [
    ("Binomial", "p ~ x + (1|g)", "log", "BadDistLinkCombination2", False),
    ("Poisson", FORMULA, "identity", "BadDistLinkCombination3", False),
    ("Gamma", "z ~ x + (1|g)", "reciprocal", "BadDistLinkCombination1", False),
    # 1/eta is a probability only for eta > 1: the PL iterations leave that domain on this data.
    ("Binomial", "p ~ x + (1|g)", "reciprocal", "BadDistLinkCombination1", True),
])
def test_doubtful_distribution_link_pairs_warn_as_matlab(df, dist, formula, link, ident, breaks):
    """MATLAB accepts every link with every distribution, warning for doubtful pairs; the fit
    returns a model, or (where the link leaves the mean's domain, said per case) raises
    FitglmeError naming the link."""
    kw = {"BinomialSize": "sz"} if dist == "Binomial" else {}
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        if breaks:
            with pytest.raises(FitglmeError) as err:
                fitglme(df, formula, Distribution=dist, Link=link, **kw)
            assert err.value.identifier == "fitglme:NumericalFailure"
            assert f"{link.capitalize()!r} link" in str(err.value)
        else:
            m = fitglme(df, formula, Distribution=dist, Link=link, **kw)
            assert isinstance(m, GeneralizedLinearMixedModel) and np.isfinite(m.LogLikelihood)
    assert any(i.endswith(ident) for i in idents(rec))


# ----------------------------------------------------------------------------------------------
# custom links
# ----------------------------------------------------------------------------------------------
LOG = {"Link": np.log, "Derivative": lambda mu: 1 / mu, "SecondDerivative": lambda mu: -1 / mu**2,
       "Inverse": np.exp}


@pytest.mark.parametrize("missing", ["Link", "Derivative", "Inverse"])
def test_custom_link_missing_a_function(df, missing):
    link = {k: v for k, v in LOG.items() if k != missing}
    with raises("fitglme:BadLink", f"no '{missing}' field", "'Link', 'Derivative' and 'Inverse'"):
        fitglme(df, FORMULA, Distribution="Poisson", Link=link)


def test_custom_link_without_second_derivative_for_laplace(df):
    link = {k: v for k, v in LOG.items() if k != "SecondDerivative"}
    with raises("fitglme:MustSupplySecondDerivative", "SecondDerivative", "'Laplace'"):
        fitglme(df, FORMULA, Distribution="Poisson", Link=link, FitMethod="Laplace")
    m = quiet(fitglme, df, FORMULA, Distribution="Poisson", Link=link)  # MPL does without it
    assert isinstance(m, GeneralizedLinearMixedModel)


@pytest.mark.parametrize("change,fragments", [
    ({"Link": 1}, ["'Link' field must be a callable", "int"]),
    ({"Inverse": "exp"}, ["'Inverse' field must be a callable", "str"]),
    ({"Foo": np.log}, ["unknown field(s) ['foo']"]),
    ({"Name": 3}, ["'Name' field must be a string", "3"]),
    ({"Link": lambda mu: 1 / 0}, ["'Link' function failed", "ZeroDivisionError"]),
    ({"Derivative": lambda mu: "a"}, ["'Derivative' function must return real numbers", "'a'"]),
    ({"Inverse": lambda eta: np.ones(2)}, ["'Inverse' function must return one value per element", "(2,)"]),
    ({"Link": lambda mu: mu * np.nan}, ["'Link' function returned nan", "finite"]),
    ({"Derivative": lambda mu: None}, ["'Derivative' function returned nan"]),
])
def test_broken_custom_links(df, change, fragments):
    link = {**LOG, **change}
    with raises("fitglme:BadLink", *fragments):
        fitglme(df, FORMULA, Distribution="Poisson", Link=link)


def test_custom_link_as_object_with_attributes(df):
    obj = SimpleNamespace(Link=np.log, Inverse=np.exp)
    with raises("fitglme:BadLink", "no 'Derivative' field"):
        fitglme(df, FORMULA, Distribution="Poisson", Link=obj)


# ----------------------------------------------------------------------------------------------
# numerical trouble: warn and return a model
# ----------------------------------------------------------------------------------------------
def test_pl_non_convergence_warns(mfr):
    with pytest.warns(FitglmeWarning) as rec:
        m = fitglme(mfr, F, Distribution="Poisson", PLIterations=2)
    assert isinstance(m, GeneralizedLinearMixedModel)
    msg = next(w.message for w in rec if w.message.identifier.endswith("Message_PLUnableToConverge"))
    assert "PLIterations = 2" in str(msg)


def test_optimizer_non_convergence_warns(mfr):
    with pytest.warns(FitglmeWarning) as rec:
        m = fitglme(mfr, F, Distribution="Poisson", FitMethod="Laplace", Optimizer="fminsearch",
                    OptimizerOptions={"MaxIter": 1})
    assert isinstance(m, GeneralizedLinearMixedModel)
    assert "fitglme:NotConverged" in idents(rec)


def test_zero_variance_boundary_warns():
    rng = np.random.default_rng(11)
    d = pd.DataFrame({"x": rng.normal(size=60), "g": np.repeat(list("abcdef"), 10)})
    d["y"] = rng.poisson(np.exp(0.2 + 0.3 * d["x"]))
    for method in ("MPL", "Laplace"):
        with pytest.warns(FitglmeWarning) as rec:
            m = fitglme(d, FORMULA, Distribution="Poisson", FitMethod=method)
        msg = next(w.message for w in rec if w.message.identifier == "fitglme:BoundaryFit")
        assert "'g'" in str(msg) and "'(Intercept)'" in str(msg) and "estimated at 0" in str(msg)
        assert np.all(np.isfinite(m.Coefficients["SE"]))


def test_perfect_correlation_boundary_warns():
    with pytest.warns(FitglmeWarning) as rec:
        m = fitglme(binomial_table(), "y ~ x + (x|g)", Distribution="Binomial", BinomialSize="n",
                    FitMethod="Laplace")
    msgs = [str(w.message) for w in rec if w.message.identifier == "fitglme:BoundaryFit"]
    assert any("correlation" in s and "+-1" in s and "'x' and '(Intercept)'" in s for s in msgs)
    assert isinstance(m, GeneralizedLinearMixedModel)
    assert np.all(np.isfinite(m.Coefficients["Estimate"]))


def test_quasi_separation_warns():
    rng = np.random.default_rng(4)
    x = rng.normal(size=80)
    d = pd.DataFrame({"x": x, "y": (x > 0).astype(float), "g": np.repeat(list("abcdefgh"), 10)})
    for method in ("MPL", "Laplace"):
        with pytest.warns(FitglmeWarning) as rec:
            m = fitglme(d, FORMULA, Distribution="Binomial", FitMethod=method)
        assert "fitglme:QuasiSeparation" in idents(rec)
        assert isinstance(m, GeneralizedLinearMixedModel)


def test_huge_values_warn():
    rng = np.random.default_rng(1)
    d = pd.DataFrame({"x": rng.normal(size=40), "g": np.repeat(list("abcd"), 10)})
    d["y"] = 1e17 * (2 + d["x"] + rng.normal(size=40))
    with pytest.warns(FitglmeWarning) as rec:
        m = fitglme(d, FORMULA)
    assert "fitglme:HugeValues" in idents(rec)
    assert np.all(np.isfinite(m.Coefficients["Estimate"]))


def test_huge_counts_warn_and_return_a_model():
    rng = np.random.default_rng(1)
    d = pd.DataFrame({"x": rng.normal(size=40), "g": np.repeat(list("abcd"), 10)})
    d["y"] = rng.poisson(3.0, 40).astype(float) * 2.0**53
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        m = fitglme(d, FORMULA, Distribution="Poisson")
    assert "fitglme:HugeValues" in idents(rec)
    assert isinstance(m, GeneralizedLinearMixedModel)
    # One scalar random term: the precise forms apply and the warning says so.
    text = " ".join(str(r.message) for r in rec)
    assert "keep their precision" in text and "may be inaccurate" not in text


@pytest.mark.parametrize("formula", ["y ~ x + (x|g)", "y ~ x + (1|g) + (1|h)"])
def test_huge_counts_outside_the_precise_forms_return_a_model(formula):
    """Counts of 1e15 with a random slope or crossed terms: the penalised system loses positive
    definiteness to rounding; the fit still returns a model, warns that the fixed/random split is
    unreliable, and its fitted values agree with a fit at 1e12 (where no regularisation is needed)."""
    rng = np.random.default_rng(1)
    d = pd.DataFrame({"x": rng.normal(size=40), "g": np.repeat(list("abcd"), 10),
                      "h": np.tile(list("pqrst"), 8)})
    base = rng.poisson(3.0, 40).astype(float)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        m = fitglme(d.assign(y=base * 1e15), formula, Distribution="Poisson")
    texts = [str(r.message) for r in rec if getattr(r.message, "identifier", "") == "fitglme:HugeValues"]
    assert texts and "unreliable" in texts[0]
    assert isinstance(m, GeneralizedLinearMixedModel)
    ref = quiet(fitglme, d.assign(y=base * 1e12), formula, Distribution="Poisson")
    ratio = (np.asarray(m.fitted()).ravel() / 1e15) / (np.asarray(ref.fitted()).ravel() / 1e12)
    assert np.max(np.abs(ratio - 1)) < 1e-6


def test_huge_counts_warning_without_the_precise_forms():
    """Outside the precise forms (here a random slope at 1e12) the warning keeps its caution."""
    rng = np.random.default_rng(1)
    d = pd.DataFrame({"x": rng.normal(size=40), "g": np.repeat(list("abcd"), 10)})
    d["y"] = rng.poisson(3.0, 40).astype(float) * 1e12
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        fitglme(d, "y ~ x + (x|g)", Distribution="Poisson")
    texts = [str(r.message) for r in rec if getattr(r.message, "identifier", "") == "fitglme:HugeValues"]
    assert texts and "may be inaccurate" in texts[0]


# Reference estimates (beta0 - log s, beta1, sigma) of y ~ x + (1|g) for the 40-row data of
# test_huge_counts_warn_and_return_a_model with counts Poisson(3) * s, computed independently of
# fitglme in 60-digit arithmetic by tests/huge_counts_reference.py (mpmath; Laplace: Newton on the
# Laplace approximation; MPL/REMPL: the pseudo-likelihood fixed point), rounded to 17 digits.
HUGE_REFERENCE = {
    ("MPL", 1e10): (1.1688155465002149, 0.1226039842429011, 0.060876137987176835),
    ("MPL", 1e12): (1.1688155464972158, 0.12260398423194732, 0.060876138014792251),
    ("MPL", 1e13): (1.1688155464971885, 0.12260398423184774, 0.0608761380150433),
    ("MPL", 1e15): (1.1688155464971855, 0.12260398423183679, 0.060876138015070916),
    ("MPL", 2.0**53): (1.1688155464971855, 0.12260398423183669, 0.060876138015071164),
    ("REMPL", 1e10): (1.1688155464994576, 0.122603984240135, 0.070293709316772158),
    ("REMPL", 1e12): (1.1688155464972082, 0.12260398423191966, 0.070293709340215527),
    ("REMPL", 1e13): (1.1688155464971878, 0.12260398423184498, 0.070293709340428649),
    ("REMPL", 1e15): (1.1688155464971855, 0.12260398423183676, 0.070293709340452092),
    ("REMPL", 2.0**53): (1.1688155464971855, 0.12260398423183669, 0.070293709340452303),
    ("Laplace", 1e10): (1.1688155464986658, 0.1226039842429011, 0.060876137987302943),
    ("Laplace", 1e12): (1.1688155464972003, 0.12260398423194732, 0.060876138014793512),
    ("Laplace", 1e13): (1.168815546497187, 0.12260398423184774, 0.060876138015043426),
    ("Laplace", 1e15): (1.1688155464971855, 0.12260398423183679, 0.060876138015070917),
    ("Laplace", 2.0**53): (1.1688155464971855, 0.12260398423183669, 0.060876138015071164),
}
#: agreement required (absolute for the betas, relative for sigma); see docs/errors.md.  The
#: optimisers stop at a Newton decrement of 1e-16 |objective|, i.e. sigma to ~1e-8 (REMPL: 2e-8
#: measured at 1e10; MPL and Laplace 1e-9 or better).
HUGE_TOL = {"MPL": 1e-8, "REMPL": 1e-7, "Laplace": 1e-8}


def _huge_data(scale):
    rng = np.random.default_rng(1)
    d = pd.DataFrame({"x": rng.normal(size=40), "g": np.repeat(list("abcd"), 10)})
    d["y"] = rng.poisson(3.0, 40).astype(float) * scale
    return d


@pytest.mark.parametrize("method,scale", sorted(HUGE_REFERENCE, key=str))
def test_huge_counts_estimates_match_a_high_precision_fit(method, scale):
    m = quiet(fitglme, _huge_data(scale), FORMULA, Distribution="Poisson", FitMethod=method)
    b0, b1, sd = HUGE_REFERENCE[method, scale]
    est = m.Coefficients["Estimate"].to_numpy()
    sigma = float(np.sqrt(m.covarianceParameters()[0][0, 0]))
    tol = HUGE_TOL[method]
    assert abs(est[0] - np.log(scale) - b0) < tol
    assert abs(est[1] - b1) < tol
    assert abs(sigma / sd - 1) < tol


@pytest.mark.parametrize("scale", [1e10, 1e13, 2.0**53])
def test_huge_counts_approximate_laplace(scale):
    """ApproximateLaplace takes beta at the joint conditional mode instead of maximising the Laplace
    approximation over it; the log-determinant's beta-gradient is O(1) against a curvature O(N) of
    the log-likelihood (N the counts), so both optima differ by O(1/N): the Laplace reference holds
    to far below the tolerance here."""
    m = quiet(fitglme, _huge_data(scale), FORMULA, Distribution="Poisson", FitMethod="ApproximateLaplace")
    b0, b1, sd = HUGE_REFERENCE["Laplace", scale]
    est = m.Coefficients["Estimate"].to_numpy()
    sigma = float(np.sqrt(m.covarianceParameters()[0][0, 0]))
    assert abs(est[0] - np.log(scale) - b0) < 1e-8
    assert abs(est[1] - b1) < 1e-8
    assert abs(sigma / sd - 1) < 1e-8


@pytest.mark.parametrize("method", ["MPL", "Laplace"])
def test_huge_counts_without_group_effect_are_a_boundary_fit(method):
    """y = round(mu) exactly: the random-effect sd is 0 (the first huge-count PL step does not
    estimate theta, so it must not end the iterations)."""
    rng = np.random.default_rng(5)
    d = pd.DataFrame({"x": rng.normal(size=60), "g": np.repeat(list("abcdef"), 10)})
    d["y"] = np.round(np.exp(1 + 0.3 * d["x"]) * 1e12)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        m = fitglme(d, FORMULA, Distribution="Poisson", FitMethod=method)
    assert "fitglme:BoundaryFit" in idents(rec)
    assert np.sqrt(m.covarianceParameters()[0][0, 0]) < 1e-6
    np.testing.assert_allclose(m.Coefficients["Estimate"].to_numpy(), [1 + np.log(1e12), 0.3], atol=1e-9)


@pytest.mark.parametrize("method", ["MPL", "Laplace", "ApproximateLaplace"])
def test_huge_counts_with_an_all_zero_group(method):
    """A level with only zeros (its random effect tends to -inf): a model, no numpy warnings."""
    rng = np.random.default_rng(5)
    d = pd.DataFrame({"x": rng.normal(size=60), "g": np.repeat(list("abcdef"), 10)})
    d["y"] = np.where(d["g"] == "a", 0.0, rng.poisson(3.0, 60) * 2.0**53)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        m = fitglme(d, FORMULA, Distribution="Poisson", FitMethod=method)
    assert all(isinstance(w.message, FitglmeWarning) for w in rec)
    assert set(idents(rec)) == {"fitglme:HugeValues"}
    assert np.all(np.isfinite(m.Coefficients["Estimate"].to_numpy()))


def test_huge_counts_pl_covariance_intervals():
    """MPL intervals of the random-effect sd: finite, and converging as the counts grow (the model
    tends to a limit: the reference estimates at counts 1e10..2^53 differ by < 1e-9)."""
    cis = []
    for scale in (1e10, 1e13, 2.0**53):
        m = quiet(fitglme, _huge_data(scale), FORMULA, Distribution="Poisson")
        t = m.covarianceParameters().stats[0]
        cis.append([float(np.asarray(t["Lower"])[0]), float(np.asarray(t["Upper"])[0])])
    cis = np.array(cis)
    assert np.all(np.isfinite(cis)) and np.all(cis[:, 0] < 0.0609) and np.all(cis[:, 1] > 0.0609)
    for other in cis[1:]:
        np.testing.assert_allclose(other, cis[0], rtol=1e-5)


def test_huge_counts_reference_is_reproducible():
    """The stored references come from tests/huge_counts_reference.py (checked at one scale; mpmath is
    in the test extra, so this runs in CI)."""
    import importlib.util
    import pathlib

    spec = importlib.util.spec_from_file_location(
        "huge_counts_reference", pathlib.Path(__file__).with_name("huge_counts_reference.py"))
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    start = (1.1688, 0.1226, 0.0609)
    for method, fit in (("Laplace", ref.fit_laplace), ("MPL", ref.fit_mpl), ("REMPL", ref.fit_rempl)):
        got = [float(v) for v in fit(1e13, start)]
        np.testing.assert_allclose(got, HUGE_REFERENCE[method, 1e13], rtol=1e-15)


def test_large_counts_fit(df):
    m = quiet(fitglme, df.assign(y=df["y"] * 10**10), FORMULA, Distribution="Poisson")
    assert np.all(np.isfinite(m.Coefficients["Estimate"]))


@pytest.mark.parametrize("y,fragment", [(1.0, "response is constant"), (None, "tiny")])
def test_numerical_breakdown_is_a_clear_error(df, y, fragment):
    d = df.assign(w=1.0 if y is not None else df["x"] * 1e-300)
    with raises("fitglme:NumericalFailure", "broke down numerically", fragment):
        fitglme(d, "w ~ x + (1|g)")


def test_iteration_limits_bound_the_work(mfr):
    """Nothing hangs: tight iteration limits give a (warned) model quickly."""
    t0 = time.perf_counter()
    for method in ("MPL", "REMPL", "Laplace", "ApproximateLaplace"):
        m = quiet(fitglme, mfr, F, Distribution="Poisson", FitMethod=method, PLIterations=1,
                  InitPLIterations=1, OptimizerOptions={"MaxIter": 1, "MaxFunEvals": 5},
                  EBOptions={"MaxIter": 1})
        assert isinstance(m, GeneralizedLinearMixedModel)
    assert time.perf_counter() - t0 < 60


# ----------------------------------------------------------------------------------------------
# the caller's data is never modified; failures leave no state behind
# ----------------------------------------------------------------------------------------------
def messy_table():
    rng = np.random.default_rng(8)
    n = 30
    d = pd.DataFrame({
        "y": rng.poisson(2.0, n).astype(float),
        "x": rng.normal(size=n),
        "k": pd.array(rng.integers(0, 3, n), dtype="Int64"),
        "b": rng.random(n) < 0.5,
        "s": np.array(["u", "v", "w"], dtype=object)[rng.integers(0, 3, n)],
        "c": pd.Categorical(np.array(["p", "q"])[rng.integers(0, 2, n)], categories=["q", "p", "r"]),
        "g": np.repeat(list("abcde"), 6),
    }, index=pd.Index([f"r{i}" for i in range(n)], name="obs"))
    d.loc["r3", "x"] = np.nan
    d.loc["r4", "s"] = None
    d.loc["r5", "c"] = np.nan
    d.loc["r6", "k"] = pd.NA
    return d


def test_caller_data_unchanged_by_a_fit():
    d = messy_table()
    n = len(d)
    args = dict(Weights=np.tile([1.0, 2.0], n // 2), Offset=np.linspace(0, 0.1, n), Exclude=[0, 7],
                MuStart=np.full(n, 2.0), CovariancePattern=["Diagonal"])
    before_d, before_a = copy.deepcopy(d), copy.deepcopy(args)
    m = quiet(fitglme, d, "y ~ x + k + b + s*c + (b|g)", Distribution="Poisson", **args)
    pd.testing.assert_frame_equal(d, before_d, check_exact=True)
    for k, v in before_a.items():
        if isinstance(v, np.ndarray):
            np.testing.assert_array_equal(args[k], v, strict=True)
        else:
            assert args[k] == v
    # methods do not modify it either
    quiet(m.predict, d)
    quiet(m.random, d, seed=1)
    quiet(m.refit, m.response().y)
    quiet(m.partialDependence, "x")
    pd.testing.assert_frame_equal(d, before_d, check_exact=True)


def test_caller_data_unchanged_by_a_failed_fit():
    d = messy_table()
    w = np.full(len(d), 0.5)
    before_d, before_w = copy.deepcopy(d), w.copy()
    with raises("fitglme:BadWeights"):
        fitglme(d, "y ~ x + (1|g)", Distribution="Poisson", Weights=w)
    pd.testing.assert_frame_equal(d, before_d, check_exact=True)
    np.testing.assert_array_equal(w, before_w, strict=True)


def test_dict_table_unchanged():
    d = {c: v.to_numpy() for c, v in messy_table().items()}
    before = copy.deepcopy(d)
    quiet(fitglme, d, "y ~ x + s + (1|g)", Distribution="Poisson")
    for k in d:
        assert d[k].dtype == before[k].dtype
        assert pd.Series(d[k]).equals(pd.Series(before[k])), k


def test_failures_leave_no_state_behind(df, glme):
    err_state = np.geterr()
    filters = list(warnings.filters)
    rng_state = np.random.get_state()[1].copy()
    coef = glme.Coefficients["Estimate"].to_numpy().copy()
    loglik = glme.LogLikelihood
    for call in (lambda: fitglme(df, FORMULA, Weights=np.full(len(df), np.nan)),
                 lambda: fitglme(df.assign(w=1.0), "w ~ x + (1|g)"),  # numerical failure inside the engine
                 lambda: glme.refit(-np.ones(glme.NumObservations)),
                 lambda: glme.predict(glme.Variables, "Alpha", 2),
                 lambda: glme.coefTest(np.ones((1, 3)))):
        with pytest.raises(FitglmeError):
            quiet(call)
    assert np.geterr() == err_state
    assert list(warnings.filters) == filters
    np.testing.assert_array_equal(np.random.get_state()[1], rng_state)
    np.testing.assert_array_equal(glme.Coefficients["Estimate"].to_numpy(), coef)
    assert glme.NumObservations == 100 and glme.LogLikelihood == loglik


# ----------------------------------------------------------------------------------------------
# methods: one bad call each
# ----------------------------------------------------------------------------------------------
METHOD_CALLS = [
    ("fixedEffects", lambda m: m.fixedEffects("Alpha", 2), "fitglme:BadAlpha", ["Alpha", "got 2"]),
    ("fixedEffects", lambda m: m.fixedEffects("DFMethod", "bogus"), "fitglme:BadDFMethod", ["DFMethod", "'bogus'"]),
    ("randomEffects", lambda m: m.randomEffects("Alpha", np.nan), "fitglme:BadAlpha", ["Alpha", "nan"]),
    ("covarianceParameters", lambda m: m.covarianceParameters("Foo", 1), "fitglme:UnknownOption", ["'Foo'", "'Alpha'"]),
    ("coefCI", lambda m: m.coefCI("Alpha", 1.5), "fitglme:BadAlpha", ["Alpha", "1.5"]),
    ("coefTest", lambda m: m.coefTest(np.ones((1, 3))), "fitglme:BadH", ["H", "6 columns", "(1, 3)"]),
    ("coefTest", lambda m: m.coefTest(np.eye(6), [[1], [2, 3]]), "fitglme:BadC", ["C", "[[1], [2, 3]]"]),
    ("coefTest", lambda m: m.coefTest(np.eye(6)[:1], 0, "REContrast", [[1], [2, 3]]), "fitglme:BadREContrast",
     ["REContrast", "1-by-20"]),
    ("anova", lambda m: m.anova("DFMethod", 3), "fitglme:BadDFMethod", ["DFMethod", "got 3"]),
    ("compare", lambda m: m.compare(5), "fitglme:BadClass", ["altglme", "int"]),
    ("designMatrix", lambda m: m.designMatrix("bogus"), "fitglme:BadDesignType", ["'bogus'", "'Fixed', 'Random'"]),
    ("designMatrix", lambda m: m.designMatrix("Random", 7), "fitglme:BadGNumbers", ["gnumbers", "7"]),
    ("fitted", lambda m: m.fitted("Conditional", "maybe"), "fitglme:BadConditional", ["Conditional", "'maybe'"]),
    ("residuals", lambda m: m.residuals("ResidualType", "bogus"), "fitglme:BadResidualType",
     ["ResidualType", "'bogus'", "'pearson'"]),
    ("response", lambda m: m.response(1), "fitglme:BadNameValue", ["response takes no arguments", "1"]),
    ("predict", lambda m: m.predict(5), "fitglme:BadTable", ["tbl", "int"]),
    ("predict", lambda m: m.predict(m.Variables, "Offset", np.ones(3)), "fitglme:BadOffset", ["Offset", "got 3"]),
    ("predict", lambda m: m.predict(m.Variables.assign(supplier="Z")), "fitglme:UnknownLevel", ["'supplier'", "'Z'"]),
    ("predict", lambda m: m.predict(m.Variables.drop(columns="time_dev")), "fitglme:UnknownVariable", ["'time_dev'"]),
    ("random", lambda m: m.random(seed="x"), "fitglme:BadSeed", ["seed", "'x'"]),
    ("random", lambda m: m.random(m.Variables, "Weights", -np.ones(100)), "fitglme:BadWeights", ["Weights", "-1.0"]),
    ("refit", lambda m: m.refit(np.ones(3)), "fitglme:BadYNew", ["ynew", "100 elements", "got 3"]),
    ("refit", lambda m: m.refit([[1, 2], [3]]), "fitglme:BadYNew", ["ynew"]),
    ("refit", lambda m: m.refit(-np.ones(100)), "fitglme:BadResponse", ["Poisson", "-1.0"]),
    ("random", lambda m: m.random("NumSimulations", 0), "fitglme:BadNumSimulations", ["NumSimulations", "0"]),
    ("parametricBootstrap", lambda m: m.parametricBootstrap(0), "fitglme:BadNBoot", ["nboot", "0"]),
    ("parametricBootstrap", lambda m: m.parametricBootstrap(2, "Seed", "x"), "fitglme:BadSeed", ["Seed", "'x'"]),
    ("parametricBootstrap", lambda m: m.parametricBootstrap(2, "Options", {"Bogus": 1}), "fitglme:BadOptions",
     ["Options", "'Bogus'", "UseParallel"]),
    ("refit", lambda m: m.refit(np.ones((3, 2))), "fitglme:BadYNew", ["ynew", "100 rows", "(3, 2)"]),
    ("plotResiduals", lambda m: m.plotResiduals("bogus"), "fitglme:BadPlotType", ["plottype", "'bogus'"]),
    ("partialDependence", lambda m: m.partialDependence("nosuch"), "fitglme:BadVars", ["'nosuch'", "PredictorNames"]),
    ("plotPartialDependence", lambda m: m.plotPartialDependence("nosuch"), "fitglme:BadVars", ["'nosuch'"]),
    ("disp", lambda m: m.disp(width="x"), "fitglme:display:BadOption", ["width", "'x'"]),
    ("display", lambda m: m.display(style="bogus"), "fitglme:display:BadOption", ["style", "'bogus'"]),
    ("display", lambda m: m.display(name=5), "fitglme:display:BadOption", ["name", "5"]),
]


@pytest.mark.parametrize("name,call,ident,fragments", METHOD_CALLS,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(METHOD_CALLS)])
def test_methods_reject_bad_arguments(glme, name, call, ident, fragments):
    if "plot" in name.lower():
        import matplotlib as mpl  # in the 'test' extra: a missing install fails here

        mpl.use("Agg")
    with raises(ident, *fragments):
        call(glme)


def test_every_public_method_is_spot_checked():
    from fitglme.methods import public_functions

    checked = {name for name, *_ in METHOD_CALLS}
    assert set(public_functions()) <= checked


def test_bad_display_width_attribute(glme):
    m = copy.copy(glme)
    m.display_width = "wide"
    with raises("fitglme:display:BadOption", "width", "'wide'"):
        str(m)
