"""Which rows a fit uses: MATLAB's Exclude option and extra missing-value masks, checked and turned
into boolean masks over the table's rows (0-based positions)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import FitglmeError
from ..options import align_to_index

__all__ = ["parse_exclude"]


def _short(value: Any, limit: int = 60) -> str:
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _label_positions(labels: pd.Index, index: pd.Index) -> np.ndarray:
    """0-based positions of the row labels ``labels`` in the table's ``index``."""
    if not index.is_unique:
        raise FitglmeError(
            "Exclude: a pandas Index gives row labels, but the table's row labels are not unique; "
            "give a boolean mask or 0-based row positions (a list or numpy array) instead.",
            "fitglme:BadExclude",
        )
    pos = index.get_indexer(labels)
    if (pos < 0).any():
        bad = labels[int(np.flatnonzero(pos < 0)[0])]
        raise FitglmeError(
            f"Exclude: a pandas Index gives row labels, and {bad!r} is not a row label of the "
            "table; give labels of the table (e.g. tbl.index[tbl['x'] > 3]), a boolean mask, or "
            "0-based row positions (a list or numpy array).",
            "fitglme:BadExclude",
        )
    return pos.astype(np.int64)


def _is_default_index(index: pd.Index | None) -> bool:
    """True when the row labels are 0..N-1 in order (labels and positions coincide)."""
    if index is None or isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return True
    if index.dtype.kind not in "iu":
        return True  # text labels cannot be confused with positions
    return bool(np.array_equal(index.to_numpy(), np.arange(len(index))))


def parse_exclude(exclude: Any, n: int, index: pd.Index | None = None) -> np.ndarray:
    """Exclude as a bool (n,) mask.

    The rule (docs/migration.md, "Per-row vectors"):

    * a boolean mask of length n: a numpy array or list is read by position; a pandas Series
      (given ``index``) is aligned on the table's row labels, a label mismatch is an error;
    * integer 0-based row positions: a scalar, list, numpy array or integer Series (its values;
      integer-valued floats accepted; duplicates allowed);
    * a pandas Index: row *labels* (``tbl.index[...]``), looked up in ``index``.

    A 0/1 integer vector of length n (a flag column read from a file) is an error asking for a
    boolean mask, and integer positions for a table whose integer row labels are not 0..n-1 (a
    filtered DataFrame) are an error, since positions and labels would disagree.
    """
    mask = np.zeros(n, dtype=bool)
    if exclude is None:
        return mask
    if isinstance(exclude, pd.Index) and index is not None and exclude.dtype != bool:
        mask[_label_positions(exclude, index)] = True
        return mask
    arr = _exclude_vector(exclude, n, index)
    if arr.size == 0:
        return mask
    if arr.dtype == bool:
        if arr.size != n:
            raise FitglmeError(
                f"Exclude as a logical mask must have one element per table row (N = {n}); "
                f"got {arr.size} elements.",
                "fitglme:BadExclude",
            )
        return arr.copy()
    mask[_exclude_positions(arr, n, index)] = True
    return mask


def _exclude_vector(exclude: Any, n: int, index: pd.Index | None) -> np.ndarray:
    """Exclude as a 1-d numpy array: bool, integer or float (object values converted)."""
    if isinstance(exclude, (pd.Series, pd.Index)):
        if exclude.dtype == "boolean" and exclude.isna().any():
            raise FitglmeError(
                f"Exclude must be a logical mask of length {n} or integer row positions in "
                f"0..{n - 1}; the mask given contains missing values.",
                "fitglme:BadExclude",
            )
        if isinstance(exclude, pd.Series) and (exclude.dtype == bool or exclude.dtype == "boolean"):
            exclude = align_to_index(exclude, index, "Exclude", identifier="fitglme:BadExclude")
        arr = exclude.to_numpy(dtype=bool if exclude.dtype == "boolean" else None)
    else:
        try:
            arr = np.asarray(exclude)
        except (TypeError, ValueError):
            raise FitglmeError(
                f"Exclude must be a vector (a logical mask of length {n} or integer row positions "
                f"in 0..{n - 1}); got {_short(exclude)}.",
                "fitglme:BadExclude",
            ) from None
    if arr.ndim == 0:
        if arr.dtype == bool:
            raise FitglmeError(
                f"Exclude must be a logical mask of length {n} or integer row positions in "
                f"0..{n - 1}; got the scalar logical {bool(arr)!r}.",
                "fitglme:BadExclude",
            )
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise FitglmeError(
            f"Exclude must be a vector (a logical mask of length {n} or integer row positions); "
            f"got an array of shape {arr.shape}.",
            "fitglme:BadExclude",
        )
    if arr.dtype == object and arr.size:
        if all(isinstance(v, (bool, np.bool_)) for v in arr):
            arr = arr.astype(bool)
        else:
            try:
                arr = arr.astype(np.float64)
            except (TypeError, ValueError):
                bad = next(v for v in arr if not isinstance(v, (int, float, np.integer, np.floating)))
                raise FitglmeError(
                    f"Exclude must be a logical mask of length {n} or integer row positions in "
                    f"0..{n - 1}; got the value {bad!r}.",
                    "fitglme:BadExclude",
                ) from None
    return arr


def _exclude_positions(arr: np.ndarray, n: int, index: pd.Index | None) -> np.ndarray:
    """Validated 0-based row positions (int64) from integer or integer-valued float values."""
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            raise FitglmeError(
                f"Exclude row positions must be integers in 0..{n - 1} (N = {n}); got "
                f"{arr[np.flatnonzero(bad)[0]]!r}.",
                "fitglme:BadExclude",
            )
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise FitglmeError(
            f"Exclude must be a logical mask of length {n} or integer row positions in 0..{n - 1}; "
            f"got values of type {arr.dtype}, e.g. {arr[0].item()!r}.",
            "fitglme:BadExclude",
        )
    arr = arr.astype(np.int64)
    if arr.size == n and n > 0 and np.all((arr == 0) | (arr == 1)):
        raise FitglmeError(
            f"Exclude: got a 0/1 integer vector of length {n} (one value per row, like a flag "
            "column read from a file). Integer values are 0-based row positions, so this would "
            "exclude rows 0 and 1 only. Use a boolean mask instead: e.g. "
            "tbl['flag'].astype(bool), or np.asarray(flag) == 1.",
            "fitglme:BadExclude",
        )
    bad = (arr < 0) | (arr >= n)
    if bad.any():
        raise FitglmeError(
            f"Exclude row positions must be in 0..{n - 1} (N = {n}); got {int(arr[bad][0])}.",
            "fitglme:BadExclude",
        )
    if not _is_default_index(index):
        raise FitglmeError(
            f"Exclude: integer values are 0-based row positions, but the table's row labels are "
            f"integers other than 0..{n - 1} (e.g. a filtered DataFrame: first label "
            f"{index[0]!r}), so positions and labels would disagree. Give the labels as a pandas "
            "Index (tbl.index[[...]] or tbl.index[tbl['x'] > 3]), a boolean mask, or reset the "
            "labels first (tbl.reset_index(drop=True)).",
            "fitglme:BadExclude",
        )
    return arr


def _parse_extra_missing(extra: Any, n: int) -> np.ndarray:
    if extra is None:
        return np.zeros(n, dtype=bool)
    arr = np.asarray(extra)
    if arr.dtype != bool or arr.shape != (n,):
        raise FitglmeError(
            f"extra_missing must be a logical vector with one element per table row (N = {n}); "
            f"got an array of type {arr.dtype} and shape {arr.shape}.",
            "fitglme:BadInput",
        )
    return arr.copy()
