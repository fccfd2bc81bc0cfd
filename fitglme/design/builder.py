"""Build the fixed-effects matrix X and the random-effects blocks from a table and a parsed formula.

:func:`build_design` is the entry point.  It returns a :class:`Design` holding, for the rows used
in the fit (neither missing nor excluded), the response ``y``, the dense fixed-effects matrix ``X``
with MATLAB's coefficient names, and one :class:`ReBlock` per random-effects term: the level of
each row plus the term's small dense covariate block ``Z`` (never the big n-by-(levels*q) matrix).
``Design.spec`` (a :class:`DesignSpec`) rebuilds X and the blocks for new data.

Rules and undocumented choices are listed in docs/design.md.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import FitglmeError
from ..formula.terms import ParsedFormula
from .coding import TermCode, check_scheme, term_codes
from .rows import _parse_extra_missing, parse_exclude
from .variables import (
    CATEGORICAL_KINDS,
    Levels,
    as_table,
    column,
    find_levels,
    matlab_class,
    missing_mask,
    numeric_values,
    variable_kind,
)

__all__ = ["AllRows", "Design", "DesignSpec", "GroupingSpec", "ReBlock", "ReTermSpec", "build_design", "on_rows",
           "parse_exclude"]


# --------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------
@dataclass
class ReBlock:
    """One random-effects term ``(terms | group)``.

    Row i of the data contributes ``Z[i] @ b[index[i]]`` to the linear predictor, where ``b`` is
    the nlevels-by-q matrix of this term's random effects; ``index[i] == -1`` (only for new data:
    an unseen or missing group) contributes zero.
    """

    group_name: str
    group_vars: tuple[str, ...]
    level_names: list[str]
    index: np.ndarray
    Z: np.ndarray
    names: list[str]

    @property
    def nlevels(self) -> int:
        return len(self.level_names)

    @property
    def q(self) -> int:
        return int(self.Z.shape[1])


@dataclass
class Design:
    """Everything the fitter needs from the table, for the rows used."""

    y: np.ndarray
    X: np.ndarray
    coef_names: list[str]
    term_labels: list[str]
    term_columns: list[np.ndarray]
    re_blocks: list[ReBlock]
    missing: np.ndarray
    excluded: np.ndarray
    spec: "DesignSpec"
    variable_info: pd.DataFrame

    @property
    def rows(self) -> np.ndarray:
        """0-based positions (int64) of the table rows used, ascending; computed from the masks on
        demand (not stored: an n-vector the fit does not need)."""
        return np.flatnonzero(~self.missing & ~self.excluded).astype(np.int64, copy=False)

    @property
    def used_rows(self) -> "np.ndarray | AllRows":
        """:attr:`rows`, or :class:`AllRows` when every row of the table is used."""
        used = ~self.missing & ~self.excluded
        return AllRows(used.size) if used.all() else np.flatnonzero(used).astype(np.int64, copy=False)


# --------------------------------------------------------------------------------------------
# grouping variables
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class GroupingSpec:
    """The levels of a grouping variable or of an interaction ``g1:g2:...`` of them.

    For an interaction, the levels are the observed combinations, sorted by the components' level
    numbers with the first variable slowest; ``step_keys[j]`` holds the sorted integer keys of the
    combinations of the first j+2 variables (used to map new data).
    """

    group_vars: tuple[str, ...]
    var_levels: tuple[Levels, ...]
    step_keys: tuple[np.ndarray, ...]
    level_names: tuple[str, ...]

    @property
    def name(self) -> str:
        return ":".join(self.group_vars)

    @classmethod
    def from_codes(cls, group_vars: tuple[str, ...], var_levels: tuple[Levels, ...],
                   codes: Sequence[np.ndarray]) -> tuple["GroupingSpec", np.ndarray]:
        """Build from the component level codes of the used rows (all >= 0); returns the spec
        and the combined level index of those rows."""
        d = np.asarray(codes[0], dtype=np.int64)
        comp = [np.arange(var_levels[0].n, dtype=np.int64)]
        keys = []
        for c, lev in zip(codes[1:], var_levels[1:]):
            uk, d = np.unique(d * lev.n + c, return_inverse=True)
            d = d.astype(np.int64).ravel()
            keys.append(uk)
            prev, new = uk // lev.n, uk % lev.n
            comp = [x[prev] for x in comp] + [new]
        if len(var_levels) == 1:
            names = var_levels[0].labels
        else:
            parts = [np.asarray(lev.labels, dtype=object)[c] for lev, c in zip(var_levels, comp)]
            names = tuple(" ".join(p) for p in zip(*parts))
        return cls(group_vars, var_levels, tuple(keys), tuple(names)), d

    def encode(self, tbl: pd.DataFrame) -> np.ndarray:
        """Level index (int64 (N,)) of every row of ``tbl``; -1 for unseen or missing groups."""
        codes = [lev.encode(column(tbl, v))[0] for v, lev in zip(self.group_vars, self.var_levels)]
        d = codes[0]
        for c, lev, uk in zip(codes[1:], self.var_levels[1:], self.step_keys):
            valid = (d >= 0) & (c >= 0)
            key = d * lev.n + c
            pos = np.minimum(np.searchsorted(uk, key), len(uk) - 1)
            d = np.where(valid & (uk[pos] == key), pos, -1).astype(np.int64)
        return d


@dataclass(frozen=True, eq=False)
class ReTermSpec:
    """A random-effects term: its grouping and the coding of its own terms."""

    group: GroupingSpec
    terms: tuple[TermCode, ...]

    @property
    def names(self) -> list[str]:
        return [nm for t in self.terms for nm in t.names]


# --------------------------------------------------------------------------------------------
# the specification (rebuilds X and the blocks for new data)
# --------------------------------------------------------------------------------------------
@dataclass(eq=False)
class DesignSpec:
    """What is needed to rebuild X and the random-effects blocks for new data.

    ``predictor_levels[var]`` is the :class:`Levels` of a categorical predictor and ``None`` for a
    continuous one (fixed-effects predictors and random-effects covariates).
    """

    response: str
    dummy_coding: str
    predictor_levels: dict[str, Levels | None]
    fixed: tuple[TermCode, ...]
    random: tuple[ReTermSpec, ...]
    predictor_names: list[str] = field(default_factory=list)  # table order; grouping vars too

    @property
    def coef_names(self) -> list[str]:
        return [nm for t in self.fixed for nm in t.names]

    @property
    def term_labels(self) -> list[str]:
        return [t.label for t in self.fixed]

    @property
    def term_columns(self) -> list[np.ndarray]:
        out, j = [], 0
        for t in self.fixed:
            out.append(np.arange(j, j + t.ncols, dtype=np.int64))
            j += t.ncols
        return out

    @property
    def grouping_names(self) -> list[str]:
        return [r.group.name for r in self.random]

    # -- new data ---------------------------------------------------------------------------
    def _values(self, tbl: pd.DataFrame, variables: Sequence[str]) -> dict[str, np.ndarray]:
        """Values of the predictors for every row of ``tbl``: float (continuous, NaN if missing)
        or level codes (categorical, -1 if missing); an unseen level raises FitglmeError."""
        out: dict[str, np.ndarray] = {}
        for var in variables:
            if var in out:
                continue
            s = column(tbl, var)
            lev = self.predictor_levels[var]
            if lev is None:
                out[var] = numeric_values(s, var)
                continue
            codes, unseen = lev.encode(s)
            if unseen.any():
                i = int(np.flatnonzero(unseen)[0])
                raise FitglmeError(
                    f"Categorical predictor '{var}' has the value {s.iloc[i]!r} (row {i}, 0-based) "
                    f"that is not one of its levels in the fitted model: "
                    f"{', '.join(repr(x) for x in lev.labels)}.",
                    "fitglme:UnknownLevel",
                )
            out[var] = codes
        return out

    def fixed_matrix(self, newtbl: Any) -> np.ndarray:
        """The fixed-effects matrix (N_new, p) for every row of ``newtbl``.

        Rows with a missing predictor value hold NaN in the columns that use it.  A categorical
        level not seen in the fit raises FitglmeError naming the variable and the level.
        """
        tbl = as_table(newtbl)
        n = len(tbl)
        vals = self._values(tbl, [v for t in self.fixed for v in t.variables])
        return _assemble(self.fixed, vals, n)

    def random_blocks(self, newtbl: Any) -> list[ReBlock]:
        """The random-effects blocks for every row of ``newtbl``.

        A group level not seen in the fit (or a missing grouping value) gets index -1, i.e. the
        row gets no random-effect contribution from that term.
        """
        tbl = as_table(newtbl)
        n = len(tbl)
        out = []
        for r in self.random:
            vals = self._values(tbl, [v for t in r.terms for v in t.variables])
            out.append(ReBlock(
                group_name=r.group.name,
                group_vars=r.group.group_vars,
                level_names=list(r.group.level_names),
                index=r.group.encode(tbl),
                Z=_assemble(r.terms, vals, n),
                names=r.names,
            ))
        return out

    def missing_rows(self, newtbl: Any) -> np.ndarray:
        """Bool (N_new,): rows of ``newtbl`` with a missing value in a predictor or grouping
        variable of the model (the response is not needed and not checked)."""
        tbl = as_table(newtbl)
        miss = np.zeros(len(tbl), dtype=bool)
        for var in self.predictor_names:
            miss |= missing_mask(column(tbl, var))
        return miss


def _assemble(terms: Sequence[TermCode], values: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    """Stack the terms' column blocks into one C-contiguous (n, sum ncols) float64 matrix."""
    p = sum(t.ncols for t in terms)
    out = np.empty((n, p), dtype=np.float64)
    j = 0
    for t in terms:
        if not t.factors:  # the intercept: filled in place (no (n, 1) block of ones)
            out[:, j] = 1.0
        else:
            out[:, j:j + t.ncols] = t.columns(values, n)
        j += t.ncols
    return out


