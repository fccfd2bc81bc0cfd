"""Unit tests of the display engine: number format, column layout, wrapping, model sections."""
from __future__ import annotations

import math

import numpy as np
import pytest

from fitglme.display import (
    Column,
    CovarianceGroup,
    ErrorGroup,
    ModelDisplay,
    column_cells,
    format_g,
    format_g5,
    format_pct,
    model_information_lines,
    render_dataset,
    render_model,
    render_named,
    table_lines,
)
from fitglme.errors import FitglmeError


# ----------------------------------------------------------------------------- numbers
@pytest.mark.parametrize("value, text", [
    # printed by MATLAB (reference_outputs/matlab/)
    (-2.0193, "-2.0193"), (0.087995, "0.087995"), (-0.0064824, "-0.0064824"),
    (0.00059743, "0.00059743"), (5.722e-06, "5.722e-06"), (0.329, "0.329"), (262.9, "262.9"),
    (42833, "42833"), (-21408, "-21408"), (1596, "1596"), (0, "0"),
    (5.2881e-05, "5.2881e-05"), (9.8194e-15, "9.8194e-15"), (7.0254e+30, "7.0254e+30"),
    (2.9375e-172, "2.9375e-172"), (1.3848e-115, "1.3848e-115"), (2.6403e-103, "2.6403e-103"),
    (125384, "1.2538e+05"), (-0.30630, "-0.3063"), (0.0745, "0.0745"),
    # rounding to 5 significant digits
    (0.000597434, "0.00059743"), (-0.1459996, "-0.146"), (1.23456789, "1.2346"),
    (-2.01925, "-2.0192"),  # binary value of -2.01925 is below the half: C rounding, like MATLAB
    # switch points of %g: exponent < -4 or >= 5
    (1e5, "1e+05"), (99999, "99999"), (99999.4, "99999"), (99999.5, "1e+05"),
    (12345.6, "12346"), (1e-5, "1e-05"), (0.0001, "0.0001"), (0.00012345, "0.00012345"),
    (-1e-5, "-1e-05"), (-123456, "-1.2346e+05"),
    # huge and tiny exponents keep all their digits
    (1e300, "1e+300"), (-1.5e-300, "-1.5e-300"), (5e-324, "4.9407e-324"), (1.7976931348623157e308, "1.7977e+308"),
])
def test_format_g5_values(value, text):
    assert format_g5(value) == text


def test_format_g5_special_values():
    assert format_g5(float("nan")) == "NaN"
    assert format_g5(float("inf")) == "Inf"
    assert format_g5(float("-inf")) == "-Inf"
    assert format_g5(-0.0) == "0"          # MATLAB's num2str removes the negative zero
    assert format_g5(0.0) == "0"
    assert format_g5(-1e-320) == "-9.9999e-321"  # a negative subnormal is not zero


def test_format_g5_accepts_integer_and_numpy_types():
    assert format_g5(186) == "186"
    assert format_g5(True) == "1"
    assert format_g5(np.float64(0.31381)) == "0.31381"
    assert format_g5(np.int64(94)) == "94"
    assert format_g5(np.float32(0.5)) == "0.5"
    assert format_g5(np.nan) == "NaN"


def test_format_g5_rejects_non_numbers():
    with pytest.raises(TypeError):
        format_g5("1.5")
    with pytest.raises(TypeError):
        format_g5(None)


def test_format_g_long():
    assert format_g(33.5596438214529, 15) == "33.5596438214529"
    assert format_g(5.4909590516847e-05, 15) == "5.4909590516847e-05"
    assert format_g(math.pi, 15) == "3.14159265358979"
    assert format_g(-0.0, 15) == "0"


def test_format_pct():
    assert format_pct(0.95) == "95"
    assert format_pct(0.99) == "99"
    assert format_pct(0.9) == "90"


# ----------------------------------------------------------------------------- one column
def test_numbers_right_aligned_among_themselves_and_left_under_wider_header():
    assert column_cells(Column("DF1", [1, 3])) == ["DF1", "1  ", "3  "]
    assert column_cells(Column("Estimate", [2.131])) == ["Estimate", "2.131   "]
    assert column_cells(Column("DF", [6, 18])) == ["DF", " 6", "18"]
    assert column_cells(Column("deltaDF", [None, 12])) == ["deltaDF", "       ", "12     "]


