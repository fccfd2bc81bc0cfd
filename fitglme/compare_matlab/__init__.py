"""Compare a fit here with a pasted MATLAB display (not input validation).

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

from .compare import ValidationReport, compare_display, validate
from .display_parse import CovarianceBlock, MatlabDisplay, parse_display
from .tables import parse_table

__all__ = ["MatlabDisplay", "CovarianceBlock", "ValidationReport", "parse_display", "parse_table",
           "compare_display", "validate"]
