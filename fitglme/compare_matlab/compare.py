"""Comparing a parsed MATLAB display with a model fitted here, number by number."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..display.numfmt import format_g
from ..errors import FitglmeError
from .display_parse import INFO_KEYS, MatlabDisplay, parse_display
from .tables import is_number

# ---------------------------------------------------------------------------------------------
# comparison
# ---------------------------------------------------------------------------------------------
def agreeing_digits(ours: float, matlab: float, precision: int = 5) -> int:
    """Significant digits of agreement between ``ours`` and MATLAB's printed value.

    ``precision`` when ``ours`` prints exactly as MATLAB's value at that precision; otherwise
    the log relative error ``-log10(|ours - matlab| / |matlab|)`` (absolute error when MATLAB
    printed 0) rounded down, between 0 and ``precision - 1``.

    Examples
    --------
    >>> agreeing_digits(0.313806, 0.31381), agreeing_digits(0.3137, 0.31381), agreeing_digits(2.0, -2.0)
    (5, 3, 0)
    >>> agreeing_digits(0.17506, 0.17406)
    2
    """
    if math.isnan(ours) or math.isnan(matlab):
        return precision if math.isnan(ours) and math.isnan(matlab) else 0
    if math.isinf(ours) or math.isinf(matlab):
        return precision if ours == matlab else 0
    if float(format_g(ours, precision)) == float(format_g(matlab, precision)):
        return precision
    err = abs(ours - matlab) / (abs(matlab) if matlab != 0 else 1.0)
    if err == 0:  # pragma: no cover - equal values print equally
        return precision
    return int(max(0, min(precision - 1, math.floor(-math.log10(err)))))


def last_digit_units(ours: float, matlab_text: str, precision: int = 5) -> float:
    """Difference between ``ours`` printed like MATLAB and MATLAB's printed value, in units of
    MATLAB's last printed digit (0: identical print; ``inf``: not comparable).

    Examples
    --------
    >>> last_digit_units(1.46894, '1.4689'), last_digit_units(1.46896, '1.4689'), last_digit_units(1.47, '1.4689')
    (0, 1, 11)
    """
    ours_text = format_g(ours, precision)
    if ours_text == matlab_text.strip().lstrip("+"):
        return 0
    m = float(matlab_text)
    if math.isnan(m) or math.isinf(m) or math.isnan(ours) or math.isinf(ours):
        return 0 if (math.isnan(m) and math.isnan(ours)) or m == ours else math.inf
    o = float(ours_text)
    if o == m:
        return 0
    if m == 0:
        # MATLAB printed 0 (e.g. a p-value that underflowed): accept an underflowing value.
        return 1 if abs(ours) < 1e-300 else math.inf
    scale = max(abs(m), abs(o))
    unit = 10.0 ** (math.floor(math.log10(scale)) - precision + 1)
    return max(1, int(round(abs(o - m) / unit)))


@dataclass
class ValidationReport:
    """Result of a side-by-side comparison (:func:`compare_display`, :func:`validate`).

    Attributes
    ----------
    rows : pandas.DataFrame
        One row per compared item: Section, Quantity, MATLAB (printed text), fitglme (ours,
        printed the same way), Digits (significant digits of agreement, see
        :func:`agreeing_digits`; numbers only), Units
        (difference in units of MATLAB's last printed digit), Status ('identical',
        'last digit', 'within rtol', 'DIFFERS', 'MISSING', 'EXTRA').
    precision : int
        Significant digits of MATLAB's display (5 or 15).
    tolerance : int
        Units in the last digit accepted.
    model : GeneralizedLinearMixedModel
        The model compared.

    Examples
    --------
    >>> from fitglme import fitglme, load_example
    >>> glme = fitglme(load_example(), 'defects ~ 1 + newprocess + (1|factory)', Distribution='Poisson')
    >>> matlab = glme.display('glme').replace("'std'        0.2985", "'std'        0.29851")  # +1 unit
    >>> report = compare_display(matlab, glme)
    >>> report.ok, compare_display(matlab, glme, tolerance=0).ok
    (True, False)
    >>> report.rows.loc[report.rows['Status'] == 'last digit', ['Quantity', 'MATLAB', 'fitglme']].values.tolist()
    [['Estimate std (Intercept)', '0.29851', '0.2985']]
    """

    rows: pd.DataFrame
    precision: int
    tolerance: int
    model: Any = field(default=None, repr=False)
    rtol: float = 0.0

    @property
    def ok(self) -> bool:
        """True when nothing differs beyond the tolerance (and nothing is missing)."""
        return not self.failures().shape[0]

    def failures(self) -> pd.DataFrame:
        """The rows that fail."""
        return self.rows[~self.rows["Status"].isin(["identical", "last digit", "within rtol", "same"])]

    def summary(self) -> str:
        """One line: how many numbers were compared and how they came out."""
        r = self.rows
        numbers = r[r["Digits"].notna() | r["Status"].isin(["MISSING", "EXTRA"])]
        counts = r["Status"].value_counts()
        parts = [f"{int(counts.get('identical', 0))} identical"]
        parts.append(f"{int(counts.get('last digit', 0))} within {self.tolerance} unit(s) in the last digit")
        if self.rtol:
            parts.append(f"{int(counts.get('within rtol', 0))} within {self.rtol:g} relative")
        bad = int(self.failures().shape[0])
        parts.append(f"{bad} differ" if bad != 1 else "1 differs")
        verdict = "PASS" if self.ok else "FAIL"
        return (f"{verdict}: {len(numbers)} numbers compared at MATLAB's {self.precision} significant digits: "
                + ", ".join(parts) + ".")

    def render(self, failures_only: bool = False) -> str:
        """The comparison as a text table followed by :meth:`summary`."""
        r = self.failures() if failures_only else self.rows
        headers = ["Quantity", "MATLAB", "fitglme", "Digits", "Status"]
        long_texts = []

        def short(v, row):
            if v is None or (isinstance(v, float) and math.isnan(v)):
                return ""
            v = str(v)
            if len(v) > 30:
                if row["Status"] not in ("same",) and row not in long_texts:
                    long_texts.append(row)
                return v[:26] + " ..."
            return v

        cells = [[str(x["Section"] + ": " + x["Quantity"]) if x["Section"] else str(x["Quantity"]),
                  short(x["MATLAB"], x), short(x["fitglme"], x),
                  "" if pd.isna(x["Digits"]) else str(int(x["Digits"])),
                  str(x["Status"])] for _, x in r.iterrows()]
        widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(headers)]
        widths[0] = min(widths[0], 60)

        def fmt(c):
            return "  ".join([c[0][:widths[0]].ljust(widths[0]), c[1].rjust(widths[1]), c[2].rjust(widths[2]),
                              c[3].rjust(widths[3]), c[4]]).rstrip()

        lines = [fmt(headers), fmt(["-" * w for w in widths])] + [fmt(c) for c in cells]
        for x in long_texts:
            lines += ["", f"{x['Quantity']} ({x['Status']}):", f"  MATLAB:  {x['MATLAB']}", f"  fitglme: {x['fitglme']}"]
        fe = self.rows[self.rows["Section"] == "Fixed effects"]
        if fe["Status"].isin(["MISSING", "EXTRA"]).any():
            lines += ["", "Coefficient names differ: check DummyVarCoding and the category order of "
                          "categorical predictors (MATLAB's categorical order; text columns in order of "
                          "first appearance)."]
        return "\n".join(lines + ["", self.summary()])

    def __str__(self) -> str:
        return self.render()

    def to_dict(self) -> dict:
        """JSON-ready form: ok, precision, tolerance, summary, rows."""
        recs = []
        for rec in self.rows.to_dict("records"):
            recs.append({k: (None if (isinstance(v, float) and not math.isfinite(v)) else v) for k, v in rec.items()})
        return {"ok": self.ok, "precision": self.precision, "tolerance": self.tolerance,
                "summary": self.summary(), "rows": recs}


class _Rows:
    def __init__(self, precision: int, tolerance: int, rtol: float = 0.0):
        self.p = precision
        self.tol = tolerance
        self.rtol = rtol
        self.rows: list[dict] = []

    def number(self, section: str, quantity: str, matlab: str | None, ours: float | None) -> None:
        if matlab is None or (isinstance(matlab, str) and not matlab.strip()):
            if ours is None:
                return
            self.rows.append(dict(Section=section, Quantity=quantity, MATLAB=None,
                                  fitglme=format_g(ours, self.p), Digits=np.nan, Units=np.nan, Status="EXTRA"))
            return
        if ours is None:
            self.rows.append(dict(Section=section, Quantity=quantity, MATLAB=matlab, fitglme=None,
                                  Digits=np.nan, Units=np.nan, Status="MISSING"))
            return
        if not is_number(matlab):
            self.rows.append(dict(Section=section, Quantity=quantity, MATLAB=matlab, fitglme=format_g(ours, self.p),
                                  Digits=np.nan, Units=np.nan, Status="DIFFERS"))
            return
        ours = float(ours)
        units = last_digit_units(ours, matlab, self.p)
        digits = agreeing_digits(ours, float(matlab), self.p)
        status = "identical" if units == 0 else ("last digit" if units <= self.tol else "DIFFERS")
        m = float(matlab)
        if status == "DIFFERS" and self.rtol > 0 and math.isfinite(m) and abs(ours - m) <= self.rtol * abs(m):
            status = "within rtol"
        self.rows.append(dict(Section=section, Quantity=quantity, MATLAB=matlab, fitglme=format_g(ours, self.p),
                              Digits=float(digits), Units=float(units), Status=status))

    def text(self, section: str, quantity: str, matlab: str | None, ours: str | None) -> None:
        if matlab is None:
            return
        same = ours is not None and " ".join(str(matlab).split()) == " ".join(str(ours).split())
        self.rows.append(dict(Section=section, Quantity=quantity, MATLAB=str(matlab),
                              fitglme=None if ours is None else str(ours), Digits=np.nan, Units=np.nan,
                              Status="same" if same else ("MISSING" if ours is None else "DIFFERS")))


_COEF_COLUMNS = ("Estimate", "SE", "tStat", "DF", "pValue", "Lower", "Upper")
_COEF_ATTR = {"Estimate": "estimate", "SE": "se", "tStat": "tstat", "DF": "df", "pValue": "pvalue",
              "Lower": "lower", "Upper": "upper"}  # ModelDisplay attributes


#: Relative tolerance applied by default to displays printed with more than 5 significant digits
#: (``format long g``): the digits beyond ~7 of an iterative fit are not pinned by it (MATLAB's own
#: fits of one model to the same data agree to ~3e-9 relative; docs/choices.md).
LONG_FORMAT_RTOL = 1e-6


def compare_display(display: MatlabDisplay | str | os.PathLike, glme, *, tolerance: int = 1,
                    precision: int | None = None, rtol: float | None = None) -> ValidationReport:
    """Compare every number of a MATLAB display with a model fitted here.

    Parameters
    ----------
    display : MatlabDisplay, str or path-like
        A parsed display, or the text / file name for :func:`parse_display`.
    glme : GeneralizedLinearMixedModel
        The model fitted here.
    tolerance : int, default 1
        Units in MATLAB's last printed digit accepted as agreement (0: print identically).
    precision : int, optional
        Significant digits of MATLAB's display (default: detected, 5 or 15).
    rtol : float, optional
        Also accept a number within this relative difference of MATLAB's printed value
        (status 'within rtol').  Default: 0 at 5 significant digits, :data:`LONG_FORMAT_RTOL`
        above (``format long g`` prints digits that an iterative fit does not pin).

    Returns
    -------
    ValidationReport
        Compared: model information counts and Distribution/Link/FitMethod texts, the formula,
        AIC/BIC/LogLikelihood/Deviance, every cell of the fixed-effects table (matched by
        name), every covariance parameter (matched by group and Name1/Name2/Type) and the
        error term, with their confidence limits when the display shows them.

    Examples
    --------
    >>> from fitglme import fitglme, load_example
    >>> glme = fitglme(load_example(), 'defects ~ 1 + newprocess + (1|factory)', Distribution='Poisson')
    >>> report = compare_display(glme.display('glme'), glme)
    >>> report.ok, sorted(report.rows['Status'].unique())
    (True, ['identical', 'same'])
    """
    disp = display if isinstance(display, MatlabDisplay) else parse_display(display)
    p = int(precision) if precision is not None else disp.precision()
    if rtol is None:
        rtol = LONG_FORMAT_RTOL if p > 5 else 0.0
    if not (isinstance(rtol, (int, float)) and not isinstance(rtol, bool) and 0 <= rtol < 1):
        raise FitglmeError(f"validate: rtol must be a number in [0, 1); got {rtol!r}.", "fitglme:validate:BadInput")
    rows = _Rows(p, int(tolerance), float(rtol))
    d = glme._display_data()
    _compare_information(disp, d, rows)
    _compare_coefficients(disp, d, rows)
    _compare_covariance(disp, d, rows, glme)
    df = pd.DataFrame(rows.rows, columns=["Section", "Quantity", "MATLAB", "fitglme", "Digits", "Units", "Status"])
    return ValidationReport(df, p, int(tolerance), glme, float(rtol))


def _compare_information(disp: MatlabDisplay, d, rows: "_Rows") -> None:
    """Model information (counts and texts), the formula and the fit statistics."""
    ours_info = {"NumObservations": d.n_obs, "NumFixedEffects": d.n_fixed, "NumRandomEffects": d.n_random,
                 "NumCovarianceParameters": d.n_cov}
    labels = {v: k for k, v in INFO_KEYS.items()}
    for key in ("NumObservations", "NumFixedEffects", "NumRandomEffects", "NumCovarianceParameters"):
        if key in disp.info:
            rows.number("Model information", labels[key], str(disp.info[key]), ours_info[key])
    ours_text = dict(d.info_text)
    for key in ("Distribution", "Link", "FitMethod"):
        if key in disp.info:
            rows.text("Model information", key, disp.info[key], ours_text.get(key))
    if disp.formula is not None:
        rows.text("", "Formula", disp.formula, d.formula)
    if disp.fit_statistics is not None and len(disp.fit_statistics):
        ours_fit = {"AIC": d.aic, "BIC": d.bic, "LogLikelihood": d.loglik, "Deviance": d.deviance}
        for col in disp.fit_statistics.columns:
            rows.number("Model fit statistics", col, disp.fit_statistics[col].iloc[0], ours_fit.get(col))


def _compare_coefficients(disp: MatlabDisplay, d, rows: "_Rows") -> None:
    """Every cell of the fixed-effects table, matched by name (a coefficient of ours that MATLAB
    does not show is a row too)."""
    if disp.coefficients is None:
        return
    ours_coef = {name: i for i, name in enumerate(d.coef_names)}
    seen = set()
    names = disp.coefficients["Name"] if "Name" in disp.coefficients else []
    for r, name in enumerate(names):
        i = ours_coef.get(name)
        seen.add(name)
        for col in _COEF_COLUMNS:
            if col not in disp.coefficients:
                continue
            ours = None if i is None else float(getattr(d, _COEF_ATTR[col])[i])
            rows.number("Fixed effects", f"{col} {name}", disp.coefficients[col].iloc[r], ours)
    for name in d.coef_names:
        if name not in seen:
            rows.number("Fixed effects", f"Estimate {name}", None, float(d.estimate[ours_coef[name]]))


def _compare_covariance(disp: MatlabDisplay, d, rows: "_Rows", glme) -> None:
    """Every covariance parameter (matched by group and Name1/Name2/Type) and the error term,
    with the confidence limits when the display shows them."""
    cov_ci = None
    if disp.covariance_ci or any(("Lower" in g.table) for g in disp.groups):
        cov_ci = glme.covarianceParameters()
    ours_groups = list(d.cov_groups)
    used = set()
    for g in disp.groups:
        if g.name == "Error" and g.nlevels is None:
            _compare_error(g.table, d, rows, None if cov_ci is None else cov_ci.stats[-1])
            continue
        k = next((j for j, og in enumerate(ours_groups) if j not in used and og.name == g.name), None)
        if k is not None:
            used.add(k)
        _compare_group(g, None if k is None else ours_groups[k],
                       None if cov_ci is None or k is None else cov_ci.stats[k], rows)
    for j, og in enumerate(ours_groups):
        if j not in used and any(g.nlevels is not None for g in disp.groups):
            rows.number(f"Group {og.name}", "Levels", None, og.nlevels)


def _compare_error(t: pd.DataFrame, d, rows: "_Rows", ours_ci) -> None:
    ename = str(t["Name"].iloc[0]) if "Name" in t and len(t) else "Error"
    for col in ("Estimate", "Lower", "Upper"):
        if col in t and len(t):
            if col == "Estimate":
                ours = d.error_group.estimate
            else:
                ours = None if ours_ci is None else float(ours_ci[col].iloc[0])
            rows.number("Error", f"{col} {ename}", t[col].iloc[0], ours)


def _compare_group(g, og, ours_ci, rows: "_Rows") -> None:
    """One group of MATLAB's display against ours (``og`` None: we have no such group)."""
    section = f"Group {g.name}"
    if og is None:
        for r in range(len(g.table)):
            rows.number(section, _cov_label(g.table, r, "Estimate"), g.table["Estimate"].iloc[r], None)
        return
    if g.nlevels is not None:
        rows.number(section, "Levels", str(g.nlevels), og.nlevels)
    keys = list(zip(og.name1, og.name2, og.types))
    for r in range(len(g.table)):
        key = tuple(str(g.table[c].iloc[r]) if c in g.table else "" for c in ("Name1", "Name2", "Type"))
        j = keys.index(key) if key in keys else None
        for col in ("Estimate", "Lower", "Upper"):
            if col not in g.table:
                continue
            if j is None:
                ours = None
            elif col == "Estimate":
                ours = float(og.estimate[j])
            else:
                ours = None if ours_ci is None else float(ours_ci[col].iloc[j])
            rows.number(section, _cov_label(g.table, r, col), g.table[col].iloc[r], ours)


