"""Tests of the Wilkinson formula parser and of MATLAB's formula display string."""
from __future__ import annotations

import pytest

from fitglme.errors import FitglmeError
from fitglme.formula import (
    INTERCEPT,
    ParsedFormula,
    RandomTerm,
    Term,
    format_formula,
    format_terms,
    parse_formula,
    sort_terms,
)

XS = ["y", "x1", "x2", "x3"]


def labels(terms) -> list[str]:
    return [t.label() for t in terms]


def fixed(text: str, names=XS) -> list[str]:
    return labels(parse_formula(text, names).fixed)


def display(text: str, names) -> str:
    return format_formula(parse_formula(text, names), names)


def bad(text: str, names=XS, identifier: str = "fitglme:BadFormula") -> str:
    with pytest.raises(FitglmeError) as info:
        parse_formula(text, names)
    assert info.value.identifier == identifier
    return str(info.value)


# --------------------------------------------------------------------------------------------
# The table of MathWorks' Wilkinson Notation page (wilkinson-notation.html)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("y ~ 1", ["(Intercept)"]),
        ("y ~ x1", ["(Intercept)", "x1"]),
        ("y ~ x1^3", ["(Intercept)", "x1", "x1^2", "x1^3"]),
        ("y ~ x1 + x2", ["(Intercept)", "x1", "x2"]),
        ("y ~ x1*x2", ["(Intercept)", "x1", "x2", "x1:x2"]),
        ("y ~ x1:x2", ["(Intercept)", "x1:x2"]),
        ("y ~ x1 + x2 - x2", ["(Intercept)", "x1"]),
        ("y ~ x1*x2 + x3", ["(Intercept)", "x1", "x2", "x3", "x1:x2"]),
        ("y ~ x1*x2*x3 - x1:x2:x3",
         ["(Intercept)", "x1", "x2", "x3", "x1:x2", "x1:x3", "x2:x3"]),
        ("y ~ x1*(x2 + x3)", ["(Intercept)", "x1", "x2", "x3", "x1:x2", "x1:x3"]),
        ("y ~ x1/x2", ["(Intercept)", "x1", "x1:x2"]),
        ("y ~ x1 + x2 - 1", ["x1", "x2"]),
        # the examples table of wilkinson-notation.html
        ("y ~ x1:x2:x3", ["(Intercept)", "x1:x2:x3"]),
        ("y ~ x1*x2*x3",
         ["(Intercept)", "x1", "x2", "x3", "x1:x2", "x1:x3", "x2:x3", "x1:x2:x3"]),
        ("y ~ x1^3 - x1^2", ["(Intercept)", "x1^3"]),
    ],
)
def test_spec_table(text, expected):
    assert fixed(text) == expected


def test_terms_are_term_objects_with_factors_in_table_order():
    f = parse_formula("y ~ x3:x1 + x2:x2:x1", XS)
    assert f.fixed == (
        INTERCEPT,
        Term((("x1", 1), ("x3", 1))),
        Term((("x1", 1), ("x2", 2))),
    )
    assert f.response == "y"
    assert f.random == ()
    assert f.text == "y ~ x3:x1 + x2:x2:x1"
    assert isinstance(f, ParsedFormula)


# --------------------------------------------------------------------------------------------
# Intercept handling
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["y ~ x1 - 1", "y ~ x1 -1", "y ~ -1 + x1", "y ~ x1 - 1 + 1", "y ~ 1 + x1 - 1", "y~x1-1"],
)
def test_minus_one_removes_the_intercept_wherever_it_is(text):
    # MATLAB collects every '-term' and removes them after expanding the rest
    assert fixed(text) == ["x1"]


def test_explicit_one_is_the_default_intercept():
    assert fixed("y ~ 1 + x1") == fixed("y ~ x1") == ["(Intercept)", "x1"]


def test_removal_is_applied_after_all_additions():
    assert fixed("y ~ x1 - x1 + x1 + x2") == ["(Intercept)", "x2"]


def test_removing_an_expanded_set():
    assert fixed("y ~ x1*x2*x3 - x1*x2") == ["(Intercept)", "x3", "x1:x3", "x2:x3", "x1:x2:x3"]


def test_removing_a_term_not_in_the_model_is_harmless():
    assert fixed("y ~ x1 - x2") == ["(Intercept)", "x1"]


