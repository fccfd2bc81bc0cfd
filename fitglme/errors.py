"""The one exception family of fitglme.

Every wrong input raises :class:`FitglmeError` (a ``ValueError``) whose message names the
argument, the bad value and what is allowed, and whose ``identifier`` attribute carries a
MATLAB-style message identifier such as ``'fitglme:BadDistribution'``.
"""
from __future__ import annotations

import warnings


class FitglmeError(ValueError):
    """A bad input to fitglme or to a model method.

    Parameters
    ----------
    message : str
        What is wrong: the argument, the bad value, and what is allowed.
    identifier : str
        MATLAB-style identifier, e.g. ``'fitglme:BadDistribution'``.

    Examples
    --------
    >>> err = FitglmeError("Distribution must be one of ...", "fitglme:BadDistribution")
    >>> err.identifier
    'fitglme:BadDistribution'
    """

    def __init__(self, message: str, identifier: str = "fitglme:BadInput") -> None:
        super().__init__(message)
        self.identifier = identifier


class FitglmeWarning(UserWarning):
    """Numerical trouble that does not stop the fit (non-convergence, boundary, ...).

    ``identifier`` carries the MATLAB warning identifier where MATLAB has one.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn("PL iterations did not converge", "fitglme:Example")
    >>> caught[0].message.identifier
    'fitglme:Example'
    """

    def __init__(self, message: str, identifier: str = "fitglme:Warning") -> None:
        super().__init__(message)
        self.identifier = identifier


def warn(message: str, identifier: str = "fitglme:Warning", stacklevel: int = 3) -> None:
    """Issue a :class:`FitglmeWarning` with a MATLAB-style identifier."""
    warnings.warn(FitglmeWarning(message, identifier), stacklevel=stacklevel)


def warn_user(message: str, identifier: str) -> None:
    """Issue a :class:`FitglmeWarning` attributed to the first caller outside the fitglme package
    (the user's line), however deep inside the package it is raised."""
    import os
    import sys

    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame = sys._getframe(1)
    level = 2
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame = frame.f_back
        level += 1
    warnings.warn(FitglmeWarning(message, identifier), stacklevel=level)
