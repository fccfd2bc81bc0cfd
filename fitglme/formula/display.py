"""MATLAB's displayed formula string, e.g. ``y ~ 1 + Block*City + (1 | ID)``.

The rules follow MATLAB's formula processor (see docs/formula.md):

* terms are shown in MATLAB's term order (:func:`fitglme.formula.parser.sort_terms`), joined
  by ``' + '``; the intercept is ``1``; other terms use their labels (``x``, ``x^2``,
  ``x:z``, factors in table order);
* a two-way interaction ``A:B`` of two different variables whose main effects ``A`` and ``B``
  are both in the model is shown as ``A*B`` in the interaction's place, and those main effects
  are not shown on their own (``1 + Sex*Age + Sex*Weight + Age*Weight``); no other term is
  collapsed (not three-way interactions, not powers);
* a model without an intercept shows no ``-1``: its terms are just listed (MATLAB prints
  ``(Horsepower-1|EngineType)`` as ``(Horsepower | EngineType)``); a part with no term at all
  is shown as ``0``;
* each random-effects term is appended as ``(terms | g)`` or ``(terms | g1:g2)`` in the order
  written, with the same rules inside.
"""
from __future__ import annotations

from typing import Iterable, Sequence

from fitglme.formula.parser import sort_terms
from fitglme.formula.terms import ParsedFormula, Term


def format_formula(parsed: ParsedFormula, variable_names: Sequence[str]) -> str:
    """The formula as MATLAB displays it under ``Formula:`` in a model display.

    Parameters
    ----------
    parsed : ParsedFormula
        A parsed formula (from :func:`fitglme.formula.parse_formula`).
    variable_names : sequence of str
        The table's variable names in table order (they decide the order of the terms).

    Returns
    -------
    str
        e.g. ``'defects ~ 1 + newprocess + time_dev + temp_dev + supplier + (1 | factory)'``.
        The GLME display shows no link function in the formula.

    Examples
    --------
    >>> from fitglme.formula import parse_formula
    >>> names = ["y", "Block", "City", "ID"]
    >>> format_formula(parse_formula("y ~ Block*City + (1|ID)", names), names)
    'y ~ 1 + Block*City + (1 | ID)'
    """
    parts = [f"{parsed.response} ~ {format_terms(parsed.fixed, variable_names)}"]
    for random_term in parsed.random:
        parts.append(f"({format_terms(random_term.terms, variable_names)} | {random_term.group_name})")
    return " + ".join(parts)


def format_terms(terms: Iterable[Term], variable_names: Sequence[str]) -> str:
    """One side of a formula: ``'1 + x + z^2'``, ``'1 + var1*var2'``; ``'0'`` for no terms.

    Parameters
    ----------
    terms : iterable of Term
        The terms, in any order; duplicates are merged.
    variable_names : sequence of str
        The table's variable names in table order.

    Returns
    -------
    str
    """
    ordered = sort_terms(terms, variable_names)
    if not ordered:
        return "0"
    shown = ["1" if term.is_intercept else term.label() for term in ordered]
    keep = [True] * len(ordered)
    main_effect = {term.factors[0][0]: k for k, term in enumerate(ordered) if term.degree == 1}
    for k, term in enumerate(ordered):
        if _is_two_way(term) and all(var in main_effect for var in term.variables):
            shown[k] = "*".join(term.variables)
            for var in term.variables:
                keep[main_effect[var]] = False
    return " + ".join(text for text, kept in zip(shown, keep) if kept)


def _is_two_way(term: Term) -> bool:
    """True for ``A:B`` with two different variables, each to the power 1."""
    return len(term.factors) == 2 and term.degree == 2
