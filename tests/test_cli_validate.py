"""Parsing MATLAB displays, side-by-side validation, and the command line.

* The parser reads every display and table stored in reference_outputs/matlab/ (real MATLAB
  output: older quoted and newer braces styles, wrapped and unwrapped, format long g, a
  whitespace-flattened copy).
* Validation passes when the "MATLAB output" is our own display of the same fit (every style,
  width, spacing, precision, even flattened), passes against real MATLAB numbers
  (fixtures_r2026a), and fails -- exit status 1 -- as soon as one number is changed beyond one
  unit in its last printed digit.
* The command line: ``python -m fitglme`` (unchanged), ``fit``, ``validate``, ``example``.
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import subprocess
import sys
import warnings
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest

from fitglme import FitglmeError, fitglme, load_example
from fitglme.cli import load_data, main, parse_value, run_example, split_name_value
from fitglme.display.model_display import render_model
from fitglme.compare_matlab import compare_display, parse_display, parse_table, validate
from fitglme.compare_matlab.compare import agreeing_digits, last_digit_units
from fitglme.compare_matlab.display_parse import significant_digits

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT / "reference_outputs" / "matlab"
DATA = str(resources.files("fitglme").joinpath("data/mfr_sim.csv"))
MFR_FORMULA = "defects ~ 1 + newprocess + time_dev + temp_dev + supplier + (1|factory)"


def read_blocks(filename: str) -> dict[str, str]:
    """Blocks of a reference file: the lines after '=== <id>' up to the next marker."""
    blocks: dict[str, list[str]] = {}
    current = None
    for line in (REF / filename).read_text(encoding="utf-8").split("\n")[:-1]:
        if line.startswith("=== "):
            current = blocks.setdefault(line[4:], [])
        elif current is not None:
            current.append(line)
    return {k: "\n".join(v) for k, v in blocks.items()}


OLD = read_blocks("lme_display_old_release.txt")
NEW = read_blocks("lme_glme_display_new_release.txt")
FLAT = read_blocks("glme_answers_543038_flattened.txt")
ALL_BLOCKS = [(f, k, v) for f, blocks in (("old", OLD), ("new", NEW), ("flat", FLAT)) for k, v in blocks.items()]
DISPLAY_BLOCKS = {"lme", "lmeAlt", "A_lin_mix_mod_effects", "B_lme_from_model_information", "C_model_information", "glme"}


@pytest.fixture(scope="module")
def mfr():
    return load_example()


@pytest.fixture(scope="module")
def glme(mfr):
    return fitglme(mfr, MFR_FORMULA, "Distribution", "Poisson", "Link", "log", "FitMethod", "Laplace",
                   "DummyVarCoding", "effects")


@pytest.fixture(scope="module")
def glme_corr(mfr):
    """Two random effects per factory: std, corr, std rows."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fitglme(mfr, "defects ~ 1 + newprocess + time_dev + (1 + time_dev|factory)", Distribution="Poisson")


def run_cli(argv, expect=0):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = main(list(argv), out=out)
    assert rc == expect, f"exit {rc}, expected {expect}\nstdout:\n{out.getvalue()[-3000:]}\nstderr:\n{err.getvalue()}"
    return out.getvalue(), err.getvalue()


# ============================================================================ parser: MATLAB's displays
def test_parse_mfr_display():
    d = parse_display(REF / "mfr_fitglme.txt")
    assert (d.name, d.model, d.fit_by) == ("glme", "GLME", "ML")
    assert d.info == {"NumObservations": 100, "NumFixedEffects": 6, "NumRandomEffects": 20,
                      "NumCovarianceParameters": 1, "Distribution": "Poisson", "Link": "Log", "FitMethod": "Laplace"}
    assert d.formula == "defects ~ 1 + newprocess + time_dev + temp_dev + supplier + (1 | factory)"
    assert d.fit_statistics.to_dict("records") == [
        {"AIC": "416.35", "BIC": "434.58", "LogLikelihood": "-201.17", "Deviance": "402.35"}]
    c = d.coefficients
    assert list(c.columns) == ["Name", "Estimate", "SE", "tStat", "DF", "pValue", "Lower", "Upper"]
    assert c["Name"].tolist() == ["(Intercept)", "newprocess", "time_dev", "temp_dev", "supplier_C", "supplier_B"]
    assert c.iloc[0].tolist() == ["(Intercept)", "1.4689", "0.15988", "9.1875", "94", "9.8194e-15", "1.1515", "1.7864"]
    assert c.iloc[5].tolist() == ["supplier_B", "0.071072", "0.07739", "0.91836", "94", "0.36078", "-0.082588", "0.22473"]
    assert [(g.name, g.nlevels) for g in d.groups] == [("factory", 20), ("Error", None)]
    assert d.groups[0].table.iloc[0].tolist() == ["(Intercept)", "(Intercept)", "std", "0.31381"]
    assert d.error.table.iloc[0].tolist() == ["sqrt(Dispersion)", "1"]
    assert not d.covariance_ci and d.precision() == 5
    assert d.options() == {"Distribution": "Poisson", "Link": "log", "FitMethod": "Laplace"}


