"""One fit as data: :class:`FitProblem` (what the engine fits) and :class:`NumericalMode` (which
numerical forms it uses), decided once by :func:`numerical_mode` from the response and the layout.

Huge Poisson counts (a prior-weighted count above :data:`HUGE_COUNTS`): the data terms of the
penalised system dwarf its penalty, and the ordinary forms lose their digits to cancellation.
The engine then switches to cancellation-free forms (docs/choices.md): validated (bincount)
per-level sums and increment-form pseudo-likelihood steps always; with one random term of one
column also the cancellation-free Schur complement of the fixed effects; and with the log link
besides, the Laplace objective relative to a reference fit (fitglme.engine.pirls.HugeReference).
Outside the cancellation-free forms a factorisation that rounding left indefinite is ridged at
the rounding level (an event of the fit, fitglme.engine.events.EventKind.RIDGED).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

import numpy as np

from .arrays import max_product

if TYPE_CHECKING:
    from .layout import ReLayout

#: prior-weighted Poisson count above which the engine uses its cancellation-free forms; below it
#: the usual forms are exact to far better than the optimiser tolerances
HUGE_COUNTS = 1e6


class NumericalMode(Enum):
    """The numerical forms of a fit (see the module docstring)."""

    ORDINARY = "ordinary"
    #: huge counts, several or vector random terms: validated sums, increment-form PL steps,
    #: rounding-level ridges where a factorisation fails
    HUGE_COUNTS = "huge_counts"
    #: huge counts, one scalar random term: also the cancellation-free Schur complement
    HUGE_COUNTS_STABLE_SCHUR = "huge_counts_stable_schur"
    #: ... and the log link: also the Laplace objective relative to a reference fit
    HUGE_COUNTS_REFERENCE = "huge_counts_reference"

    @property
    def huge(self) -> bool:
        """Any of the huge-count modes."""
        return self is not NumericalMode.ORDINARY

    @property
    def stable_schur(self) -> bool:
        """The cancellation-free Schur complement of the fixed effects is used."""
        return self in (NumericalMode.HUGE_COUNTS_STABLE_SCHUR, NumericalMode.HUGE_COUNTS_REFERENCE)

    @property
    def reference_form(self) -> bool:
        """The Laplace objective is evaluated relative to a reference fit."""
        return self is NumericalMode.HUGE_COUNTS_REFERENCE


def has_huge_counts(dist_name: str, w: np.ndarray, y: np.ndarray) -> bool:
    """Whether a response has a prior-weighted Poisson count above :data:`HUGE_COUNTS`."""
    return bool(dist_name == "Poisson" and y.size > 0 and max_product(w, y) > HUGE_COUNTS)


def numerical_mode(resp: Any, layout: "ReLayout") -> NumericalMode:
    """The numerical mode of fitting ``resp`` (a GLMResponse) on ``layout``: the one place it is
    decided."""
    if not has_huge_counts(resp.dist.name, resp.w, resp.y):
        return NumericalMode.ORDINARY
    if not (layout.nterms == 1 and layout.stable_schur_applies):
        return NumericalMode.HUGE_COUNTS
    if resp.link.kind == "log":
        return NumericalMode.HUGE_COUNTS_REFERENCE
    return NumericalMode.HUGE_COUNTS_STABLE_SCHUR


@dataclass(frozen=True)
class FitProblem:
    """Everything one engine fit needs, frozen.

    Parameters
    ----------
    response : fitglme.engine.pirls.GLMResponse
        Distribution, link, response, prior weights, sizes and offset of the rows used.
    X : ndarray (n, p)
        Fixed-effects design.
    layout : ReLayout
        Random-effects layout; the problem keeps a view of it bound to ``mode``
        (:meth:`ReLayout.with_mode`).
    Zs : tuple of ndarray
        Per random term, its (n, q_k) covariates.
    patterns : tuple of fitglme.covariance.CovariancePattern
        Per random term, its covariance pattern.
    settings : EngineSettings
        Method, iteration limits, optimizer and posterior-mode settings.
    mode : NumericalMode or None
        The numerical mode; None: :func:`numerical_mode` decides.
    start : tuple or None
        A refit's start ``(theta, beta, dispersion)``: absolute covariance parameters for the
        Laplace methods, relative ones (``theta`` only used) for MPL / REMPL; None: the default start.
    """

    response: Any
    X: np.ndarray
    layout: "ReLayout"
    Zs: tuple
    patterns: tuple
    settings: Any
    mode: NumericalMode | None = None
    start: tuple | None = None

    def __post_init__(self) -> None:
        mode = numerical_mode(self.response, self.layout) if self.mode is None else self.mode
        object.__setattr__(self, "mode", mode)
        object.__setattr__(self, "Zs", tuple(self.Zs))
        object.__setattr__(self, "patterns", tuple(self.patterns))
        if self.layout.mode is not mode:
            object.__setattr__(self, "layout", self.layout.with_mode(mode))

    def with_start(self, start: tuple | None) -> "FitProblem":
        """The same problem from another start."""
        out = copy.copy(self)
        object.__setattr__(out, "start", start)
        return out
