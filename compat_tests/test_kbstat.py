"""fitglme against 19 displays written by MATLAB's own fitglme (reference_outputs/matlab/kbstat/).

The public toolbox kbstat saved MATLAB's display of each model, the exact table fitted and
MATLAB's anova at full precision.  The call of each file is refitted here as MATLAB's was
(kbstat_cases.py) and compared:

* 14 identifiable models: the braces display equals MATLAB's character for character at the
  window width MATLAB used, except the cells listed in BOUNDARY_CELLS (each with its reason and
  a test that the reason holds); anova F agrees with MATLAB's stored doubles to 1e-7 relative.
* 5 models that are not identifiable (MATLAB's own runs disagree in their covariance
  parameters; README of the folder): only what the data pin is compared -- the log-likelihood
  (to 1e-6 relative where MATLAB printed 15 digits, else at its printed precision), anova F
  (a function of the marginal covariance only) to 1e-5, and the identifiable combinations of the
  covariance parameters (the sum of the traded-off variances; the marginal covariance of a
  subject's observations) to 1e-5 where MATLAB printed 15 digits, else to the precision its
  printed digits carry.
"""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
from scipy import stats

from fitglme.display.model_display import render_model
from fitglme.compare_matlab import parse_display
from fitglme.compare_matlab.compare import last_digit_units
from fitglme.compare_matlab.tables import is_number

from .kbstat_cases import CASES, fit, load

#: Not identifiable (why), the other 14 are.
NOT_IDENTIFIABLE = {
    "Chocolate_3b25c48": "(1|Chocolate:Subject) has one observation per level: it trades off against the dispersion",
    "Chocolate_LM4_489f003": "the same model and data as Chocolate_3b25c48, printed under format long g",
    "Results_Distance_2a1be62": "(Chocolate+Gender|Subject): Gender is constant within subject, two observations each",
    "Results_Distance_3bd565e": "(Chocolate+Gender|Subject): Gender is constant within subject, two observations each",
    "Results_Distance_f2b5847": "(Chocolate+Gender|Subject): Gender is constant within subject, two observations each",
}
IDENTIFIABLE = [c for c in CASES if c not in NOT_IDENTIFIABLE]

#: Cells whose printed digit is not pinned by the fit (measured; see the tests named after each
#: reason): (case, row name, column) -> reason.
#: - 'p boundary': MATLAB's p-value (recomputed from its full-precision F) lies so close to a
#:   5-digit rounding boundary that F within the 1e-7 checked below may print either side.
#:   MATLAB itself prints this very cell as 2.129e-28 in db1fc0e and as 2.1289e-28 in the three
#:   other runs of the same model on the same data (242f66d, b977f7e, dde9f28); ours, with anova F
#:   within 2.3e-9 of MATLAB's (MATLAB's own runs spread ~3e-9), prints 2.129e-28 in all four.
#: - 'singular covariance': a correlation of a 4 x 4 random-effects covariance whose optimum is
#:   singular (two factor diagonals at 0): along that boundary the likelihood is flat to
#:   ~1e-12, so the 5th digit of the correlation depends on where the optimiser stops (MATLAB's
#:   log-Cholesky parameters cannot reach the boundary; ours sit on it).
BOUNDARY_CELLS = {
    ("Results_chocolate_Distance_db1fc0e", "{'Chocolate_no:Gender_male'}", "pValue"): "p boundary",
    ("Results_Distance_242f66d", "{'Chocolate_no:Gender_male'}", "pValue"): "p boundary",
    ("Results_Distance_b977f7e", "{'Chocolate_without:Gender_male'}", "pValue"): "p boundary",
    ("Results_chocolate_Distance_dde9f28", "{'Chocolate_a1_no:Gender_b2_male'}", "pValue"): "p boundary",
    ("Results_Distance_82dc10f", "{'Gender_male' }", "pValue"): "p boundary",
    ("Results_rt_link_rt_a360ccc", "{'B_b1_1' } {'(Intercept)'} {'corr'}", "Estimate"): "singular covariance",
}
F_RTOL = 1e-7  # the requirement; measured worst 2.5e-8 (Results_rt_link_rt_a360ccc)
#: not identifiable: anova F depends on where along the flat direction the fit stops (Cov(beta) takes
#: the traded-off variances), which moves with the machine's rounding as MATLAB's own runs move:
#: measured against MATLAB 9.6e-6 (3bd565e / f2b5847, default kernel) and 1.006e-5 under
#: OPENBLAS_CORETYPE=Haswell without AVX-512 (covariance parameters 7e-5 apart between the kernels);
#: 3e-5 leaves 3x over the worst, far below the printed 5 digits' 1e-4.
F_RTOL_NOT_IDENTIFIABLE = 3e-5


