"""Side-by-side validation against a MATLAB display.

Paste what MATLAB printed for ``glme`` (or ``disp(glme)``, or an ``lme`` display) into a text
file; :func:`parse_display` reads it back into numbers, :func:`compare_display` compares every
number with a fitted model here, and :func:`validate` does both after fitting the same model.
The command line is ``python -m fitglme validate OUTPUT.txt --data DATA ...``
(:mod:`fitglme.cli`).

Parsing accepts the older quoted style (``'(Intercept)'``) and the newer braces style
(``{'(Intercept)'}``), wrapped tables (later column blocks, with or without blank lines between
them) or unwrapped ones, the ``glme =`` line, ``format long g`` displays, and whitespace-flattened
copies (e.g. from a web page) as long as each table row stays on one line.

Comparison rule (docs/migration.md, "Side-by-side validation"): MATLAB prints numbers with
``%.5g`` (``%.15g`` under ``format long g``).  Our value is printed the same way; **identical**
when both print the same.  Otherwise the difference is counted in units of the last printed
digit of MATLAB's value; up to ``tolerance`` units (default 1: a value within rounding of a
printed boundary, or an optimum reached to a slightly different tolerance) pass, more fail.
"Digits" is the number of significant digits of agreement: the precision when both print the
same, else the log relative error ``-log10(|ours - MATLAB| / |MATLAB|)`` rounded down.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .display.numfmt import format_g
from .errors import FitglmeError

__all__ = ["MatlabDisplay", "CovarianceBlock", "ValidationReport", "parse_display", "parse_table",
           "compare_display", "validate"]

# ---------------------------------------------------------------------------------------------
# tokens and tables
# ---------------------------------------------------------------------------------------------
_TOKEN = re.compile(r"""\{\s*'(?:[^']|'')*'\s*\}|\{\s*"(?:[^"]|"")*"\s*\}|'(?:[^']|'')*'|"(?:[^"]|"")*"|\S+""")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NUMBER = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$|^[-+]?(?:Inf|NaN)$")
#: Column names of the tables of a model display (and of anova / compare), used to recognise a
#: header line that follows rows without a blank line (wrapped tables in compact output).
KNOWN_HEADERS = frozenset(
    "Name Estimate SE tStat DF pValue Lower Upper Name1 Name2 Type Group AIC BIC LogLikelihood "
    "Deviance Term FStat DF1 DF2 Model LogLik LRStat deltaDF".split()
)


@dataclass
class _Token:
    text: str
    start: int

    @property
    def quoted(self) -> bool:
        return self.text[:1] in "'{\""

    @property
    def value(self) -> str:
        t = self.text
        if t.startswith("{"):
            t = t[1:-1].strip()
        if t[:1] in "'\"" and len(t) >= 2:
            q = t[0]
            t = t[1:-1].replace(q + q, q)
            return t.rstrip() if self.text.startswith("{") else t
        return t


def _tokens(line: str) -> list[_Token]:
    return [_Token(m.group(0), m.start()) for m in _TOKEN.finditer(line)]


def _is_header(tokens: list[_Token]) -> bool:
    return bool(tokens) and all(
        not t.quoted and _IDENT.match(t.text) and t.text not in ("NaN", "Inf") for t in tokens
    )


def is_number(text: str) -> bool:
    """True for a number as MATLAB prints it (``-0.0064824``, ``1.2538e+05``, ``NaN``, ``-Inf``)."""
    return bool(_NUMBER.match(text))