def test_parse_old_lme_display_with_covariance_cis():
    d = parse_display(OLD["lme"])
    assert (d.name, d.model, d.fit_by, d.covariance_ci) == ("lme", "LME", "ML", True)
    assert d.coefficients["Upper"].tolist() == ["-1.8457", "-0.21252", "0.071865", "-0.0064824"]
    g = d.groups[0]
    assert (g.name, g.nlevels) == ("id", 12)
    assert g.table.iloc[0].tolist() == ["(Intercept)", "(Intercept)", "std", "0.18579", "0.10529", "0.32783"]
    assert d.error.table.iloc[0].tolist() == ["Res Std", "0.47803", "0.43088", "0.53035"]
    assert d.options() == {"Distribution": "Normal", "FitMethod": "MPL"}


def test_parse_old_lme_display_wrapped_sixteen_rows():
    d = parse_display(OLD["lmeAlt"])
    c = d.coefficients
    assert len(c) == 16 and list(c.columns)[-3:] == ["pValue", "Lower", "Upper"]
    assert c.iloc[15].tolist() == ["design_rb:question_4", "0.30495", "0.24224", "1.2589", "174", "0.20976",
                                   "-0.17315", "0.78306"]
    assert d.fit_statistics["AIC"][0] == "262.9"


def test_parse_new_braces_display():
    d = parse_display(NEW["A_lin_mix_mod_effects"])
    assert (d.name, d.model, d.fit_by) == ("lin_mix_mod_effects", "LME", "REML")
    assert d.options() == {"Distribution": "Normal", "FitMethod": "REMPL"}
    assert d.coefficients["Name"].tolist() == ["(Intercept)", "Block_1", "City_A", "Block_1:City_A"]
    assert d.groups[0].table.iloc[0].tolist() == ["(Intercept)", "(Intercept)", "std", "0.00014986", "0", "Inf"]
    assert d.error.table.iloc[0].tolist() == ["Res Std", "0.1505", "0.11946", "0.1896"]


def test_parse_display_without_heading():
    d = parse_display(NEW["B_lme_from_model_information"])
    assert d.name is None and d.model is None and d.info["NumObservations"] == 9800
    assert d.formula.startswith("confidence ~ 1 + trial")
    t = d.groups[0].table
    assert t["Type"].tolist() == ["std", "corr", "std"]
    assert t.iloc[1].tolist() == ["trial", "(Intercept)", "corr", "-0.4807", "-0.73856", "-0.10015"]
    assert d.coefficients["pValue"].tolist()[3] == "1.1971e-103"
    assert parse_display(NEW["C_model_information"]).info == {
        "NumObservations": 1600, "NumFixedEffects": 4, "NumRandomEffects": 1680, "NumCovarianceParameters": 3}


def test_parse_whitespace_flattened_display():
    d = parse_display(FLAT["glme"])
    assert d.info["Distribution"] == "Binomial" and d.info["Link"] == "Logit"
    assert d.options() == {"Distribution": "Binomial", "Link": "logit", "FitMethod": "Laplace"}
    assert d.coefficients["DF"].tolist() == ["1.2538e+05"] * 4
    assert d.coefficients.iloc[3].tolist() == ["var1:var2", "0.0023277", "0.00042286", "5.5046", "1.2538e+05",
                                              "3.7072e-08", "0.0014989", "0.0031565"]
    t = d.groups[0].table
    assert (d.groups[0].name, d.groups[0].nlevels, len(t)) == ("subject", 18, 5)
    assert t.iloc[4].tolist() == ["var1", "var1", "std", "0.019984"]
    assert d.error is None  # the copy stops before the Error group