@pytest.mark.parametrize("text", ["y ~ 0", "y ~ 0 + x1", "y ~ x1 + 0", "y ~ x1 - 0"])
def test_zero_is_rejected_with_a_hint(text):
    message = bad(text)
    assert "'0' is not a term" in message
    assert "-1" in message


def test_no_fixed_term_left_is_rejected():
    message = bad("y ~ -1 + (1|x1)")
    assert "no fixed-effects term" in message


# --------------------------------------------------------------------------------------------
# Operators: powers, products, nesting, parentheses
# --------------------------------------------------------------------------------------------


def test_interaction_of_powers():
    # '^' binds tighter than ':' and x1^2 means x1 + x1^2, so x1^2:x2 = x1:x2 + x1^2:x2
    f = parse_formula("y ~ x1^2:x2", XS)
    assert f.fixed == (INTERCEPT, Term((("x1", 1), ("x2", 1))), Term((("x1", 2), ("x2", 1))))
    assert labels(f.fixed) == ["(Intercept)", "x1:x2", "x1^2:x2"]
    # the single term x1^2:x2 is written x1:x1:x2
    assert parse_formula("y ~ x1:x1:x2", XS).fixed == (INTERCEPT, Term((("x1", 2), ("x2", 1))))


def test_products_of_a_variable_with_itself_add_powers():
    assert fixed("y ~ x1:x1") == ["(Intercept)", "x1^2"]
    assert fixed("y ~ x1*x1") == ["(Intercept)", "x1", "x1^2"]


def test_power_of_a_sum_includes_squares():
    # MATLAB expands (A+B)^2 as (A+B) + (A+B):(A+B), and products add powers
    assert fixed("y ~ (x1 + x2)^2") == ["(Intercept)", "x1", "x2", "x1:x2", "x1^2", "x2^2"]


def test_power_of_an_interaction():
    assert fixed("y ~ (x1:x2)^2") == ["(Intercept)", "x1:x2", "x1^2:x2^2"]


def test_power_with_one_and_spaces():
    assert fixed("y ~ x1^1") == ["(Intercept)", "x1"]
    assert fixed("y ~ x1 ^ 2") == ["(Intercept)", "x1", "x1^2"]


def test_nesting_of_a_sum_multiplies_each_term():
    # MATLAB: (A+B)/C = A + B + A:C + B:C
    assert fixed("y ~ (x1 + x2)/x3") == ["(Intercept)", "x1", "x2", "x1:x3", "x2:x3"]


def test_nesting_binds_tighter_than_product():
    # x1*x2/x3 = x1*(x2 + x2:x3)
    assert fixed("y ~ x1*x2/x3") == [
        "(Intercept)", "x1", "x2", "x1:x2", "x2:x3", "x1:x2:x3"
    ]


def test_interaction_binds_tighter_than_product():
    assert fixed("y ~ x1*x2:x3") == ["(Intercept)", "x1", "x2:x3", "x1:x2:x3"]


def test_interaction_of_sums_has_no_main_effects():
    assert fixed("y ~ (x1 + x2):x3") == ["(Intercept)", "x1:x3", "x2:x3"]


def test_parenthesised_product_with_intercept_inside():
    assert fixed("y ~ x1*(1 + x2)") == ["(Intercept)", "x1", "x2", "x1:x2"]


def test_duplicates_are_merged():
    assert fixed("y ~ x1 + x1 + x1:x2 + x2:x1 + 1 + 1") == ["(Intercept)", "x1", "x1:x2"]


def test_whitespace_is_free():
    assert fixed("  y~x1*x2\t+\n x3  ") == fixed("y ~ x1*x2 + x3")


def test_names_may_contain_digits_and_underscores():
    names = ["resp_1", "_a", "B2_c"]
    assert fixed("resp_1 ~ _a*B2_c", names) == ["(Intercept)", "_a", "B2_c", "_a:B2_c"]


# --------------------------------------------------------------------------------------------
# Term order (MATLAB: degree, largest power, power vector read from the last variable)
# --------------------------------------------------------------------------------------------


def test_order_hospital_example():
    # fitglm(hospital, 'Smoker ~ Age*Weight*Sex - Age:Weight:Sex'), hospital: LastName, Sex, Age,
    # Weight, Smoker, ...  -> 1 + Sex*Age + Sex*Weight + Age*Weight, coefficients in that order
    names = ["LastName", "Sex", "Age", "Weight", "Smoker", "BloodPressure"]
    assert fixed("Smoker ~ Age*Weight*Sex - Age:Weight:Sex", names) == [
        "(Intercept)", "Sex", "Age", "Weight", "Sex:Age", "Sex:Weight", "Age:Weight"
    ]


