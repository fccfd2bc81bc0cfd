"""The engine's events (fitglme.engine.events) as the warnings the user sees: MATLAB's message
identifiers where MATLAB has one, fitglme's own otherwise (docs/migration.md)."""
from __future__ import annotations

from typing import Iterable

from .engine.events import EngineEvent, EventKind
from .errors import warn

PL_WARN = "stats:classreg:regr:lmeutils:StandardGeneralizedLinearMixedModel:Message_PLUnableToConverge"
POSTERIOR_MODE_WARN = ("stats:classreg:regr:lmeutils:StandardGeneralizedLinearMixedModel:"
                       "Message_PosteriorModeLineSearch")
NOT_SPD_HESSIAN_WARN = "stats:classreg:regr:lmeutils:StandardLinearLikeMixedModel:Message_NotSPDHessian"


def event_warning(event: EngineEvent) -> tuple[str, str] | None:
    """(message, identifier) of the warning an event issues; None for events that only inform
    other checks (RIDGED: the fitglme:HugeValues warning of fitglme.diagnostics words it)."""
    v, kind = event.values, event.kind
    if kind is EventKind.PL_NOT_CONVERGED:
        return (f"Pseudo-likelihood iterations did not converge within PLIterations = {v['max_iter']} "
                f"(last relative change {v['change']:.3g} > PLTolerance = {v['tol']:g}); returning the last "
                "iterate.", PL_WARN)
    if kind is EventKind.NOT_CONVERGED:
        return (f"{v['method']} optimisation did not meet its convergence criterion "
                f"(objective {v['objective']:.10g} after {v['evaluations']} evaluations); results may be "
                "inaccurate.", "fitglme:NotConverged")
    if kind is EventKind.POSTERIOR_MODE_NOT_CONVERGED:
        return ("The posterior mode of the random effects did not converge within EBOptions.MaxIter "
                f"({v['max_iter']} Newton iterations); the log-likelihood may be inaccurate.", POSTERIOR_MODE_WARN)
    if kind is EventKind.INDEFINITE_INFORMATION:
        return ("The observed information at the solution is not positive definite; the standard errors "
                "of the fixed effects use the expected information instead.",
                "fitglme:IndefiniteObservedInformation")
    if kind is EventKind.HESSIAN_AT_BOUNDARY:
        return ("The Hessian with respect to the unconstrained covariance parameters (log standard "
                "deviations) is singular: a random-effect variance is on the boundary (0).", NOT_SPD_HESSIAN_WARN)
    if kind is EventKind.HESSIAN_NOT_POSITIVE_DEFINITE:
        return ("The Hessian of the objective at the solution is not positive definite "
                f"(smallest eigenvalue {v['min_eigenvalue']:.3g}); the solution may not be a local optimum.",
                NOT_SPD_HESSIAN_WARN)
    return None


def warn_events(events: Iterable[EngineEvent]) -> None:
    """Issue the warning of every event, in the order the engine recorded them."""
    for event in events:
        w = event_warning(event)
        if w is not None:
            warn(*w)


def ridged(events: Iterable[EngineEvent]) -> bool:
    """Whether a factorisation of the fit was ridged at the rounding level."""
    return any(e.kind is EventKind.RIDGED for e in events)