def test_numbers_wider_than_header_right_align():
    assert column_cells(Column("pValue", [2.9375e-172, 0])) == ["pValue     ", "2.9375e-172", "          0"]
    assert column_cells(Column("Estimate", [1.4689, -0.094521])) == \
        ["Estimate ", "   1.4689", "-0.094521"]


def test_preformatted_strings_in_number_column():
    assert column_cells(Column("X", ["1.5", 22.25])) == ["X    ", "  1.5", "22.25"]


def test_text_column_quoted_gets_four_extra_characters():
    cells = column_cells(Column("Name", ["(Intercept)", "design_db"], "text"))
    assert cells == ["Name" + " " * 13, "'(Intercept)'    ", "'design_db'      "]


def test_text_column_braces_pad_inside_braces():
    cells = column_cells(Column("Type", ["std", "corr"], "text"), style="braces")
    assert cells == ["Type        ", "{'std' }    ", "{'corr'}    "]


def test_text_column_header_wider_than_values_plus_four():
    # the extra width is the 4-space indent of the cell display, so a long header absorbs it
    assert column_cells(Column("LongHeaderName", ["a"], "text")) == ["LongHeaderName", "'a'           "]
    assert column_cells(Column("Name", ["a"], "text")) == ["Name   ", "'a'    "]


def test_plain_column_has_no_extra_width():
    assert column_cells(Column("Model", ["lme", "lmeAlt"], "plain")) == ["Model ", "lme   ", "lmeAlt"]


def test_empty_cells_are_blank():
    assert column_cells(Column("Name", [None, "x"], "text"), style="braces") == \
        ["Name     ", "         ", "{'x'}    "]


def test_bad_kind_or_style():
    with pytest.raises(FitglmeError):
        column_cells(Column("A", [1], "numeric"))
    with pytest.raises(FitglmeError):
        column_cells(Column("A", [1]), style="curly")
    with pytest.raises(FitglmeError):
        render_dataset([Column("A", [1])], spacing="tight")


# ----------------------------------------------------------------------------- tables
def test_table_layout_indent_and_separators():
    cols = [Column("Term", ["(Intercept)", "design"], "text"), Column("FStat", [526.61, 6.0465]),
            Column("DF1", [1, 3]), Column("DF2", [186, 186]), Column("pValue", [3.8108e-56, 0.00059743])]
    assert render_dataset(cols).split("\n") == [
        "    Term                 FStat     DF1    DF2    pValue    ",
        "    '(Intercept)'        526.61    1      186    3.8108e-56",
        "    'design'             6.0465    3      186    0.00059743",
    ]


def test_all_lines_same_length():
    cols = [Column("Name", ["a", "bbbbbbbbbb"], "text"), Column("Estimate", [1.0, -0.0001234]),
            Column("p", [float("nan"), 1e-200])]
    lines = render_dataset(cols).split("\n")
    assert len({len(line) for line in lines}) == 1


def test_title_line_and_blank():
    text = render_dataset([Column("A", [1])], title="Theoretical Likelihood Ratio Test")
    assert text.split("\n") == ["    Theoretical Likelihood Ratio Test", "", "    A", "    1"]


def test_ragged_columns_rejected():
    with pytest.raises(FitglmeError):
        render_dataset([Column("A", [1, 2]), Column("B", [1])])


def test_zero_rows_and_zero_columns_print_nothing():
    assert render_dataset([]) == ""
    assert render_dataset([Column("A", [])]) == ""
    assert render_dataset([Column("A", [])], title="T") == "    T\n"


def _wide_columns() -> list[Column]:
    # column line lengths: 4 + 10 = 14, then +14 each (widths 10)
    return [Column(f"C{k}", [123456.0 * (k + 1)], "number") for k in range(6)]


def _block_headers(text: str) -> list[list[str]]:
    blocks = text.split("\n\n\n")
    return [b.split("\n")[0].split() for b in blocks]


