"""What the engine returns: :class:`EngineResult`, with the fit's events and its optimizer summary."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .events import EngineEvent
from .problem import NumericalMode


@dataclass(frozen=True)
class OptimizerSummary:
    """How the optimisation of a fit went.

    ``iterations``: optimizer iterations (pseudo-likelihood: PL iterations); ``evaluations``:
    objective evaluations (pseudo-likelihood: inner linear mixed-model fits); ``stop``: why it
    stopped; ``settings``: the optimizer settings used (method, limits).
    """

    iterations: int
    evaluations: int
    converged: bool
    stop: str
    settings: dict = field(default_factory=dict)


@dataclass
class EngineResult:
    """Everything the model object needs from a fit."""

    method: str
    beta: np.ndarray
    b: np.ndarray  # random effects (public order), absolute scale
    psi: list[np.ndarray]  # covariance of b per random term
    dispersion: float
    dispersion_estimated: bool
    loglik: float
    cov_beta: np.ndarray  # covariance of beta conditional on the covariance parameters
    eta: np.ndarray
    mu: np.ndarray
    W: np.ndarray  # final weights of the penalised system (observed for Laplace)
    Ls: list[np.ndarray]  # absolute factors of psi (b = Lambda u, u ~ N(0, I))
    converged: bool
    n_cov_params: int
    pl_iterations: int = 0
    info: dict = field(default_factory=dict)
    #: what happened during the fit (fitglme.engine.events), in the order it happened
    events: tuple[EngineEvent, ...] = ()
    optimizer: OptimizerSummary | None = None
    #: the numerical mode of the fit (fitglme.engine.problem.NumericalMode)
    mode: NumericalMode = NumericalMode.ORDINARY
