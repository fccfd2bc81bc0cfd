"""Displays of real fits: MATLAB's layout rules, with the model's own numbers.

1. The mfr-shaped data fitted with the transcript's call (reference_outputs/matlab/mfr_fitglme.txt):
   the words and punctuation of the display are the transcript's, token for token (supplier levels in
   the order C, B, A, as in MathWorks' mfr.mat), every number is the model's own, formatted %.5g, and
   every line obeys the column rules (42-character information rows, wrapped blocks).
2. A default MPL fit (heading 'fit by PL').
3. A correlated-slopes Normal fit (std / corr / std rows).
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fitglme import fitglme, load_example
from fitglme.display.numfmt import format_g5

from .references import load_case

TRANSCRIPT = (Path(__file__).resolve().parent.parent / "reference_outputs" / "matlab" / "mfr_fitglme.txt").read_text()
NUMBER = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)(e[+-]\d+)?$|^-?Inf$|^NaN$")
MFR_CALL = "defects ~ 1 + newprocess + time_dev + temp_dev + supplier + (1|factory)"


def words(text: str) -> list[str]:
    return [t for t in text.split() if not NUMBER.match(t)]


def numbers(text: str) -> list[str]:
    return [t for t in text.split() if NUMBER.match(t)]


def section(text: str, start: str, end: str | None) -> str:
    i = text.index(start) + len(start)
    j = text.index(end, i) if end else len(text)
    return text[i:j]


@pytest.fixture(scope="module")
def mfr_glme():
    mfr = load_example()
    mfr["supplier"] = pd.Categorical(mfr["supplier"].astype(str), categories=["C", "B", "A"])
    return fitglme(mfr, MFR_CALL, "Distribution", "Poisson", "Link", "log", "FitMethod", "Laplace",
                   "DummyVarCoding", "effects")


def check_model_numbers(glme, text: str) -> None:
    """Every number of the display is the model's own, in MATLAB's order and format."""
    info = section(text, "Model information:", "Formula:")
    nums = numbers(info)
    assert nums[:4] == [str(glme.NumObservations), str(glme.NumCoefficients), str(glme.fit_state.problem.layout.Q),
                        str(glme.NumCovarianceParameters)]
    crit = glme.ModelCriterion
    stats = section(text, "Model fit statistics:", "Fixed effects coefficients")
    assert numbers(stats) == [format_g5(crit[c].iloc[0]) for c in ("AIC", "BIC", "LogLikelihood", "Deviance")]
    fixed = section(text, "Fixed effects coefficients (95% CIs):", "Random effects covariance parameters")
    c = glme.Coefficients
    blocks = [b for b in re.split(r"\n\s*\n\s*\n", fixed.strip("\n")) if b.strip()]
    cols: dict[str, list[str]] = {}
    for blk in blocks:
        lines = blk.splitlines()
        header = lines[0].split()
        for line in lines[1:]:
            toks = line.split()
            if header[0] == "Name":
                toks = toks[1:]
                hdr = header[1:]
            else:
                hdr = header
            for h, t in zip(hdr, toks):
                cols.setdefault(h, []).append(t)
    for col in ("Estimate", "SE", "tStat", "DF", "pValue", "Lower", "Upper"):
        assert cols[col] == [format_g5(v) for v in c[col]], col
    cov = section(text, "Random effects covariance parameters:", "Group: Error")
    expected = []
    for g, m, n1, n2, t, est, _ in glme._covariance_rows():
        assert f"Group: {g} ({m} Levels)" in cov
        expected.extend(format_g5(v) for v in est)
    assert numbers(cov) == expected  # '(20 Levels)' is a word, not a number token
    err = section(text, "Group: Error", None)
    assert numbers(err) == [format_g5(np.sqrt(glme.Dispersion))]


def check_layout(text: str) -> None:
    info = section(text, "Model information:\n", "\n\nFormula:").splitlines()
    for line in info[:4]:
        assert len(line) == 42, repr(line)
    for line in text.splitlines():
        assert line == "" or not line.startswith(" ") or line.startswith("    "), repr(line)


def test_mfr_display_words_are_the_transcripts(mfr_glme):
    text = mfr_glme.display("glme")
    assert words(text) == words(TRANSCRIPT)
    assert text.splitlines()[:4] == TRANSCRIPT.splitlines()[:4]


def test_mfr_display_numbers_are_the_models(mfr_glme):
    text = mfr_glme.display("glme")
    check_model_numbers(mfr_glme, text)
    check_layout(text)
    assert text.count("\n") == TRANSCRIPT.rstrip("\n").count("\n")  # same wrap: Lower/Upper in a 2nd block


def test_mfr_numbers_differ_from_matlab_page_as_documented(mfr_glme):
    """The bundled table is a simulation, so the numbers are not MATLAB's page's (README)."""
    assert numbers(section(mfr_glme.display(), "Model fit statistics:", "Fixed")) != numbers(
        section(TRANSCRIPT, "Model fit statistics:", "Fixed"))


def test_default_mpl_display():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        glme = fitglme(load_example(), MFR_CALL, Distribution="Poisson")
    text = str(glme)
    assert text.startswith("Generalized linear mixed-effects model fit by PL\n")
    assert "    FitMethod                       MPL" in text
    check_model_numbers(glme, text)
    check_layout(text)


def test_correlated_slopes_normal_display():
    ref, df = load_case("sleepstudy_normal_ml")
    glme = fitglme(df, ref["matlab"]["formula"])
    text = glme.display("glme")
    check_model_numbers(glme, text)
    check_layout(text)
    cov = section(text, "Group: Subject (18 Levels)", "Group: Error").splitlines()
    rows = [ln.split()[:3] for ln in cov if ln.strip().startswith("'")]
    assert rows == [["'(Intercept)'", "'(Intercept)'", "'std'"], ["'Days'", "'(Intercept)'", "'corr'"],
                    ["'Days'", "'Days'", "'std'"]]
    assert "Distribution                    Normal" in text
    assert "Formula:\n    Reaction ~ 1 + Days + (1 + Days | Subject)\n" in text


def test_braces_style_and_width(mfr_glme):
    text = mfr_glme.display("glme", style="braces", width=200)
    assert "{'(Intercept)'}" in text and "'(Intercept)'        " not in text
    fixed = section(text, "Fixed effects coefficients (95% CIs):", "Random effects")
    assert "Lower" in fixed.splitlines()[1] and "Upper" in fixed.splitlines()[1]  # no wrap at width 200