def test_order_carsmall_power_example():
    # tbl = table(MPG, Weight, Model_Year); 'MPG ~ Model_Year + Weight^2'
    names = ["MPG", "Weight", "Model_Year"]
    assert fixed("MPG ~ Model_Year + Weight^2", names) == [
        "(Intercept)", "Weight", "Model_Year", "Weight^2"
    ]


def test_order_follows_table_not_formula():
    names = ["confidence", "trial", "rev_state", "block_type", "trueFB", "subjID"]
    f = parse_formula("confidence ~ block_type + trial + rev_state + trueFB + (1 + trial|subjID)",
                      names)
    assert labels(f.fixed) == ["(Intercept)", "trial", "rev_state", "block_type", "trueFB"]


def test_order_genotype_md():
    names = ["od", "genotype", "md", "mouse_name", "neuron_name"]
    f = parse_formula("od ~ md + genotype + md*genotype + (1|mouse_name) + (1|neuron_name)", names)
    assert labels(f.fixed) == ["(Intercept)", "genotype", "md", "genotype:md"]


def test_order_mfr():
    names = ["factory", "batch", "newprocess", "time_dev", "temp_dev", "supplier", "defects"]
    f = parse_formula("defects ~ supplier + temp_dev + time_dev + newprocess + (1|factory)", names)
    assert labels(f.fixed) == [
        "(Intercept)", "newprocess", "time_dev", "temp_dev", "supplier"
    ]


def test_order_interaction_before_square_of_same_degree():
    # fitlm(X, MPG, [0 0 0;1 0 0;0 1 0;1 1 0;0 2 0]) displays 'y ~ 1 + x1*x2 + x2^2'
    names = ["x1", "x2", "y"]
    assert fixed("y ~ x2^2 + x1*x2", names) == ["(Intercept)", "x1", "x2", "x1:x2", "x2^2"]
    # the largest power decides before the variables do: x1:x2 comes before x1^2
    assert fixed("y ~ x1:x1 + x1:x2", names) == ["(Intercept)", "x1:x2", "x1^2"]


def test_order_within_a_degree_reads_the_last_variable_first():
    # MATLAB sorts rows by the last table variable first: b:c comes before a:d
    names = ["y", "a", "b", "c", "d"]
    assert fixed("y ~ a:d + b:c + a:b + c:d", names) == [
        "(Intercept)", "a:b", "b:c", "a:d", "c:d"
    ]


def test_order_higher_degree_last():
    assert fixed("y ~ x1:x2:x3 + x3 + x1:x2 + x1") == [
        "(Intercept)", "x1", "x3", "x1:x2", "x1:x2:x3"
    ]


def test_sort_terms_helper_merges_and_orders():
    sex_age = Term((("Sex", 1), ("Age", 1)))
    terms = [Term((("Weight", 1),)), sex_age, INTERCEPT, Term((("Sex", 1),)), sex_age]
    assert labels(sort_terms(terms, ["Sex", "Age", "Weight"])) == [
        "(Intercept)", "Sex", "Weight", "Sex:Age"
    ]


# --------------------------------------------------------------------------------------------
# Random-effects terms
# --------------------------------------------------------------------------------------------

RE_NAMES = ["y", "x", "z", "g", "g1", "g2"]


def test_random_intercept():
    f = parse_formula("y ~ x + (1|g)", RE_NAMES)
    assert f.random == (RandomTerm(terms=(INTERCEPT,), group=("g",)),)


def test_random_slope_implies_intercept():
    a = parse_formula("y ~ x + (x|g)", RE_NAMES)
    b = parse_formula("y ~ x + (1 + x|g)", RE_NAMES)
    assert a.random == b.random
    assert labels(a.random[0].terms) == ["(Intercept)", "x"]


@pytest.mark.parametrize("inner", ["x - 1", "-1 + x", "x-1", " - 1 + x "])
def test_random_slope_without_intercept(inner):
    f = parse_formula(f"y ~ x + ({inner}|g)", RE_NAMES)
    assert labels(f.random[0].terms) == ["x"]
    # the removal is local to the random term: the fixed intercept stays
    assert labels(f.fixed) == ["(Intercept)", "x"]


