"""Tests of fitglme.design: table + parsed formula -> X, y and random-effects blocks."""
from __future__ import annotations

import copy
import io

import numpy as np
import pandas as pd
import pytest

from fitglme.design import build_design
from fitglme.design.builder import parse_exclude
from fitglme.design.variables import format_level, missing_mask, variable_kind
from fitglme.errors import FitglmeError
from fitglme.formula.terms import INTERCEPT, ParsedFormula, RandomTerm, Term


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def T(*factors):
    """Term from variable names or (name, power) pairs."""
    return Term(tuple(f if isinstance(f, tuple) else (f, 1) for f in factors))


def F(response, fixed, random=()):
    return ParsedFormula(response, tuple(fixed), tuple(random))


def RE(terms, *group):
    return RandomTerm(tuple(terms), tuple(group))


# The first 15 rows (factories F01..F03) of fitglme/data/mfr_sim.csv.
MFR_CSV = """factory,batch,newprocess,time_dev,temp_dev,supplier,defects
F01,1,0,0.041,0.092,A,1
F01,2,0,0.1,0.034,C,1
F01,3,0,0.096,0.068,C,1
F01,4,0,0.092,0.017,B,4
F01,5,0,0.015,0.049,A,2
F02,1,0,0.122,0.009,C,10
F02,2,0,0.087,0.057,A,5
F02,3,0,0.104,0.123,B,7
F02,4,0,0.11,0.028,A,4
F02,5,0,0.044,0.094,A,6
F03,1,0,0.02,0.003,C,2
F03,2,0,0.168,0.029,A,5
F03,3,0,0.013,0.084,A,7
F03,4,0,0.02,0.008,A,5
F03,5,0,0.02,0.008,A,5
"""


@pytest.fixture
def mfr():
    return pd.read_csv(io.StringIO(MFR_CSV))


MFR_FORMULA = F("defects",
                [INTERCEPT, T("newprocess"), T("time_dev"), T("temp_dev"), T("supplier")],
                [RE([INTERCEPT], "factory")])


def raises(identifier, *fragments):
    """Context manager: FitglmeError with this identifier whose message holds the fragments."""
    class _Ctx:
        def __enter__(self):
            self._cm = pytest.raises(FitglmeError)
            self.info = self._cm.__enter__()
            return self.info

        def __exit__(self, *exc):
            ok = self._cm.__exit__(*exc)
            err = self.info.value
            assert err.identifier == identifier, (err.identifier, str(err))
            for frag in fragments:
                assert frag in str(err), (frag, str(err))
            return ok
    return _Ctx()


# --------------------------------------------------------------------------------------------
# mfr-like table
# --------------------------------------------------------------------------------------------
def test_mfr_reference_text_supplier(mfr):
    d = build_design(mfr, MFR_FORMULA)
    # text -> first appearance: A, C, B; reference drops A
    assert d.coef_names == ["(Intercept)", "newprocess", "time_dev", "temp_dev", "supplier_C", "supplier_B"]
    assert d.term_labels == ["(Intercept)", "newprocess", "time_dev", "temp_dev", "supplier"]
    assert [c.tolist() for c in d.term_columns] == [[0], [1], [2], [3], [4, 5]]
    assert d.X.shape == (15, 6) and d.X.dtype == np.float64 and d.X.flags.c_contiguous
    np.testing.assert_array_equal(d.X[:, 0], 1.0)
    np.testing.assert_array_equal(d.X[:, 2], mfr["time_dev"].to_numpy())
    np.testing.assert_array_equal(d.X[:, 4], (mfr["supplier"] == "C").to_numpy(float))
    np.testing.assert_array_equal(d.X[:, 5], (mfr["supplier"] == "B").to_numpy(float))
    np.testing.assert_array_equal(d.y, mfr["defects"].to_numpy(float))
    (b,) = d.re_blocks
    assert b.group_name == "factory" and b.group_vars == ("factory",)
    assert b.level_names == ["F01", "F02", "F03"] and b.nlevels == 3 and b.q == 1
    assert b.names == ["(Intercept)"]
    np.testing.assert_array_equal(b.index, np.repeat([0, 1, 2], 5))
    assert b.index.dtype == np.int64
    np.testing.assert_array_equal(b.Z, np.ones((15, 1)))
    np.testing.assert_array_equal(d.rows, np.arange(15))
    assert d.rows.dtype == np.int64
    assert not d.missing.any() and not d.excluded.any()