@pytest.mark.parametrize("width, expected", [
    (None, [["C0", "C1", "C2", "C3", "C4", "C5"]]),
    (200, [["C0", "C1", "C2", "C3", "C4", "C5"]]),
    (80, [["C0", "C1", "C2", "C3", "C4", "C5"]]),   # 6*14 = 84 characters = 80 + indent
    (79, [["C0", "C1", "C2", "C3", "C4"], ["C5"]]),
    (66, [["C0", "C1", "C2", "C3", "C4"], ["C5"]]),  # 70 characters = 66 + indent
    (65, [["C0", "C1", "C2", "C3"], ["C4", "C5"]]),
    (30, [["C0", "C1"], ["C2", "C3"], ["C4", "C5"]]),
    (10, [["C0"], ["C1"], ["C2"], ["C3"], ["C4"], ["C5"]]),  # a block always has one column
    (0, [["C0"], ["C1"], ["C2"], ["C3"], ["C4"], ["C5"]]),
])
def test_wrapping_at_several_widths(width, expected):
    assert all(len(c.name) == 2 for c in _wide_columns())
    text = render_dataset(_wide_columns(), width=width)
    assert _block_headers(text) == expected
    for line in text.split("\n"):
        assert line == "" or line.startswith("    ")
        if width is not None and width >= 10:
            assert len(line) - 4 <= width


def test_wrapped_blocks_do_not_repeat_first_column_and_have_own_header():
    cols = [Column("Name", ["(Intercept)", "x"], "text"), Column("Estimate", [1.5, -2.25]),
            Column("Lower", [-0.5, 1e-10])]
    lines = render_dataset(cols, width=30).split("\n")
    assert lines == [
        "    Name                 Estimate",
        "    '(Intercept)'          1.5   ",
        "    'x'                  -2.25   ",
        "",
        "",
        "    Lower",
        "     -0.5",
        "    1e-10",
    ]
    compact = render_dataset(cols, width=30, spacing="compact").split("\n")
    assert compact == lines[:3] + lines[4:]


def test_wrap_boundary_exact():
    cols = [Column("A", ["x" * 10], "plain"), Column("B", ["y" * 10], "plain")]
    # one line would be 4 + 10 + 4 + 10 = 28 characters: fits for width >= 24
    assert "\n\n" not in render_dataset(cols, width=24)
    assert "\n\n" in render_dataset(cols, width=23)


def test_table_lines_returns_list():
    assert table_lines([Column("A", [1])]) == ["    A", "    1"]


# ----------------------------------------------------------------------------- named display
def test_render_named_styles():
    assert render_named("ans", "body") == "ans = \n\n\nbody"
    assert render_named("ans", "body", style="braces") == "ans = \nbody"
    assert render_named("ans", "body", spacing="compact") == "ans = \nbody"


# ----------------------------------------------------------------------------- model display
def _model(**kw) -> ModelDisplay:
    base = dict(
        heading="Generalized linear mixed-effects model fit by ML",
        n_obs=100, n_fixed=2, n_random=20, n_cov=1,
        info_text=[("Distribution", "Poisson"), ("Link", "Log"), ("FitMethod", "Laplace")],
        formula="y ~ 1 + x + (1 | g)",
        aic=416.35, bic=434.58, loglik=-201.17, deviance=402.35,
        coef_names=["(Intercept)", "x"], estimate=[1.5, -0.25], se=[0.1, 0.2], tstat=[15, -1.25],
        df=[98, 98], pvalue=[1e-20, 0.21], lower=[1.3, -0.65], upper=[1.7, 0.15],
        cov_groups=[CovarianceGroup("g", 20, ["(Intercept)"], ["(Intercept)"], ["std"], [0.3])],
        error_group=ErrorGroup("sqrt(Dispersion)", 1),
        cov_ci=False,
    )
    base.update(kw)
    return ModelDisplay(**base)


