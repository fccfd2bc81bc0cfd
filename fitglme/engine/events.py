"""What happened during a fit, as data: the engine records events, the MATLAB layer words them.

The engine issues no warnings.  Every noteworthy outcome (an iteration that did not converge, an
indefinite information matrix, a rounding-level ridge, ...) is an :class:`EngineEvent` in
``EngineResult.events``; fitglme/engine_warnings.py turns each into the warning (text and
identifier) the user sees.  Events are collected per fit by :func:`collecting` (a context
variable: fits in other threads collect their own).
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Iterator


class EventKind(Enum):
    """Kinds of :class:`EngineEvent`."""

    #: the pseudo-likelihood iterations stopped at their limit (values: max_iter, change, tol)
    PL_NOT_CONVERGED = "pl_not_converged"
    #: the Laplace optimisation did not meet its criterion (values: method, objective, evaluations)
    NOT_CONVERGED = "not_converged"
    #: the posterior mode of the random effects did not converge (values: max_iter)
    POSTERIOR_MODE_NOT_CONVERGED = "posterior_mode_not_converged"
    #: the observed information at the solution is not positive definite (expected one used)
    INDEFINITE_INFORMATION = "indefinite_information"
    #: the joint Hessian is singular because a scale parameter is on its bound 0
    HESSIAN_AT_BOUNDARY = "hessian_at_boundary"
    #: the joint Hessian is not positive definite (values: min_eigenvalue)
    HESSIAN_NOT_POSITIVE_DEFINITE = "hessian_not_positive_definite"
    #: a factorisation lost positive definiteness to rounding (huge counts) and was ridged
    RIDGED = "ridged"


@dataclass(frozen=True)
class EngineEvent:
    """One event of a fit: its kind and the numbers a message about it needs."""

    kind: EventKind
    values: dict[str, Any] = field(default_factory=dict)


_SINK: ContextVar[list | None] = ContextVar("fitglme_engine_events", default=None)


@contextmanager
def collecting() -> Iterator[list]:
    """Collect the events recorded within the block into the yielded list (nested blocks each
    collect their own; the outer block receives the inner block's events too)."""
    outer = _SINK.get()
    events: list = []
    token = _SINK.set(events)
    try:
        yield events
    finally:
        _SINK.reset(token)
        if outer is not None:
            outer.extend(events)


def record(kind: EventKind, **values: Any) -> None:
    """Record an event of the running fit (dropped when no fit collects)."""
    sink = _SINK.get()
    if sink is None:
        return
    if kind is EventKind.RIDGED and any(e.kind is kind for e in sink):
        return  # (every factorisation of the fit may need it: once is the news)
    sink.append(EngineEvent(kind, dict(values)))
