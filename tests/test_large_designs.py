"""Work that must not grow with the problem: one LME fit for Normal/identity models, and the crossed
designs' block factorisation (docs/performance.md)."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from fitglme import fitglme
from fitglme.engine import fit as engine_fit


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
    assert m._result.info["lme_fits"] == 1
    assert m._result.info["pl_iterations"] == 1
    assert m._result.converged


@pytest.mark.parametrize("method", ["MPL", "REMPL"])
def test_one_fit_matches_the_pseudo_likelihood_loop(crossed, method, monkeypatch):
    """The single fit reaches the optimum the full loop reaches (the loop re-fits the same data)."""
    kw = dict(Distribution="Normal", FitMethod=method, Offset=crossed["off"].to_numpy())
    one = fitglme(crossed, F_CROSSED, **kw)
    monkeypatch.setattr(engine_fit, "fixed_working_data", lambda resp: False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loop = fitglme(crossed, F_CROSSED, **kw)
    assert loop._result.info["lme_fits"] > 1  # (the loop did run: the comparison is not vacuous)
    # The log-likelihood is flat at the optimum: equal to rounding (measured 1.5e-15 relative).
    assert one.LogLikelihood == pytest.approx(loop.LogLikelihood, rel=1e-12)
    # Parameters: the loop's last fit and the single fit stop by the optimiser's own rule, from
    # different starts; measured differences 2e-11 (beta) and 2e-9 (covariances) relative.
    np.testing.assert_allclose(one.Coefficients["Estimate"], loop.Coefficients["Estimate"], rtol=1e-7)
    for a, b in zip(one._result.psi, loop._result.psi):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)
    assert one._result.dispersion == pytest.approx(loop._result.dispersion, rel=1e-7)
