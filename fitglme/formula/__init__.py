"""Wilkinson formulas: parse MATLAB model formulas and print them the way MATLAB does."""
from fitglme.formula.display import format_formula, format_terms
from fitglme.formula.parser import parse_formula, sort_terms
from fitglme.formula.terms import INTERCEPT, ParsedFormula, RandomTerm, Term

__all__ = [
    "INTERCEPT",
    "ParsedFormula",
    "RandomTerm",
    "Term",
    "format_formula",
    "format_terms",
    "parse_formula",
    "sort_terms",
]