def test_model_information_lines():
    lines = model_information_lines(_model(n_random=1680))
    assert lines[:4] == [
        "    Number of observations             100",
        "    Fixed effects coefficients           2",
        "    Random effects coefficients       1680",
        "    Covariance parameters                1",
    ]
    assert lines[4:] == [
        "    Distribution                    Poisson",
        "    Link                            Log   ",
        "    FitMethod                       Laplace",
    ]
    assert all(len(line) == 42 for line in lines[:4])


def test_model_information_long_text_value_runs_past_42():
    lines = model_information_lines(_model(info_text=[("FitMethod", "ApproximateLaplace")]))
    assert lines[-1] == "    FitMethod                       ApproximateLaplace"


def test_model_sections_in_order_loose():
    text = render_model(_model())
    lines = text.split("\n")
    titles = [ln for ln in lines if ln and not ln.startswith(" ")]
    assert titles == [
        "Generalized linear mixed-effects model fit by ML", "Model information:", "Formula:",
        "Model fit statistics:", "Fixed effects coefficients (95% CIs):",
        "Random effects covariance parameters:", "Group: g (20 Levels)", "Group: Error",
    ]
    assert lines[1] == ""
    assert lines[-2:] == ["    Name                      Estimate", "    'sqrt(Dispersion)'        1       "]
    # one blank line before every section title after the first table
    for t in ("Fixed effects coefficients (95% CIs):", "Random effects covariance parameters:",
              "Group: Error"):
        assert lines[lines.index(t) - 1] == ""
    # the group heading follows its section title directly
    i = lines.index("Random effects covariance parameters:")
    assert lines[i + 1] == "Group: g (20 Levels)"


def test_model_compact_drops_blank_after_tables_only():
    lines = render_model(_model(), spacing="compact", width=None).split("\n")
    assert lines.count("") == 3  # after heading, model information and formula
    assert lines[lines.index("Fixed effects coefficients (95% CIs):") - 1].startswith("    ")


def test_model_named():
    body = render_model(_model())
    assert render_model(_model(), name="glme") == "glme = \n\n\n" + body
    braces = render_model(_model(), style="braces")
    assert render_model(_model(), style="braces", name="glme") == "glme = \n" + braces
    assert "{'(Intercept)'}" in braces and "'(Intercept)'" in body


def test_model_with_covariance_cis():
    d = _model(cov_ci=True, ci_level=0.99,
               cov_groups=[CovarianceGroup("g", 20, ["(Intercept)"], ["(Intercept)"], ["std"], [0.3],
                                           [0.2], [0.45])],
               error_group=ErrorGroup("sqrt(Dispersion)", 1.2, 1.1, 1.3))
    text = render_model(d, width=None)
    assert "Fixed effects coefficients (99% CIs):" in text
    assert "Random effects covariance parameters (99% CIs):" in text
    assert "    Name1                Name2                Type         Estimate    Lower    Upper" in text
    assert "    'sqrt(Dispersion)'        1.2         1.1      1.3  " in text


def test_model_without_cis_ignores_given_limits():
    d = _model(cov_groups=[CovarianceGroup("g", 20, ["(Intercept)"], ["(Intercept)"], ["std"], [0.3],
                                           [0.2], [0.45])])
    assert "Lower    Upper" not in render_model(d, width=None).split("Random effects covariance")[1]


def test_model_validation():
    with pytest.raises(FitglmeError):
        render_model(_model(se=[0.1]))
    with pytest.raises(FitglmeError):
        render_model(_model(cov_ci=True))  # no limits given
    with pytest.raises(FitglmeError):
        render_model(_model(cov_ci=True,
                            cov_groups=[CovarianceGroup("g", 2, ["a"], ["a"], ["std"], [1.0], [0.5], [2.0])]))


def test_multiple_groups_and_interaction_group_name():
    groups = [CovarianceGroup("Patient", 9, ["(Intercept)"], ["(Intercept)"], ["std"], [0.51]),
              CovarianceGroup("Patient:Session", 17, ["(Intercept)"], ["(Intercept)"], ["std"], [0.45])]
    lines = render_model(_model(cov_groups=groups)).split("\n")
    i = lines.index("Group: Patient:Session (17 Levels)")
    assert lines[i - 1] == "" and lines[i - 2].startswith("    '(Intercept)'")