def test_mfr_categorical_supplier_schemes(mfr):
    mfr["supplier"] = pd.Categorical(mfr["supplier"], categories=["A", "B", "C"])
    d = build_design(mfr, MFR_FORMULA, "reference")
    assert d.coef_names[4:] == ["supplier_B", "supplier_C"]
    d = build_design(mfr, MFR_FORMULA, "effects")
    assert d.coef_names[4:] == ["supplier_A", "supplier_B"]
    sup = mfr["supplier"].astype(str).to_numpy()
    expected = np.where(sup == "C", -1.0, 0.0)[:, None] + np.stack(
        [(sup == "A"), (sup == "B")], axis=1).astype(float)
    np.testing.assert_array_equal(d.X[:, 4:], expected)
    d = build_design(mfr, MFR_FORMULA, "full")
    assert d.coef_names[4:] == ["supplier_A", "supplier_B", "supplier_C"]
    np.testing.assert_array_equal(d.X[:, 4:].sum(axis=1), 1.0)
    # the MATLAB doc's effects-coded order supplier_C, supplier_B arises from category order C, B, A
    mfr["supplier"] = mfr["supplier"].cat.reorder_categories(["C", "B", "A"])
    assert build_design(mfr, MFR_FORMULA, "effects").coef_names[4:] == ["supplier_C", "supplier_B"]


def test_dummy_coding_is_validated(mfr):
    with raises("fitglme:BadDummyVarCoding", "'weird'", "reference"):
        build_design(mfr, MFR_FORMULA, "weird")
    assert build_design(mfr, MFR_FORMULA, "Effects").spec.dummy_coding == "effects"


# --------------------------------------------------------------------------------------------
# interactions, powers, names, column order
# --------------------------------------------------------------------------------------------
def _design_question_table():
    design = ["cb", "db", "gb", "rb"]
    question = ["1", "2", "3"]
    rows = [(d, q) for q in question for d in design] * 2
    df = pd.DataFrame(rows, columns=["design", "question"])
    df["design"] = pd.Categorical(df["design"], categories=design)
    df["question"] = pd.Categorical(df["question"], categories=question)
    df["x"] = np.arange(len(df), dtype=float) / 7
    df["y"] = np.arange(len(df), dtype=float)
    return df


def test_categorical_interaction_first_variable_fastest():
    df = _design_question_table()
    d = build_design(df, F("y", [INTERCEPT, T("design"), T("question"), T("design", "question")]))
    assert d.coef_names == [
        "(Intercept)", "design_db", "design_gb", "design_rb", "question_2", "question_3",
        "design_db:question_2", "design_gb:question_2", "design_rb:question_2",
        "design_db:question_3", "design_gb:question_3", "design_rb:question_3",
    ]
    assert d.term_labels == ["(Intercept)", "design", "question", "design:question"]
    assert [len(c) for c in d.term_columns] == [1, 3, 2, 6]
    names = d.coef_names
    for j, nm in enumerate(names[6:], start=6):
        a, b = nm.split(":")
        np.testing.assert_array_equal(d.X[:, j], d.X[:, names.index(a)] * d.X[:, names.index(b)])


def test_effects_interaction_is_product_of_effects_columns():
    df = _design_question_table()
    d = build_design(df, F("y", [INTERCEPT, T("design"), T("question"), T("design", "question")]),
                     "effects")
    assert d.coef_names[1:6] == ["design_cb", "design_db", "design_gb", "question_1", "question_2"]
    assert d.coef_names[6:9] == ["design_cb:question_1", "design_db:question_1", "design_gb:question_1"]
    rb = (df["design"] == "rb").to_numpy()
    np.testing.assert_array_equal(d.X[rb][:, 1:4], -1.0)
    q3 = (df["question"] == "3").to_numpy()
    both = rb & q3
    np.testing.assert_array_equal(d.X[both][:, 6:], 1.0)  # (-1) * (-1)
    names = d.coef_names
    for j, nm in enumerate(names[6:], start=6):
        a, b = nm.split(":")
        np.testing.assert_array_equal(d.X[:, j], d.X[:, names.index(a)] * d.X[:, names.index(b)])