def _blocks(lines: Sequence[str]) -> tuple[list[str], list[tuple[list[_Token], list[list[_Token]], bool]]]:
    """Split table lines into (title lines, [(header tokens, rows, after_blank)])."""
    items = []  # (tokens, raw line, blank before)
    blank = True
    for line in lines:
        toks = _tokens(line)
        if not toks:
            blank = True
            continue
        items.append((toks, line, blank))
        blank = False
    titles: list[str] = []
    blocks: list[tuple[list[_Token], list[list[_Token]], bool]] = []
    items = [it for it in items if not _NAME_LINE.match(it[1])]  # 'ans = ' lines
    i = 0
    # Title lines before the first header (e.g. "ANOVA marginal tests: ..."): a line that is not a
    # header, or a header-looking line directly followed by another header line.
    while i < len(items):
        toks, raw, _ = items[i]
        nxt = items[i + 1][0] if i + 1 < len(items) else None
        if _is_header(toks) and not (nxt is not None and _is_header(nxt) and not blocks):
            break
        if _is_header(toks) and nxt is not None and _is_header(nxt):
            titles.append(raw.strip())
            i += 1
            continue
        if not _is_header(toks):
            titles.append(raw.strip())
            i += 1
            continue
        break
    current = None
    while i < len(items):
        toks, raw, blank_before = items[i]
        starts_block = _is_header(toks) and (
            current is None or blank_before or all(t.text in KNOWN_HEADERS for t in toks)
        )
        if starts_block:
            current = (toks, [], blank_before)
            blocks.append(current)
        else:
            if current is None:  # pragma: no cover - guarded by the title loop
                raise FitglmeError(f"table row before any header: {raw.strip()!r}", "fitglme:validate:BadTable")
            current[1].append(toks)
        i += 1
    return titles, blocks


def _assign(header: list[_Token], row: list[_Token], raw_cols: int) -> list[str | None]:
    """Cells of one row under the header columns (by position when cells are empty)."""
    n = len(header)
    if len(row) == n:
        return [t.value for t in row]
    if len(row) > n:
        raise FitglmeError(
            "table row has more cells than the header has columns: "
            + " ".join(t.text for t in row) + "  (header: " + " ".join(t.text for t in header) + ")",
            "fitglme:validate:BadTable",
        )
    cells: list[str | None] = [None] * n
    starts = [t.start for t in header]
    for t in row:
        k = max([j for j in range(n) if starts[j] <= t.start] or [0])
        if cells[k] is not None:
            raise FitglmeError(
                "cannot place the cells of a table row with empty cells under its header (has the "
                "whitespace been flattened?): " + " ".join(x.text for x in row),
                "fitglme:validate:BadTable",
            )
        cells[k] = t.value
    return cells


def parse_table(text: str | Sequence[str]) -> pd.DataFrame:
    """Parse one MATLAB dataset/table display into a DataFrame of the printed cells.

    Parameters
    ----------
    text : str or sequence of str
        The table as printed: header line, rows, and any wrapped column blocks (separated by
        blank lines or not); an optional title line first (kept in ``df.attrs['title']``).

    Returns
    -------
    pandas.DataFrame
        One column per table variable, cells as the printed **text** (quotes / braces removed;
        ``None`` for an empty cell).  Convert with ``pd.to_numeric``; the printed text is kept
        because the number of printed digits matters to validation.

    Raises
    ------
    FitglmeError
        ``'fitglme:validate:BadTable'`` when the lines are not a table.

    Examples
    --------
    >>> t = parse_table('''
    ...     Name                 Estimate    SE
    ...     '(Intercept)'         -2.0193    0.087995
    ...
    ...
    ...     Lower       Upper
    ...      -2.1929       -1.8457
    ... ''')
    >>> t.to_dict('records')
    [{'Name': '(Intercept)', 'Estimate': '-2.0193', 'SE': '0.087995', 'Lower': '-2.1929', 'Upper': '-1.8457'}]
    """
    lines = text.split("\n") if isinstance(text, str) else list(text)
    titles, blocks = _blocks(lines)
    if not blocks:
        raise FitglmeError("no table header found in: " + " / ".join(l.strip() for l in lines if l.strip())[:200],
                           "fitglme:validate:BadTable")
    nrows = len(blocks[0][1])
    data: dict[str, list] = {}
    for header, rows, _ in blocks:
        if len(rows) != nrows:
            raise FitglmeError(
                f"wrapped table blocks have different numbers of rows ({nrows} and {len(rows)}) under "
                + " ".join(t.text for t in header),
                "fitglme:validate:BadTable",
            )
        ncols = len(header)
        cols = list(zip(*[_assign(header, r, ncols) for r in rows])) if rows else [()] * ncols
        for h, c in zip(header, cols):
            name = h.text
            while name in data:
                name += "_"
            data[name] = list(c)
    df = pd.DataFrame(data, dtype=object)
    df.attrs["title"] = " ".join(titles) if titles else None
    return df


