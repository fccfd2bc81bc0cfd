"""MATLAB-style name-value arguments for ``fitglme`` and every model method.

:func:`parse_name_value` matches option names case-insensitively and by unambiguous prefix, from
a MATLAB-style positional list (``'Distribution', 'Poisson', 'Link', 'log'``) and/or Python
keywords (``Distribution='Poisson'``). The ``as_*`` and :func:`match_string` helpers check one
value each. Every failure raises :class:`~fitglme.errors.FitglmeError` whose message names the
option, shows the bad value and says what is allowed.
"""
from __future__ import annotations

import difflib
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .engine.arrays import constant_value  # (used here and by the MATLAB layer)
from .errors import FitglmeError

__all__ = [
    "parse_name_value",
    "match_name",
    "match_string",
    "is_string",
    "as_bool",
    "as_positive_int",
    "as_nonneg_int",
    "as_positive_float",
    "as_float_in",
    "as_vector",
    "align_to_index",
]


def is_string(value: Any) -> bool:
    """True for a Python/NumPy string (MATLAB char vector or string scalar)."""
    return isinstance(value, (str, np.str_))


def _show(value: Any, limit: int = 60) -> str:
    """repr of a value, truncated to ``limit`` characters."""
    try:
        text = repr(value)
    except Exception:  # pragma: no cover - exotic objects
        text = f"<{type(value).__name__}>"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


def match_name(name: str, names: Sequence[str]) -> list[str]:
    """Candidates in ``names`` for ``name``: the exact (case-insensitive) match if any, else all
    names that start with it."""
    key = name.lower()
    exact = [n for n in names if n.lower() == key]
    if exact:
        return exact[:1]
    if not key:
        return []
    return [n for n in names if n.lower().startswith(key)]


def parse_name_value(
    args: Sequence[Any] = (),
    kwargs: dict[str, Any] | None = None,
    names: Sequence[str] = (),
    where: str = "fitglme",
) -> dict[str, Any]:
    """Parse MATLAB name-value arguments.

    Parameters
    ----------
    args : sequence
        Positional name-value list as MATLAB passes it: ``('Distribution', 'Poisson', 'Link', 'log')``.
    kwargs : dict, optional
        Python keyword arguments (``Distribution='Poisson'``).
    names : sequence of str
        The valid option names, in their canonical spelling.
    where : str
        Function name used in the messages (``'fitglme'``, ``'fixedEffects'``, ...).

    Returns
    -------
    dict
        ``{canonical name: value}`` for the options given (positional first, then keywords).

    Raises
    ------
    FitglmeError
        ``'fitglme:BadNameValue'`` (odd number of positional arguments, or a name that is not a
        string), ``'fitglme:UnknownOption'`` (with the closest valid name suggested),
        ``'fitglme:AmbiguousOption'`` (a prefix of several names), ``'fitglme:DuplicateOption'``
        (the same option given twice, positionally and/or by keyword).

    Examples
    --------
    >>> parse_name_value(('dist', 'Poisson'), {'Link': 'log'}, ['Distribution', 'Link'])
    {'Distribution': 'Poisson', 'Link': 'log'}
    """
    kwargs = {} if kwargs is None else kwargs
    names = list(names)
    args = tuple(args)
    pairs: list[tuple[str, Any, str]] = []  # (given name, value, how given)
    if len(args) % 2:
        last = args[-1]
        if is_string(last):
            msg = (f"{where}: option '{last}' has no value; name-value arguments must come in "
                   "pairs (Name1, Value1, Name2, Value2, ...).")
        else:
            msg = (f"{where}: name-value arguments must come in pairs (Name1, Value1, ...); got "
                   f"an odd number ({len(args)}) of them, the last being {_show(last)}.")
        raise FitglmeError(msg, "fitglme:BadNameValue")
    for i in range(0, len(args), 2):
        name = args[i]
        if not is_string(name):
            raise FitglmeError(
                f"{where}: argument {i + 1} of the name-value list must be an option name (a "
                f"string); got {_show(name)}. Valid options: {_quoted(names)}.",
                "fitglme:BadNameValue",
            )
        pairs.append((str(name), args[i + 1], "positional"))
    for name, value in kwargs.items():
        pairs.append((str(name), value, "keyword"))

    out: dict[str, Any] = {}
    given_as: dict[str, str] = {}
    for name, value, how in pairs:
        canon = _resolve(name, names, where)
        if canon in out:
            raise FitglmeError(
                f"{where}: option '{canon}' is given more than once ('{given_as[canon]}' and "
                f"'{name}'); give each option once.",
                "fitglme:DuplicateOption",
            )
        out[canon] = value
        given_as[canon] = name
    return out