def test_continuous_categorical_interaction_and_names_follow_factor_order():
    df = pd.DataFrame({"g": ["a", "b", "c", "a", "b", "c"], "x": [1.0, 2, 3, 4, 5, 6],
                       "y": [0.0, 1, 0, 1, 0, 1]})
    d = build_design(df, F("y", [INTERCEPT, T("g"), T("x"), T("g", "x")]))
    assert d.coef_names == ["(Intercept)", "g_b", "g_c", "x", "g_b:x", "g_c:x"]
    np.testing.assert_array_equal(d.X[:, 4], df["x"] * (df["g"] == "b"))
    d = build_design(df[["x", "g", "y"]], F("y", [INTERCEPT, T("x"), T("g"), T("x", "g")]))
    assert d.coef_names == ["(Intercept)", "x", "g_b", "g_c", "x:g_b", "x:g_c"]


def test_three_way_interaction_order():
    df = pd.DataFrame({"a": ["p", "q"] * 4, "b": ["r", "r", "s", "s"] * 2, "c": [1.0] * 4 + [2.0] * 4,
                       "y": np.arange(8.0)})
    d = build_design(df, F("y", [INTERCEPT, T("a", "b", "c")]), "full")
    assert d.coef_names[1:] == ["a_p:b_r:c", "a_q:b_r:c", "a_p:b_s:c", "a_q:b_s:c"]
    np.testing.assert_array_equal(d.X[:, 1:], np.vstack([np.eye(4), 2.0 * np.eye(4)]))


def test_power_terms():
    df = pd.DataFrame({"x": [1.0, 2, 3, -4], "z": [0.5, 1, 2, 3], "y": [1.0, 2, 3, 4]})
    d = build_design(df, F("y", [INTERCEPT, T("x"), T("z"), T(("x", 2)), T(("x", 2), "z"), T(("x", 3))]))
    assert d.coef_names == ["(Intercept)", "x", "z", "x^2", "x^2:z", "x^3"]
    assert d.term_labels == ["(Intercept)", "x", "z", "x^2", "x^2:z", "x^3"]
    x, z = df["x"].to_numpy(), df["z"].to_numpy()
    np.testing.assert_array_equal(d.X[:, 3], x ** 2)
    np.testing.assert_array_equal(d.X[:, 4], x ** 2 * z)
    np.testing.assert_array_equal(d.X[:, 5], x ** 3)


def test_power_of_categorical_is_an_error():
    df = pd.DataFrame({"g": ["a", "b", "a"], "y": [1.0, 2, 3]})
    with raises("fitglme:BadFormula", "g^2", "'g'"):
        build_design(df, F("y", [INTERCEPT, T("g"), T(("g", 2))]))


def test_numeric_predictor_with_few_values_is_continuous():
    df = pd.DataFrame({"x": [0, 1, 0, 1], "y": [1.0, 2, 3, 4]})
    d = build_design(df, F("y", [INTERCEPT, T("x")]))
    assert d.coef_names == ["(Intercept)", "x"]
    np.testing.assert_array_equal(d.X[:, 1], [0, 1, 0, 1])


def test_object_column_of_numbers_is_continuous():
    df = pd.DataFrame({"x": np.array([1, 2.5, None, 4], dtype=object), "y": [1.0, 2, 3, 4]})
    d = build_design(df, F("y", [INTERCEPT, T("x")]))
    np.testing.assert_array_equal(d.X[:, 1], [1, 2.5, 4])
    np.testing.assert_array_equal(d.rows, [0, 1, 3])


def test_bool_predictor_gives_x_1():
    df = pd.DataFrame({"b": [True, False, True, False], "y": [1.0, 2, 3, 4]})
    d = build_design(df, F("y", [INTERCEPT, T("b")]))
    assert d.coef_names == ["(Intercept)", "b_1"]
    np.testing.assert_array_equal(d.X[:, 1], [1, 0, 1, 0])
    assert build_design(df, F("y", [INTERCEPT, T("b")]), "full").coef_names[1:] == ["b_0", "b_1"]


