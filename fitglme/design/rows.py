"""Which rows a fit uses: MATLAB's Exclude option and extra missing-value masks, checked and turned
into boolean masks over the table's rows (0-based positions)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import FitglmeError

__all__ = ["parse_exclude"]


def _short(value: Any, limit: int = 60) -> str:
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_exclude(exclude: Any, n: int) -> np.ndarray:
    """Exclude as a bool (n,) mask.

    Accepts None, a boolean mask of length n (numpy, pandas, list; used by position), or integer
    0-based row positions (a scalar or a sequence; integer-valued floats accepted; duplicates
    allowed).
    """
    mask = np.zeros(n, dtype=bool)
    if exclude is None:
        return mask
    if isinstance(exclude, (pd.Series, pd.Index)):
        if exclude.dtype == "boolean" and exclude.isna().any():
            raise FitglmeError(
                f"Exclude must be a logical mask of length {n} or integer row positions in "
                f"0..{n - 1}; the mask given contains missing values.",
                "fitglme:BadExclude",
            )
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
    if arr.size == 0:
        return mask
    if arr.dtype == object:
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
    if arr.dtype == bool:
        if arr.size != n:
            raise FitglmeError(
                f"Exclude as a logical mask must have one element per table row (N = {n}); "
                f"got {arr.size} elements.",
                "fitglme:BadExclude",
            )
        return arr.copy()
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
    bad = (arr < 0) | (arr >= n)
    if bad.any():
        raise FitglmeError(
            f"Exclude row positions must be in 0..{n - 1} (N = {n}); got {int(arr[bad][0])}.",
            "fitglme:BadExclude",
        )
    mask[arr] = True
    return mask


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