# ---------------------------------------------------------------------------------------------
# the model display
# ---------------------------------------------------------------------------------------------
_HEADING = re.compile(r"^\s*(Generalized linear|Linear) mixed-effects model fit by (\S+)\s*$")
_NAME_LINE = re.compile(r"^\s*([A-Za-z]\w*)\s*=\s*$")
_INFO_COUNT = re.compile(
    r"^\s*(Number of observations|Fixed effects coefficients|Random effects coefficients|Covariance parameters)"
    r"\s+(\d+)\s*$")
_INFO_TEXT = re.compile(r"^\s*(Distribution|Link|FitMethod)\s+(\S.*?)\s*$")
_T_INFO = re.compile(r"^\s*Model information:\s*$")
_T_FORMULA = re.compile(r"^\s*Formula:\s*$")
_T_FIT = re.compile(r"^\s*Model fit statistics:\s*$")
_T_FIXED = re.compile(r"^\s*Fixed effects coefficients \(([\d.]+)% CIs\):\s*$")
_T_RANDOM = re.compile(r"^\s*Random effects covariance parameters(?: \(([\d.]+)% CIs\))?:\s*$")
_T_GROUP = re.compile(r"^\s*Group: (.+?) \((\d+) Levels\)\s*$")
_T_ERROR = re.compile(r"^\s*Group: Error\s*$")
_STOP = re.compile(r"^\s*(>>|=== )")

INFO_KEYS = {
    "Number of observations": "NumObservations",
    "Fixed effects coefficients": "NumFixedEffects",
    "Random effects coefficients": "NumRandomEffects",
    "Covariance parameters": "NumCovarianceParameters",
}


@dataclass
class CovarianceBlock:
    """One ``Group: <name> (<k> Levels)`` block of a parsed display.

    Attributes
    ----------
    name : str
        Grouping variable (``'Error'`` for the error block).
    nlevels : int or None
        Number of levels (None for the error block).
    table : pandas.DataFrame
        The printed cells (Name1, Name2, Type, Estimate[, Lower, Upper]; the error block has
        Name, Estimate[, Lower, Upper]).

    Examples
    --------
    >>> d = parse_display('''Random effects covariance parameters:
    ... Group: factory (20 Levels)
    ...     Name1                Name2                Type         Estimate
    ...     '(Intercept)'        '(Intercept)'        'std'        0.31381
    ... ''')
    >>> g = d.groups[0]
    >>> g.name, g.nlevels, g.table['Estimate'][0]
    ('factory', 20, '0.31381')
    """

    name: str
    nlevels: int | None
    table: pd.DataFrame


