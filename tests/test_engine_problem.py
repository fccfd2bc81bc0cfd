"""The engine's problem, numerical mode and events (fitglme/engine/problem.py, events.py) and their
wording by the MATLAB layer (fitglme/engine_warnings.py)."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from fitglme import fitglme
from fitglme.engine.events import EngineEvent, EventKind, collecting, record
from fitglme.engine.layout import ReLayout
from fitglme.engine.response import GLMResponse
from fitglme.engine.problem import HUGE_COUNTS, FitProblem, NumericalMode, numerical_mode
from fitglme.engine_warnings import PL_WARN, event_warning, ridged
from fitglme.errors import FitglmeWarning
from fitglme.family import make_distribution, make_link


def _response(y, dist="Poisson", link="log"):
    y = np.asarray(y, float)
    one = np.ones_like(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitglmeWarning)  # (Poisson with the identity link: a clipping notice)
        lk = make_link(link, dist)
    return GLMResponse(make_distribution(dist, weight_convention="matlab"), lk, y, one, None, np.zeros_like(y))


def _layout(*terms):
    """terms: (level index, q) per random term."""
    return ReLayout([np.asarray(ix) for ix, _ in terms], [int(np.max(ix)) + 1 for ix, _ in terms],
                    [q for _, q in terms])


G = np.repeat(np.arange(4), 3)


@pytest.mark.parametrize(("y_max", "terms", "link", "mode"), [
    (10.0, [(G, 1)], "log", NumericalMode.ORDINARY),
    (HUGE_COUNTS, [(G, 1)], "log", NumericalMode.ORDINARY),  # (above, not at, the threshold)
    (2 * HUGE_COUNTS, [(G, 1)], "log", NumericalMode.HUGE_COUNTS_REFERENCE),
    (2 * HUGE_COUNTS, [(G, 1)], "identity", NumericalMode.HUGE_COUNTS_STABLE_SCHUR),
    (2 * HUGE_COUNTS, [(G, 2)], "log", NumericalMode.HUGE_COUNTS),
    (2 * HUGE_COUNTS, [(G, 1), (np.tile(np.arange(3), 4), 1)], "log", NumericalMode.HUGE_COUNTS),
])
def test_numerical_mode_is_decided_from_response_and_layout(y_max, terms, link, mode):
    y = np.linspace(1.0, y_max, G.size)
    resp = _response(y, link=link)
    lay = _layout(*terms)
    assert numerical_mode(resp, lay) is mode
    problem = FitProblem(resp, np.ones((G.size, 1)), lay, [np.ones((G.size, q)) for _, q in terms], [], None)
    assert problem.mode is mode and problem.layout.mode is mode
    assert problem.layout.precise == mode.huge
    assert lay.mode is NumericalMode.ORDINARY  # the structural layout is not modified
    with pytest.raises(AttributeError):
        problem.mode = NumericalMode.ORDINARY  # frozen


def test_normal_responses_are_never_huge():
    resp = _response(np.full(G.size, 1e9), dist="Normal", link="identity")
    assert numerical_mode(resp, _layout((G, 1))) is NumericalMode.ORDINARY


def test_events_are_collected_per_fit_and_ridging_once():
    record(EventKind.RIDGED)  # outside a fit: dropped
    with collecting() as outer:
        record(EventKind.PL_NOT_CONVERGED, max_iter=3, change=0.5, tol=1e-8)
        with collecting() as inner:
            record(EventKind.RIDGED)
            record(EventKind.RIDGED)
        record(EventKind.RIDGED)
    assert [e.kind for e in inner] == [EventKind.RIDGED]
    assert [e.kind for e in outer] == [EventKind.PL_NOT_CONVERGED, EventKind.RIDGED]
    assert ridged(outer) and not ridged(outer[:1])


def test_event_wording_keeps_matlab_identifiers():
    text, ident = event_warning(EngineEvent(EventKind.PL_NOT_CONVERGED, {"max_iter": 3, "change": 0.5, "tol": 1e-8}))
    assert ident == PL_WARN
    assert text.startswith("Pseudo-likelihood iterations did not converge within PLIterations = 3 ")
    assert event_warning(EngineEvent(EventKind.RIDGED)) is None  # (worded by fitglme:HugeValues)


def test_unconverged_pl_fit_is_an_event_and_a_warning_at_the_callers_line():
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(8), 10)
    x = rng.standard_normal(g.size)
    y = rng.poisson(np.exp(0.3 + 0.5 * x + rng.normal(0, 0.5, 8)[g]))
    tbl = pd.DataFrame({"y": y, "x": x, "g": g.astype(str)})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        glme = fitglme(tbl, "y ~ x + (1|g)", Distribution="Poisson", PLIterations=1)
    mine = [w for w in caught if isinstance(w.message, FitglmeWarning) and w.message.identifier == PL_WARN]
    assert len(mine) == 1 and mine[0].filename == __file__
    events = glme._result.events
    assert [e.kind for e in events] == [EventKind.PL_NOT_CONVERGED]
    assert events[0].values["max_iter"] == 1
    summary = glme._result.optimizer
    assert summary.iterations == 1 and not summary.converged and summary.stop == "iteration_limit"