def test_parse_format_long_wrapped_without_blank_lines():
    t = parse_table(NEW["D_fixed_effects_table"])
    assert list(t.columns) == ["Name", "Estimate", "SE", "tStat", "DF", "pValue", "Lower", "Upper"]
    assert t.iloc[1].tolist() == ["Stim", "0.211823529411765", "0.0455603508557123", "4.64929539464261", "32",
                                  "5.4909590516847e-05", "0.119020131614023", "0.304626927209506"]
    p = parse_table(NEW["D_patient_table"])  # 'Upper' block follows the row directly
    assert p.iloc[0].tolist() == ["(Intercept)", "(Intercept)", "std", "0.51419997011682", "0.270422320000333",
                                  "0.977735895719749"]


def test_parse_tables_with_empty_cells_and_titles():
    t = parse_table(OLD["compare"])
    assert t.attrs["title"] == "Theoretical Likelihood Ratio Test"
    assert t.iloc[0].tolist() == ["lme", "6", "285.38", "304.86", "-136.69", None, None, None]
    assert t.iloc[1].tolist() == ["lmeAlt", "18", "262.9", "321.34", "-113.45", "46.485", "12", "5.722e-06"]
    a = parse_table(OLD["anova_lme"])
    assert a.attrs["title"] == "ANOVA marginal tests: DFMethod = 'Residual'"
    assert a["Term"].tolist() == ["(Intercept)", "design"]


@pytest.mark.parametrize("source,key,text", ALL_BLOCKS, ids=[f"{s}-{k}" for s, k, _ in ALL_BLOCKS])
def test_every_reference_block_parses(source, key, text):
    """Every block of the stored MATLAB transcripts is read, and every printed token is kept."""
    if key in DISPLAY_BLOCKS:
        d = parse_display(text)
        tables = [t for t in (d.fit_statistics, d.coefficients) if t is not None] + [g.table for g in d.groups]
        assert d.info or tables
    else:
        tables = [parse_table(text)]
        assert len(tables[0]) >= 1
    cells = [str(v) for t in tables for col in t.columns for v in t[col] if v is not None]
    numbers = [c for c in cells if re.fullmatch(r"-?[\d.]+(e[-+]\d+)?|NaN|-?Inf", c)]
    for c in cells:  # every cell is text that MATLAB printed
        assert c in text
    if tables:
        assert numbers


def test_parse_errors():
    with pytest.raises(FitglmeError) as err:
        parse_display("nothing to see here\n")
    assert err.value.identifier == "fitglme:validate:NoDisplay"
    with pytest.raises(FitglmeError) as err:
        parse_table("    A    B\n    1    2    3\n")
    assert err.value.identifier == "fitglme:validate:BadTable"
    with pytest.raises(FitglmeError):
        parse_table("    Name    Estimate\n    'a'    1\n\n\n    SE\n    1\n    2\n")  # ragged blocks


# ============================================================================ comparison rules
def test_digits_and_units():
    assert significant_digits("0.0064824") == 5 and significant_digits("186") == 3
    assert significant_digits("1.2538e+05") == 5 and significant_digits("2.86631569018364e-08") == 15
    assert agreeing_digits(1.46894, 1.4689) == 5
    assert agreeing_digits(1.46896, 1.4689) == 4
    assert agreeing_digits(0.17506, 0.17406) == 2
    assert agreeing_digits(float("nan"), float("nan")) == 5 and agreeing_digits(1.0, float("nan")) == 0
    assert last_digit_units(1.46894, "1.4689") == 0
    assert last_digit_units(1.46896, "1.4689") == 1
    assert last_digit_units(1.47, "1.4689") == 11
    assert last_digit_units(0.99999, "1") == 1           # across a power of ten
    assert last_digit_units(94.0, "94") == 0 and last_digit_units(125384.0, "1.2538e+05") == 0
    assert last_digit_units(0.0, "0") == 0 and last_digit_units(1e-310, "0") == 1
    assert last_digit_units(1e-5, "0") == math.inf
    assert last_digit_units(float("inf"), "Inf") == 0 and last_digit_units(3.0, "Inf") == math.inf
    assert last_digit_units(0.51419997011682, "0.51419997011682", 15) == 0


