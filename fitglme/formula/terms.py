"""Terms of a Wilkinson formula: the data the parser produces and the design builder consumes."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    """A product of variables raised to powers; the empty product is the intercept.

    ``factors`` holds ``(variable, power)`` pairs ordered by the variables' order in the
    table, e.g. ``(('x', 1), ('z', 1))`` for ``x:z`` and ``(('x', 2),)`` for ``x^2``.
    """

    factors: tuple[tuple[str, int], ...] = ()

    @property
    def is_intercept(self) -> bool:
        return not self.factors

    @property
    def degree(self) -> int:
        return sum(p for _, p in self.factors)

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(v for v, _ in self.factors)

    def label(self) -> str:
        """MATLAB's term label: '(Intercept)', 'x', 'x^2', 'x:z'."""
        if not self.factors:
            return "(Intercept)"
        return ":".join(v if p == 1 else f"{v}^{p}" for v, p in self.factors)


INTERCEPT = Term(())


@dataclass(frozen=True)
class RandomTerm:
    """One random-effects term ``(expr | g1:g2)``: its own terms and its grouping variables."""

    terms: tuple[Term, ...]
    group: tuple[str, ...]

    @property
    def group_name(self) -> str:
        return ":".join(self.group)


@dataclass(frozen=True)
class ParsedFormula:
    """A parsed model formula ``response ~ fixed + (random | group) ...``.

    ``fixed`` and each random term's ``terms`` are in MATLAB's order (see formula/parser.py).
    """

    response: str
    fixed: tuple[Term, ...]
    random: tuple[RandomTerm, ...]
    text: str = ""