# --------------------------------------------------------------------------------------------
# no intercept
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("scheme", ["reference", "effects", "full"])
def test_no_intercept_first_categorical_main_effect_is_full(scheme):
    df = pd.DataFrame({"x": [1.0, 2, 3, 4, 5, 6], "g": ["a", "b", "c", "a", "b", "c"],
                       "h": ["u", "v", "u", "v", "u", "v"], "y": np.arange(6.0)})
    d = build_design(df, F("y", [T("x"), T("g"), T("h")]), scheme)
    expect_h = {"reference": ["h_v"], "effects": ["h_u"], "full": ["h_u", "h_v"]}[scheme]
    assert d.coef_names == ["x", "g_a", "g_b", "g_c"] + expect_h
    np.testing.assert_array_equal(d.X[:, 1:4].sum(axis=1), 1.0)


def test_no_intercept_without_categorical_and_empty_fixed_part():
    df = pd.DataFrame({"x": [1.0, 2, 3], "g": ["a", "b", "a"], "y": [1.0, 2, 3]})
    d = build_design(df, F("y", [T("x")]))
    assert d.coef_names == ["x"]
    d = build_design(df, F("y", [], [RE([INTERCEPT], "g")]))
    assert d.X.shape == (3, 0) and d.coef_names == [] and d.term_columns == []


# --------------------------------------------------------------------------------------------
# level orders per dtype
# --------------------------------------------------------------------------------------------
def _levels(col, values=None):
    """Level names of a grouping variable built from the column."""
    df = pd.DataFrame({"g": col, "y": np.arange(len(col), dtype=float)})
    return build_design(df, F("y", [INTERCEPT], [RE([INTERCEPT], "g")])).re_blocks[0].level_names


def test_level_order_text_first_appearance():
    assert _levels(["b", "a", "c", "a"]) == ["b", "a", "c"]
    assert _levels(pd.Series(["b", "a", "c"], dtype="str")) == ["b", "a", "c"]
    assert _levels(pd.Series(["b", "a", "c"], dtype="string")) == ["b", "a", "c"]
    assert _levels(np.array(["b", "a", "c"], dtype=object)) == ["b", "a", "c"]


def test_level_order_categorical_drops_absent_categories():
    col = pd.Categorical(["b", "a", "b"], categories=["c", "b", "a", "z"])
    assert _levels(col) == ["b", "a"]
    df = pd.DataFrame({"g": pd.Categorical(["b", "a", "c", "a"], categories=["c", "b", "a"]),
                       "y": [1.0, 2, 3, 4]})
    d = build_design(df, F("y", [INTERCEPT, T("g")]), exclude=[2])  # 'c' only in an excluded row
    assert d.coef_names == ["(Intercept)", "g_a"]


def test_level_order_numeric_sorted_with_matlab_labels():
    assert _levels([10, 2, 1, 2]) == ["1", "2", "10"]
    assert _levels([2.5, 1.0, -3.0]) == ["-3", "1", "2.5"]
    assert _levels(pd.array([3, None, 1], dtype="Int64")) == ["1", "3"]
    assert _levels(pd.Categorical([3, 1, 3])) == ["1", "3"]


def test_level_order_bool_and_datetime():
    assert _levels([True, False, True]) == ["0", "1"]
    assert _levels([True, True]) == ["1"]
    ts = pd.to_datetime(["2021-01-02", "2021-01-01", "2021-01-02"])
    assert _levels(ts) == ["2021-01-01 00:00:00", "2021-01-02 00:00:00"]


def test_format_level():
    assert [format_level(v) for v in (1, 1.0, -0.0, 2.5, 0.1, 1e-5, 1e16, True, np.int32(7), "x")] == \
        ["1", "1", "0", "2.5", "0.1", "1e-05", "1e+16", "1", "7", "x"]


def test_variable_kind():
    assert variable_kind(pd.Series([1, 2])) == "numeric"
    assert variable_kind(pd.Series([1.0, None])) == "numeric"
    assert variable_kind(pd.Series(["a", None])) == "text"
    assert variable_kind(pd.Series(["a"], dtype=object)) == "text"
    assert variable_kind(pd.Series(["a"], dtype="string")) == "text"
    assert variable_kind(pd.Series([True])) == "logical"
    assert variable_kind(pd.Series([True, None], dtype="boolean")) == "logical"
    assert variable_kind(pd.Series(pd.Categorical(["a"]))) == "categorical"
    assert variable_kind(pd.Series([1, "a"], dtype=object)) == "mixed"


