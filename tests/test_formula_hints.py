"""Formula errors that teach (fitglme/formula/hints.py): each says what to write, and what it says
to write fits."""
from __future__ import annotations

import re

import numpy as np
import pytest

from fitglme import FitglmeError, fitglme, load_example


@pytest.fixture(scope="module")
def tbl():
    t = load_example()
    t["a"], t["b"] = t["factory"], t["supplier"].astype(str)
    t["k"] = t["defects"] + 3
    return t


def _error(tbl, formula, **kw):
    with pytest.raises(FitglmeError) as info:
        fitglme(tbl, formula, Distribution="Poisson", **kw)
    return info.value


def _suggested(err) -> str:
    """The formula the message says to write."""
    return re.findall(r"write '([^']+)'", str(err))[-1]


@pytest.mark.parametrize("bad", ["time.dev", "time dev"])
def test_column_name_with_dot_or_space(tbl, bad):
    t = tbl.rename(columns={"time_dev": bad})
    err = _error(t, f"defects ~ 1 + {bad} + (1|factory)")
    assert "rename(columns={" in str(err) and "'time_dev'" in str(err)
    assert _suggested(err) == "defects ~ 1 + time_dev + (1|factory)"
    fixed = fitglme(t.rename(columns={bad: "time_dev"}), _suggested(err), Distribution="Poisson")
    assert "time_dev" in fixed.CoefficientNames


def test_double_bar_suggests_diagonal_pattern(tbl):
    err = _error(tbl, "defects ~ 1 + time_dev + (1 + time_dev||factory)")
    assert "CovariancePattern='Diagonal'" in str(err)
    m = fitglme(tbl, _suggested(err), Distribution="Poisson", CovariancePattern="Diagonal")
    assert m.fit_state.result.psi[0].shape == (2, 2) and m.fit_state.result.psi[0][0, 1] == 0


def test_cbind_suggests_binomial_size(tbl):
    err = _error(tbl, "cbind(defects, k) ~ 1 + newprocess + (1|factory)")
    msg = str(err)
    assert "BinomialSize=tbl['defects'] + tbl['k']" in msg and "Distribution='Binomial'" in msg
    t = tbl.copy()
    t["p"] = t["defects"] / (t["defects"] + t["k"])
    formula = re.search(r"fitglme\(tbl, '([^']+)'", msg).group(1)
    m = fitglme(t, formula, Distribution="Binomial", BinomialSize=t["defects"] + t["k"])
    assert m.ResponseName == "p"


@pytest.mark.parametrize("formula, expect", [
    ("defects ~ 0 + newprocess + (1|factory)", "defects ~ -1 + newprocess + (1|factory)"),
    ("defects ~ newprocess + (0 + time_dev|factory)", "defects ~ newprocess + (-1 + time_dev|factory)"),
    ("defects ~ newprocess + 0 + (1|factory)", "defects ~ newprocess - 1 + (1|factory)"),
])
def test_zero_plus_suggests_minus_one(tbl, formula, expect):
    err = _error(tbl, formula)
    assert "-1" in str(err) and _suggested(err) == expect
    fitglme(tbl, expect, Distribution="Poisson")


def test_nested_grouping_suggests_two_terms(tbl):
    err = _error(tbl, "defects ~ 1 + newprocess + (1|a/b)")
    assert _suggested(err) == "defects ~ 1 + newprocess + (1|a) + (1|a:b)"
    m = fitglme(tbl, _suggested(err), Distribution="Poisson")
    assert len(m.fit_state.problem.design.re_blocks) == 2


def test_offset_term_suggests_the_option(tbl):
    err = _error(tbl, "defects ~ newprocess + (1|factory) + offset(k)")
    assert "Offset=tbl['k']" in str(err)
    fitglme(tbl, "defects ~ newprocess + (1|factory)", Distribution="Poisson", Offset=np.log(tbl["k"]))


def test_no_hint_for_an_ordinary_mistake(tbl):
    err = _error(tbl, "defects ~ 1 + newprocess + (1|factory")
    assert "write '" not in str(err)