def _random_design(terms: Sequence[TermCode], values: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    """A random term's Z: a read-only broadcast column of ones for a random intercept (no memory
    per row; the engine's row-wise products then read one array fewer), else :func:`_assemble`."""
    if len(terms) == 1 and not terms[0].factors:
        return np.broadcast_to(np.ones((1, 1)), (n, 1))
    return _assemble(terms, values, n)


# --------------------------------------------------------------------------------------------
# the builder
# --------------------------------------------------------------------------------------------
def _model_variables(parsed: ParsedFormula) -> tuple[list[str], list[str], list[str]]:
    """(fixed predictors, random-effects covariates, grouping variables), each without repeats."""
    def uniq(seq):
        return list(dict.fromkeys(seq))

    fixed = uniq(v for t in parsed.fixed for v in t.variables)
    re_cov = uniq(v for r in parsed.random for t in r.terms for v in t.variables)
    groups = uniq(v for r in parsed.random for v in r.group)
    return fixed, re_cov, groups


def _check_finite(values: np.ndarray, rows: "np.ndarray | AllRows", name: str, role: str) -> None:
    bad = np.isinf(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise FitglmeError(
            f"Variable '{name}' (the {role}) has the value {values[i]} in row {int(rows[i])} "
            f"(0-based); values must be finite (NaN marks a missing value).",
            "fitglme:BadData",
        )


def build_design(tbl: Any, parsed: ParsedFormula, dummy_coding: str = "reference",
                 exclude: Any = None, extra_missing: np.ndarray | None = None) -> Design:
    """Turn a table and a parsed formula into X, y and the random-effects blocks, MATLAB's way.

    Parameters
    ----------
    tbl : pandas.DataFrame or dict of equal-length columns
        The data; never modified.
    parsed : ParsedFormula
        Response, fixed terms and random terms (in MATLAB's order).
    dummy_coding : {'reference', 'effects', 'full'}
        DummyVarCoding for categorical predictors (fixed and random-effects covariates).
    exclude : None, bool mask of length N, or 0-based integer row positions
        Rows to leave out (MATLAB 'Exclude').
    extra_missing : bool (N,), optional
        Further rows to treat as missing (e.g. missing weights), ORed into ``Design.missing``.

    Returns
    -------
    Design
    """
    tbl = as_table(tbl)
    scheme = check_scheme(dummy_coding)
    if not isinstance(parsed, ParsedFormula):
        raise FitglmeError(
            f"parsed must be a ParsedFormula; got {type(parsed).__name__}.", "fitglme:BadInput")
    _check_random_terms(parsed)
    fixed_vars, re_vars, group_vars = _model_variables(parsed)
    predictors = list(dict.fromkeys(fixed_vars + re_vars))
    used_vars = list(dict.fromkeys([parsed.response] + predictors + group_vars))
    cols = {v: column(tbl, v) for v in used_vars}
    kinds = {v: variable_kind(cols[v]) for v in used_vars}
    _check_types(parsed.response, predictors, cols, kinds)
    missing, excluded, rows = _used_rows(tbl, cols, exclude, extra_missing)
    used = ~missing & ~excluded
    n = rows.size

    y = on_rows(numeric_values(cols[parsed.response], parsed.response, "response"), rows, cols[parsed.response])
    _check_finite(y, rows, parsed.response, "response")
    levels, values = _predictor_values(predictors, cols, kinds, used, rows)
    fixed = tuple(term_codes(parsed.fixed, levels, scheme))
    X = _assemble(fixed, values, n)
    group_levels = {g: find_levels(cols[g], used, g) for g in group_vars}
    re_specs, re_blocks = _random_blocks(parsed, cols, group_levels, levels, values, scheme, rows)

    in_model = set(predictors) | set(group_vars)
    spec = DesignSpec(
        response=parsed.response,
        dummy_coding=scheme,
        predictor_levels=levels,
        fixed=fixed,
        random=tuple(re_specs),
        predictor_names=[str(c) for c in tbl.columns if c in in_model],
    )
    return Design(
        y=np.ascontiguousarray(y, dtype=np.float64),
        X=X,
        coef_names=spec.coef_names,
        term_labels=spec.term_labels,
        term_columns=spec.term_columns,
        re_blocks=re_blocks,
        missing=missing,
        excluded=excluded,
        spec=spec,
        variable_info=variable_info(tbl, in_model, used, excluded, levels, group_levels),
    )


def _check_random_terms(parsed: ParsedFormula) -> None:
    for r in parsed.random:
        if not r.terms:
            raise FitglmeError(
                f"The random-effects term for grouping '{r.group_name}' has no terms (e.g. "
                f"'(-1 | {r.group_name})'); it needs at least an intercept or one variable.",
                "fitglme:BadFormula",
            )


def _check_types(response: str, predictors: list[str], cols: dict, kinds: dict) -> None:
    """The response must be numeric or logical, the predictors numeric, logical, categorical or
    text (grouping variables may be of any type)."""
    if kinds[response] not in ("numeric", "logical"):
        raise FitglmeError(
            f"The response '{response}' must be numeric or logical; it has type "
            f"{cols[response].dtype} ({matlab_class(cols[response])} in MATLAB terms).",
            "fitglme:BadResponse",
        )
    for v in predictors:
        if kinds[v] not in CATEGORICAL_KINDS and kinds[v] != "numeric":
            if kinds[v] == "mixed":
                numeric_values(cols[v], v)  # raises the 'mixes values' error
            raise FitglmeError(
                f"Predictor '{v}' has type {cols[v].dtype} ({matlab_class(cols[v])} in MATLAB "
                f"terms); predictors must be numeric, logical, categorical or text.",
                "fitglme:BadData",
            )


def _used_rows(tbl: pd.DataFrame, cols: dict, exclude: Any,
               extra_missing: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, "np.ndarray | AllRows"]:
    """(missing, excluded) masks over the table and the 0-based positions of the rows used
    (:class:`AllRows` when every row is used)."""
    n_all = len(tbl)
    missing = _parse_extra_missing(extra_missing, n_all)
    for c in cols.values():
        missing |= missing_mask(c)
    excluded = parse_exclude(exclude, n_all, tbl.index)
    used = ~missing & ~excluded
    rows = AllRows(n_all) if used.all() else np.flatnonzero(used).astype(np.int64, copy=False)
    if rows.size == 0:
        raise FitglmeError(
            f"No rows are left to fit: the table has {n_all} rows, {int(missing.sum())} with a "
            f"missing value in a model variable and {int((excluded & ~missing).sum())} more "
            f"excluded.",
            "fitglme:NoRows",
        )
    return missing, excluded, rows


class AllRows:
    """Every row of the table is used: stands in for ``np.arange(n)`` as the rows of the fit
    without the n-vector of positions or the gathers through it (docs/performance.md, "Growth in n").
    Only what is asked of the rows: ``size``, ``len`` and the position of the i-th row."""

    def __init__(self, n: int) -> None:
        self.size = n

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, i: int) -> int:
        return int(i)


def on_rows(values: np.ndarray, rows: np.ndarray | AllRows, source: Any = None,
            read_only: bool = False) -> np.ndarray:
    """``values[rows]``: the values of the rows used, in an array of their own (never a writable
    view of the caller's table: the engine may take it as its own).  ``source``: the table column
    ``values`` were read from, if any (they are copied only when they may share its memory);
    ``read_only``: the builder only reads them (a read-only view instead of a copy)."""
    if isinstance(rows, AllRows):
        if source is None:
            shared = not values.flags.owndata
        else:
            src = source.to_numpy() if hasattr(source, "to_numpy") else np.asarray(source)
            shared = np.may_share_memory(values, src)
        if not shared:
            return values
        if read_only:
            view = values.view()
            view.flags.writeable = False
            return view
        return values.copy()
    return values[rows]


def _predictor_values(predictors: list[str], cols: dict, kinds: dict, used: np.ndarray,
                      rows: "np.ndarray | AllRows") -> tuple[dict[str, Levels | None], dict[str, np.ndarray]]:
    """Per predictor its Levels (None: continuous) and its values on the used rows: floats or
    level codes."""
    levels: dict[str, Levels | None] = {}
    values: dict[str, np.ndarray] = {}
    for v in predictors:
        if kinds[v] == "numeric":
            levels[v] = None
            values[v] = on_rows(numeric_values(cols[v], v), rows, cols[v], read_only=True)  # (copied into X, Z)
            _check_finite(values[v], rows, v, "continuous predictor")
        else:
            levels[v] = find_levels(cols[v], used, v)
            values[v] = on_rows(levels[v].encode(cols[v])[0], rows)
    return levels, values


def _random_blocks(parsed: ParsedFormula, cols: dict, group_levels: dict[str, Levels],
                   levels: dict, values: dict, scheme: str,
                   rows: "np.ndarray | AllRows") -> tuple[list[ReTermSpec], list[ReBlock]]:
    """The specification and the block (level index, covariates Z) of every random term."""
    group_codes = {g: on_rows(lev.encode(cols[g])[0], rows) for g, lev in group_levels.items()}
    re_specs, re_blocks = [], []
    for r in parsed.random:
        gspec, index = GroupingSpec.from_codes(
            tuple(r.group), tuple(group_levels[g] for g in r.group), [group_codes[g] for g in r.group])
        rspec = ReTermSpec(gspec, tuple(term_codes(r.terms, levels, scheme)))
        re_specs.append(rspec)
        re_blocks.append(ReBlock(
            group_name=gspec.name,
            group_vars=gspec.group_vars,
            level_names=list(gspec.level_names),
            index=index,
            Z=_random_design(rspec.terms, values, rows.size),
            names=rspec.names,
        ))
    return re_specs, re_blocks


# --------------------------------------------------------------------------------------------
# VariableInfo
# --------------------------------------------------------------------------------------------
def variable_info(tbl: pd.DataFrame, in_model: set[str], used: np.ndarray, excluded: np.ndarray,
                  levels: Mapping[str, Levels | None] | None = None,
                  group_levels: Mapping[str, Levels] | None = None) -> pd.DataFrame:
    """MATLAB's VariableInfo: one row per table variable with Class, Range, InModel, IsCategorical.

    Range is [min, max] for numeric (and logical, as 0/1) variables and the list of level labels
    for the others; it is computed over the rows used in the fit for model variables and over
    the non-excluded rows for the others.
    """
    levels = levels or {}
    group_levels = group_levels or {}
    recs = []
    names = []
    for c in tbl.columns:
        name = str(c)
        s = tbl[c]
        if isinstance(s, pd.DataFrame):  # duplicated column name: describe the first
            s = s.iloc[:, 0]
        kind = variable_kind(s)
        rows = used if name in in_model else ~excluded
        rng: list = []
        try:
            if kind in ("numeric", "logical") and not pd.api.types.is_complex_dtype(s.dtype):
                lo, hi = _value_range(numeric_values(s, name), rows)
                rng = [int(lo), int(hi)] if kind == "logical" and lo == lo else [lo, hi]
            elif isinstance(levels.get(name), Levels):
                rng = list(levels[name].labels)
            elif name in group_levels and kind != "numeric":
                rng = list(group_levels[name].labels)
            else:
                rng = list(find_levels(s, rows, name).labels)
        except FitglmeError:
            rng = []
        names.append(name)
        recs.append({
            "Class": matlab_class(s),
            "Range": rng,
            "InModel": name in in_model,
            "IsCategorical": kind in CATEGORICAL_KINDS or kind == "other",
        })
    out = pd.DataFrame.from_records(recs, index=pd.Index(names, dtype=object),
                                    columns=["Class", "Range", "InModel", "IsCategorical"])
    out["Range"] = out["Range"].astype(object)
    return out


def _value_range(v: np.ndarray, rows: np.ndarray) -> tuple[float, float]:
    """(min, max) of the non-missing values of ``v`` on the rows ``rows`` (bool mask), NaN when
    there are none; by reductions over ``v`` in place (no copies of the column: at 1e7 rows each
    fresh copy costs more than the reduction, docs/performance.md, "Growth in n")."""
    ok = rows & ~np.isnan(v)
    if not ok.any():
        return np.nan, np.nan
    return (float(np.min(v, where=ok, initial=np.inf)), float(np.max(v, where=ok, initial=-np.inf)))