def test_random_term_full_grammar_and_order():
    f = parse_formula("y ~ 1 + (z*x | g)", RE_NAMES)
    assert labels(f.random[0].terms) == ["(Intercept)", "x", "z", "x:z"]


def test_grouping_by_interaction_keeps_written_order():
    f = parse_formula("y ~ x + (1|g2:g1)", RE_NAMES)
    assert f.random[0].group == ("g2", "g1")
    assert f.random[0].group_name == "g2:g1"


def test_several_terms_with_the_same_group_stay_separate_in_written_order():
    f = parse_formula("y ~ x + (x - 1|g) + (1|g1) + (1|g)", RE_NAMES)
    assert [r.group for r in f.random] == [("g",), ("g1",), ("g",)]
    assert [labels(r.terms) for r in f.random] == [["x"], ["(Intercept)"], ["(Intercept)"]]


def test_random_term_first_or_alone():
    # leniency: MATLAB's grammar wants the fixed part first; the fixed part defaults to 1
    f = parse_formula("y ~ (1|g) + x", RE_NAMES)
    assert labels(f.fixed) == ["(Intercept)", "x"]
    assert f.random[0].group == ("g",)
    assert labels(parse_formula("y ~ (1|g)", RE_NAMES).fixed) == ["(Intercept)"]


def test_fixed_removal_after_random_term():
    f = parse_formula("y ~ x + (1|g) - 1", RE_NAMES)
    assert labels(f.fixed) == ["x"]
    assert labels(f.random[0].terms) == ["(Intercept)"]


def test_grouping_variable_may_also_be_a_fixed_predictor():
    f = parse_formula("y ~ g + (1|g)", RE_NAMES)
    assert labels(f.fixed) == ["(Intercept)", "g"]


# --------------------------------------------------------------------------------------------
# Errors: identifier, position (character number and caret) and what was expected
# --------------------------------------------------------------------------------------------


def caret_column(message: str) -> int:
    """0-based column of the caret relative to the quoted formula line."""
    lines = message.splitlines()
    return lines[-1].index("^") - 4


@pytest.mark.parametrize(
    "text, position, expected",
    [
        ("y x1", 3, "expected '~'"),
        ("y ~", 4, "expected the model terms"),
        ("y ~ ", 5, "expected the model terms"),
        ("y ~ x1 +", 9, "expected a term"),
        ("y ~ x1 *", 9, "expected a term"),
        ("y ~ x1 + * x2", 10, "expected a term"),
        ("y ~ + x1", 5, "expected a term before '+'"),
        ("y ~ (x1 + x2", 13, "expected ')'"),
        ("y ~ x1 + x2)", 12, "no matching '('"),
        ("y ~ ()", 6, "empty parentheses"),
        ("y ~ x1 | g", 8, "'|' is only allowed"),
        ("y ~ x1*(x2 | g)", 12, "'|' is only allowed"),
        ("y ~ x1 + (1 | )", 15, "expected a grouping variable name after '|'"),
        ("y ~ x1 + (1 | g1 + g2)", 18, "such as g1:g2"),
        ("y ~ x1 + (1 | g1:)", 18, "after ':'"),
        ("y ~ x1 + (1 | g", 16, "expected ')'"),
        ("y ~ x1 + (1 | g)*x2", 17, "can only be added"),
        ("y ~ x1 - (1 | g)", 10, "cannot be subtracted"),
        ("y ~ x1^", 8, "positive integer exponent"),
        ("y ~ x1^0", 8, "positive integer exponent"),
        ("y ~ x1^1.5", 8, "positive integer exponent"),
        ("y ~ x1^x2", 8, "positive integer exponent"),
        ("y ~ x1^-1", 8, "positive integer exponent"),
        ("y ~ x1^2^2", 9, "single '^'"),
        ("y ~ x1 x2", 8, "expected an operator"),
        ("y ~ x1 + 2", 10, "the number 2 is not a term"),
        ("y ~ x1 & x2", 8, "unexpected character '&'"),
        ("y ~ x1/(x2 + x3)", 8, "single variable name after '/'"),
        ("y ~ x1/x2/x3", 10, "one '/' only"),
        ("log(y) ~ x1", 4, "link function"),
        ("~ x1", 1, "expected the response"),
        ("", 1, "the formula is empty"),
        ("y ~ x1 ~ x2", 8, "exactly one '~'"),
        ("y ~ x1 + (x2 - x2 - 1 | g)", 10, "no terms left"),
        ("y ~ x1 + (1 | g:g)", 17, "repeated"),
        ("y ~ y + x1", 5, "cannot also be a predictor"),
        ("y ~ x1 + (1 | y)", 15, "cannot be a grouping variable"),
    ],
)
def test_syntax_errors(text, position, expected):
    names = ["y", "x1", "x2", "x3", "g", "g1", "g2"]
    message = bad(text, names)
    assert f"'{text}'" in message  # quotes the formula
    assert f"at character {position})" in message
    assert expected in message
    assert caret_column(message) == position - 1