# --------------------------------------------------------------------------------------------
# missing values
# --------------------------------------------------------------------------------------------
def test_missing_mask_per_dtype():
    assert missing_mask(pd.Series([1.0, np.nan, 2])).tolist() == [False, True, False]
    assert missing_mask(pd.Series(["a", "", None, np.nan], dtype=object)).tolist() == [False, True, True, True]
    assert missing_mask(pd.Series(["a", "", None], dtype="str")).tolist() == [False, True, True]
    assert missing_mask(pd.Series(["a", "", None], dtype="string")).tolist() == [False, True, True]
    assert missing_mask(pd.Series([1, None], dtype="Int64")).tolist() == [False, True]
    assert missing_mask(pd.Series([True, None], dtype="boolean")).tolist() == [False, True]
    assert missing_mask(pd.Series(pd.Categorical(["a", None, "", "b"]))).tolist() == [False, True, True, False]
    assert missing_mask(pd.Series(pd.to_datetime(["2020-01-01", None]))).tolist() == [False, True]
    assert missing_mask(pd.Series(["a", pd.NA], dtype=object)).tolist() == [False, True]


def test_missing_rows_left_out():
    df = pd.DataFrame({
        "y": [1.0, 2, np.nan, 4, 5, 6, 7, 8],
        "x": [1.0, np.nan, 3, 4, 5, 6, 7, 8],
        "s": ["a", "b", "a", "", "b", "a", "b", "a"],
        "c": pd.Categorical(["u", "v", "u", "v", None, "u", "v", "u"]),
        "t": pd.to_datetime(["2020-01-01"] * 5 + [None] + ["2020-01-02"] * 2),
        "unused": [np.nan] * 8,
    })
    d = build_design(df, F("y", [INTERCEPT, T("x"), T("s"), T("c")], [RE([INTERCEPT], "t")]))
    assert d.missing.tolist() == [False, True, True, True, True, True, False, False]
    np.testing.assert_array_equal(d.rows, [0, 6, 7])
    np.testing.assert_array_equal(d.y, [1, 7, 8])
    assert d.re_blocks[0].level_names == ["2020-01-01 00:00:00", "2020-01-02 00:00:00"]
    np.testing.assert_array_equal(d.re_blocks[0].index, [0, 1, 1])


def test_missing_in_random_effect_covariate_counts():
    df = pd.DataFrame({"y": [1.0, 2, 3, 4], "x": [1.0, None, 3, 4], "g": ["a", "a", "b", "b"]})
    d = build_design(df, F("y", [INTERCEPT], [RE([INTERCEPT, T("x")], "g")]))
    np.testing.assert_array_equal(d.rows, [0, 2, 3])


def test_extra_missing_is_ored():
    df = pd.DataFrame({"y": [1.0, 2, 3, 4], "x": [1.0, np.nan, 3, 4]})
    d = build_design(df, F("y", [INTERCEPT, T("x")]), extra_missing=np.array([True, False, False, False]))
    assert d.missing.tolist() == [True, True, False, False]
    np.testing.assert_array_equal(d.rows, [2, 3])
    with raises("fitglme:BadInput", "N = 4"):
        build_design(df, F("y", [INTERCEPT, T("x")]), extra_missing=np.array([True]))


# --------------------------------------------------------------------------------------------
# Exclude
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("exclude", [
    np.array([False, True, False, True, False]),
    [False, True, False, True, False],
    pd.Series([False, True, False, True, False], index=[10, 11, 12, 13, 14]),
    pd.Series([False, True, False, True, False], dtype="boolean"),
    [1, 3],
    np.array([3, 1, 1]),
    pd.Series([1, 3]),
    [1.0, 3.0],
    (3, 1),
])
def test_exclude_forms(exclude):
    assert parse_exclude(exclude, 5).tolist() == [False, True, False, True, False]


def test_exclude_scalar_none_and_empty():
    assert parse_exclude(2, 5).tolist() == [False, False, True, False, False]
    assert parse_exclude(np.int64(0), 5).tolist() == [True, False, False, False, False]
    assert not parse_exclude(None, 5).any()
    assert not parse_exclude([], 5).any()


