"""Numbers as MATLAB prints them inside dataset tables (``format short`` / ``format long g``).

MATLAB's dataset display converts each numeric column with ``num2str(x, 5)`` (``15`` under
``format long``).  For real doubles that amounts to, per element:

* the value is first made non-negative-zero (``0 + x``), so ``-0`` prints as ``0``;
* then it is printed with C ``%.<p>g``: ``p`` significant digits, trailing zeros dropped,
  exponent form when the decimal exponent is < -4 or >= p, exponent written with a sign and
  at least two digits (``5.722e-06``, ``1.2538e+05``, ``2.9375e-172``);
* non-finite values print as ``NaN``, ``Inf`` and ``-Inf``.

Aligning a column (right-aligned among its values, left-aligned under a wider header) is
done in :mod:`fitglme.display.dataset`, not here.
"""
from __future__ import annotations

import math
from numbers import Real

__all__ = ["format_g", "format_g5", "format_pct"]


def format_g(x: float, precision: int = 5) -> str:
    """Format one number like MATLAB's ``num2str(x, precision)`` for a real double.

    Parameters
    ----------
    x : float
        The value (any real number type: ``int``, ``float``, numpy scalars, ``bool``).
    precision : int, default 5
        Significant digits: 5 for ``format short`` (the default), 15 for ``format long g``.

    Returns
    -------
    str
        ``'NaN'``, ``'Inf'``, ``'-Inf'``, ``'0'`` for both zeros, else C ``%.<precision>g``.

    Raises
    ------
    TypeError
        If ``x`` is not a real number.

    Examples
    --------
    >>> format_g(-0.0064824), format_g(5.722e-06), format_g(125384)
    ('-0.0064824', '5.722e-06', '1.2538e+05')
    >>> format_g(0.51419997011682, 15)
    '0.51419997011682'
    """
    if isinstance(x, bool):
        x = int(x)
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"format_g expects a real number, got {type(x).__name__}: {x!r}")
    if not isinstance(x, Real):
        try:  # numpy scalars that are not registered as numbers.Real
            x = float(x)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise TypeError(f"format_g expects a real number, got {type(x).__name__}: {x!r}") from None
    value = float(x)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    if value == 0.0:  # also -0.0: MATLAB's num2str adds 0 to remove the negative zero
        return "0"
    return "%.*g" % (int(precision), value)


def format_g5(x: float) -> str:
    """Format a table number as MATLAB's default ``format short`` dataset display does.

    Equivalent to ``format_g(x, 5)``; see :func:`format_g`.

    Examples
    --------
    >>> [format_g5(v) for v in (-2.0193, 186, 0.0, float('nan'), float('-inf'), 9.8194e-15)]
    ['-2.0193', '186', '0', 'NaN', '-Inf', '9.8194e-15']
    """
    return format_g(x, 5)


def format_pct(level: float) -> str:
    """Confidence level as it appears in ``(95% CIs)``: ``100*level`` printed with ``%g``.

    Examples
    --------
    >>> format_pct(0.95), format_pct(0.9), format_pct(0.995)
    ('95', '90', '99.5')
    """
    return format_g(100.0 * float(level), 5)
