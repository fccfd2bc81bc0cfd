"""MATLAB's GeneralizedLinearMixedModel methods.

Each module defines plain functions whose first argument is the model
(``fixedEffects(glme, ...)``), lists them in ``__all__`` and gathers them in a mixin class
(``effects.EffectsMethods``, ...) that :class:`fitglme.model.GeneralizedLinearMixedModel`
derives from, so each is a method too (``glme.fixedEffects(...)``).  Name-value options are parsed with
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


#: the mixin classes of GeneralizedLinearMixedModel, one per module
MIXINS = (effects.EffectsMethods, hypothesis.HypothesisMethods, prediction.PredictionMethods,
          simulation.SimulationMethods, plots.PlotMethods, bootstrap.BootstrapMethods)


def public_functions() -> dict:
    """Every public method function by name (the free-function forms exported by fitglme)."""
    out = {}
    for mod in MODULES:
        for name in getattr(mod, "__all__", ()):
            fn = getattr(mod, name)
            if callable(fn) and not isinstance(fn, type):
                out[name] = fn
    return out
