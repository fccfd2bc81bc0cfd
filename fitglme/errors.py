"""The one exception family of fitglme.

Every wrong input raises :class:`FitglmeError` (a ``ValueError``) whose message names the
argument, the bad value and what is allowed, and whose ``identifier`` attribute carries a
MATLAB-style message identifier such as ``'fitglme:BadDistribution'``.
"""
from __future__ import annotations

import os
import sys
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


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _user_stacklevel() -> int:
    """The ``stacklevel`` of the caller's line: the frame just outside the outermost fitglme frame
    on the stack (whatever lies between, e.g. scipy calling back into fitglme, is skipped)."""
    frame = sys._getframe(2)  # the caller of warn()
    level, last_inside = 2, 1
    while frame is not None:
        if os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
            last_inside = level
        frame = frame.f_back
        level += 1
    return last_inside + 1


def warn(message: str, identifier: str = "fitglme:Warning", stacklevel: int | None = None) -> None:
    """Issue a :class:`FitglmeWarning` with a MATLAB-style identifier.

    The warning points at the user's line, the first frame outside the fitglme package (so
    ``warnings.filterwarnings(..., module=...)`` and the printed file name are the caller's);
    ``stacklevel`` is accepted for compatibility and ignored.
    """
    del stacklevel
    warnings.warn(FitglmeWarning(message, identifier), stacklevel=_user_stacklevel())

