"""Parse a MATLAB Wilkinson formula into the terms of a mixed model.

The grammar follows MATLAB's ``classreg.regr.LinearMixedFormula`` (see docs/formula.md for the
evidence). From the loosest to the tightest binding operator::

    formula    := response "~" sum
    sum        := ["-"] item (("+" | "-") item)*          item: product, or at the top level
                                                          also "(" sum "|" group ")"
    product    := nested ("*" nested)*                    A*B   = A + B + A:B
    nested     := interaction ["/" name]                  A/B   = A + A:B
    interaction:= power (":" power)*                      A:B   = the product term only
    power      := primary ["^" integer]                   A^k   = A + A^2 + ... + A^k
    primary    := name | "1" | "(" sum ")"
    group      := name (":" name)*

Terms are power vectors over the table's variables: a product adds the powers, so ``x:x`` is
``x^2`` and ``(a + b)^2`` is ``a + b + a^2 + a:b + b^2``. A ``-term`` anywhere in one formula
part (the fixed part, or one random term) is removed from that part after everything else is
expanded, so ``-1`` removes the intercept wherever it is written. The intercept is present by
default in the fixed part and in every random term. Terms are then put in MATLAB's order, see
:func:`sort_terms`.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

from fitglme.errors import FitglmeError
from fitglme.formula.hints import formula_hints
from fitglme.formula.terms import ParsedFormula, RandomTerm, Term

BAD_FORMULA = "fitglme:BadFormula"
UNKNOWN_VARIABLE = "fitglme:UnknownVariable"

Powers = tuple[int, ...]
"""A term as a power vector: one non-negative integer per table variable, in table order."""

_TOKEN_RE = re.compile(
    r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<number>[0-9]+(?:\.[0-9]*)?)"
    r"|(?P<op>[~+\-*:/^()|])"
)


@dataclass(frozen=True)
class _Token:
    """One lexical token: ``kind`` is 'name', 'number', 'op' or 'end'; ``pos`` is 0-based."""

    kind: str
    text: str
    pos: int

    def is_op(self, chars: str) -> bool:
        return self.kind == "op" and self.text in chars

    def describe(self) -> str:
        return "the end of the formula" if self.kind == "end" else f"'{self.text}'"


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def parse_formula(text: str, variable_names: Sequence[str]) -> ParsedFormula:
    """Parse a MATLAB formula such as ``'y ~ 1 + x*z + (1 + x | g1:g2)'``.

    Parameters
    ----------
    text : str
        The formula, ``response ~ terms``, with random-effects terms ``(terms | group)`` added
        at the top level. Whitespace is free.
    variable_names : sequence of str
        The table's variable (column) names in table order. Every name in the formula must be
        one of them; their order decides the order of the terms and of the factors in a term.

    Returns
    -------
    ParsedFormula
        Response name, fixed-effects terms and random-effects terms (each in MATLAB's term
        order, see :func:`sort_terms`); random terms stay in the order written.

    Raises
    ------
    FitglmeError
        ``'fitglme:BadFormula'`` for a syntax error (the message quotes the formula, gives the
        character position with a caret line, and says what was expected);
        ``'fitglme:UnknownVariable'`` for a name that is not a table variable.

    Examples
    --------
    >>> f = parse_formula("y ~ x2*x1 + (x1 | g)", ["y", "x1", "x2", "g"])
    >>> [t.label() for t in f.fixed]
    ['(Intercept)', 'x1', 'x2', 'x1:x2']
    >>> [t.label() for t in f.random[0].terms], f.random[0].group
    (['(Intercept)', 'x1'], ('g',))
    """
    if not isinstance(text, str):
        raise FitglmeError(
            f"The formula must be a string such as 'y ~ x + (1 | g)', not {type(text).__name__}.",
            BAD_FORMULA,
        )
    names = [str(n) for n in variable_names]
    duplicated = sorted(n for n, count in Counter(names).items() if count > 1)
    if duplicated:
        raise FitglmeError(
            f"The table variable names must be unique; repeated: {', '.join(duplicated)}.",
            "fitglme:BadInput",
        )
    try:
        return _Parser(text, names).parse()
    except FitglmeError as exc:
        hints = formula_hints(text, names)
        if not hints:
            raise
        raise FitglmeError(f"{exc}\n" + "\n".join(hints), exc.identifier) from None


def sort_terms(terms: Iterable[Term], variable_names: Sequence[str]) -> tuple[Term, ...]:
    """Merge duplicated terms and put them in MATLAB's order.

    The order is the one of MATLAB's formula processor: by degree (sum of the powers), then by
    the largest power in the term, then by the power vector read from the *last* table variable
    to the first, ascending. For table variables ``Sex, Age, Weight`` this gives
    ``1, Sex, Age, Weight, Sex:Age, Sex:Weight, Age:Weight``; a power ``x^2`` comes after the
    two-way interactions ``x:z``.

    Parameters
    ----------
    terms : iterable of Term
    variable_names : sequence of str
        The table's variable names in table order.

    Returns
    -------
    tuple of Term
    """
    index = {name: i for i, name in enumerate(variable_names)}
    vectors = [term_powers(t, index) for t in terms]
    return tuple(powers_term(v, variable_names) for v in _sort_powers(vectors))


def term_powers(term: Term, index: dict[str, int]) -> Powers:
    """The power vector of ``term`` over the variables numbered by ``index`` (name -> column)."""
    powers = [0] * len(index)
    for var, power in term.factors:
        if var not in index:
            raise FitglmeError(
                f"The term '{term.label()}' uses '{var}', which is not a table variable. "
                f"Available variables: {', '.join(index)}.",
                UNKNOWN_VARIABLE,
            )
        powers[index[var]] += power
    return tuple(powers)


def powers_term(powers: Powers, variable_names: Sequence[str]) -> Term:
    """The :class:`Term` of a power vector, factors in table order (the zero vector is the intercept)."""
    return Term(tuple((variable_names[i], p) for i, p in enumerate(powers) if p > 0))


# --------------------------------------------------------------------------------------------
# Term algebra on power vectors
# --------------------------------------------------------------------------------------------


def _unique(vectors: Iterable[Powers]) -> list[Powers]:
    """Drop repeated vectors, keeping the first occurrence."""
    return list(dict.fromkeys(vectors))


def _cross(left: list[Powers], right: list[Powers]) -> list[Powers]:
    """Every product of a term of ``left`` with a term of ``right`` (powers add)."""
    return _unique(tuple(a + b for a, b in zip(u, v)) for u in left for v in right)


def _sort_powers(vectors: Iterable[Powers]) -> list[Powers]:
    """MATLAB's term order: degree, largest power, then the vector read backwards."""
    return sorted(set(vectors), key=lambda v: (sum(v), max(v, default=0), v[::-1]))