def our_display(name: str) -> list[str]:
    """Our braces display at the window width MATLAB used: its widest line (the displays are
    unwrapped, so any window at least that wide prints them unchanged)."""
    case = load(name)
    width = max(len(ln) for ln in case.matlab_display())
    return render_model(fit(name)._display_data(), style="braces", width=width,
                        precision=15 if case.long_format else 5).split("\n")


_WORD = re.compile(r"^[A-Za-z]\w*$")


def display_differences(name: str) -> list[tuple[str, str, str, str]]:
    """(row, column, MATLAB cell, our cell) of every number that differs; the row is the line's
    text cells with whitespace collapsed.  AssertionError when a line differs in anything else
    (layout, names, number of cells)."""
    ours, matlab = our_display(name), load(name).matlab_display()
    assert len(ours) == len(matlab), f"{name}: {len(ours)} lines against MATLAB's {len(matlab)}"
    diffs, header = [], []
    for k, (o, m) in enumerate(zip(ours, matlab)):
        if m.split() and all(_WORD.match(t) for t in m.split()):
            header = m.split()
        if o == m:
            continue
        mt, ot = m.split(), o.split()
        if mt == ot:  # the same cells, other spacing: a column whose widest cell differs in length
            diffs.append(("(spacing)", " ".join(header), m, o))
            continue
        assert len(o) - len(m) in (-1, 0, 1), f"{name} line {k + 1}: layout differs\n  MATLAB: {m!r}\n  ours: {o!r}"
        n_text = next(i for i, t in enumerate(mt) if is_number(t))
        assert len(mt) == len(ot) and mt[:n_text] == ot[:n_text], f"{name} line {k + 1}:\n  {m!r}\n  {o!r}"
        row = " ".join(mt[:n_text])
        cols = header[len(header) - (len(mt) - n_text):]
        for col, a, b in zip(cols, mt[n_text:], ot[n_text:]):
            if a != b:
                diffs.append((row, col, a, b))
    return diffs


@pytest.mark.parametrize("name", IDENTIFIABLE)
def test_display_equals_matlabs(name):
    diffs = display_differences(name)
    cells = [d for d in diffs if d[0] != "(spacing)"]
    for row, col, matlab_cell, our_cell in cells:
        assert (name, row, col) in BOUNDARY_CELLS, f"{name}: {row} {col}: MATLAB {matlab_cell}, ours {our_cell}"
        # a cell on a rounding boundary may differ by one unit in its last printed digit only
        assert last_digit_units(float(our_cell), matlab_cell, 5) == 1, (name, row, col, matlab_cell, our_cell)
    # Spacing may differ only in the table of such a cell, when the two prints differ in length
    # (-0.014551 against -0.01455 narrows the Estimate column by one character).
    spacing = [d for d in diffs if d[0] == "(spacing)"]
    if spacing:
        assert any(len(a) != len(b) for _, _, a, b in cells), spacing
        assert len({h for _, h, _, _ in spacing}) == 1 and all(abs(len(a) - len(b)) == 1 for _, _, a, b in spacing)


def test_display_is_character_for_character_elsewhere():
    """The count the issue note quotes: 9 of the 14 identifiable displays are identical; the five
    others differ only in their BOUNDARY_CELLS (one cell each: four runs of one model whose p-value
    MATLAB prints one way in three runs and the other in one, one more p boundary, one singular
    covariance)."""
    identical = [n for n in IDENTIFIABLE if our_display(n) == load(n).matlab_display()]
    assert len(identical) >= 9, sorted(set(IDENTIFIABLE) - set(identical))


def _dlogp_dlogf(f: float, df2: int) -> float:
    h = 1e-6
    return (math.log(stats.f.sf(f * (1 + h), 1, df2)) - math.log(stats.f.sf(f * (1 - h), 1, df2))) / (2 * h)


