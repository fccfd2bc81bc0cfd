"""Work that must not grow with the problem: one LME fit for Normal/identity models, and the crossed
designs' block factorisation (docs/performance.md)."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from fitglme import fitglme
from fitglme.engine import pseudo_likelihood as engine_fit


def crossed_normal(seed: int = 7, n: int = 4000, m1: int = 300, m2: int = 40) -> pd.DataFrame:
    """Two crossed random intercepts, a covariate and an offset column (numpy draws)."""
    rng = np.random.default_rng(seed)
    f1 = rng.integers(0, m1, n)
    f2 = rng.integers(0, m2, n)
    x = rng.standard_normal(n)
    y = 1 + 0.5 * x + rng.normal(0, 0.8, m1)[f1] + rng.normal(0, 0.5, m2)[f2] + rng.standard_normal(n)
    return pd.DataFrame({"f1": pd.Categorical(f1.astype(str)), "f2": pd.Categorical(f2.astype(str)),
                         "x": x, "y": y, "off": 0.1 * x})


F_CROSSED = "y ~ 1 + x + (1|f1) + (1 + x|f2)"


@pytest.fixture(scope="module")
def crossed():
    return crossed_normal()


@pytest.mark.parametrize("method", ["MPL", "REMPL"])
@pytest.mark.parametrize("pl_iterations", [1, 3, 100])
def test_normal_identity_runs_one_lme_fit(crossed, method, pl_iterations):
    m = fitglme(crossed, F_CROSSED, Distribution="Normal", FitMethod=method, Offset=crossed["off"].to_numpy(),
                PLIterations=pl_iterations)
    assert m.fit_state.result.info["lme_fits"] == 1
    assert m.fit_state.result.info["pl_iterations"] == 1
    assert m.fit_state.result.converged


@pytest.mark.parametrize("method", ["MPL", "REMPL"])
def test_one_fit_matches_the_pseudo_likelihood_loop(crossed, method, monkeypatch):
    """The single fit reaches the optimum the full loop reaches (the loop re-fits the same data)."""
    kw = dict(Distribution="Normal", FitMethod=method, Offset=crossed["off"].to_numpy())
    one = fitglme(crossed, F_CROSSED, **kw)
    monkeypatch.setattr(engine_fit, "fixed_working_data", lambda *args: False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loop = fitglme(crossed, F_CROSSED, **kw)
    assert loop.fit_state.result.info["lme_fits"] > 1  # (the loop did run: the comparison is not vacuous)
    # The log-likelihood is flat at the optimum: equal to rounding (measured 1.5e-15 relative).
    assert one.LogLikelihood == pytest.approx(loop.LogLikelihood, rel=1e-12)
    # Parameters: the loop's last fit and the single fit stop by the optimiser's own rule, from
    # different starts; measured differences 2e-11 (beta) and 2e-9 (covariances) relative.
    np.testing.assert_allclose(one.Coefficients["Estimate"], loop.Coefficients["Estimate"], rtol=1e-7)
    for a, b in zip(one.fit_state.result.psi, loop.fit_state.result.psi):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)
    assert one.fit_state.result.dispersion == pytest.approx(loop.fit_state.result.dispersion, rel=1e-7)


def crossed_three(seed: int = 5, n: int = 6000, m1: int = 600, m2: int = 200, m3: int = 6) -> pd.DataFrame:
    """Three crossed random intercepts with a sparse first-by-later pattern (~5% of the pairs)."""
    rng = np.random.default_rng(seed)
    f1, f2, f3 = rng.integers(0, m1, n), rng.integers(0, m2, n), rng.integers(0, m3, n)
    x = rng.standard_normal(n)
    eta = -0.2 + 0.5 * x + rng.normal(0, .8, m1)[f1] + rng.normal(0, .5, m2)[f2] + rng.normal(0, .3, m3)[f3]
    return pd.DataFrame({"f1": pd.Categorical(f1.astype(str)), "f2": pd.Categorical(f2.astype(str)),
                         "f3": pd.Categorical(f3.astype(str)), "x": x,
                         "b": (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float),
                         "y": eta + rng.standard_normal(n)})


def _estimates(m) -> np.ndarray:
    r = m.fit_state.result
    return np.concatenate([r.beta, [r.loglik, r.dispersion], np.concatenate([p.ravel() for p in r.psi]), r.b,
                           np.sqrt(np.diag(r.cov_beta))])


@pytest.fixture(scope="module")
def three():
    return crossed_three()


@pytest.mark.parametrize("resp,dist,method", [("y", "Normal", "MPL"), ("y", "Normal", "REMPL"),
                                              ("b", "Binomial", "Laplace"), ("b", "Binomial", "ApproximateLaplace")])
def test_sparse_crossed_factorisation_gives_the_dense_answers(three, resp, dist, method, monkeypatch):
    """The sparse Schur complement (fitglme.engine.crossed) against the dense one on the same data."""
    from fitglme.engine import layout

    formula = f"{resp} ~ 1 + x + (1|f1) + (1|f2) + (1|f3)"
    sparse = fitglme(three, formula, Distribution=dist, FitMethod=method)
    assert sparse.fit_state.problem.layout.cross_pattern() is not None  # (the sparse path ran)
    monkeypatch.setattr(layout, "SPARSE_DENSITY", -1.0)
    dense = fitglme(three, formula, Distribution=dist, FitMethod=method)
    assert dense.fit_state.problem.layout.cross_pattern() is None
    # Same optimiser path up to rounding in the factorisation (measured differences 2e-12 Normal,
    # 2e-14 Laplace, relative): 1e-9 is the project's "numbers unchanged" bound.
    np.testing.assert_allclose(_estimates(sparse), _estimates(dense), rtol=1e-9, atol=1e-9)
    # The methods that factor again after the fit (conditional SEs of B: the joint factor's inverse
    # diagonal blocks; prediction intervals: row forms with the factor's C) take the same path.
    se = [np.asarray(m.randomEffects(DFMethod="none").stats["SEPred"], float) for m in (sparse, dense)]
    np.testing.assert_allclose(se[0], se[1], rtol=1e-9)
    ci = [np.asarray(m.predict(three.iloc[:50])[1], float) for m in (sparse, dense)]
    np.testing.assert_allclose(ci[0], ci[1], rtol=1e-9)
