"""fitglme: MATLAB's ``fitglme`` and ``GeneralizedLinearMixedModel`` in Python.

Same models, same numbers, same printed display as MATLAB; data in and out are pandas/numpy,
and row positions and group numbers are 0-based (see docs/migration.md).
"""
from __future__ import annotations

from importlib import resources

import pandas as pd

from . import io  # noqa: F401  (fitglme.io.loadmat / savemat; mat-io is imported only when used)
from .api import fitglme
from .errors import FitglmeError, FitglmeWarning
from .model import GeneralizedLinearMixedModel
from .statset import statset

__version__ = "0.1.0"


def load_example() -> pd.DataFrame:
    """The bundled mfr-shaped example table (20 factories x 5 batches).

    It mirrors the structure of MATLAB's ``mfr`` example (simulated; MathWorks' own mfr.mat is
    not redistributable, so the numbers differ from MATLAB's documentation page).
    ``factory`` and ``supplier`` are categorical (supplier levels A, B, C).

    Examples
    --------
    >>> mfr = load_example()
    >>> mfr.shape
    (100, 7)
    >>> list(mfr["supplier"].cat.categories)
    ['A', 'B', 'C']
    """
    with resources.files("fitglme").joinpath("data/mfr_sim.csv").open("r") as fh:
        df = pd.read_csv(fh, dtype={"factory": str, "supplier": str})
    df["factory"] = pd.Categorical(df["factory"], categories=sorted(df["factory"].unique()))
    df["supplier"] = pd.Categorical(df["supplier"], categories=["A", "B", "C"])
    return df


from .methods import public_functions as _public_functions

# Every model method is also a free function: fixedEffects(glme) == glme.fixedEffects().
globals().update(_public_functions())

__all__ = ["fitglme", "GeneralizedLinearMixedModel", "FitglmeError", "FitglmeWarning", "load_example", "statset",
           *_public_functions()]