@pytest.mark.parametrize("exclude, fragments", [
    ([True, False], ["N = 5", "2 elements"]),
    ([5], ["N = 5", "5"]),
    ([-1], ["N = 5", "-1"]),
    ([1.5], ["N = 5", "1.5"]),
    ([np.nan], ["N = 5", "nan"]),
    (True, ["True"]),
    (np.zeros((2, 2), dtype=int), ["shape (2, 2)"]),
    (["a"], ["'a'"]),
])
def test_exclude_errors(exclude, fragments):
    with raises("fitglme:BadExclude", *fragments):
        parse_exclude(exclude, 5)


def test_exclude_in_build_design(mfr):
    d = build_design(mfr, MFR_FORMULA, exclude=[0, 14])
    np.testing.assert_array_equal(d.rows, np.arange(1, 14))
    assert d.excluded.tolist() == [True] + [False] * 13 + [True]
    assert d.X.shape[0] == 13 and d.re_blocks[0].index.shape == (13,)


def test_no_rows_left():
    df = pd.DataFrame({"y": [1.0, np.nan], "x": [np.nan, 2.0]})
    with raises("fitglme:NoRows", "2 rows"):
        build_design(df, F("y", [INTERCEPT, T("x")]))
    df = pd.DataFrame({"y": [1.0, 2.0], "x": [1.0, 2.0]})
    with raises("fitglme:NoRows"):
        build_design(df, F("y", [INTERCEPT, T("x")]), exclude=[True, True])


# --------------------------------------------------------------------------------------------
# grouping by interaction, random-effect covariates
# --------------------------------------------------------------------------------------------
def test_interaction_grouping():
    df = pd.DataFrame({
        "g1": ["b", "a", "b", "a", "b", "a"],
        "g2": [2, 1, 1, 1, 2, 10],
        "y": np.arange(6.0),
    })
    d = build_design(df, F("y", [INTERCEPT], [RE([INTERCEPT], "g1", "g2")]))
    (b,) = d.re_blocks
    assert b.group_name == "g1:g2" and b.group_vars == ("g1", "g2")
    # g1 levels b, a (first appearance); g2 levels 1, 2, 10 (sorted); combos sorted g1-major
    assert b.level_names == ["b 1", "b 2", "a 1", "a 10"]
    np.testing.assert_array_equal(b.index, [1, 2, 0, 2, 1, 3])


def test_random_effect_covariates_and_categorical_slopes():
    df = pd.DataFrame({"x": [1.0, 2, 3, 4, 5, 6], "c": ["p", "q", "p", "q", "p", "q"],
                       "g": ["a", "a", "b", "b", "c", "c"], "y": np.arange(6.0)})
    d = build_design(df, F("y", [INTERCEPT, T("x")],
                           [RE([INTERCEPT, T("x")], "g"), RE([T("c")], "g"), RE([INTERCEPT, T("c")], "g")]))
    b1, b2, b3 = d.re_blocks
    assert b1.names == ["(Intercept)", "x"]
    np.testing.assert_array_equal(b1.Z, np.column_stack([np.ones(6), df["x"]]))
    assert b2.names == ["c_p", "c_q"]  # no intercept -> full coding
    np.testing.assert_array_equal(b2.Z.sum(axis=1), 1.0)
    assert b3.names == ["(Intercept)", "c_q"]
    assert b1.Z.dtype == np.float64 and b1.index.dtype == np.int64


# --------------------------------------------------------------------------------------------
# new data
# --------------------------------------------------------------------------------------------
def test_new_data_rebuild(mfr):
    d = build_design(mfr, MFR_FORMULA)
    np.testing.assert_array_equal(d.spec.fixed_matrix(mfr), d.X)
    new = pd.DataFrame({
        "factory": ["F02", "F99", "F01", None],
        "newprocess": [1, 0, 1, 0],
        "time_dev": [0.1, 0.2, 0.3, 0.4],
        "temp_dev": [0.0, 0.1, 0.2, 0.3],
        "supplier": pd.Categorical(["B", "C", "A", "A"]),  # categorical vs text in the fit: matched by label
    })  # no response column needed
    X = d.spec.fixed_matrix(new)
    assert X.shape == (4, 6) and X.flags.c_contiguous
    np.testing.assert_array_equal(X[:, 4:], [[0, 1], [1, 0], [0, 0], [0, 0]])
    (b,) = d.spec.random_blocks(new)
    np.testing.assert_array_equal(b.index, [1, -1, 0, -1])
    assert b.level_names == ["F01", "F02", "F03"] and b.names == ["(Intercept)"]
    np.testing.assert_array_equal(b.Z, np.ones((4, 1)))
    assert d.spec.missing_rows(new).tolist() == [False, False, False, True]


