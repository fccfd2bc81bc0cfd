"""MATLAB's GeneralizedLinearMixedModel methods.

Each module defines plain functions whose first argument is the model
(``fixedEffects(glme, ...)``) and lists them in ``__all__``; :func:`attach` makes each of them a
method too (``glme.fixedEffects(...)``).  Name-value options are parsed with
:func:`fitglme.options.parse_name_value` (positional pairs or keywords, case-insensitive,
unambiguous prefixes).  A method with several outputs returns the first one, which unpacks into
all of them in MATLAB's order and carries them by MATLAB's names (:mod:`fitglme.outputs`).

Modules: ``effects`` (fixedEffects, randomEffects, covarianceParameters), ``hypothesis``
(coefCI, coefTest, anova, compare), ``prediction`` (designMatrix, fitted, residuals, response,
predict), ``simulation`` (random, refit; both with many responses), ``bootstrap``
(parametricBootstrap; the shared refit plan in ``manyfits``), ``plots`` (plotResiduals, partialDependence,
plotPartialDependence).
"""
from __future__ import annotations

from . import bootstrap, effects, hypothesis, plots, prediction, simulation

MODULES = (effects, hypothesis, prediction, simulation, plots, bootstrap)


def public_functions() -> dict:
    out = {}
    for mod in MODULES:
        for name in getattr(mod, "__all__", ()):
            out[name] = getattr(mod, name)
    return out


def attach(cls) -> None:
    """Make every public method function a method of ``cls`` (same name, same signature)."""
    for name, fn in public_functions().items():
        if callable(fn) and not isinstance(fn, type):
            setattr(cls, name, fn)
