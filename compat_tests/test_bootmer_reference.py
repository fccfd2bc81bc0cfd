"""The parametric bootstrap against lme4's bootMer on the same model and data.

Reference: reference_outputs/lme4_bootmer/mfr_bootmer.json (lme4 1.1-31, ``bootMer(type =
'parametric', use.u = FALSE)``: new random effects per replicate, as parametricBootstrap; 400
replicates; generator generate.sh beside it).  Both sides are Monte Carlo samples from (nearly) the
same distribution -- the two fits agree to ~1e-4 in every parameter -- so the comparison is of two
independent samples of B = 400 each:

* quantiles of the std of the factory intercepts at p = 0.25, 0.5, 0.75: the sampling sd of a
  quantile is sqrt(p (1 - p) / B) / f(q_p); with the density f estimated from our replicates (a
  central difference of their quantiles), the difference of the two estimates has sd sqrt(2) times
  that; allowed: 4 sd;
* the bootstrap SD of the newprocess coefficient: relative sd 1 / sqrt(2 (B - 1)) each, 4 sqrt(2) of
  it allowed (20%);
* the share of replicates with the std at 0 (boundary): two binomial proportions, 4 sd of their
  difference (with the pooled proportion, at least 1 / B).
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from fitglme import fitglme, load_example

REF = Path(__file__).resolve().parents[1] / "reference_outputs" / "lme4_bootmer" / "mfr_bootmer.json"
FORMULA = "defects ~ 1 + newprocess + time_dev + temp_dev + supplier + (1|factory)"


def test_sd_quantiles_match_bootmer():
    ref = json.loads(REF.read_text())
    B = int(ref["nsim"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        glme = fitglme(load_example(), FORMULA, "Distribution", "Poisson", "Link", "log", "FitMethod", "Laplace",
                       "DummyVarCoding", "effects")
        bs = glme.parametricBootstrap(B, "Seed", 2024)
    assert bs.NumFailed == 0
    sd = bs.Replicates["factory: std((Intercept))"].to_numpy()
    # the original fits agree (the bootstrap distributions are centred alike)
    assert abs(np.sqrt(glme.fit_state.result.psi[0][0, 0]) - ref["estimates"]["sd_factory"]) < 1e-3
    probs = np.asarray(ref["sd_factory_quantiles"]["p"])
    rq = np.asarray(ref["sd_factory_quantiles"]["q"])
    for p in (0.25, 0.5, 0.75):
        k = int(np.flatnonzero(np.isclose(probs, p))[0])
        ours = np.quantile(sd, p, method="hazen")
        dens = 0.1 / (np.quantile(sd, p + 0.05, method="hazen") - np.quantile(sd, p - 0.05, method="hazen"))
        tol = 4 * np.sqrt(2) * np.sqrt(p * (1 - p) / B) / dens
        assert abs(ours - rq[k]) <= tol, (p, ours, rq[k], tol)
    se_ours = bs.SE["newprocess"]
    assert abs(se_ours / ref["newprocess_sd"] - 1) <= 4 * np.sqrt(2) / np.sqrt(2 * (B - 1))
    zero_ours = float(np.mean(sd < 1e-4))
    pooled = max(0.5 * (zero_ours + ref["sd_factory_zero"]), 1.0 / B)
    assert abs(zero_ours - ref["sd_factory_zero"]) <= 4 * np.sqrt(2 * pooled * (1 - pooled) / B)