# ============================================================================ validation round trips
STYLES = [("quoted", 80, "loose"), ("braces", 80, "loose"), ("quoted", 40, "loose"), ("braces", None, "loose"),
          ("quoted", 80, "compact"), ("braces", 60, "compact")]


@pytest.mark.parametrize("style,width,spacing", STYLES)
def test_own_display_validates(glme, style, width, spacing):
    text = render_model(glme._display_data(), style=style, width=width, name="glme", spacing=spacing)
    report = compare_display(text, glme, tolerance=0)
    assert report.ok, report.render(failures_only=True)
    assert (report.rows["Status"] == "identical").sum() == 53
    assert report.precision == 5


def test_own_display_validates_flattened_and_long_g(glme_corr):
    d = glme_corr._display_data()
    text = render_model(d, name="glme")
    flat = "\n".join(" ".join(line.split()) for line in text.split("\n") if line.strip())
    r = compare_display(flat, glme_corr, tolerance=0)
    assert r.ok, r.render(failures_only=True)
    assert set(r.rows.loc[r.rows["Section"] == "Group factory", "Quantity"]) >= {
        "Estimate std (Intercept)", "Estimate corr time_dev,(Intercept)", "Estimate std time_dev"}
    long_g = render_model(d, name="glme", precision=15)
    r15 = compare_display(long_g, glme_corr, tolerance=0)
    assert r15.precision == 15 and r15.ok, r15.render(failures_only=True)


def test_lme_display_with_covariance_cis_validates():
    """An LME display (fitlme's layout, with covariance CIs) against a Normal fit here."""
    from fitglme.display.model_display import CovarianceGroup, ErrorGroup

    sleep = pd.read_csv(ROOT / "reference_outputs" / "lme4" / "sleepstudy.csv")
    sleep["Subject"] = sleep["Subject"].astype(str)
    g = fitglme(sleep, "Reaction ~ 1 + Days + (1|Subject)")  # Normal, MPL = ML
    d = g._display_data()
    _, _, stats = g.covarianceParameters()
    groups = [CovarianceGroup(cg.name, cg.nlevels, cg.name1, cg.name2, cg.types, cg.estimate,
                              list(st["Lower"]), list(st["Upper"])) for cg, st in zip(d.cov_groups, stats[:-1])]
    e = stats[-1]
    d.heading = "Linear mixed-effects model fit by ML"
    d.info_text = []
    d.cov_groups = groups
    d.error_group = ErrorGroup("Res Std", d.error_group.estimate, float(e["Lower"].iloc[0]), float(e["Upper"].iloc[0]))
    d.cov_ci = True
    text = render_model(d, name="lme")
    parsed = parse_display(text)
    assert parsed.model == "LME" and parsed.covariance_ci
    report = validate(parsed, sleep)
    assert report.ok, report.render(failures_only=True)
    cov_rows = report.rows[report.rows["Section"].isin(["Group Subject", "Error"])]
    assert {"Lower std (Intercept)", "Upper std (Intercept)", "Lower Res Std", "Upper Res Std"} <= set(cov_rows["Quantity"])