def _resolve(name: str, names: Sequence[str], where: str) -> str:
    hits = match_name(name, names)
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise FitglmeError(
            f"{where}: option name '{name}' is ambiguous; it matches {_quoted(hits)}. "
            "Give more of the name.",
            "fitglme:AmbiguousOption",
        )
    lower = {n.lower(): n for n in names}
    close = difflib.get_close_matches(name.lower(), list(lower), n=1, cutoff=0.6)
    hint = f" Did you mean '{lower[close[0]]}'?" if close else ""
    raise FitglmeError(
        f"{where}: unknown option '{name}'.{hint} Valid options: {_quoted(names)}.",
        "fitglme:UnknownOption",
    )


# ---------------------------------------------------------------------------
# Value helpers
# ---------------------------------------------------------------------------
def _ident(option: str, identifier: str | None) -> str:
    return identifier if identifier is not None else f"fitglme:Bad{option}"


def match_string(
    value: Any, allowed: Sequence[str], option: str, *, identifier: str | None = None
) -> str:
    """Match ``value`` against ``allowed`` like MATLAB's ``validatestring``.

    Case-insensitive; an exact match wins, otherwise an unambiguous prefix is accepted.
    Returns the canonical spelling from ``allowed``.

    Examples
    --------
    >>> match_string('lap', ['MPL', 'REMPL', 'Laplace', 'ApproximateLaplace'], 'FitMethod')
    'Laplace'
    """
    if not is_string(value):
        raise FitglmeError(
            f"{option} must be one of {_quoted(allowed)}; got {_show(value)}, which is not a string.",
            _ident(option, identifier),
        )
    hits = match_name(str(value).strip(), allowed)
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise FitglmeError(
            f"{option} value {_show(str(value))} is ambiguous; it matches {_quoted(hits)}. "
            f"Allowed values: {_quoted(allowed)}.",
            _ident(option, identifier),
        )
    raise FitglmeError(
        f"{option} must be one of {_quoted(allowed)} (case-insensitive); got {_show(str(value))}.",
        _ident(option, identifier),
    )


def _scalar(value: Any) -> Any:
    """Unwrap a one-element NumPy array / 0-d array; otherwise return as is."""
    if isinstance(value, np.ndarray) and value.size == 1:
        return value.reshape(-1)[0]
    return value


def _is_real_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))


def as_bool(value: Any, option: str, *, identifier: str | None = None) -> bool:
    """A logical scalar: ``True``/``False``, NumPy bool, or the numbers 0 and 1."""
    v = _scalar(value)
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if _is_real_number(v) and float(v) in (0.0, 1.0):
        return bool(v)
    raise FitglmeError(
        f"{option} must be a logical scalar: true/false (or 1/0); got {_show(value)}.",
        _ident(option, identifier),
    )


def _as_int(value: Any, option: str, lo: int, what: str, identifier: str | None) -> int:
    v = _scalar(value)
    ok = _is_real_number(v) and np.isfinite(float(v)) and float(v) == round(float(v)) and float(v) >= lo
    if not ok:
        raise FitglmeError(
            f"{option} must be a {what} scalar; got {_show(value)}.", _ident(option, identifier)
        )
    return int(round(float(v)))


def as_positive_int(value: Any, option: str, *, identifier: str | None = None) -> int:
    """An integer-valued real scalar >= 1 (``3`` or ``3.0``); returns ``int``."""
    return _as_int(value, option, 1, "positive integer", identifier)


