"""The numerical engine: ``fit(FitProblem) -> EngineResult`` (fitglme/engine/run.py).

It speaks no MATLAB: no option names, no warnings (events instead, fitglme/engine/events.py).
"""
from __future__ import annotations


def fit(problem, **kwargs):
    """:func:`fitglme.engine.run.fit` (imported on first use: the engine's modules load lazily)."""
    from .run import fit as _fit

    return _fit(problem, **kwargs)