def _cov_label(t: pd.DataFrame, r: int, col: str) -> str:
    n1 = t["Name1"].iloc[r] if "Name1" in t else ""
    n2 = t["Name2"].iloc[r] if "Name2" in t else ""
    ty = t["Type"].iloc[r] if "Type" in t else ""
    return f"{col} {ty} {n1}" + ("" if n1 == n2 else f",{n2}")


def validate(display: MatlabDisplay | str | os.PathLike, tbl: Any, *args: Any, formula: str | None = None,
             tolerance: int = 1, precision: int | None = None, rtol: float | None = None,
             **kwargs: Any) -> ValidationReport:
    """Fit the model of a MATLAB display here and compare every number (side-by-side validation).

    Parameters
    ----------
    display : MatlabDisplay, str or path-like
        MATLAB's display (text, file name, or parsed).
    tbl : pandas.DataFrame
        The same data MATLAB fitted (e.g. from :func:`fitglme.io.loadmat` or a CSV file).
    *args
        fitglme name-value options, positionally as in MATLAB (``'DummyVarCoding', 'effects'``),
        optionally preceded by the formula (``validate(out, tbl, 'y ~ x + (1|g)', 'Link', 'log')``).
    formula : str, optional
        Default: the formula shown in the display.
    **kwargs
        fitglme name-value options as keywords.  Distribution, Link and FitMethod default to what the
        display shows (:meth:`MatlabDisplay.options`); options that the display cannot show
        (DummyVarCoding, Weights, CovariancePattern, ...) must be given as in MATLAB.
    tolerance, precision, rtol
        As in :func:`compare_display`.

    Returns
    -------
    ValidationReport
        ``report.ok`` is False when any number differs beyond the tolerance;
        ``print(report)`` shows the table.

    Examples
    --------
    >>> from fitglme import fitglme, load_example
    >>> mfr = load_example()
    >>> matlab_text = fitglme(mfr, 'defects ~ 1 + newprocess + (1|factory)', 'Distribution', 'Poisson',
    ...                       'FitMethod', 'Laplace').display('glme')
    >>> validate(matlab_text, mfr).ok
    True
    """
    from ..api import OPTION_NAMES, fitglme
    from ..options import parse_name_value

    disp = display if isinstance(display, MatlabDisplay) else parse_display(display)
    if len(args) % 2 == 1 and isinstance(args[0], str) and "~" in args[0]:
        if formula is not None:
            raise FitglmeError("validate: the formula is given twice (positionally and as formula=).",
                               "fitglme:validate:BadInput")
        formula, args = args[0], args[1:]
    if formula is None:
        formula = disp.formula
        if formula is None:
            raise FitglmeError("validate: the display shows no formula; give the formula.",
                               "fitglme:validate:NoFormula")
    given = parse_name_value(args, kwargs, OPTION_NAMES, "fitglme")
    opts = {**disp.options(), **given}
    glme = fitglme(tbl, formula, **opts)
    return compare_display(disp, glme, tolerance=tolerance, precision=precision, rtol=rtol)