def as_nonneg_int(value: Any, option: str, *, identifier: str | None = None) -> int:
    """An integer-valued real scalar >= 0; returns ``int``."""
    return _as_int(value, option, 0, "nonnegative integer", identifier)


def as_positive_float(value: Any, option: str, *, identifier: str | None = None) -> float:
    """A finite real scalar > 0; returns ``float``."""
    v = _scalar(value)
    if not (_is_real_number(v) and np.isfinite(float(v)) and float(v) > 0):
        raise FitglmeError(
            f"{option} must be a positive finite real scalar; got {_show(value)}.",
            _ident(option, identifier),
        )
    return float(v)


def as_float_in(
    value: Any,
    option: str,
    lo: float,
    hi: float,
    inclusive: bool | tuple[bool, bool] = (True, True),
    *,
    identifier: str | None = None,
) -> float:
    """A real scalar in the interval from ``lo`` to ``hi``.

    ``inclusive`` is one bool for both ends or a pair ``(lower, upper)``; e.g. ``(False, False)``
    asks for the open interval (lo, hi). NaN is always rejected.
    """
    inc_lo, inc_hi = (inclusive, inclusive) if isinstance(inclusive, bool) else tuple(inclusive)
    interval = f"{'[' if inc_lo else '('}{lo:g}, {hi:g}{']' if inc_hi else ')'}"
    v = _scalar(value)
    ok = _is_real_number(v) and not np.isnan(float(v))
    if ok:
        f = float(v)
        ok = (f >= lo if inc_lo else f > lo) and (f <= hi if inc_hi else f < hi)
    if not ok:
        raise FitglmeError(
            f"{option} must be a real scalar in {interval}; got {_show(value)}.",
            _ident(option, identifier),
        )
    return float(v)


def rows_of(a: np.ndarray, rows: np.ndarray, n_all: int) -> np.ndarray:
    """``a[rows]`` without a copy when possible: a broadcast vector stays a broadcast, and all the
    rows (``rows`` = 0..n_all-1, ascending) give ``a`` itself (which must not be modified)."""
    c = constant_value(a)
    if c is not None:
        return np.broadcast_to(a[:1], (len(rows),))
    if len(rows) == n_all:
        return a
    return a[rows]


def align_to_index(value: Any, index: Any, option: str, *, identifier: str | None = None) -> Any:
    """A pandas Series aligned on the table's row labels; any other value unchanged.

    The rule for every per-row vector option (docs/migration.md, "Per-row vectors"): a Series is
    read by label, so it must carry exactly the table's labels (in any order; it is reordered to
    the table's); a numpy array or a list is read by position. A Series whose labels differ from
    the table's is an error naming the first unmatched label, never a silent positional read.

    Parameters
    ----------
    value : Any
        The option's value.
    index : pandas.Index or None
        The table's row labels; None leaves ``value`` unchanged.
    option : str
        Option name for messages.
    """
    if index is None or not isinstance(value, pd.Series):
        return value
    ident = _ident(option, identifier)
    if value.index.equals(index):
        return value
    if not value.index.is_unique:
        dup = value.index[value.index.duplicated()][0]
        raise FitglmeError(
            f"{option}: a pandas Series is aligned on the table's row labels, but its index repeats "
            f"the label {dup!r}; give a Series indexed like the table, or a numpy array "
            "(read by position).",
            ident,
        )
    if index.is_unique and len(value) == len(index):
        missing = index.difference(value.index, sort=False)
        if not len(missing):
            return value.reindex(index)
    else:
        missing = index.difference(value.index, sort=False)
    extra = value.index.difference(index, sort=False)
    what = (f"the table's label {missing[0]!r} is missing from it" if len(missing)
            else f"its label {extra[0]!r} is not a row label of the table")
    raise FitglmeError(
        f"{option}: a pandas Series is aligned on the table's row labels (its index), and {what} "
        f"(Series length {len(value)}, table length {len(index)}). Give a Series with the table's "
        "index (e.g. a column of the table, or s.set_axis(tbl.index)), or s.to_numpy() to use it "
        "by position.",
        ident,
    )