@dataclass
class MatlabDisplay:
    """A MATLAB mixed-effects model display read back by :func:`parse_display`.

    Every table holds the printed text of its cells (see :func:`parse_table`); missing
    sections are ``None`` / empty.

    Attributes
    ----------
    name : str or None
        Variable name of the ``glme =`` line.
    model : {'GLME', 'LME'} or None
        Generalized linear or linear mixed-effects model (from the heading).
    fit_by : str or None
        ``'ML'``, ``'PL'``, ``'REML'`` (from the heading).
    info : dict
        Model information: ``NumObservations``, ``NumFixedEffects``, ``NumRandomEffects``,
        ``NumCovarianceParameters`` (int), ``Distribution``, ``Link``, ``FitMethod`` (str).
    formula : str or None
        The displayed formula.
    fit_statistics : pandas.DataFrame or None
        AIC, BIC, LogLikelihood, Deviance.
    coefficients : pandas.DataFrame or None
        Name, Estimate, SE, tStat, DF, pValue, Lower, Upper.
    groups : list of CovarianceBlock
        The random-effects groups, then the error block (name ``'Error'``) if printed.
    covariance_ci : bool
        True when the covariance section shows ``(95% CIs)`` (LME displays).

    Examples
    --------
    >>> d = parse_display('''lme =
    ... Linear mixed-effects model fit by REML
    ... Model information:
    ...     Number of observations              40
    ... Formula:
    ...     y ~ 1 + Block*City + (1 | ID)
    ... ''')
    >>> d.info, d.formula, d.options()
    ({'NumObservations': 40}, 'y ~ 1 + Block*City + (1 | ID)', {'Distribution': 'Normal', 'FitMethod': 'REMPL'})
    """

    name: str | None = None
    model: str | None = None
    fit_by: str | None = None
    info: dict = field(default_factory=dict)
    formula: str | None = None
    fit_statistics: pd.DataFrame | None = None
    coefficients: pd.DataFrame | None = None
    groups: list = field(default_factory=list)
    covariance_ci: bool = False

    @property
    def error(self) -> CovarianceBlock | None:
        """The ``Group: Error`` block, if printed."""
        return next((g for g in self.groups if g.name == "Error" and g.nlevels is None), None)

    def precision(self) -> int:
        """Significant digits of the display: 5 (``format short``) or 15 (``format long g``)."""
        most = 0
        for df in self._tables():
            for col in df.columns:
                for v in df[col]:
                    if isinstance(v, str) and is_number(v):
                        most = max(most, significant_digits(v))
        return 15 if most > 5 else 5

    def _tables(self) -> list[pd.DataFrame]:
        out = [t for t in (self.fit_statistics, self.coefficients) if t is not None]
        return out + [g.table for g in self.groups]

    def options(self) -> dict[str, Any]:
        """The fitglme name-value options the display implies (Distribution, Link, FitMethod).

        An LME display implies ``Distribution='Normal'`` and FitMethod MPL (``fit by ML``) or
        REMPL (``fit by REML``), which fit the same model.  A power or custom link is not
        implied (the display does not show its exponent).
        """
        from .family.links import STANDARD_LINKS

        opts: dict[str, Any] = {}
        if self.model == "LME":
            opts["Distribution"] = "Normal"
            if self.fit_by in ("ML", "REML"):
                opts["FitMethod"] = "MPL" if self.fit_by == "ML" else "REMPL"
            return opts
        if "Distribution" in self.info:
            opts["Distribution"] = self.info["Distribution"]
        link = str(self.info.get("Link", ""))
        if link and link.lower() in {str(s).lower() for s in STANDARD_LINKS} and link.lower() != "power":
            opts["Link"] = link.lower()
        if "FitMethod" in self.info:
            opts["FitMethod"] = self.info["FitMethod"]
        return opts


def significant_digits(text: str) -> int:
    """Significant digits shown in a printed number (``'0.0064824'`` -> 5, ``'186'`` -> 3).

    Examples
    --------
    >>> significant_digits('0.0064824'), significant_digits('186'), significant_digits('1.2538e+05')
    (5, 3, 5)
    """
    mant = re.split(r"[eE]", text.strip().lstrip("+-"))[0]
    digits = mant.replace(".", "").lstrip("0")
    if "." not in mant:
        digits = digits.rstrip("0")  # '125380' shows 5 digits, '100' one
    return max(1, len(digits))


def _read_text(source: str | os.PathLike) -> str:
    if isinstance(source, os.PathLike) or (isinstance(source, str) and "\n" not in source
                                           and len(source) < 4096 and os.path.isfile(source)):
        with open(os.fspath(source), encoding="utf-8", errors="replace") as fh:
            return fh.read()
    if not isinstance(source, str):
        raise FitglmeError(f"expected the display text or a file name; got {type(source).__name__}.",
                           "fitglme:validate:BadInput")
    return source