def test_new_data_unseen_fixed_level_is_an_error(mfr):
    d = build_design(mfr, MFR_FORMULA)
    new = mfr.copy()
    new.loc[3, "supplier"] = "D"
    with raises("fitglme:UnknownLevel", "'supplier'", "'D'", "row 3"):
        d.spec.fixed_matrix(new)


def test_new_data_missing_values_give_nan_rows():
    df = pd.DataFrame({"x": [1.0, 2, 3, 4], "g": ["a", "b", "a", "b"], "y": [1.0, 2, 3, 4]})
    d = build_design(df, F("y", [INTERCEPT, T("x"), T("g")]))
    new = pd.DataFrame({"x": [np.nan, 1.0], "g": ["b", None]})
    X = d.spec.fixed_matrix(new)
    assert np.isnan(X[0, 1]) and X[0, 2] == 1.0 and np.isnan(X[1, 2])
    assert d.spec.missing_rows(new).tolist() == [True, True]


def test_new_data_interaction_grouping():
    df = pd.DataFrame({"g1": ["a", "a", "b"], "g2": ["u", "v", "u"], "y": [1.0, 2, 3]})
    d = build_design(df, F("y", [INTERCEPT], [RE([INTERCEPT], "g1", "g2")]))
    new = pd.DataFrame({"g1": ["b", "b", "a", "c"], "g2": ["u", "v", "v", "u"]})
    (b,) = d.spec.random_blocks(new)
    np.testing.assert_array_equal(b.index, [2, -1, 1, -1])


def test_new_data_numeric_grouping_matches_by_label():
    df = pd.DataFrame({"g": [1, 2, 3], "y": [1.0, 2, 3]})
    d = build_design(df, F("y", [INTERCEPT], [RE([INTERCEPT], "g")]))
    (b,) = d.spec.random_blocks(pd.DataFrame({"g": [3.0, 4.0, 1.0]}))
    np.testing.assert_array_equal(b.index, [2, -1, 0])


# --------------------------------------------------------------------------------------------
# input checks and the caller's data
# --------------------------------------------------------------------------------------------
def test_callers_table_is_unchanged(mfr):
    mfr.loc[2, "time_dev"] = np.nan
    mfr["c"] = pd.Categorical(mfr["supplier"])
    mfr["s"] = pd.Series(mfr["supplier"], dtype="string")
    before = copy.deepcopy(mfr)
    formula = F("defects", [INTERCEPT, T("time_dev"), T("c"), T("s")], [RE([INTERCEPT], "factory")])
    d = build_design(mfr, formula, exclude=[1])
    d.spec.fixed_matrix(mfr)
    d.spec.random_blocks(mfr)
    d.spec.missing_rows(mfr)
    pd.testing.assert_frame_equal(mfr, before)
    d.X[:] = 0.0
    d.y[:] = 0.0
    pd.testing.assert_frame_equal(mfr, before)


def test_dict_input(mfr):
    data = {c: mfr[c].tolist() for c in mfr.columns}
    before = copy.deepcopy(data)
    d = build_design(data, MFR_FORMULA)
    assert d.coef_names[-2:] == ["supplier_C", "supplier_B"]
    assert data == before
    with raises("fitglme:BadTable", "equal-length"):
        build_design({"y": [1.0, 2.0], "x": [1.0]}, F("y", [INTERCEPT, T("x")]))
    with raises("fitglme:BadTable", "ndarray"):
        build_design(np.zeros((2, 2)), F("y", [INTERCEPT]))


def test_unknown_variable(mfr):
    with raises("fitglme:UnknownVariable", "'nope'", "'supplier'"):
        build_design(mfr, F("defects", [INTERCEPT, T("nope")]))


def test_mixed_object_predictor_is_an_error():
    df = pd.DataFrame({"x": np.array([1, "a", 2.0], dtype=object), "y": [1.0, 2, 3]})
    with raises("fitglme:BadData", "'x'", "mixes"):
        build_design(df, F("y", [INTERCEPT, T("x")]))


