"""Reading a whole printed MATLAB model display (``glme = ...``) into numbers."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..errors import FitglmeError
from .tables import _NAME_LINE, is_number, parse_table

# ---------------------------------------------------------------------------------------------
# the model display
# ---------------------------------------------------------------------------------------------
_HEADING = re.compile(r"^\s*(Generalized linear|Linear) mixed-effects model fit by (\S+)\s*$")
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
#: MATLAB's hyperlink / bold markup in raw command-window text (``<strong>Formula:</strong>``,
#: ``<a href="matlab:...">``), as ``formattedDisplayText`` or a diary keeps it.
_MARKUP = re.compile(r"</?strong>|<a\s[^>]*>|</a>")

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
        from ..family.links import STANDARD_LINKS

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
        (the ``>> glme = fitglme(...)`` command, a script's own messages) are skipped; parsing
        stops at the next ``>>`` prompt, at a second display, or at a line of text at the left
        margin after the tables (a script's messages printed after the display).  MATLAB's
        ``<strong>`` / hyperlink markup is ignored.  Either style, wrapped or not, any width.

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
    lines = _MARKUP.sub("", _read_text(source)).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    disp = MatlabDisplay()
    start, implicit_info = _display_start(lines, disp)
    for kind, arg, body in _sections(lines, start, implicit_info):
        _read_section(disp, kind, arg, body)
    return disp


def _display_start(lines: list[str], disp: MatlabDisplay) -> tuple[int, bool]:
    """The first line after the heading (the heading's model kind, fit method and the variable
    name above it go into ``disp``), or else the first section title; and whether the display
    starts with the Model information lines without their title."""
    for i, line in enumerate(lines):
        m = _HEADING.match(line)
        if m:
            disp.model = "GLME" if m.group(1).startswith("Generalized") else "LME"
            disp.fit_by = m.group(2)
            for j in range(i - 1, -1, -1):
                if lines[j].strip():
                    nm = _NAME_LINE.match(lines[j])
                    if nm:
                        disp.name = nm.group(1)
                    break
            return i + 1, False
    for i, line in enumerate(lines):
        if any(p.match(line) for p in (_T_INFO, _T_FORMULA, _T_FIT, _T_FIXED, _T_RANDOM)):
            return i, False
        if _INFO_COUNT.match(line):  # the Model information lines without their title
            return i, True
    raise FitglmeError(
        "no MATLAB mixed-effects model display found (expected a heading such as 'Generalized "
        "linear mixed-effects model fit by ML' or a section such as 'Model fit statistics:').",
        "fitglme:validate:NoDisplay",
    )


def _section_title(line: str) -> tuple[str | None, Any]:
    """(kind, argument) of a section title line, or (None, None)."""
    if _T_INFO.match(line):
        return "info", None
    if _T_FORMULA.match(line):
        return "formula", None
    if _T_FIT.match(line):
        return "fit", None
    if (m := _T_FIXED.match(line)):
        return "fixed", float(m.group(1))
    if (m := _T_RANDOM.match(line)):
        return "random", m.group(1)
    if _T_ERROR.match(line):
        return "group", ("Error", None)
    if (m := _T_GROUP.match(line)):
        return "group", (m.group(1), int(m.group(2)))
    return None, None


def _sections(lines: list[str], start: int, implicit_info: bool) -> list[tuple[str, Any, list[str]]]:
    """The display from ``start`` cut into sections (kind, argument, body lines)."""
    sections: list[tuple[str, Any, list[str]]] = []
    current: tuple[str, Any, list[str]] | None = None
    if implicit_info:
        current = ("info", None, [])
        sections.append(current)
    indented_tables = False
    for line in lines[start:]:
        if _STOP.match(line) or _HEADING.match(line):
            break
        kind, arg = _section_title(line)
        if kind is not None:
            current = (kind, arg, [])
            sections.append(current)
        elif line.strip() and not line[:1].isspace() and indented_tables:
            # Table rows are indented; text at the margin after them is not MATLAB's display
            # (e.g. a script's own messages printed after it).  A whitespace-flattened copy has
            # no indented rows, and is read to its end.
            break
        elif current is not None:
            current[2].append(line)
            indented_tables = indented_tables or (current[0] in ("fit", "fixed", "group")
                                                  and line[:1].isspace() and bool(line.strip()))
    return sections


def _read_section(disp: MatlabDisplay, kind: str, arg: Any, body: list[str]) -> None:
    if kind == "info":
        for line in body:
            if (m := _INFO_COUNT.match(line)):
                disp.info[INFO_KEYS[m.group(1)]] = int(m.group(2))
            elif (m := _INFO_TEXT.match(line)):
                disp.info[m.group(1)] = m.group(2)
        return
    if kind == "formula":
        text = " ".join(l.strip() for l in body if l.strip())
        disp.formula = text or None
    elif kind == "random":
        disp.covariance_ci = arg is not None
    elif not any(l.strip() for l in body):
        return
    elif kind == "fit":
        disp.fit_statistics = parse_table(body)
    elif kind == "fixed":
        disp.coefficients = parse_table(body)
    elif kind == "group":
        name, nlev = arg
        disp.groups.append(CovarianceBlock(name, nlev, parse_table(body)))
