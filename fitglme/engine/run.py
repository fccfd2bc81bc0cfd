"""The engine's entry point: :func:`fit` of one :class:`~fitglme.engine.problem.FitProblem`."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .events import collecting
from .problem import FitProblem
from .result import EngineResult

PSEUDO_LIKELIHOOD = ("MPL", "REMPL")


def fit(problem: FitProblem, *, hessian: np.ndarray | None = None, cov_beta: bool = True) -> EngineResult:
    """Fit ``problem``: MPL / REMPL by pseudo-likelihood, Laplace / ApproximateLaplace by the Laplace
    objective; a problem with a ``start`` is a refit to a new response (its fast paths:
    fitglme.engine.refit.refit_response, ``hessian`` the start's curvature, ``cov_beta=False``
    leaving the covariance of beta out).  The result carries the fit's events and numerical mode."""
    from .laplace import fit_laplace
    from .pseudo_likelihood import fit_pl
    from .refit import refit_response

    with collecting() as events:
        if problem.start is not None:
            result = refit_response(problem, hessian=hessian, cov_beta=cov_beta)
        elif problem.settings.method in PSEUDO_LIKELIHOOD:
            result = fit_pl(problem)
        else:
            result = fit_laplace(problem)
    return replace(result, events=tuple(events), mode=problem.mode)