@pytest.mark.parametrize("name,row", [(n, r) for (n, r, c), why in BOUNDARY_CELLS.items() if why == "p boundary"])
def test_p_boundary_cells_are_on_a_rounding_boundary(name, row):
    """MATLAB's p of that coefficient (from its own F at full precision: one-DF terms) is closer to
    the 5-digit rounding boundary than |dlog p / dlog F| * F_RTOL, so the F agreement demanded
    below cannot decide the printed digit."""
    case = load(name)
    coef = row.strip("{}' ")
    term = ":".join(part.split("_")[0] for part in coef.split(":"))  # effects coding: Name_level
    _, d1, d2, f, _ = next(a for a in case.anova if a[0] == term)
    assert d1 == 1
    p = stats.f.sf(f, 1, d2)
    exp = math.floor(math.log10(p))
    mant = p / 10.0 ** exp * 1e4  # 5 significant digits: the boundary is at .5 of this
    distance = abs(mant - math.floor(mant) - 0.5) / mant
    assert distance < abs(_dlogp_dlogf(f, d2)) * F_RTOL, (name, row, distance)


def test_singular_covariance_cell():
    """The correlation cell of Results_rt_link_rt_a360ccc belongs to a singular covariance."""
    glme = fit("Results_rt_link_rt_a360ccc")
    psi = glme.fit_state.result.psi[0]
    w = np.linalg.eigvalsh(psi)
    assert psi.shape == (4, 4) and w[0] <= 1e-10 * w[-1]


def _anova_rows(name):
    a = fit(name).anova()
    return {str(t): (float(f), int(d1), int(d2), float(p))
            for t, f, d1, d2, p in zip(a["Term"], a["FStat"], a["DF1"], a["DF2"], a["pValue"])}


@pytest.mark.parametrize("name", CASES)
def test_anova_f(name):
    """Every term MATLAB's anova lists (kbstat dropped the (Intercept) row in its oldest version),
    with the same DF and F within 1e-7 (identifiable) / 1e-5 (not identifiable) relative."""
    case = load(name)
    ours = _anova_rows(name)
    assert case.anova, name
    if case.anova[0][0] != "(Intercept)":
        assert list(ours)[1:] == [a[0] for a in case.anova]
    else:
        assert list(ours) == [a[0] for a in case.anova]
    rtol = F_RTOL_NOT_IDENTIFIABLE if name in NOT_IDENTIFIABLE else F_RTOL
    for term, d1, d2, f, p in case.anova:
        of, od1, od2, op = ours[term]
        assert (od1, od2) == (d1, d2), (name, term)
        assert abs(of / f - 1) <= rtol, (name, term, of, f)
        if p > 1e-15:  # kbstat's sidak step turns p below ~1e-16 into 0; p follows F through the F law
            assert abs(op / p - 1) <= rtol * max(1.0, abs(_dlogp_dlogf(f, d2))), (name, term, op, p)


# ------------------------------------------------------------------------------ not identifiable
def _printed(name):
    return parse_display("\n".join(load(name).matlab_display()))


@pytest.mark.parametrize("name", sorted(NOT_IDENTIFIABLE))
def test_not_identifiable_loglikelihood(name):
    printed = _printed(name).fit_statistics["LogLikelihood"].iloc[0]
    ll = fit(name).LogLikelihood
    if load(name).long_format:
        assert abs(ll / float(printed) - 1) <= 1e-6  # measured 2.2e-7
    else:
        assert last_digit_units(ll, printed, 5) == 0, (printed, ll)


def _bound(fun, values, texts):
    """|f(ours) - f(MATLAB's printed)| allowed by the printed digits: each printed value is
    uncertain by half a unit in its last digit; first-order propagation."""
    base = fun(values)
    total = 0.0
    for i, t in enumerate(texts):
        mant = t.lower().split("e")[0].lstrip("-")
        decimals = len(mant.split(".")[1]) if "." in mant else 0
        exp = int(t.lower().split("e")[1]) if "e" in t.lower() else 0
        half = 0.5 * 10.0 ** (exp - decimals)
        v = list(values)
        v[i] += half
        total += np.abs(fun(v) - base)
    return total


