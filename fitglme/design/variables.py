"""Table variables: what kind each one is, its levels, and which of its values are missing.

MATLAB decides from a table variable's *type* whether it is categorical (categorical, logical,
cellstr, char, string) or continuous (numeric).  This module makes the same decision for pandas
columns and provides the pieces the design builder needs:

* :func:`as_table` - accept a DataFrame (or a dict of equal-length columns);
* :func:`variable_kind` - the storage kind of a column ('numeric', 'logical', 'categorical',
  'text', 'datetime', 'other');
* :func:`missing_mask` - NaN, None, pd.NA, NaT and the empty string '' are missing;
* :func:`numeric_values` - a column as float64 (continuous predictors, response);
* :class:`Levels` and :func:`find_levels` - the levels of a categorical or grouping variable,
  in MATLAB's order, labelled as MATLAB prints them, and :meth:`Levels.encode` to map any
  column (the fitting table or new data) onto them.

Nothing here modifies the caller's data.  See docs/design.md for the rules and the choices made
without MATLAB evidence.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import FitglmeError

__all__ = [
    "CATEGORICAL_KINDS",
    "Levels",
    "as_table",
    "column",
    "find_levels",
    "format_level",
    "matlab_class",
    "missing_mask",
    "numeric_values",
    "variable_kind",
]

#: Storage kinds that make a *predictor* categorical.
CATEGORICAL_KINDS = frozenset({"logical", "categorical", "text"})

_NUMERIC_OBJECT = {"integer", "floating", "mixed-integer-float", "decimal"}
_TEXT_OBJECT = {"string", "empty"}
_DATETIME_OBJECT = {"datetime64", "datetime", "date", "timedelta64", "timedelta", "time", "period"}


# --------------------------------------------------------------------------------------------
# the table
# --------------------------------------------------------------------------------------------
def as_table(tbl: Any) -> pd.DataFrame:
    """Return ``tbl`` as a DataFrame (a dict of equal-length columns is converted).

    The caller's object is never modified: a DataFrame is returned as is (it is only read), a
    dict is wrapped in a new DataFrame.
    """
    if isinstance(tbl, pd.DataFrame):
        return tbl
    if isinstance(tbl, dict):
        try:
            return pd.DataFrame(tbl)
        except (ValueError, TypeError) as exc:
            lengths = {str(k): (len(v) if hasattr(v, "__len__") else "scalar") for k, v in tbl.items()}
            raise FitglmeError(
                f"tbl must be a pandas DataFrame or a dict of equal-length columns; the dict given "
                f"has column lengths {lengths} ({exc}).",
                "fitglme:BadTable",
            ) from None
    raise FitglmeError(
        f"tbl must be a pandas DataFrame or a dict of equal-length columns; got a value of type "
        f"{type(tbl).__name__}.",
        "fitglme:BadTable",
    )


def column(tbl: pd.DataFrame, name: str) -> pd.Series:
    """The column ``name`` of ``tbl``; a clear error if it is absent or duplicated."""
    if name in tbl.columns:
        col = tbl[name]
        if isinstance(col, pd.DataFrame):
            raise FitglmeError(
                f"Variable '{name}' appears {col.shape[1]} times in the table; variable names must "
                f"be unique.",
                "fitglme:BadTable",
            )
        return col
    available = ", ".join(repr(str(c)) for c in tbl.columns)
    raise FitglmeError(
        f"The formula uses variable '{name}', which is not in the table. Table variables: "
        f"{available}.",
        "fitglme:UnknownVariable",
    )


# --------------------------------------------------------------------------------------------
# kinds
# --------------------------------------------------------------------------------------------
def variable_kind(s: pd.Series) -> str:
    """Storage kind of a column.

    'numeric' (real or complex numbers, incl. pandas nullable Int/Float and object columns holding
    only numbers), 'logical' (bool, pandas 'boolean', object columns of bools), 'categorical'
    (pandas Categorical), 'text' (str/string dtypes, object columns of strings or only missing
    values), 'datetime' (datetime64/timedelta64/period and object columns of dates) or 'other'.
    An object column mixing numbers and strings (or other incompatible types) is 'mixed'.
    """
    dt = s.dtype
    if isinstance(dt, pd.CategoricalDtype):
        return "categorical"
    if pd.api.types.is_bool_dtype(dt):
        return "logical"
    if pd.api.types.is_numeric_dtype(dt):
        return "numeric"
    if isinstance(dt, pd.StringDtype) or pd.api.types.is_string_dtype(dt) and dt != object:
        return "text"
    if (pd.api.types.is_datetime64_any_dtype(dt) or pd.api.types.is_timedelta64_dtype(dt)
            or isinstance(dt, pd.PeriodDtype)):
        return "datetime"
    if dt == object:
        inferred = pd.api.types.infer_dtype(s, skipna=True)
        if inferred in _TEXT_OBJECT:
            return "text"
        if inferred in _NUMERIC_OBJECT:
            return "numeric"
        if inferred == "boolean":
            return "logical"
        if inferred in _DATETIME_OBJECT:
            return "datetime"
        if inferred.startswith("mixed"):
            return "mixed"
        return "other"
    return "other"


def matlab_class(s: pd.Series) -> str:
    """The MATLAB class a column would have in a MATLAB table (for VariableInfo.Class)."""
    dt = s.dtype
    kind = variable_kind(s)
    if kind == "categorical":
        return "categorical"
    if kind == "logical":
        return "logical"
    if kind == "text":
        if isinstance(dt, pd.StringDtype) and dt.na_value is pd.NA:
            return "string"
        return "cell"
    if kind == "datetime":
        return "duration" if pd.api.types.is_timedelta64_dtype(dt) else "datetime"
    if kind == "numeric":
        if dt == object:
            return "double"
        npdt = np.dtype(dt.numpy_dtype) if hasattr(dt, "numpy_dtype") else np.dtype(dt)
        if npdt == np.float32:
            return "single"
        if npdt == np.int64:  # pandas' default integer type; MATLAB tables hold such data as double
            return "double"
        if npdt.kind in "iu":
            return f"{'u' if npdt.kind == 'u' else ''}int{8 * npdt.itemsize}"
        return "double"
    return "cell"


def _bad_mix(name: str, s: pd.Series) -> FitglmeError:
    types = sorted({type(v).__name__ for v in s.dropna().head(1000)})
    return FitglmeError(
        f"Variable '{name}' mixes values of types {types}; a variable must hold numbers only "
        f"(continuous), or text/categorical/logical values only (categorical).",
        "fitglme:BadData",
    )


# --------------------------------------------------------------------------------------------
# missing values
# --------------------------------------------------------------------------------------------
def missing_mask(s: pd.Series) -> np.ndarray:
    """Boolean (N,) mask of missing values: NaN, None, pd.NA, NaT, and '' in text/categorical."""
    miss = np.array(s.isna().to_numpy(dtype=bool, na_value=True), dtype=bool)  # writable copy
    dt = s.dtype
    if isinstance(dt, pd.CategoricalDtype):
        cats = dt.categories
        if cats.dtype == object or pd.api.types.is_string_dtype(cats.dtype):
            empty = np.asarray(cats.astype(object) == "", dtype=bool)
            if empty.any():
                codes = s.cat.codes.to_numpy()
                miss |= (codes >= 0) & empty[np.maximum(codes, 0)]
        return miss
    if dt == object or pd.api.types.is_string_dtype(dt):
        eq = s == ""
        miss |= eq.to_numpy(dtype=bool, na_value=False)
    return miss


# --------------------------------------------------------------------------------------------
# numbers
# --------------------------------------------------------------------------------------------
def numeric_values(s: pd.Series, name: str, role: str = "continuous predictor") -> np.ndarray:
    """The column as a float64 (N,) array, NaN where missing.

    Numeric and logical columns are accepted (logical -> 0/1).  Anything else raises
    FitglmeError naming the variable and its type.
    """
    kind = variable_kind(s)
    if kind == "logical":
        return _logical_values(s).astype(np.float64) + np.where(missing_mask(s), np.nan, 0.0)
    if kind == "numeric":
        if pd.api.types.is_complex_dtype(s.dtype):
            raise FitglmeError(
                f"Variable '{name}' (the {role}) is complex; it must be real numeric.",
                "fitglme:BadData",
            )
        try:
            return s.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError):
            raise FitglmeError(
                f"Variable '{name}' (the {role}) must be real numeric; its values cannot be read as "
                f"real numbers.",
                "fitglme:BadData",
            ) from None
    if kind == "mixed":
        raise _bad_mix(name, s)
    raise FitglmeError(
        f"Variable '{name}' (the {role}) must be numeric; it has type {s.dtype} "
        f"({matlab_class(s)} in MATLAB terms).",
        "fitglme:BadData",
    )


def _logical_values(s: pd.Series) -> np.ndarray:
    """A logical column as bool (N,); missing entries read as False (mask them separately)."""
    if s.dtype == object:
        raw = s.to_numpy(dtype=object)
        out = np.zeros(len(s), dtype=bool)
        ok = ~missing_mask(s)
        out[ok] = np.asarray(raw[ok], dtype=bool)
        return out
    return s.to_numpy(dtype=bool, na_value=False)


def format_number(v: Any) -> str:
    """A number as MATLAB prints a level: integers without '.0', others shortest round-trip."""
    if isinstance(v, (bool, np.bool_)):
        return "1" if v else "0"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    f = float(v)
    if f.is_integer() and abs(f) < 1e15:
        return str(int(f))
    return repr(f)


def format_level(v: Any) -> str:
    """Label of one level value: numbers via :func:`format_number`, everything else ``str``."""
    if isinstance(v, (bool, np.bool_, int, np.integer, float, np.floating)):
        return format_number(v)
    return str(v)


# --------------------------------------------------------------------------------------------
# levels
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Levels:
    """The levels of a categorical or grouping variable, in model order.

    ``labels`` are the strings MATLAB prints (e.g. in coefficient names ``var_label``); levels are
    matched by label, so training and new data of different storage types (int 1 vs float 1.0,
    text vs categorical) map consistently.
    """

    name: str
    labels: tuple[str, ...]

    @property
    def n(self) -> int:
        return len(self.labels)

    def encode(self, s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """Map a column onto the levels.

        Returns ``(codes, unseen)``: int64 (N,) level numbers (0-based), -1 where the value is
        missing or not one of the levels; ``unseen`` is a bool (N,) mask of the non-missing values
        that are not a level.
        """
        miss = missing_mask(s)
        if isinstance(s.dtype, pd.CategoricalDtype):
            # the category codes themselves (-1 where missing); the labels are looked up only when
            # the categories are not the levels in order (the common case of fitting on the
            # table the levels came from costs no hashing of labels)
            codes = s.cat.codes.to_numpy()
            ulabels = _labels_of(s.cat.categories)
        else:
            codes, uniques = pd.factorize(s, use_na_sentinel=True)
            ulabels = _labels_of(uniques)
        if ulabels == list(self.labels):
            out = codes.astype(np.int64)
        else:
            lookup = pd.Index(self.labels, dtype=object).get_indexer(pd.Index(ulabels, dtype=object))
            lookup = np.append(np.asarray(lookup, dtype=np.int64), -1)  # index -1 -> -1
            out = lookup[codes]
        unseen = (out < 0) & ~miss
        out[miss] = -1
        return out, unseen


def _labels_of(values: Any) -> list[str]:
    """Labels for an array of distinct level values (levels, not rows).

    Vectorised for the common large cases (integer codes, text); other values go through
    :func:`format_level` one by one.
    """
    arr = values.to_numpy() if hasattr(values, "to_numpy") else np.asarray(values)
    if arr.dtype.kind in "iu":
        return arr.astype(str).tolist()
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)) \
            and np.all(np.abs(arr) < 1e15):
        return arr.astype(np.int64).astype(str).tolist()
    if arr.dtype.kind in "UT" or (arr.dtype == object and pd.api.types.infer_dtype(arr, skipna=False) == "string"):
        return arr.astype(str).tolist()
    vals = values.to_numpy(dtype=object) if hasattr(values, "to_numpy") else np.asarray(values, dtype=object)
    return [format_level(v) for v in vals]


def find_levels(s: pd.Series, used: np.ndarray, name: str) -> Levels:
    """The levels of ``s`` among the rows ``used`` (bool (N,)), in MATLAB's order.

    * pandas Categorical: category order; categories that do not occur in the used rows are
      dropped;
    * logical: '0' (false) then '1' (true), those that occur;
    * numeric and datetime: sorted ascending;
    * text and other objects: order of first appearance (MATLAB grp2idx on text).

    Missing values (see :func:`missing_mask`) are never levels.
    """
    kind = variable_kind(s)
    ok = used & ~missing_mask(s)
    if kind == "mixed":
        raise _bad_mix(name, s)
    if kind == "categorical":
        codes = s.cat.codes.to_numpy()
        present = np.zeros(len(s.cat.categories), dtype=bool)
        present[codes if ok.all() else codes[ok]] = True  # no int64 copy of the codes
        return Levels(name, tuple(_labels_of(s.cat.categories[present])))
    if kind == "logical":
        vals = _logical_values(s)[ok]
        labels = tuple(lab for lab, hit in (("0", (~vals).any()), ("1", vals.any())) if hit)
        return Levels(name, labels)
    sub = s[ok]
    if kind == "numeric":
        if pd.api.types.is_complex_dtype(sub.dtype):
            uniques = pd.unique(sub.to_numpy())
            return Levels(name, tuple(_labels_of(uniques)))
        vals = sub.to_numpy(dtype=np.float64, na_value=np.nan)
        return Levels(name, tuple(_labels_of(np.unique(vals))))
    if kind == "datetime":
        uniques = pd.Index(pd.unique(sub)).sort_values()
        return Levels(name, tuple(_labels_of(uniques)))
    # text / other: first appearance
    _, uniques = pd.factorize(sub, use_na_sentinel=True)
    return Levels(name, tuple(_labels_of(uniques)))