def as_vector(
    value: Any,
    option: str,
    n: int,
    *,
    integer: bool = False,
    positive: bool = False,
    nonnegative: bool = False,
    finite: bool = True,
    allow_scalar: bool = False,
    broadcast_scalar: bool = False,
    identifier: str | None = None,
    index: Any = None,
) -> np.ndarray:
    """A numeric vector of length ``n`` as a new float array (the caller's data is never modified).

    Parameters
    ----------
    value : array_like
        A list, tuple, NumPy array (shape ``(n,)``, ``(n, 1)`` or ``(1, n)``) or pandas Series.
        Logical values count as 0/1.
    option : str
        Option name for messages.
    n : int
        Required length.
    integer, positive, nonnegative, finite : bool
        Extra requirements on every element (``finite`` rejects NaN and Inf).
    allow_scalar : bool
        Accept a scalar and repeat it ``n`` times.
    broadcast_scalar : bool
        With ``allow_scalar``: return a scalar as a read-only length-``n`` broadcast view
        (``np.broadcast_to``, no memory per element) instead of a repeated copy.
    index : pandas.Index, optional
        The table's row labels: a pandas Series is then aligned on them (:func:`align_to_index`).

    Raises
    ------
    FitglmeError
        Naming the option, the first offending element (0-based) and its value, or the
        expected and actual lengths.
    """
    ident = _ident(option, identifier)
    reqs = [w for w, on in (("integer", integer), ("positive", positive),
                            ("nonnegative", nonnegative), ("finite", finite)) if on]
    what = f"a numeric vector of length {n}" + (" or a scalar" if allow_scalar else "")
    if reqs:
        what += f" ({', '.join(reqs)} values)"
    if is_string(value) or value is None or isinstance(value, (dict, set)):
        raise FitglmeError(f"{option} must be {what}; got {_show(value)}.", ident)
    if isinstance(value, pd.Series) and not (allow_scalar and len(value) == 1):
        value = align_to_index(value, index, option, identifier=identifier)
    try:
        raw = np.asarray(value)
    except Exception:
        raise FitglmeError(f"{option} must be {what}; got {_show(value)}.", ident) from None
    if raw.dtype.kind not in "biuf":
        raise FitglmeError(
            f"{option} must be {what}; got {_show(value)} (not real numbers).", ident
        )
    arr = np.array(raw, dtype=float, copy=True)
    scalar = arr.size == 1 and n != 1 and allow_scalar
    if scalar and broadcast_scalar:
        arr = arr.reshape(1)  # checked below as one element, then broadcast
    elif scalar:
        arr = np.full(n, arr.reshape(-1)[0])
    elif arr.ndim == 0 and n != 1:
        raise FitglmeError(
            f"{option} must be {what}; got the scalar {_show(value)}.", ident
        )
    if arr.ndim > 2 or (arr.ndim == 2 and min(arr.shape) != 1):
        raise FitglmeError(
            f"{option} must be {what}; got an array of shape {raw.shape}.", ident
        )
    arr = arr.reshape(-1)
    if arr.size != n and not (scalar and broadcast_scalar):
        raise FitglmeError(
            f"{option} must have {n} elements (one per observation); got {arr.size}.", ident
        )

    def fail(mask: np.ndarray, need: str) -> None:
        i = int(np.flatnonzero(mask)[0])
        raise FitglmeError(
            f"{option} must be {need}; element {i} (0-based) is {float(arr[i])!r}.", ident
        )

    if finite and not np.all(np.isfinite(arr)):
        fail(~np.isfinite(arr), "finite (no NaN or Inf)")
    with np.errstate(invalid="ignore"):
        if positive and not np.all(arr > 0):
            fail(~(arr > 0), "positive (> 0)")
        if nonnegative and not np.all(arr >= 0):
            fail(~(arr >= 0), "nonnegative (>= 0)")
        if integer:
            bad = np.isfinite(arr) & (arr != np.round(arr))
            if bad.any():
                fail(bad, "integer-valued")
    if scalar and broadcast_scalar:
        return np.broadcast_to(arr, (n,))
    return arr