def test_unknown_variable_names_it_and_lists_the_table():
    message = bad("y ~ x1 + Wieght", ["y", "x1", "Weight"], "fitglme:UnknownVariable")
    assert "'Wieght'" in message
    assert "y, x1, Weight" in message
    assert "character 10" in message


def test_unknown_response_grouping_and_case_hint():
    assert "'Y'" in bad("Y ~ x1", XS, "fitglme:UnknownVariable")
    assert "did you mean 'y'" in bad("Y ~ x1", XS, "fitglme:UnknownVariable")
    assert "'h'" in bad("y ~ x1 + (1|h)", XS, "fitglme:UnknownVariable")
    assert "'w'" in bad("y ~ x1 + (w|x2)", XS, "fitglme:UnknownVariable")


def test_non_string_formula():
    with pytest.raises(FitglmeError) as info:
        parse_formula(None, XS)  # type: ignore[arg-type]
    assert info.value.identifier == "fitglme:BadFormula"


def test_repeated_table_names_are_rejected():
    with pytest.raises(FitglmeError, match="repeated: x1"):
        parse_formula("y ~ x1", ["y", "x1", "x1"])


# --------------------------------------------------------------------------------------------
# Display strings (every observed MATLAB formula line)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, names, shown",
    [
        # mfr doc example (transcripts/mfr_fitglme.txt)
        ("defects ~ 1 + newprocess + time_dev + temp_dev + supplier + (1|factory)",
         ["factory", "batch", "newprocess", "time_dev", "temp_dev", "supplier", "defects"],
         "defects ~ 1 + newprocess + time_dev + temp_dev + supplier + (1 | factory)"),
        # effects-coding LME (Live Script export)
        ("y ~ Block*City + (1|ID)", ["y", "Block", "City", "ID"],
         "y ~ 1 + Block*City + (1 | ID)"),
        # md + genotype + md*genotype, re-ordered by table order
        ("od ~ md + genotype + md*genotype + (1|mouse_name) + (1|neuron_name)",
         ["od", "genotype", "md", "mouse_name", "neuron_name"],
         "od ~ 1 + genotype*md + (1 | mouse_name) + (1 | neuron_name)"),
        # fitglm hospital example (the GLM display adds the link; the formula part is this)
        ("Smoker ~ Age*Weight*Sex - Age:Weight:Sex",
         ["LastName", "Sex", "Age", "Weight", "Smoker"],
         "Smoker ~ 1 + Sex*Age + Sex*Weight + Age*Weight"),
        # LinearModel with a power
        ("MPG ~ Model_Year + Weight^2", ["MPG", "Weight", "Model_Year"],
         "MPG ~ 1 + Weight + Model_Year + Weight^2"),
        # terms-matrix fitlm example: 'y ~ 1 + x1*x2 + x2^2'
        ("y ~ x1 + x2 + x1:x2 + x2^2", ["x1", "x2", "y"], "y ~ 1 + x1*x2 + x2^2"),
        # LME with correlated random intercept and slope
        ("confidence ~ block_type + trial + rev_state + trueFB + (1 + trial|subjID)",
         ["confidence", "trial", "rev_state", "block_type", "trueFB", "subjID"],
         "confidence ~ 1 + trial + rev_state + block_type + trueFB + (1 + trial | subjID)"),
        # (x|g) is shown with its implicit intercept
        ("correct ~ block_type + trial + (trial|subjID)",
         ["correct", "trial", "block_type", "subjID"],
         "correct ~ 1 + trial + block_type + (1 + trial | subjID)"),
        # Answers 543038 GLME: products inside the random term too
        ("error ~ 1 + var1*var2 + (1+ var1*var2 | subject)",
         ["error", "var1", "var2", "subject"],
         "error ~ 1 + var1*var2 + (1 + var1*var2 | subject)"),
        # grouping by an interaction
        ("Dprime ~ Stim + (1|Patient) + (1|Patient:Session)",
         ["Dprime", "Stim", "Patient", "Session"],
         "Dprime ~ 1 + Stim + (1 | Patient) + (1 | Patient:Session)"),
        # fitlme doc: uncorrelated intercept and slope; the slope-only term shows no '-1'
        ("CityMPG~Horsepower+(1|EngineType)+(Horsepower-1|EngineType)",
         ["Horsepower", "CityMPG", "EngineType"],
         "CityMPG ~ 1 + Horsepower + (1 | EngineType) + (Horsepower | EngineType)"),
        # old-release LME displays
        ("rr ~ design + (1|id)", ["id", "design", "question", "rr"], "rr ~ 1 + design + (1 | id)"),
        ("rr ~ design*question + (1|id)", ["id", "design", "question", "rr"],
         "rr ~ 1 + design*question + (1 | id)"),
        ("FluRate ~ 1 + WtdILI + (1|Date)", ["Date", "WtdILI", "FluRate"],
         "FluRate ~ 1 + WtdILI + (1 | Date)"),
    ],
)
def test_display_matches_matlab(text, names, shown):
    assert display(text, names) == shown