def parse_display(source: str | os.PathLike) -> MatlabDisplay:
    """Read a MATLAB ``GeneralizedLinearMixedModel`` / ``LinearMixedModel`` display.

    Parameters
    ----------
    source : str or path-like
        The display text, or the name of a text file holding it.  Lines before the display
        (the ``>> glme = fitglme(...)`` command) are skipped; parsing stops at the next
        ``>>`` prompt or at a second display.  Either style, wrapped or not, any width.

    Returns
    -------
    MatlabDisplay

    Raises
    ------
    FitglmeError
        ``'fitglme:validate:NoDisplay'`` when no part of a model display is found,
        ``'fitglme:validate:BadTable'`` for a table that cannot be read.

    Examples
    --------
    >>> d = parse_display('''glme =
    ... Generalized linear mixed-effects model fit by ML
    ... Model fit statistics:
    ...     AIC       BIC       LogLikelihood    Deviance
    ...     416.35    434.58    -201.17          402.35
    ... ''')
    >>> d.name, d.model, d.fit_by, d.fit_statistics['AIC'][0]
    ('glme', 'GLME', 'ML', '416.35')
    """
    lines = _read_text(source).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    disp = MatlabDisplay()
    # find the start: the heading, or else the first section title
    start = None
    for i, line in enumerate(lines):
        m = _HEADING.match(line)
        if m:
            disp.model = "GLME" if m.group(1).startswith("Generalized") else "LME"
            disp.fit_by = m.group(2)
            start = i + 1
            for j in range(i - 1, -1, -1):
                if lines[j].strip():
                    nm = _NAME_LINE.match(lines[j])
                    if nm:
                        disp.name = nm.group(1)
                    break
            break
    implicit_info = False
    if start is None:
        for i, line in enumerate(lines):
            if any(p.match(line) for p in (_T_INFO, _T_FORMULA, _T_FIT, _T_FIXED, _T_RANDOM)):
                start = i
                break
            if _INFO_COUNT.match(line):  # the Model information lines without their title
                start, implicit_info = i, True
                break
    if start is None:
        raise FitglmeError(
            "no MATLAB mixed-effects model display found (expected a heading such as 'Generalized "
            "linear mixed-effects model fit by ML' or a section such as 'Model fit statistics:').",
            "fitglme:validate:NoDisplay",
        )
    # cut into sections
    sections: list[tuple[str, Any, list[str]]] = []
    current: tuple[str, Any, list[str]] | None = None
    if implicit_info:
        current = ("info", None, [])
        sections.append(current)
    for line in lines[start:]:
        if _STOP.match(line) or _HEADING.match(line):
            break
        kind, arg = None, None
        if _T_INFO.match(line):
            kind = "info"
        elif _T_FORMULA.match(line):
            kind = "formula"
        elif _T_FIT.match(line):
            kind = "fit"
        elif (m := _T_FIXED.match(line)):
            kind, arg = "fixed", float(m.group(1))
        elif (m := _T_RANDOM.match(line)):
            kind, arg = "random", m.group(1)
        elif _T_ERROR.match(line):
            kind, arg = "group", ("Error", None)
        elif (m := _T_GROUP.match(line)):
            kind, arg = "group", (m.group(1), int(m.group(2)))
        if kind is not None:
            current = (kind, arg, [])
            sections.append(current)
        elif current is not None:
            current[2].append(line)
    for kind, arg, body in sections:
        if kind == "info":
            for line in body:
                if (m := _INFO_COUNT.match(line)):
                    disp.info[INFO_KEYS[m.group(1)]] = int(m.group(2))
                elif (m := _INFO_TEXT.match(line)):
                    disp.info[m.group(1)] = m.group(2)
        elif kind == "formula":
            text = " ".join(l.strip() for l in body if l.strip())
            disp.formula = text or None
        elif kind == "fit":
            if any(l.strip() for l in body):
                disp.fit_statistics = parse_table(body)
        elif kind == "fixed":
            if any(l.strip() for l in body):
                disp.coefficients = parse_table(body)
        elif kind == "random":
            disp.covariance_ci = arg is not None
        elif kind == "group":
            name, nlev = arg
            if any(l.strip() for l in body):
                disp.groups.append(CovarianceBlock(name, nlev, parse_table(body)))
    return disp


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
        'last digit', 'DIFFERS', 'MISSING', 'EXTRA').
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

    @property
    def ok(self) -> bool:
        """True when nothing differs beyond the tolerance (and nothing is missing)."""
        return not self.failures().shape[0]

    def failures(self) -> pd.DataFrame:
        """The rows that fail."""
        return self.rows[~self.rows["Status"].isin(["identical", "last digit", "same"])]

    def summary(self) -> str:
        """One line: how many numbers were compared and how they came out."""
        r = self.rows
        numbers = r[r["Digits"].notna() | r["Status"].isin(["MISSING", "EXTRA"])]
        counts = r["Status"].value_counts()
        parts = [f"{int(counts.get('identical', 0))} identical"]
        parts.append(f"{int(counts.get('last digit', 0))} within {self.tolerance} unit(s) in the last digit")
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
    def __init__(self, precision: int, tolerance: int):
        self.p = precision
        self.tol = tolerance
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