# --------------------------------------------------------------------------------------------
# Tokenizer and recursive-descent parser
# --------------------------------------------------------------------------------------------


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            raise _syntax_error(
                text, pos, f"unexpected character '{text[pos]}'; expected a variable name, 1, "
                "or one of the operators ~ + - * : / ^ ( ) |"
            )
        kind = match.lastgroup or "op"
        tokens.append(_Token(kind, match.group(), pos))
        pos = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _syntax_error(text: str, pos: int, message: str) -> FitglmeError:
    """A BadFormula error quoting the formula with a caret under character ``pos`` (0-based)."""
    shown = "".join(" " if c.isspace() else c for c in text)
    return FitglmeError(
        f"Invalid formula '{text}': {message} (at character {pos + 1}).\n"
        f"    {shown}\n"
        f"    {' ' * pos}^",
        BAD_FORMULA,
    )


class _Parser:
    """Recursive-descent parser that expands terms while it reads them."""

    def __init__(self, text: str, variable_names: list[str]) -> None:
        self.text = text
        self.names = variable_names
        self.index = {name: i for i, name in enumerate(variable_names)}
        self.intercept: Powers = (0,) * len(variable_names)
        self.tokens = _tokenize(text)
        self.i = 0
        self.response = ""

    # -- token helpers -----------------------------------------------------------------------

    def peek(self, offset: int = 0) -> _Token:
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def advance(self) -> _Token:
        token = self.tokens[self.i]
        self.i = min(self.i + 1, len(self.tokens) - 1)
        return token

    def error(self, token: _Token, message: str) -> FitglmeError:
        return _syntax_error(self.text, token.pos, message)

    def variable(self, token: _Token) -> int:
        """Column index of the variable named by ``token``; UnknownVariable if there is none."""
        if token.text in self.index:
            return self.index[token.text]
        hint = [n for n in self.names if n.lower() == token.text.lower()]
        also = f" (did you mean '{hint[0]}'? names are case-sensitive)" if hint else ""
        raise FitglmeError(
            f"Unknown variable '{token.text}' at character {token.pos + 1} of formula "
            f"'{self.text}'{also}. Available variables: {', '.join(self.names) or '(none)'}.",
            UNKNOWN_VARIABLE,
        )

    # -- formula -----------------------------------------------------------------------------

    def parse(self) -> ParsedFormula:
        first = self.peek()
        if first.kind != "name":
            if first.kind == "end":
                raise self.error(first, "the formula is empty; expected 'response ~ terms'")
            raise self.error(first, f"expected the response variable name but found {first.describe()}")
        self.advance()
        tilde = self.peek()
        if tilde.is_op("("):
            raise self.error(tilde, "expected '~' after the response name; a link function in the "
                             "formula is not supported (use the 'Link' argument)")
        self.variable(first)
        self.response = first.text
        if not tilde.is_op("~"):
            raise self.error(tilde, f"expected '~' after the response '{first.text}' but found "
                             f"{tilde.describe()}")
        self.advance()
        if self.peek().kind == "end":
            raise self.error(self.peek(), "nothing follows '~'; expected the model terms")

        removed: list[Powers] = []
        random: list[RandomTerm] = []
        added = self.parse_sum(removed, random)
        self.expect_end()

        fixed = self.finish_terms(added, removed)
        if not fixed:
            raise self.error(tilde, "no fixed-effects term is left (not even the intercept); "
                             "expected at least one fixed-effects term")
        return ParsedFormula(
            response=self.response,
            fixed=tuple(powers_term(v, self.names) for v in fixed),
            random=tuple(random),
            text=self.text,
        )

    def expect_end(self) -> None:
        token = self.peek()
        if token.kind == "end":
            return
        if token.is_op(")"):
            raise self.error(token, "unbalanced parentheses: this ')' has no matching '('")
        if token.is_op("|"):
            raise self.error(token, "'|' is only allowed inside a random-effects term "
                             "'(terms | group)' added at the top level of the formula")
        if token.is_op("~"):
            raise self.error(token, "a formula has exactly one '~'")
        if token.is_op("^"):
            raise self.error(token, "expected '+', '-' or the end of the formula; a power "
                             "takes a single '^'")
        raise self.error(token, f"expected an operator (+ - * : / ^) between terms but found "
                         f"{token.describe()}")

    def finish_terms(self, added: list[Powers], removed: list[Powers]) -> list[Powers]:
        """Default intercept + added terms - removed terms, merged and in MATLAB's order."""
        drop = set(removed)
        return _sort_powers(v for v in [self.intercept, *added] if v not in drop)

    # -- sums and random terms ---------------------------------------------------------------

    def parse_sum(self, removed: list[Powers], random: list[RandomTerm] | None) -> list[Powers]:
        """A ``+``/``-`` sequence. ``random`` is given only at the top level of the formula,
        where ``(terms | group)`` items are allowed; subtracted terms go to ``removed``."""
        added: list[Powers] = []
        first = True
        while True:
            token = self.peek()
            sign = "+"
            if token.is_op("+-"):
                if first and token.text == "+":
                    raise self.error(token, "expected a term before '+'")
                sign = token.text
                self.advance()
            elif not first:
                return added
            first = False

            if random is not None and self.at_random_term():
                if sign == "-":
                    raise self.error(self.peek(), "a random-effects term '(terms | group)' "
                                     "cannot be subtracted; expected '+' before it")
                random.append(self.parse_random_term())
                after = self.peek()
                if not (after.kind == "end" or after.is_op("+-")):
                    raise self.error(after, "a random-effects term '(terms | group)' can only be "
                                     f"added with '+'; expected '+', '-' or the end but found "
                                     f"{after.describe()}")
                continue

            terms = self.parse_product(removed)
            (added if sign == "+" else removed).extend(terms)

    def at_random_term(self) -> bool:
        """True if the next token opens parentheses that contain a '|' at their own level."""
        if not self.peek().is_op("("):
            return False
        depth = 0
        for token in self.tokens[self.i:]:
            if token.is_op("("):
                depth += 1
            elif token.is_op(")"):
                depth -= 1
                if depth == 0:
                    return False
            elif token.is_op("|") and depth == 1:
                return True
        return False

    def parse_random_term(self) -> RandomTerm:
        opening = self.advance()
        removed: list[Powers] = []
        added = self.parse_sum(removed, None)
        bar = self.peek()
        if not bar.is_op("|"):
            raise self.error(bar, "expected an operator (+ - * : / ^) or '|' in the random-effects "
                             f"term opened at character {opening.pos + 1}, but found {bar.describe()}")
        self.advance()
        group = self.parse_group()
        closing = self.peek()
        if not closing.is_op(")"):
            if closing.kind == "end":
                message = (f"unbalanced parentheses: the random-effects term opened at character "
                           f"{opening.pos + 1} is never closed; expected ')'")
            else:
                message = ("the grouping part of a random-effects term must be a variable or an "
                           f"interaction of variables such as g1:g2; expected ':' or ')' but found "
                           f"{closing.describe()}")
            raise self.error(closing, message)
        self.advance()
        terms = self.finish_terms(added, removed)
        if not terms:
            raise self.error(opening, "this random-effects term has no terms left (not even the "
                             "intercept); expected at least one term before '|'")
        return RandomTerm(terms=tuple(powers_term(v, self.names) for v in terms), group=group)

    def parse_group(self) -> tuple[str, ...]:
        group: list[str] = []
        while True:
            token = self.peek()
            if token.kind != "name":
                raise self.error(token, "expected a grouping variable name"
                                 + (" after '|'" if not group else " after ':'")
                                 + f" but found {token.describe()}")
            self.advance()
            self.variable(token)
            if token.text in group:
                raise self.error(token, f"the grouping variable '{token.text}' is repeated")
            if token.text == self.response:
                raise self.error(token, f"the response '{self.response}' cannot be a grouping variable")
            group.append(token.text)
            if not self.peek().is_op(":"):
                return tuple(group)
            self.advance()

    # -- products, nesting, interactions, powers ----------------------------------------------

    def parse_product(self, removed: list[Powers]) -> list[Powers]:
        terms = self.parse_nested(removed)
        while self.peek().is_op("*"):
            self.advance()
            right = self.parse_nested(removed)
            terms = _unique([*terms, *right, *_cross(terms, right)])
        return terms

    def parse_nested(self, removed: list[Powers]) -> list[Powers]:
        terms = self.parse_interaction(removed)
        if not self.peek().is_op("/"):
            return terms
        self.advance()
        token = self.peek()
        if token.kind != "name":
            raise self.error(token, "expected a single variable name after '/' (A/B means "
                             f"A + A:B) but found {token.describe()}")
        self.advance()
        inner = [self.predictor(token)]
        terms = _unique([*terms, *_cross(terms, inner)])
        if self.peek().is_op("/"):
            raise self.error(self.peek(), "expected one '/' only; nest again with parentheses, "
                             "e.g. (A/B)/C")
        return terms

    def parse_interaction(self, removed: list[Powers]) -> list[Powers]:
        terms = self.parse_power(removed)
        while self.peek().is_op(":"):
            self.advance()
            terms = _cross(terms, self.parse_power(removed))
        return terms

    def parse_power(self, removed: list[Powers]) -> list[Powers]:
        base = self.parse_primary(removed)
        if not self.peek().is_op("^"):
            return base
        self.advance()
        token = self.peek()
        if token.kind != "number" or not token.text.isdigit() or int(token.text) < 1:
            raise self.error(token, f"expected a positive integer exponent after '^' but found "
                             f"{token.describe()}")
        self.advance()
        terms = base
        for _ in range(int(token.text) - 1):
            terms = _unique([*terms, *_cross(terms, base)])
        return terms

    def parse_primary(self, removed: list[Powers]) -> list[Powers]:
        token = self.peek()
        if token.kind == "name":
            self.advance()
            return [self.predictor(token)]
        if token.kind == "number":
            self.advance()
            if token.text == "1":
                return [self.intercept]
            if token.text == "0":
                raise self.error(token, "'0' is not a term; expected a variable name or 1 "
                                 "(to remove the intercept write -1)")
            raise self.error(token, f"the number {token.text} is not a term; expected a variable "
                             "name or 1 (the intercept)")
        if token.is_op("("):
            opening = self.advance()
            if self.peek().is_op(")"):
                raise self.error(self.peek(), "empty parentheses; expected a term after '('")
            terms = self.parse_sum(removed, None)
            closing = self.peek()
            if closing.is_op("|"):
                raise self.error(closing, "'|' is only allowed in a random-effects term "
                                 "'(terms | group)' added at the top level of the formula")
            if not closing.is_op(")"):
                if closing.kind == "end":
                    raise self.error(closing, f"unbalanced parentheses: the '(' at character "
                                     f"{opening.pos + 1} is never closed; expected ')'")
                raise self.error(closing, f"expected an operator (+ - * : / ^) or ')' but found "
                                 f"{closing.describe()}")
            self.advance()
            return terms
        if token.kind == "end":
            raise self.error(token, "the formula ends too early; expected a term (a variable "
                             "name, 1 or '(') at the end")
        raise self.error(token, f"expected a term (a variable name, 1 or '(') but found "
                         f"{token.describe()}")

    def predictor(self, token: _Token) -> Powers:
        column = self.variable(token)
        if token.text == self.response:
            raise self.error(token, f"the response '{self.response}' cannot also be a predictor")
        powers = [0] * len(self.names)
        powers[column] = 1
        return tuple(powers)
