"""fitglme.engine.quasi_newton.minimize_from with the start's value and gradient given (``start``):
the same iterates as evaluating them itself, one evaluation fewer -- what lets a warm-started LME fit
free its start state before the forward differences of its curvature (docs/performance.md, the 1e6
crossed design); and LMEProblem's warm fits hold no state at theta0 while those differences run."""
from __future__ import annotations

import numpy as np

from fitglme.engine.quasi_newton import minimize_from


def _rosenbrock(x):
    f = 100.0 * (x[1] - x[0] ** 2) ** 2 + (1.0 - x[0]) ** 2
    g = np.array([-400.0 * x[0] * (x[1] - x[0] ** 2) - 2.0 * (1.0 - x[0]), 200.0 * (x[1] - x[0] ** 2)])
    return f, g


def test_given_start_gives_the_same_iterates_one_call_fewer():
    x0 = np.array([0.8, 0.7])
    lo, hi = np.full(2, -5.0), np.full(2, 5.0)
    B0 = np.array([[600.0, -300.0], [-300.0, 200.0]])
    calls = {"own": [], "given": []}

    def counted(key):
        def fg(x):
            calls[key].append(x.copy())
            return _rosenbrock(x)
        return fg

    own = minimize_from(counted("own"), x0, lo, hi, B0, np.zeros(2, bool))
    given = minimize_from(counted("given"), x0, lo, hi, B0, np.zeros(2, bool), start=_rosenbrock(x0))
    assert own.converged and given.converged
    assert np.array_equal(own.x, given.x) and own.fun == given.fun
    assert own.n_evals == given.n_evals  # (the given start counts as an evaluation)
    assert len(calls["given"]) == len(calls["own"]) - 1
    assert np.array_equal(calls["own"][0], x0) and not any(np.array_equal(c, x0) for c in calls["given"])
    np.testing.assert_allclose(given.x, [1.0, 1.0], atol=1e-8)


def test_warm_fit_frees_the_start_state_before_the_differences(monkeypatch):
    from fitglme.engine import lme as lme_mod

    seen = []
    original = lme_mod._hessian_from_gradient

    def spy(grad, x, *args, **kwargs):
        problem = grad.__closure__[0].cell_contents if grad.__closure__ else None
        seen.append(getattr(problem, "_last", "unknown"))
        return original(grad, x, *args, **kwargs)

    monkeypatch.setattr(lme_mod, "_hessian_from_gradient", spy)
    import pandas as pd

    from fitglme import fitglme

    rng = np.random.default_rng(11)
    n = 600
    g = rng.integers(0, 30, n)
    h = rng.integers(0, 12, n)
    eta = -0.2 + rng.normal(0, 0.7, 30)[g] + rng.normal(0, 0.4, 12)[h]
    df = pd.DataFrame({"y": rng.binomial(1, 1 / (1 + np.exp(-eta))), "g": g.astype(str), "h": h.astype(str)})
    fitglme(df, "y ~ 1 + (1|g) + (1|h)", Distribution="Binomial", FitMethod="Laplace")
    assert seen, "the PL start's first warm fit formed no curvature from differences"
    assert all(last is None for last in seen)  # (no state at theta0 kept alive meanwhile)