def test_matlab_numbers_validate():
    """Real MATLAB R2026a numbers (fixtures_r2026a.json) written as a display fragment."""
    fx = json.loads((REF / "fixtures_r2026a.json").read_text())
    df = pd.read_csv(REF / fx["data_file"])
    for f in fx["fits"]:
        dist = f["Distribution"].capitalize()
        link = "Logit" if dist == "Binomial" else "Log"
        by = "PL" if f["FitMethod"] in ("MPL", "REMPL") else "ML"
        lines = [
            "glme = ", "", "", f"Generalized linear mixed-effects model fit by {by}", "", "Model information:",
            f"    {'Number of observations':<27}{len(df):>11d}",
            f"    {'Distribution':<32}{dist}", f"    {'Link':<32}{link}", f"    {'FitMethod':<32}{f['FitMethod']}",
            "", "Formula:", f"    {f['response']} ~ 1 + xL + (1 | g)", "", "Model fit statistics:",
            "    LogLikelihood", f"    {f['LogLikelihood']:.5g}", "", "Fixed effects coefficients (95% CIs):",
            "    Name                 Estimate    SE",
        ]
        for name, est, se in zip(["(Intercept)", "xL"], f["Estimate"], f["SE"]):
            lines.append(f"    '{name}'        {est:.5g}    {se:.5g}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # boundary fits warn
            report = validate("\n".join(lines) + "\n", df)
        assert report.ok, f"{f['response']} {f['FitMethod']}\n" + report.render(failures_only=True)
        assert len(report.rows) == 1 + 3 + 1 + 1 + 4  # count, texts, formula, LogLik, 2 x 2 numbers


def test_one_changed_number_fails(glme):
    text = glme.display("glme")
    assert "-0.43002" in text
    ok = compare_display(text, glme)
    assert ok.ok
    one_unit = compare_display(text.replace("-0.43002", "-0.43003"), glme)
    row = one_unit.rows[one_unit.rows["Quantity"] == "Estimate newprocess"].iloc[0]
    assert (row["Status"], row["Units"], row["Digits"]) == ("last digit", 1.0, 4.0)
    assert one_unit.ok and not compare_display(text.replace("-0.43002", "-0.43003"), glme, tolerance=0).ok
    two_units = compare_display(text.replace("-0.43002", "-0.43004"), glme)
    assert not two_units.ok
    assert two_units.failures()["Quantity"].tolist() == ["Estimate newprocess"]
    renamed = compare_display(text.replace("'newprocess'", "'newproc'"), glme)
    assert set(renamed.failures()["Status"]) == {"MISSING", "EXTRA"}
    assert "Coefficient names differ" in renamed.render()
    formula = compare_display(text.replace("temp_dev + supplier", "supplier"), glme)
    assert formula.failures()["Quantity"].tolist() == ["Formula"]
    count = compare_display(text.replace("Number of observations             100",
                                         "Number of observations             101"), glme)
    assert count.failures()["Quantity"].tolist() == ["Number of observations"]
    assert "FAIL" in two_units.summary() and "PASS" in ok.summary()
    assert json.loads(json.dumps(two_units.to_dict()))["ok"] is False


def test_validate_infers_options_and_takes_formula(mfr, glme):
    text = glme.display("glme")
    assert validate(text, mfr, "DummyVarCoding", "effects").ok
    assert validate(text, mfr, MFR_FORMULA, "DummyVarCoding", "effects").ok
    assert validate(text, mfr, formula=MFR_FORMULA, DummyVarCoding="effects").ok
    assert not validate(text, mfr).ok  # reference coding: other coefficients
    assert not validate(text, mfr, "DummyVarCoding", "effects", "FitMethod", "MPL").ok  # explicit option wins


# ============================================================================ the command line
def test_no_arguments_prints_the_example(capsys):
    from fitglme.__main__ import main as module_main

    assert module_main([]) == 0
    text = capsys.readouterr().out
    assert text.startswith(">> glme = fitglme(mfr, '" + MFR_FORMULA + "', ...\n")
    mfr = load_example()
    g = fitglme(mfr, MFR_FORMULA, "Distribution", "Poisson", "Link", "log", "FitMethod", "Laplace",
                "DummyVarCoding", "effects")
    assert text.endswith(g.display("glme") + "\n")
    out, _ = run_cli([])
    assert out == text
    assert run_cli(["example"])[0] == text


def test_fit_prints_the_display(glme):
    out, _ = run_cli(["fit", DATA, "--categorical", "factory,supplier", "--formula", MFR_FORMULA,
                      "--Distribution", "Poisson", "--link=log", "--FitMeth", "Laplace", "--DummyVarCoding", "effects"])
    assert out == glme.display("glme") + "\n"
    out, _ = run_cli(["fit", "--data", DATA, "--categorical", "factory,supplier", "--formula", MFR_FORMULA,
                      "--Distribution", "Poisson", "--FitMethod", "Laplace", "--DummyVarCoding", "effects",
                      "--style", "braces", "--width", "200", "--name", ""])
    assert out == glme._render("braces", 200) + "\n"


def test_fit_json_and_export(tmp_path):
    out, _ = run_cli(["fit", DATA, "--formula", "defects ~ 1 + newprocess + (1|factory)", "--Distribution",
                      "Poisson", "--Exclude", "0,4", "--json", "--export", str(tmp_path / "fit.json")])
    data = json.loads(out)
    g = fitglme(pd.read_csv(DATA), "defects ~ 1 + newprocess + (1|factory)", Distribution="Poisson", Exclude=[0, 4])
    assert data["Info"]["NumObservations"] == 98 and "Fitted" not in data
    assert data["Coefficients"]["Estimate"] == g.Coefficients["Estimate"].tolist()
    saved = json.loads((tmp_path / "fit.json").read_text())
    assert len(saved["Fitted"]["Conditional"]) == 100
    out, _ = run_cli(["fit", DATA, "--formula", "defects ~ 1 + newprocess + (1|factory)", "--Distribution",
                      "Poisson", "--Exclude", "[0 4]", "--DispersionFlag", "true", "--json", "--fitted"])
    data = json.loads(out)
    assert data["Info"]["NumObservations"] == 98 and data["Info"]["DispersionEstimated"] is True
    assert len(data["Fitted"]["Marginal"]) == 100


def test_fit_from_mat_file(tmp_path, mfr, glme):
    from fitglme.io import savemat

    savemat(tmp_path / "one.mat", {"mfr": mfr})
    savemat(tmp_path / "two.mat", {"mfr": mfr, "other": mfr.head(10), "note": "x"})
    args = ["--formula", MFR_FORMULA, "--Distribution", "Poisson", "--FitMethod", "Laplace", "--DummyVarCoding", "effects"]
    assert run_cli(["fit", str(tmp_path / "one.mat"), *args])[0] == glme.display("glme") + "\n"
    _, err = run_cli(["fit", str(tmp_path / "two.mat"), *args], expect=2)
    assert "--table" in err and "mfr" in err and "other" in err
    assert run_cli(["fit", str(tmp_path / "two.mat"), "--table", "mfr", *args])[0] == glme.display("glme") + "\n"
    _, err = run_cli(["fit", str(tmp_path / "two.mat"), "--table", "nope", *args], expect=2)
    assert "nope" in err
    run_cli(["fit", DATA, "--table", "mfr", *args], expect=2)


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["fit", DATA, "--formula", "defects ~ 1 + (1|factory)", "--Distribution", "Poison"], "BadDistribution"),
        (["fit", DATA, "--formula", "defects ~ 1 + (1|factory)", "--Foo", "1"], "UnknownOption"),
        (["fit", DATA, "--formula", "defects ~ 1 + (1|factory)", "--Distribution"], "has no value"),
        (["fit", "missing.csv", "--formula", "defects ~ 1 + (1|factory)"], "not found"),
        (["fit", DATA, "--formula", "defects ~ 1 + (1|factory)", "--categorical", "nocol"], "nocol"),
        (["fit", "--formula", "defects ~ 1 + (1|factory)"], "data file"),
        (["validate", "missing.txt", "--data", DATA], "not found"),
    ],
)
def test_bad_input_exits_2(argv, needle):
    _, err = run_cli(argv, expect=2)
    assert needle in err