def test_inf_predictor_is_an_error():
    df = pd.DataFrame({"x": [1.0, 2, np.inf, -np.inf], "y": [1.0, 2, 3, 4]})
    with raises("fitglme:BadData", "'x'", "row 2", "inf"):
        build_design(df, F("y", [INTERCEPT, T("x")]))
    # an Inf in an excluded row does not matter
    d = build_design(df, F("y", [INTERCEPT, T("x")]), exclude=[2, 3])
    assert d.X.shape == (2, 2)


def test_datetime_predictor_is_an_error():
    df = pd.DataFrame({"t": pd.to_datetime(["2020-01-01", "2020-01-02"]), "y": [1.0, 2]})
    with raises("fitglme:BadData", "'t'", "datetime"):
        build_design(df, F("y", [INTERCEPT, T("t")]))


def test_response_types():
    df = pd.DataFrame({"y": [True, False, True], "s": ["a", "b", "a"], "x": [1.0, 2, 3]})
    d = build_design(df, F("y", [INTERCEPT, T("x")]))
    np.testing.assert_array_equal(d.y, [1.0, 0.0, 1.0])
    assert d.y.dtype == np.float64
    with raises("fitglme:BadResponse", "'s'"):
        build_design(df, F("s", [INTERCEPT, T("x")]))
    df["c"] = pd.Categorical([0, 1, 0])
    with raises("fitglme:BadResponse", "'c'", "categorical"):
        build_design(df, F("c", [INTERCEPT, T("x")]))


def test_random_term_without_terms_is_an_error():
    df = pd.DataFrame({"y": [1.0, 2], "g": ["a", "b"]})
    with raises("fitglme:BadFormula", "'g'"):
        build_design(df, F("y", [INTERCEPT], [RE([], "g")]))


# --------------------------------------------------------------------------------------------
# VariableInfo
# --------------------------------------------------------------------------------------------
def test_variable_info(mfr):
    mfr["flag"] = mfr["batch"] > 2
    mfr["cat"] = pd.Categorical(mfr["supplier"], categories=["B", "A", "C"])
    d = build_design(mfr, MFR_FORMULA, exclude=[0])
    vi = d.variable_info
    assert list(vi.index) == list(mfr.columns)
    assert list(vi.columns) == ["Class", "Range", "InModel", "IsCategorical"]
    assert vi.loc["time_dev", "Class"] == "double"
    assert vi.loc["batch", "Class"] == "double"  # pandas' default int64
    assert vi.loc["supplier", "Class"] == "cell"
    assert vi.loc["flag", "Class"] == "logical"
    assert vi.loc["cat", "Class"] == "categorical"
    assert vi.loc["supplier", "Range"] == ["C", "B", "A"]  # row 0 ('A') excluded: first appearance from row 1
    assert vi.loc["time_dev", "Range"] == [mfr["time_dev"][1:].min(), mfr["time_dev"][1:].max()]
    assert vi.loc["cat", "Range"] == ["B", "A", "C"]
    assert vi.loc["flag", "Range"] == [0, 1]
    assert vi["InModel"].to_dict() == {
        "factory": True, "batch": False, "newprocess": True, "time_dev": True, "temp_dev": True,
        "supplier": True, "defects": False, "flag": False, "cat": False}
    assert vi["IsCategorical"].to_dict() == {
        "factory": True, "batch": False, "newprocess": False, "time_dev": False, "temp_dev": False,
        "supplier": True, "defects": False, "flag": True, "cat": True}


# --------------------------------------------------------------------------------------------
# size
# --------------------------------------------------------------------------------------------
def test_large_table_is_vectorised():
    n = 200_000
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"x": rng.normal(size=n), "g": rng.choice(list("abcd"), n),
                       "h": rng.integers(0, 3000, n), "y": rng.normal(size=n)})
    import time
    t0 = time.perf_counter()
    d = build_design(df, F("y", [INTERCEPT, T("x"), T("g"), T("x", "g")],
                           [RE([INTERCEPT, T("x")], "h"), RE([INTERCEPT], "g", "h")]))
    assert time.perf_counter() - t0 < 10.0
    assert d.X.shape == (n, 8)
    assert d.re_blocks[0].nlevels == len(np.unique(df["h"]))