@pytest.mark.parametrize(
    "text, shown",
    [
        ("y ~ x1 + x2 - 1", "y ~ x1 + x2"),           # no '-1' marker (MATLAB's terms2expr)
        ("y ~ x1*x2 - 1", "y ~ x1*x2"),
        ("y ~ 1", "y ~ 1"),
        ("y ~ x1:x2", "y ~ 1 + x1:x2"),              # main effects missing: no product
        ("y ~ x1*x2 - x2", "y ~ 1 + x1 + x1:x2"),
        ("y ~ x1 + x2 + x3 + x1:x2", "y ~ 1 + x3 + x1*x2"),  # product in the interaction's place
        ("y ~ x1*x2*x3", "y ~ 1 + x1*x2 + x1*x3 + x2*x3 + x1:x2:x3"),  # 3-way never collapsed
        ("y ~ x1^2", "y ~ 1 + x1 + x1^2"),           # powers are not collapsed
        ("y ~ (x1 + x2)^2", "y ~ 1 + x1*x2 + x1^2 + x2^2"),
        ("y ~ x1:x1:x2 + x1 + x2", "y ~ 1 + x1 + x2 + x1^2:x2"),
        ("y ~ x1^2:x2 + x2", "y ~ 1 + x2 + x1:x2 + x1^2:x2"),
        ("y ~ x1/x2", "y ~ 1 + x1 + x1:x2"),
        ("y ~ x1 + (x2 + x3 - 1 | g)", "y ~ 1 + x1 + (x2 + x3 | g)"),
        ("y ~ x1 + (x2*x3 | g1:g2)", "y ~ 1 + x1 + (1 + x2*x3 | g1:g2)"),
    ],
)
def test_display_rules(text, shown):
    names = ["y", "x1", "x2", "x3", "g", "g1", "g2"]
    assert display(text, names) == shown


def test_display_of_hand_built_formula_sorts_and_handles_empty():
    names = ["y", "a", "b", "g"]
    parsed = ParsedFormula(
        response="y",
        fixed=(Term((("b", 1),)), Term((("a", 1), ("b", 1))), Term((("a", 1),))),
        random=(RandomTerm(terms=(Term((("a", 1),)), INTERCEPT), group=("g",)),),
    )
    assert format_formula(parsed, names) == "y ~ a*b + (1 + a | g)"
    assert format_terms((), names) == "0"


def test_display_unknown_variable_in_hand_built_term():
    with pytest.raises(FitglmeError) as info:
        format_terms([Term((("zzz", 1),))], ["y", "a"])
    assert info.value.identifier == "fitglme:UnknownVariable"
    assert "zzz" in str(info.value)


def test_round_trip_display_parses_to_the_same_model():
    names = ["LastName", "Sex", "Age", "Weight", "Smoker", "g"]
    original = parse_formula("Smoker ~ Age*Weight*Sex - Age:Weight:Sex + (Age|g)", names)
    again = parse_formula(format_formula(original, names), names)
    assert again.fixed == original.fixed
    assert again.random == original.random