def test_usage_errors_exit_2(capsys):
    for argv in (["frob"], ["fit", DATA], ["validate", "x.txt"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "validate" in capsys.readouterr().out


def test_validate_command(tmp_path, glme):
    text = glme.display("glme")
    (tmp_path / "out.txt").write_text(text)
    (tmp_path / "bad.txt").write_text(text.replace("0.17506", "0.17406"))
    (tmp_path / "near.txt").write_text(text.replace("0.17506", "0.17507"))
    base = ["--data", DATA, "--categorical", "factory,supplier", "--DummyVarCoding", "effects"]
    out, _ = run_cli(["validate", str(tmp_path / "out.txt"), *base])
    assert out.rstrip().endswith("53 identical, 0 within 1 unit(s) in the last digit, 0 differ.")
    assert "Fixed effects: SE newprocess" in out
    out, _ = run_cli(["validate", str(tmp_path / "bad.txt"), *base, "--failures"], expect=1)
    lines = out.strip().splitlines()
    assert lines[2].split() == ["Fixed", "effects:", "SE", "newprocess", "0.17406", "0.17506", "2", "DIFFERS"]
    assert lines[-1].startswith("FAIL")
    run_cli(["validate", str(tmp_path / "near.txt"), *base])
    run_cli(["validate", str(tmp_path / "near.txt"), *base, "--tolerance", "0"], expect=1)
    out, _ = run_cli(["validate", str(tmp_path / "bad.txt"), *base, "--json"], expect=1)
    data = json.loads(out)
    assert data["ok"] is False and [r["Quantity"] for r in data["rows"] if r["Status"] == "DIFFERS"] == [
        "SE newprocess"]
    out, _ = run_cli(["validate", str(tmp_path / "out.txt"), *base, "--show", "--failures"])
    assert out.startswith(text)
    # the formula given explicitly, and options that change the model -> failure
    run_cli(["validate", str(tmp_path / "out.txt"), *base, "--formula", MFR_FORMULA])
    run_cli(["validate", str(tmp_path / "out.txt"), "--data", DATA, "--categorical", "factory,supplier"], expect=1)


def test_validate_with_mat_data(tmp_path, mfr, glme):
    from fitglme.io import savemat

    savemat(tmp_path / "mfr.mat", {"mfr": mfr})
    (tmp_path / "out.txt").write_text(glme.display("glme", style="braces"))
    run_cli(["validate", str(tmp_path / "out.txt"), "--data", str(tmp_path / "mfr.mat"), "--DummyVarCoding", "effects"])


def test_real_process_exit_status(tmp_path, glme):
    """``python -m fitglme validate`` as a shell would run it: the exit status reaches the shell."""
    text = glme.display("glme")
    (tmp_path / "good.txt").write_text(text)
    (tmp_path / "bad.txt").write_text(text.replace("0.31155", "0.31255"))
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    base = ["--data", DATA, "--categorical", "factory,supplier", "--DummyVarCoding", "effects", "--failures"]
    good = subprocess.run([sys.executable, "-m", "fitglme", "validate", str(tmp_path / "good.txt"), *base],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert good.returncode == 0, good.stdout + good.stderr
    bad = subprocess.run([sys.executable, "-m", "fitglme", "validate", str(tmp_path / "bad.txt"), *base],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "Estimate std (Intercept)" in bad.stdout and "DIFFERS" in bad.stdout


# ============================================================================ helpers
def test_parse_value_and_split():
    assert parse_value("false") is False and parse_value("-2") == -2 and parse_value("1e-8") == 1e-8
    assert parse_value("Inf") == math.inf and parse_value("log") == "log"
    assert parse_value("[1, 2; 3]") == [1, 2, 3] and parse_value("a,b") == ["a", "b"]
    assert parse_value("y ~ a + (1|g)") == "y ~ a + (1|g)"
    own, pairs = split_name_value(["x.csv", "--formula", "y ~ x", "--Offset", "-1", "--Link=power", "--json"],
                                  {"formula": True, "json": False})
    assert own == ["x.csv", "--formula", "y ~ x", "--json"]
    assert pairs == ["Offset", -1, "Link", "power"]
    with pytest.raises(FitglmeError):
        split_name_value(["--Weights"], {})


def test_load_data_categorical(tmp_path):
    tbl = load_data(DATA, ["factory", "batch"])
    assert tbl["batch"].cat.categories.tolist() == [1, 2, 3, 4, 5]
    assert tbl["factory"].cat.categories.tolist()[:2] == ["F01", "F02"]
    (tmp_path / "bad.csv").write_bytes(b"\x00\x01")
    with pytest.raises(FitglmeError):
        load_data(str(tmp_path / "nothing.csv"))
    assert run_example(out=io.StringIO()) == 0


def test_verbose_progress_goes_to_stderr_json_alone_on_stdout():
    """--Verbose 1 --json: the progress lines on standard error, standard output parses as JSON."""
    proc = subprocess.run(
        [sys.executable, "-m", "fitglme", "fit", DATA, "--formula", "defects ~ 1 + newprocess + (1|factory)",
         "--Distribution", "Poisson", "--FitMethod", "Laplace", "--Verbose", "1", "--json"],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1], timeout=300)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    direct = fitglme(load_example(), "defects ~ 1 + newprocess + (1|factory)", Distribution="Poisson",
                     FitMethod="Laplace")
    assert math.isclose(res["Info"]["LogLikelihood"], direct.LogLikelihood, rel_tol=1e-12)  # JSON keeps 14+ digits
    assert "iteration" in proc.stderr


def test_verbose_progress_to_stderr_in_process(capsys):
    assert main(["fit", DATA, "--formula", "defects ~ 1 + newprocess + (1|factory)", "--Distribution",
                 "Poisson", "--Verbose", "1", "--json"]) == 0
    cap = capsys.readouterr()
    json.loads(cap.out)
    assert "PL iteration" in cap.err
