"""fitglme against the eight MATLAB R2026a fits in reference_outputs/matlab/fixtures_r2026a.json.

Tolerances (the core issue's): estimates and SEs within 1e-6, LogLikelihood within 1e-4, the psi of
the REMPL Poisson fit, and DF / DFE / NumObservations.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from fitglme import fitglme

from .references import load_matlab_fixtures

FX, DATA = load_matlab_fixtures()


def _fit(f):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # MATLAB's call: fitglme(tbl, '<y> ~ xL + (1 | g)', 'Distribution', <dist>, 'FitMethod', <method>)
        return fitglme(DATA, f"{f['response']} ~ xL + (1 | g)", "Distribution", f["Distribution"],
                       "FitMethod", f["FitMethod"])


@pytest.mark.parametrize("f", FX["fits"], ids=lambda f: f"{f['response']}-{f['FitMethod']}")
def test_fixture(f):
    glme = _fit(f)
    c = glme.Coefficients
    np.testing.assert_allclose(c["Estimate"], f["Estimate"], atol=1e-6, rtol=0)
    np.testing.assert_allclose(c["SE"], f["SE"], atol=1e-6, rtol=0)
    assert abs(glme.LogLikelihood - f["LogLikelihood"]) < 1e-4
    assert glme.NumObservations == 42
    assert glme.DFE == 40
    assert list(c["DF"]) == [40, 40]
    assert glme.FitMethod == f["FitMethod"]


def test_rempl_poisson_psi_and_extras():
    f = next(x for x in FX["fits"] if x["response"] == "yPois" and x["FitMethod"] == "REMPL")
    glme = _fit(f)
    psi = glme.fit_state.result.psi[0]
    assert psi.shape == (1, 1)
    assert abs(psi[0, 0] - FX["extra"]["yPois_REMPL_psi1_variance"]) < 1e-6
    assert glme.Dispersion == 1
    assert glme.NumCoefficients == 2


def test_default_fit_method_is_mpl_and_link_logit():
    glme = fitglme(DATA, "yBin ~ xL + (1 | g)", "Distribution", "binomial")
    assert glme.FitMethod == "MPL"
    assert glme.Link.Name.lower() == "logit"
    assert glme.ResponseName == "yBin"
