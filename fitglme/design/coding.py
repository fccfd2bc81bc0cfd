"""Dummy-variable coding of categorical predictors, interaction columns, and coefficient names.

A term is a product of factors ``(variable, power)``.  Each factor becomes a block of columns:

* continuous variable ``x`` with power p: one column ``x**p`` named ``x`` (p = 1) or ``x^p``;
* categorical variable ``g`` with K levels: the rows of a K-by-m *contrast* matrix picked by the
  level of each observation, columns named ``g_<level>`` for the levels kept by the scheme:

  ===========  ===  ==========================================================================
  scheme       m    contrast
  ===========  ===  ==========================================================================
  reference    K-1  identity without its first column (first level = reference, all zeros)
  effects      K-1  identity without its last column; the last level's row is all -1
  full         K    identity
  ===========  ===  ==========================================================================

A term's columns are the products of its factors' columns, the FIRST factor varying fastest
(``a_1:b_1, a_2:b_1, a_1:b_2, ...``); names join the factor parts with ':'.

When a model part (the fixed effects, or one random-effects term) has no intercept, the first
categorical main-effect term is coded with 'full' coding whatever the scheme (see
docs/design.md).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..errors import FitglmeError
from ..formula.terms import Term
from .variables import Levels

__all__ = ["SCHEMES", "FactorCode", "TermCode", "check_scheme", "contrast", "term_codes"]

SCHEMES = ("reference", "effects", "full")


def check_scheme(value: object) -> str:
    """Validate DummyVarCoding (case-insensitive) and return it in lower case."""
    if isinstance(value, str) and value.lower() in SCHEMES:
        return value.lower()
    raise FitglmeError(
        f"DummyVarCoding must be 'reference', 'effects' or 'full'; got {value!r}.",
        "fitglme:BadDummyVarCoding",
    )


def contrast(n_levels: int, scheme: str) -> tuple[np.ndarray, list[int]]:
    """The K-by-m contrast matrix of a scheme and the level numbers that name its columns."""
    k = n_levels
    eye = np.eye(k)
    if scheme == "reference":
        return eye[:, 1:].copy(), list(range(1, k))
    if scheme == "effects":
        c = eye[:, : max(k - 1, 0)].copy()
        if k > 1:
            c[k - 1, :] = -1.0
        return c, list(range(k - 1))
    if scheme == "full":
        return eye, list(range(k))
    raise ValueError(scheme)


@dataclass(frozen=True, eq=False)
class FactorCode:
    """How one factor ``(var, power)`` of a term becomes columns."""

    var: str
    power: int
    categorical: bool
    names: tuple[str, ...]
    contrast: np.ndarray | None = None  # (K, m) for a categorical factor

    @property
    def ncols(self) -> int:
        return len(self.names)

    def columns(self, value: np.ndarray) -> np.ndarray:
        """Columns for the rows given: ``value`` is float (n,) (continuous) or int64 level codes
        (n,) (categorical; -1 gives a row of NaN)."""
        if not self.categorical:
            v = np.asarray(value, dtype=np.float64)
            return (v if self.power == 1 else v ** self.power)[:, None]
        c_ext = np.vstack([self.contrast, np.full((1, self.contrast.shape[1]), np.nan)])
        return c_ext[value]  # code -1 picks the NaN row


@dataclass(frozen=True, eq=False)
class TermCode:
    """How one term becomes columns; ``names`` are the coefficient names of its columns."""

    term: Term
    factors: tuple[FactorCode, ...]
    names: tuple[str, ...]

    @property
    def label(self) -> str:
        return self.term.label()

    @property
    def ncols(self) -> int:
        return len(self.names)

    @property
    def variables(self) -> tuple[str, ...]:
        return self.term.variables

    def columns(self, values: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        """The (n, ncols) block; ``values[var]`` as in :meth:`FactorCode.columns`."""
        if not self.factors:
            return np.ones((n, 1))
        acc = self.factors[0].columns(values[self.factors[0].var])
        for f in self.factors[1:]:
            blk = f.columns(values[f.var])
            # the first factor varies fastest: column i_prev + a * i_new
            acc = (blk[:, :, None] * acc[:, None, :]).reshape(n, blk.shape[1] * acc.shape[1])
        return np.asarray(acc, dtype=np.float64)


def _product_names(parts: Sequence[Sequence[str]]) -> tuple[str, ...]:
    """Names of the product columns, the first part varying fastest."""
    if not parts:
        return ("(Intercept)",)
    names = list(parts[0])
    for part in parts[1:]:
        names = [f"{a}:{b}" for b in part for a in names]
    return tuple(names)


def term_codes(terms: Sequence[Term], levels: Mapping[str, Levels | None], scheme: str) -> list[TermCode]:
    """Code each term of one model part (fixed effects, or one random-effects term).

    ``levels[var]`` is the :class:`Levels` of a categorical variable and ``None`` for a continuous
    one.  If ``terms`` has no intercept, the first term that is a single categorical variable
    (power 1) gets 'full' coding.
    """
    full_term = None
    if not any(t.is_intercept for t in terms) and scheme != "full":
        for t in terms:
            if len(t.factors) == 1 and t.factors[0][1] == 1 and levels.get(t.factors[0][0]) is not None:
                full_term = t
                break
    out = []
    for t in terms:
        t_scheme = "full" if t is full_term else scheme
        factors = []
        for var, power in t.factors:
            lev = levels.get(var)
            if lev is None:
                name = var if power == 1 else f"{var}^{power}"
                factors.append(FactorCode(var, power, False, (name,)))
                continue
            if power != 1:
                raise FitglmeError(
                    f"Term '{t.label()}' raises the categorical variable '{var}' to the power "
                    f"{power}; powers are allowed only for continuous (numeric) variables.",
                    "fitglme:BadFormula",
                )
            c, kept = contrast(lev.n, t_scheme)
            names = tuple(f"{var}_{lev.labels[i]}" for i in kept)
            factors.append(FactorCode(var, 1, True, names, c))
        names = _product_names([f.names for f in factors])
        out.append(TermCode(t, tuple(factors), names))
    return out
