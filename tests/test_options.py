"""Tests for fitglme.options."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fitglme.errors import FitglmeError
from fitglme.options import (
    as_bool,
    as_float_in,
    as_nonneg_int,
    as_positive_float,
    as_positive_int,
    as_vector,
    match_string,
    parse_name_value,
)

NAMES = ["Distribution", "Link", "FitMethod", "Weights", "Offset", "DispersionFlag",
         "PLIterations", "PLTolerance", "CovariancePattern", "CovarianceMethod"]


def parse(*args, where="fitglme", **kwargs):
    return parse_name_value(args, kwargs, NAMES, where)


def err(fn, *a, **k) -> FitglmeError:
    with pytest.raises(FitglmeError) as ei:
        fn(*a, **k)
    return ei.value


# ------------------------------------------------------- parse_name_value
def test_positional_and_keywords():
    out = parse("Distribution", "Poisson", "Link", "log", FitMethod="Laplace")
    assert out == {"Distribution": "Poisson", "Link": "log", "FitMethod": "Laplace"}
    assert list(out) == ["Distribution", "Link", "FitMethod"]
    assert parse() == {}


def test_case_and_prefix():
    out = parse("dist", "Poisson", "LINK", "log", "fitm", "MPL", disp=True)
    assert out == {"Distribution": "Poisson", "Link": "log", "FitMethod": "MPL",
                   "DispersionFlag": True}
    assert parse(np.str_("weights"), 1) == {"Weights": 1}


def test_exact_match_wins_over_prefix():
    names = ["Link", "LinkExtra"]
    assert parse_name_value(("link", 1), {}, names, "f") == {"Link": 1}
    assert parse_name_value(("linke", 1), {}, names, "f") == {"LinkExtra": 1}


def test_values_are_not_copied_or_changed():
    w = np.ones(3)
    out = parse("Weights", w)
    assert out["Weights"] is w


def test_odd_number_of_positional_args():
    e = err(parse, "Distribution", "Poisson", "Link")
    assert e.identifier == "fitglme:BadNameValue"
    assert "'Link'" in str(e) and "no value" in str(e) and str(e).startswith("fitglme:")
    e = err(parse, "Distribution", "Poisson", 5)
    assert e.identifier == "fitglme:BadNameValue" and "odd number" in str(e)


def test_name_not_a_string():
    e = err(parse, 3, "Poisson")
    assert e.identifier == "fitglme:BadNameValue"
    assert "argument 1" in str(e) and "3" in str(e) and "'Distribution'" in str(e)


def test_unknown_with_suggestion():
    e = err(parse, "Distrbution", "Poisson", where="fitglme")
    assert e.identifier == "fitglme:UnknownOption"
    assert "'Distrbution'" in str(e)
    assert "Did you mean 'Distribution'?" in str(e)
    assert "'PLTolerance'" in str(e)  # lists the valid names
    e = err(parse, "zzzz", 1, where="fixedEffects")
    assert str(e).startswith("fixedEffects:") and "Did you mean" not in str(e)
    e = err(parse, Lnk="log")
    assert e.identifier == "fitglme:UnknownOption" and "Did you mean 'Link'?" in str(e)


def test_ambiguous_prefix():
    e = err(parse, "Cov", "Diagonal")
    assert e.identifier == "fitglme:AmbiguousOption"
    assert "'CovariancePattern'" in str(e) and "'CovarianceMethod'" in str(e)
    e = err(parse, PL=3)
    assert e.identifier == "fitglme:AmbiguousOption"


def test_duplicates():
    e = err(parse, "Link", "log", "link", "logit")
    assert e.identifier == "fitglme:DuplicateOption" and "'Link'" in str(e)
    e = err(parse, "Dist", "Poisson", Distribution="Normal")
    assert e.identifier == "fitglme:DuplicateOption"
    assert "'Dist'" in str(e) and "'Distribution'" in str(e)


# ---------------------------------------------------------- match_string
FIT = ["MPL", "REMPL", "Laplace", "ApproximateLaplace"]


def test_match_string():
    assert match_string("laplace", FIT, "FitMethod") == "Laplace"
    assert match_string("lap", FIT, "FitMethod") == "Laplace"
    assert match_string("approx", FIT, "FitMethod") == "ApproximateLaplace"
    assert match_string("mpl", FIT, "FitMethod") == "MPL"
    assert match_string(np.str_("REMPL"), FIT, "FitMethod") == "REMPL"
    links = ["identity", "log", "logit", "loglog"]
    assert match_string("LOG", links, "Link") == "log"


def test_match_string_errors():
    e = err(match_string, "PL", FIT, "FitMethod")
    assert e.identifier == "fitglme:BadFitMethod"
    assert "'PL'" in str(e) and "'Laplace'" in str(e)
    e = err(match_string, "lo", ["log", "logit"], "Link")
    assert "ambiguous" in str(e) and "'log'" in str(e)
    e = err(match_string, 3, FIT, "FitMethod")
    assert "3" in str(e) and "not a string" in str(e)
    e = err(match_string, "x", FIT, "FitMethod", identifier="fitglme:Custom")
    assert e.identifier == "fitglme:Custom"


# ------------------------------------------------------------- scalars
def test_as_bool():
    for v, out in [(True, True), (False, False), (0, False), (1, True), (1.0, True),
                   (np.bool_(True), True), (np.array(False), False), (np.int64(1), True)]:
        assert as_bool(v, "DispersionFlag") is out
    for bad in (2, -1, 0.5, "true", None, [True, False]):
        e = err(as_bool, bad, "DispersionFlag")
        assert e.identifier == "fitglme:BadDispersionFlag"
        assert "DispersionFlag" in str(e) and "true/false" in str(e)


def test_as_positive_and_nonneg_int():
    assert as_positive_int(3, "PLIterations") == 3
    assert as_positive_int(3.0, "PLIterations") == 3
    assert as_positive_int(np.int32(7), "PLIterations") == 7
    assert as_nonneg_int(0, "Verbose") == 0
    for bad in (0, -2, 2.5, np.nan, np.inf, "3", True, None):
        e = err(as_positive_int, bad, "PLIterations")
        assert e.identifier == "fitglme:BadPLIterations"
        assert "positive integer" in str(e) and "PLIterations" in str(e)
    e = err(as_nonneg_int, -1, "Verbose")
    assert "nonnegative integer" in str(e) and "-1" in str(e)


def test_as_positive_float():
    assert as_positive_float(1e-8, "PLTolerance") == 1e-8
    assert as_positive_float(np.array([2.0]), "PLTolerance") == 2.0
    for bad in (0, -1e-3, np.inf, np.nan, "1e-8", None, False):
        e = err(as_positive_float, bad, "PLTolerance")
        assert e.identifier == "fitglme:BadPLTolerance" and "positive" in str(e)


def test_as_float_in():
    assert as_float_in(0.05, "Alpha", 0, 1, inclusive=False) == 0.05
    assert as_float_in(1, "X", 0, 1) == 1.0
    e = err(as_float_in, 1, "Alpha", 0, 1, inclusive=False)
    assert e.identifier == "fitglme:BadAlpha" and "(0, 1)" in str(e) and "got 1" in str(e)
    e = err(as_float_in, 0, "X", 0, 1, inclusive=(False, True))
    assert "(0, 1]" in str(e)
    assert as_float_in(0, "X", 0, 1, inclusive=(True, False)) == 0.0
    for bad in (np.nan, "0.5", None, 2):
        err(as_float_in, bad, "X", 0, 1)


# -------------------------------------------------------------- vectors
def test_as_vector_accepts_shapes_and_copies():
    src = np.array([[1.0], [2.0], [3.0]])
    out = as_vector(src, "Offset", 3)
    assert out.shape == (3,) and out.dtype == float
    out[0] = 99
    assert src[0, 0] == 1.0
    np.testing.assert_array_equal(as_vector([1, 2, 3], "Offset", 3), [1, 2, 3])
    np.testing.assert_array_equal(as_vector((1, 2), "Offset", 2), [1, 2])
    np.testing.assert_array_equal(as_vector(np.array([[1, 2]]), "Offset", 2), [1, 2])
    np.testing.assert_array_equal(as_vector(pd.Series([4, 5]), "Offset", 2), [4, 5])
    np.testing.assert_array_equal(as_vector([True, False], "Exclude", 2), [1, 0])
    np.testing.assert_array_equal(as_vector(7, "BinomialSize", 3, allow_scalar=True), [7, 7, 7])
    np.testing.assert_array_equal(as_vector(7, "X", 1), [7])


def test_as_vector_errors():
    e = err(as_vector, [1, 2], "Weights", 3)
    assert e.identifier == "fitglme:BadWeights"
    assert "3 elements" in str(e) and "got 2" in str(e)
    e = err(as_vector, 5, "Weights", 3)
    assert "scalar" in str(e)
    e = err(as_vector, [1, np.nan, 2], "Offset", 3)
    assert "element 1" in str(e) and "nan" in str(e) and "finite" in str(e)
    e = err(as_vector, [1, np.inf], "Offset", 2)
    assert "element 1" in str(e) and "inf" in str(e)
    np.testing.assert_array_equal(as_vector([1, np.nan], "MuStart", 2, finite=False), [1, np.nan])
    e = err(as_vector, [1, -2, 3], "Weights", 3, nonnegative=True)
    assert "element 1" in str(e) and "-2.0" in str(e) and "nonnegative" in str(e)
    e = err(as_vector, [1, 0, 3], "BinomialSize", 3, positive=True)
    assert "element 1" in str(e) and "positive" in str(e)
    e = err(as_vector, [1, 2.5, 3], "BinomialSize", 3, integer=True)
    assert "element 1" in str(e) and "2.5" in str(e) and "integer" in str(e)
    e = err(as_vector, ["a", "b"], "Offset", 2)
    assert "real numbers" in str(e)
    e = err(as_vector, "ab", "Offset", 2)
    assert "'ab'" in str(e)
    e = err(as_vector, np.ones((2, 2)), "Offset", 4)
    assert "shape (2, 2)" in str(e)
    e = err(as_vector, [1j, 2], "Offset", 2)
    assert e.identifier == "fitglme:BadOffset"
    e = err(as_vector, [1, 2], "Offset", 3, identifier="fitglme:BadOffsetLength")
    assert e.identifier == "fitglme:BadOffsetLength"


def test_long_values_are_truncated_in_messages():
    e = err(as_positive_int, list(range(1000)), "PLIterations")
    assert len(str(e)) < 200 and "..." in str(e)