def test_not_identifiable_sum_of_traded_off_variances():
    """(1|Chocolate:Subject), one observation per level, beside the dispersion: only their sum
    (the observation-level variance of the pseudo data: Gamma log weights are 1) and the subject
    variance are pinned.  LM4 printed 15 digits: 1e-5 (measured 2.0e-6 and 3.7e-7); 3b25c48
    printed 5: within what its digits carry."""
    for name in ("Chocolate_LM4_489f003", "Chocolate_3b25c48"):
        d = _printed(name)
        texts = [d.groups[0].table["Estimate"].iloc[0], d.groups[1].table["Estimate"].iloc[0],
                 d.error.table["Estimate"].iloc[0]]
        assert [g.name for g in d.groups] == ["Subject", "Chocolate:Subject", "Error"]
        glme = fit(name)
        rows = glme._covariance_rows()
        ours = [rows[0][5][0], rows[1][5][0], math.sqrt(glme.Dispersion)]
        m = [float(t) for t in texts]
        total = lambda v: np.array([v[0] ** 2, v[1] ** 2 + v[2] ** 2])  # noqa: E731
        err = np.abs(total(ours) - total(m))
        if load(name).long_format:
            assert np.all(err <= 1e-5 * total(m)), err / total(m)
        else:
            assert np.all(err <= _bound(total, m, texts) + 1e-5 * total(m)), (err, _bound(total, m, texts))


def _marginal(v):
    """Per Gender (effects code +-1) the 2 x 2 covariance of a subject's two observations
    (Chocolate effects code +1, -1) under (1 + Chocolate + Gender | Subject) and the error: the
    identifiable part of the 7 parameters (std, corr, corr, std, corr, std, sqrt(dispersion))."""
    s0, r10, r20, s1, r21, s2, se = v
    S = np.array([[s0 * s0, r10 * s0 * s1, r20 * s0 * s2], [r10 * s0 * s1, s1 * s1, r21 * s1 * s2],
                  [r20 * s0 * s2, r21 * s1 * s2, s2 * s2]])
    out = [np.array([[1, 1, g], [1, -1, g]]) @ S @ np.array([[1, 1, g], [1, -1, g]]).T + se * se * np.eye(2)
           for g in (1.0, -1.0)]
    return np.array(out).ravel()


@pytest.mark.parametrize("name", ["Results_Distance_2a1be62", "Results_Distance_3bd565e", "Results_Distance_f2b5847"])
def test_not_identifiable_marginal_covariance(name):
    """The marginal covariance of each subject's observations, from MATLAB's printed parameters and
    ours, agree within what MATLAB's 5 printed digits carry (measured 1.3e-5 .. 1.8e-5 relative,
    the printed digits allow ~1e-4)."""
    d = _printed(name)
    g0 = d.groups[0].table
    assert g0["Type"].tolist() == ["std", "corr", "corr", "std", "corr", "std"]
    texts = g0["Estimate"].tolist() + [d.error.table["Estimate"].iloc[0]]
    m = [float(t) for t in texts]
    glme = fit(name)
    ours = list(glme._covariance_rows()[0][5]) + [math.sqrt(glme.Dispersion)]
    err = np.abs(_marginal(ours) - _marginal(m))
    assert np.all(err <= _bound(_marginal, m, texts) + 1e-5 * np.abs(_marginal(m))), err


@pytest.mark.parametrize("name", CASES)
def test_p_value_format_is_matlabs(name):
    """MATLAB's printed p-values are MATLAB's F (its stored doubles) through the F distribution,
    printed %.5g with trailing zeros dropped (1.7790e-116 -> '1.779e-116'): checked for every
    one-DF term, whose F test is the t test of its single coefficient.  Independent of our fit:
    it shows that a differing p cell is a different fit, not a different print rule."""
    from fitglme.display.numfmt import format_g

    coefs = _printed(name).coefficients
    printed = dict(zip(coefs["Name"], coefs["pValue"]))
    checked = 0
    for term, d1, d2, f, _ in load(name).anova:
        if d1 != 1:
            continue
        coef = [c for c in printed if c == term or ":".join(p.split("_")[0] for p in c.split(":")) == term]
        assert len(coef) == 1, (name, term, list(printed))
        p = stats.f.sf(f, 1, d2)
        if load(name).long_format:  # 15 digits: F = t^2 and the F law against MATLAB's t law: ~1e-13
            assert abs(p / float(printed[coef[0]]) - 1) <= 1e-12, (name, term, p, printed[coef[0]])
        else:
            assert format_g(p, 5) == printed[coef[0]], (name, term)
        checked += 1
    assert checked >= 2