def compare_display(display: MatlabDisplay | str | os.PathLike, glme, *, tolerance: int = 1,
                    precision: int | None = None) -> ValidationReport:
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
    rows = _Rows(p, int(tolerance))
    d = glme._display_data()

    # model information
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

    # fit statistics
    if disp.fit_statistics is not None and len(disp.fit_statistics):
        ours_fit = {"AIC": d.aic, "BIC": d.bic, "LogLikelihood": d.loglik, "Deviance": d.deviance}
        for col in disp.fit_statistics.columns:
            rows.number("Model fit statistics", col, disp.fit_statistics[col].iloc[0], ours_fit.get(col))

    # fixed effects
    if disp.coefficients is not None:
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

    # covariance parameters
    cov_ci = None
    if disp.covariance_ci or any(("Lower" in g.table) for g in disp.groups):
        cov_ci = glme.covarianceParameters()
    ours_groups = list(d.cov_groups)
    used = set()
    for g in disp.groups:
        if g.name == "Error" and g.nlevels is None:
            t = g.table
            ename = str(t["Name"].iloc[0]) if "Name" in t and len(t) else "Error"
            ours_ci = None if cov_ci is None else cov_ci.stats[-1]
            for col in ("Estimate", "Lower", "Upper"):
                if col in t and len(t):
                    if col == "Estimate":
                        ours = d.error_group.estimate
                    else:
                        ours = None if ours_ci is None else float(ours_ci[col].iloc[0])
                    rows.number("Error", f"{col} {ename}", t[col].iloc[0], ours)
            continue
        k = next((j for j, og in enumerate(ours_groups) if j not in used and og.name == g.name), None)
        section = f"Group {g.name}"
        if k is None:
            for r in range(len(g.table)):
                rows.number(section, _cov_label(g.table, r, "Estimate"), g.table["Estimate"].iloc[r], None)
            continue
        used.add(k)
        og = ours_groups[k]
        if g.nlevels is not None:
            rows.number(section, "Levels", str(g.nlevels), og.nlevels)
        keys = list(zip(og.name1, og.name2, og.types))
        ours_ci = None if cov_ci is None else cov_ci.stats[k]
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
    for j, og in enumerate(ours_groups):
        if j not in used and any(g.nlevels is not None for g in disp.groups):
            rows.number(f"Group {og.name}", "Levels", None, og.nlevels)

    df = pd.DataFrame(rows.rows, columns=["Section", "Quantity", "MATLAB", "fitglme", "Digits", "Units", "Status"])
    return ValidationReport(df, p, int(tolerance), glme)


def _cov_label(t: pd.DataFrame, r: int, col: str) -> str:
    n1 = t["Name1"].iloc[r] if "Name1" in t else ""
    n2 = t["Name2"].iloc[r] if "Name2" in t else ""
    ty = t["Type"].iloc[r] if "Type" in t else ""
    return f"{col} {ty} {n1}" + ("" if n1 == n2 else f",{n2}")


def validate(display: MatlabDisplay | str | os.PathLike, tbl: Any, *args: Any, formula: str | None = None,
             tolerance: int = 1, precision: int | None = None, **kwargs: Any) -> ValidationReport:
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
    tolerance, precision
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
    from .api import OPTION_NAMES, fitglme
    from .options import parse_name_value

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
    return compare_display(disp, glme, tolerance=tolerance, precision=precision)
