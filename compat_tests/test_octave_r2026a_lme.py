"""fitglme's Normal fits against the LME values recorded as MATLAB R2026a's in the GNU Octave
statistics package (reference_outputs/matlab/octave_lme_values_r2026a.txt; numbers only).

MATLAB's fitlme with 'FitMethod','REML' / 'ML' fits the model that fitglme fits with
Distribution 'Normal' (the default) and FitMethod 'REMPL' / 'MPL': the pseudo-likelihood
iterations of an identity link stop after one LME fit.  fitlmematrix(X, y, Z, G) is the same
model written as matrices.  Every value of the file is checked, each against what it is:

* LogLikelihood of nine REML formulas; Coefficients (Estimate, SE, tStat, DF, pValue, Lower,
  Upper), covarianceParameters (psi, mse), anova, coefTest, randomEffects, Rsquared, predict
  (conditional, marginal, an unseen group) of the REML random-intercept fit; the ML fit; the
  REML random-slope fit (psi 2 x 2).
* Two values come from LinearMixedModel methods that GeneralizedLinearMixedModel (MATLAB's and
  ours) does not have: anova with DFMethod 'Satterthwaite' and residuals of type
  'Standardized'.  They are checked through their dense definitions evaluated at fitglme's
  fit (its covariance parameters, fixed effects and raw residuals): they test that fit.

Tolerances: the recorded values have 6-8 significant digits; each check allows one unit in the
last recorded digit (rounding), except the covariance parameters (and what follows from them
alone): MATLAB's recorded REML psi and mse sit 2.4e-7 and 2.9e-7 relative from the optimum of
the dense REML likelihood (its gradient there is 1e-5 where ours is 7e-8: MATLAB's optimiser
stops on its own tolerance), so they are compared to COV_RTOL, and ours are checked against the
dense optimum itself to 1e-7 (test_reml_fit_is_at_the_dense_optimum).
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from fitglme import fitglme

FILE = Path(__file__).resolve().parent.parent / "reference_outputs" / "matlab" / "octave_lme_values_r2026a.txt"
TEXT = FILE.read_text(encoding="utf-8")


def _data() -> pd.DataFrame:
    rows = [ln[2:].split(",") for ln in TEXT.splitlines()
            if re.match(r"^# -?[\d.]+,-?[\d.]+,-?[\d.]+,\d+,\d+$", ln)]
    df = pd.DataFrame([[float(v) for v in r] for r in rows], columns=["yL", "xL", "x2", "g", "g2"])
    df[["g", "g2"]] = df[["g", "g2"]].astype(int)
    return df


DATA = _data()


def _numbers(label: str) -> np.ndarray:
    """The bracketed vector after ``label`` in the file."""
    m = re.search(re.escape(label) + r"\s*\[([^\]]+)\]", TEXT)
    assert m, label
    return np.array([float(v) for v in re.split(r"[;\s]+", m.group(1).strip()) if v])


def _close(ours, recorded, rtol: float = 0.0, slack=0.0) -> None:
    """Agreement to one unit in the last recorded digit of each value, or ``rtol`` relative, plus
    ``slack`` (absolute, per value) where a tolerance is derived in the test."""
    ours, recorded = np.atleast_1d(np.asarray(ours, float)), np.atleast_1d(np.asarray(recorded, float))
    slack = np.broadcast_to(np.asarray(slack, float), recorded.shape)
    assert ours.shape == recorded.shape, (ours, recorded)
    for o, r, e in zip(ours, recorded, slack):
        unit = 10.0 ** (np.floor(np.log10(abs(r))) - _sig(r) + 1) if r != 0 else 1e-12
        assert abs(o - r) <= max(unit, rtol * abs(r)) + e, (o, r, _sig(r), rtol, e)


def _sig(value: float) -> int:
    """Significant digits of a recorded value as the file prints it."""
    for m in re.finditer(r"-?\d+\.\d+(?:e-?\d+)?", TEXT):
        if float(m.group(0)) == value:
            mant = m.group(0).lstrip("-").split("e")[0].replace(".", "").lstrip("0")
            return len(mant)
    raise AssertionError(f"{value} not found in the file")


def fit(formula: str, method: str = "REMPL"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fitglme(DATA, formula, "FitMethod", method)


COV_RTOL = 5e-7  # MATLAB's recorded values are 2.9e-7 relative off the optimum (module docstring)
LOGLIK = re.findall(r"^#    '([^']+)'\s+(-?[\d.]+)$", TEXT, re.M)


def test_file_has_the_nine_formulas_and_42_rows():
    assert DATA.shape == (42, 5) and len(LOGLIK) == 9


@pytest.mark.parametrize("formula,loglik", LOGLIK, ids=[f for f, _ in LOGLIK])
def test_reml_loglikelihood(formula, loglik):
    # recorded to 1e-6 absolute (8 significant digits); measured |error| <= 3.1e-7
    assert abs(fit(formula).LogLikelihood - float(loglik)) <= 1e-6


@pytest.fixture(scope="module")
def reml():
    return fit("yL ~ xL + x2 + (1 | g)")


def test_reml_coefficients(reml):
    c = reml.Coefficients
    assert list(c["Name"]) == ["(Intercept)", "xL", "x2"]
    for col in ("Estimate", "SE", "tStat", "pValue", "Lower", "Upper"):
        _close(c[col], _numbers(f"{col} " if col != "Estimate" else "Coefficients.Estimate"))
    assert list(c["DF"]) == list(_numbers("DF"))


def test_reml_covariance_parameters(reml):
    cp = reml.covarianceParameters()
    _close(cp.psi[0][0, 0], 0.79429917, COV_RTOL)
    _close(cp.mse, 0.38539058, COV_RTOL)
    _close(reml.LogLikelihood, -49.016009)


def _dense_reml(p):
    X, Z, y = _dense(None)
    V = p[0] * Z @ Z.T + p[1] * np.eye(42)
    Vi = np.linalg.inv(V)
    XtViX = X.T @ Vi @ X
    P = Vi - Vi @ X @ np.linalg.solve(XtViX, X.T @ Vi)
    return 0.5 * (np.linalg.slogdet(V)[1] + np.linalg.slogdet(XtViX)[1] + y @ P @ y)


def test_reml_fit_is_at_the_dense_optimum(reml):
    """Our (psi, mse) against the minimiser of the dense REML objective (Nelder-Mead at 1e-13):
    1e-7 relative (measured 8e-9)."""
    from scipy.optimize import minimize

    cp = reml.covarianceParameters()
    ours = np.array([cp.psi[0][0, 0], cp.mse])
    res = minimize(_dense_reml, np.array([1.0, 1.0]), method="Nelder-Mead",
                   options={"xatol": 1e-13, "fatol": 1e-15, "maxiter": 20000})
    np.testing.assert_allclose(ours, res.x, rtol=1e-7)


def test_reml_anova(reml):
    a = reml.anova()
    _close(a["FStat"], _numbers("anova FStat"))
    assert list(a["DF1"]) == list(_numbers("DF1")) and list(a["DF2"]) == list(_numbers("DF2"))


def test_reml_coef_test(reml):
    t = reml.coefTest()
    _close(t.F, 106.847)
    assert (t.DF1, t.DF2) == (2, 39)
    t1 = reml.coefTest(np.array([[0, 1, 0]]))
    _close(t1.F, 148.287)
    assert t1.DF1 == 1


def test_reml_random_effects_and_rsquared(reml):
    _close(reml.randomEffects().B, _numbers("randomEffects(lme) ="))
    _close(reml.Rsquared.Ordinary, 0.8758549)
    _close(reml.Rsquared.Adjusted, 0.8694885)


def test_reml_predict(reml):
    new = pd.DataFrame({"xL": [0.5, -0.5, 1.0], "x2": [0.0, 1.0, -1.0], "g": [1, 2, 7]})
    _close(reml.predict(new).ypred, [2.254803, 2.351467, -0.2226094])
    _close(reml.predict(new, "Conditional", False).ypred, [1.278766, 3.469768, -0.2226094])


def _dense(glme=None):
    """X, Z (group indicators) and y of the random-intercept model."""
    X = np.column_stack([np.ones(42), DATA["xL"], DATA["x2"]])
    Z = (DATA["g"].to_numpy()[:, None] == np.arange(1, 7)[None, :]).astype(float)
    return X, Z, DATA["yL"].to_numpy()


def test_reml_standardized_residuals(reml):
    """LinearMixedModel 'Standardized' residuals: the conditional raw residual over its standard
    deviation sigma^2 sqrt(P_ii), P = V^-1 - V^-1 X (X'V^-1 X)^-1 X'V^-1 (the conditional residual
    is sigma^2 P y)."""
    X, Z, _ = _dense(reml)
    cp = reml.covarianceParameters()
    V = cp.psi[0][0, 0] * Z @ Z.T + cp.mse * np.eye(42)
    Vi = np.linalg.inv(V)
    P = Vi - Vi @ X @ np.linalg.solve(X.T @ Vi @ X, X.T @ Vi)
    std = reml.residuals()[:3] / (cp.mse * np.sqrt(np.diag(P)[:3]))
    _close(std, [0.1824776, -0.4452186, -2.057201])


def satterthwaite(phi, beta):
    """Satterthwaite DF and p of each coefficient's F test: DF = 2 v^2 / (grad v' A grad v),
    v = Var(beta_j) as a function of phi = (psi, mse), A = the inverse observed information of the
    REML log-likelihood in phi (the ratio does not depend on the parameterisation at the optimum);
    dense, by central differences."""
    X, Z, y = _dense(None)

    def parts(p):
        V = p[0] * Z @ Z.T + p[1] * np.eye(42)
        Vi = np.linalg.inv(V)
        XtViX = X.T @ Vi @ X
        P = Vi - Vi @ X @ np.linalg.solve(XtViX, X.T @ Vi)
        return -0.5 * (np.linalg.slogdet(V)[1] + np.linalg.slogdet(XtViX)[1] + y @ P @ y), np.linalg.inv(XtViX)

    h = 1e-4 * phi
    info = np.empty((2, 2))
    for i in range(2):
        for j in range(2):
            ei, ej = np.eye(2)[i] * h[i], np.eye(2)[j] * h[j]
            info[i, j] = -(parts(phi + ei + ej)[0] - parts(phi + ei - ej)[0] - parts(phi - ei + ej)[0]
                           + parts(phi - ei - ej)[0]) / (4 * h[i] * h[j])
    A = np.linalg.inv(info)
    dfs, ps = [], []
    for k in range(3):
        v = lambda p, k=k: parts(p)[1][k, k]  # noqa: E731
        grad = np.array([(v(phi + e * 1e-6 * phi) - v(phi - e * 1e-6 * phi)) / (2e-6 * phi[i])
                         for i, e in enumerate(np.eye(2))])
        df2 = 2 * v(phi) ** 2 / (grad @ A @ grad)
        dfs.append(df2)
        ps.append(stats.f.sf(beta[k] ** 2 / v(phi), 1, df2))
    return dfs, ps


def test_reml_satterthwaite_anova(reml):
    """LinearMixedModel anova(..., 'DFMethod', 'Satterthwaite'), dense at fitglme's estimates
    (:func:`satterthwaite`)."""
    cp = reml.covarianceParameters()
    beta = reml.fixedEffects().beta
    dfs, ps = satterthwaite(np.array([cp.psi[0][0, 0], cp.mse]), beta)
    _close(dfs, [4.95056, 34.5037, 34.3302])
    # The p of a t ~ 12 test moves 1.3e-5 relative when (psi, mse) move by MATLAB's 2.9e-7 from the
    # optimum: the slack is that move, evaluated here at MATLAB's recorded parameters.
    _, ps_at_matlab = satterthwaite(np.array([0.79429917, 0.38539058]), beta)
    _close(ps, [0.00348739, 4.79374e-14, 7.71731e-10], slack=np.abs(np.array(ps_at_matlab) - ps))


def test_reml_anova_p_values(reml):
    """One-DF terms: anova p equals the coefficient t-test p the file records."""
    _close(reml.anova()["pValue"], [6.08512e-06, 7.30179e-15, 2.8079e-10])


def test_ml_fit():
    """fitlmematrix([1 xL x2], yL, ones(42,1), g, 'FitMethod','ML') = fitglme ... 'MPL'."""
    glme = fit("yL ~ xL + x2 + (1 | g)", "MPL")
    _close(glme.fixedEffects().beta, [1.9685543, -1.3771207, 0.81016147])
    cp = glme.covarianceParameters()
    _close(cp.mse, 0.36422151, COV_RTOL)
    _close(cp.psi[0][0, 0], 0.65265828, COV_RTOL)
    _close(glme.LogLikelihood, -46.203282)


def test_reml_random_slope_fit():
    """fitlmematrix([1 xL x2], yL, [ones(42,1) xL], g, 'FitMethod','REML') = fitlme (1 + xL | g)."""
    glme = fit("yL ~ xL + x2 + (1 + xL | g)")
    _close(glme.fixedEffects().beta, [2.0034354, -1.3374715, 0.83788802])
    cp = glme.covarianceParameters()
    _close(cp.mse, 0.36649172, COV_RTOL)
    _close(glme.LogLikelihood, -48.280962)
    # The small slope variance is the least determined: 1.6e-7 relative (within COV_RTOL)
    _close(cp.psi[0].ravel(), [0.7846112, -0.14287556, -0.14287556, 0.026017248], COV_RTOL)
