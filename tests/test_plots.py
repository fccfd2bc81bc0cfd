"""plotResiduals, partialDependence, plotPartialDependence (fitglme/methods/plots.py)."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from scipy.stats import norm  # noqa: E402

from fitglme import FitglmeError, fitglme, load_example  # noqa: E402
from fitglme.methods.plots import (  # noqa: E402
    PLOT_TYPES,
    partialDependence,
    plotPartialDependence,
    plotResiduals,
)

FORMULA = "defects ~ 1 + newprocess + time_dev + supplier + (1|factory)"


@pytest.fixture(scope="module")
def tbl():
    return load_example()


@pytest.fixture(scope="module")
def glme(tbl):
    return fitglme(tbl, FORMULA, Distribution="Poisson")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _save(ax, path):
    ax.figure.savefig(path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 2000
    return data


def _raw(glme):
    return glme.fit_state.problem.resp.y - glme.fit_state.result.mu


def _pearson(glme):
    mu = glme.fit_state.result.mu
    return (glme.fit_state.problem.resp.y - mu) / np.sqrt(glme.Dispersion * mu / glme.fit_state.problem.resp.pw)


def _err(call, identifier):
    with pytest.raises(FitglmeError) as info:
        call()
    assert info.value.identifier == identifier, str(info.value)
    return info.value


# --------------------------------------------------------------------------- plotResiduals
@pytest.mark.parametrize("ptype", PLOT_TYPES)
def test_every_plot_type_renders(glme, ptype, tmp_path):
    h = plotResiduals(glme, ptype)
    assert isinstance(h, list) and h
    _save(h[0].axes, tmp_path / f"{ptype}.png")


def test_titles_and_labels(glme):
    expect = {
        "histogram": ("Residuals", "Frequency", "Histogram of residuals"),
        "caseorder": ("Row number", "Residuals", "Case order plot of residuals"),
        "fitted": ("Fitted values", "Residuals", "Plot of residuals vs. fitted values"),
        "lagged": ("Residual(t-1)", "Residual(t)", "Plot of residuals vs. lagged residuals"),
        "probability": ("Residuals", "Probability", "Normal probability plot of residuals"),
        "observed": ("Observed response", "Fitted response", "Fitted response vs. Observed response"),
        "symmetry": ("Lower tail", "Upper tail", "Symmetry plot of residuals around median"),
    }
    for ptype, (xl, yl, title) in expect.items():
        ax = plotResiduals(glme, ptype)[0].axes
        assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == (xl, yl, title)
    ax = plotResiduals(glme, "fitted", "ResidualType", "pearson")[0].axes
    assert ax.get_ylabel() == "Pearson residuals"


def test_histogram_counts(glme):
    h = plotResiduals(glme, "histogram")
    heights = [p.get_height() for p in h]
    assert sum(heights) == glme.NumObservations
    lo = min(p.get_x() for p in h)
    hi = max(p.get_x() + p.get_width() for p in h)
    r = _raw(glme)
    assert lo <= r.min() + 1e-12 and hi >= r.max() - 1e-12


def test_caseorder_fitted_lagged_data(glme):
    r = _raw(glme)
    line = plotResiduals(glme, "caseorder")[0]
    np.testing.assert_allclose(line.get_ydata(), r)
    np.testing.assert_array_equal(line.get_xdata(), np.arange(glme.NumObservations))
    line = plotResiduals(glme, "fitted")[0]
    np.testing.assert_allclose(line.get_xdata(), glme.fit_state.result.mu)
    np.testing.assert_allclose(line.get_ydata(), r)
    h = plotResiduals(glme, "lagged")
    np.testing.assert_allclose(h[0].get_xdata(), r[:-1])
    np.testing.assert_allclose(h[0].get_ydata(), r[1:])
    assert len(h) == 3  # data + horizontal and vertical zero lines


def test_observed_plot(glme):
    h = plotResiduals(glme, "observed")
    np.testing.assert_allclose(h[0].get_xdata(), glme.fit_state.problem.resp.y)
    np.testing.assert_allclose(h[0].get_ydata(), glme.fit_state.result.mu)
    ref = h[1]
    assert ref.get_linestyle() == ":"
    np.testing.assert_allclose(ref.get_xdata(), ref.get_ydata())


def test_pearson_residuals(glme):
    line = plotResiduals(glme, "caseorder", ResidualType="Pearson")[0]
    np.testing.assert_allclose(line.get_ydata(), _pearson(glme))
    line = plotResiduals(glme, "caseorder", "res", "PEAR")[0]  # prefixes, any case
    np.testing.assert_allclose(line.get_ydata(), _pearson(glme))


def test_matches_residuals_method(glme):
    r = np.asarray(glme.residuals(), dtype=float).ravel()
    line = plotResiduals(glme, "caseorder")[0]
    np.testing.assert_allclose(line.get_ydata(), r[np.isfinite(r)], atol=1e-10)
    rp = np.asarray(glme.residuals(ResidualType="pearson"), dtype=float).ravel()
    line = plotResiduals(glme, "caseorder", ResidualType="pearson")[0]
    np.testing.assert_allclose(line.get_ydata(), rp[np.isfinite(rp)], atol=1e-10)


def test_pd_matches_predict(glme, tbl):
    new = tbl.iloc[5:40].drop(columns="defects")
    res = partialDependence(glme, ["supplier", "newprocess"], new,
                            QueryPoints=[["A", "B", "C"], [0, 0.5, 1]])
    for i, npv in enumerate(res.y):
        for j, s in enumerate(res.x):
            mod = new.assign(newprocess=npv, supplier=pd.Categorical([s] * len(new),
                                                                     categories=["A", "B", "C"]))
            ypred = np.asarray(glme.predict(mod), dtype=float)
            assert res.pd[i, j] == pytest.approx(ypred.mean(), rel=1e-12)


def test_probability_plot(glme):
    h = plotResiduals(glme, "probability")
    r = np.sort(_raw(glme))
    n = r.size
    np.testing.assert_allclose(h[0].get_xdata(), r)
    np.testing.assert_allclose(h[0].get_ydata(), norm.ppf((np.arange(1, n + 1) - 0.5) / n))
    q1, q3 = np.interp([0.25, 0.75], (np.arange(n) + 0.5) / n, r)
    solid = h[2]
    np.testing.assert_allclose(solid.get_xdata(), [q1, q3])
    np.testing.assert_allclose(solid.get_ydata(), norm.ppf([0.25, 0.75]))


def test_symmetry_plot(glme):
    h = plotResiduals(glme, "symmetry")
    r = np.sort(_raw(glme))
    med, half = np.median(r), r.size // 2
    np.testing.assert_allclose(h[0].get_xdata(), med - r[:half][::-1])
    np.testing.assert_allclose(h[0].get_ydata(), r[-half:] - med)
    assert np.all(h[0].get_xdata() >= 0) and np.all(h[0].get_ydata() >= 0)


def test_plottype_prefix_case_default_and_style(glme):
    assert plotResiduals(glme, "HIST")[0].axes.get_title() == "Histogram of residuals"
    assert plotResiduals(glme)[0].axes.get_title() == "Histogram of residuals"
    # plottype omitted but options given
    h = plotResiduals(glme, "ResidualType", "pearson")
    assert h[0].axes.get_title() == "Histogram of residuals"
    line = plotResiduals(glme, "fitted", "Color", "r", markersize=3)[0]
    assert line.get_color() == "r" and line.get_markersize() == 3


def test_axes_first_and_ax_keyword(glme):
    fig, (a1, a2, a3) = plt.subplots(1, 3)
    h = plotResiduals(a1, glme, "fitted")
    assert h[0].axes is a1
    h = plotResiduals(glme, "lagged", ax=a2)
    assert h[0].axes is a2
    h = glme.plotResiduals("caseorder", ax=a3)
    assert h[0].axes is a3
    assert plotResiduals(a1, glme)[0].axes is a1  # default histogram


def test_plotresiduals_errors(glme):
    _err(lambda: plotResiduals(glme, "boxplot"), "fitglme:BadPlotType")
    _err(lambda: plotResiduals(glme, 3), "fitglme:BadPlotType")
    _err(lambda: plotResiduals(glme, "fitted", ResidualType="standardized"),
         "fitglme:BadResidualType")
    _err(lambda: plotResiduals(glme, "fitted", "Conditional", False), "fitglme:UnknownOption")
    _err(lambda: plotResiduals(glme, "fitted", "ResidualType"), "fitglme:BadNameValue")
    _err(lambda: plotResiduals(glme, "fitted", color="notacolour"), "fitglme:BadPlotProperty")
    _err(lambda: plotResiduals(glme, "fitted", ax="axes"), "fitglme:BadAxes")
    _err(lambda: plotResiduals("model", "fitted"), "fitglme:BadModel")


def test_no_matplotlib(glme, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "matplotlib.pyplot", None)
    err = _err(lambda: plotResiduals(glme, "fitted"), "fitglme:NoMatplotlib")
    assert "python -m pip install matplotlib" in str(err)
    _err(lambda: plotPartialDependence(glme, "time_dev"), "fitglme:NoMatplotlib")
    assert partialDependence(glme, "time_dev").pd.shape == (100,)  # no matplotlib needed


# --------------------------------------------------------------------------- partialDependence
def _direct_pd(glme, name, value):
    """Average conditional mean with coefficient `name` switched on/off, log link arithmetic."""
    beta = dict(zip(glme.CoefficientNames, glme.fit_state.result.beta))
    rows = glme.fit_state.problem.design.rows
    tbl = glme.Variables.iloc[rows]
    eta = np.log(glme.fit_state.result.mu)
    if name == "supplier":
        cur = np.array([beta.get(f"supplier_{s}", 0.0) for s in tbl["supplier"]])
        new = beta.get(f"supplier_{value}", 0.0)
        return np.exp(eta - cur + new).mean()
    return np.exp(eta + beta[name] * (value - tbl[name].to_numpy())).mean()


def test_pd_categorical(glme):
    res = partialDependence(glme, "supplier")
    assert res.y is None
    assert list(res.x) == ["A", "B", "C"]
    expect = [_direct_pd(glme, "supplier", s) for s in "ABC"]
    np.testing.assert_allclose(res.pd, expect, rtol=1e-12)


def test_pd_continuous(glme, tbl):
    res = partialDependence(glme, "time_dev")
    t = tbl["time_dev"].to_numpy()
    np.testing.assert_allclose(res.x, np.linspace(t.min(), t.max(), 100))
    expect = [_direct_pd(glme, "time_dev", v) for v in res.x]
    np.testing.assert_allclose(res.pd, expect, rtol=1e-12)
    # 0-based index into PredictorNames, explicit query points
    idx = glme.PredictorNames.index("newprocess")
    res = partialDependence(glme, idx, "QueryPoints", [0, 1])
    np.testing.assert_allclose(res.pd, [_direct_pd(glme, "newprocess", v) for v in (0, 1)])


def test_pd_grouping_variable(glme):
    res = partialDependence(glme, "factory", QueryPoints=["F01", "F03"])
    b = glme.fit_state.problem.layout.split(glme.fit_state.result.b)[0][:, 0]
    levels = glme.fit_state.problem.design.re_blocks[0].level_names
    eta = np.log(glme.fit_state.result.mu) - b[glme.fit_state.problem.design.re_blocks[0].index]
    expect = [np.exp(eta + b[levels.index(f)]).mean() for f in ("F01", "F03")]
    np.testing.assert_allclose(res.pd, expect, rtol=1e-12)


def test_pd_two_variables(glme):
    res = partialDependence(glme, ["time_dev", "supplier"], QueryPoints=[[0.0, 0.1, 0.2], ["A", "C"]])
    assert res.pd.shape == (2, 3)
    np.testing.assert_allclose(res.x, [0.0, 0.1, 0.2])
    assert list(res.y) == ["A", "C"]
    beta = dict(zip(glme.CoefficientNames, glme.fit_state.result.beta))
    tbl = glme.Variables.iloc[glme.fit_state.problem.design.rows]
    cur = np.array([beta.get(f"supplier_{s}", 0.0) for s in tbl["supplier"]])
    eta = np.log(glme.fit_state.result.mu) - cur - beta["time_dev"] * tbl["time_dev"].to_numpy()
    for i, s in enumerate("AC"):
        for j, x in enumerate(res.x):
            val = np.exp(eta + beta.get(f"supplier_{s}", 0.0) + beta["time_dev"] * x).mean()
            assert res.pd[i, j] == pytest.approx(val, rel=1e-12)
    full = partialDependence(glme, [2, 3])
    assert full.pd.shape == (len(full.y), len(full.x))


def test_pd_new_data_and_sampling(glme, tbl):
    sub = tbl.iloc[:10].drop(columns="defects")
    res = partialDependence(glme, "newprocess", sub, QueryPoints=[1])
    rows = sub.index.to_numpy()
    eta = np.log(glme.fit_state.result.mu[rows]) + glme.fit_state.result.beta[1] * (1 - sub["newprocess"].to_numpy())
    assert res.pd[0] == pytest.approx(np.exp(eta).mean(), rel=1e-12)
    np.random.seed(0)
    a = partialDependence(glme, "time_dev", NumObservationsToSample=20, UseParallel=True)
    np.random.seed(0)
    b = partialDependence(glme, "time_dev", "NumObs", 20)
    np.testing.assert_array_equal(a.pd, b.pd)
    assert not np.allclose(a.pd, partialDependence(glme, "time_dev").pd)


def test_pd_errors(glme):
    _err(lambda: partialDependence(glme, "nope"), "fitglme:BadVars")
    _err(lambda: partialDependence(glme, 99), "fitglme:BadVars")
    _err(lambda: partialDependence(glme, ["time_dev", "time_dev"]), "fitglme:BadVars")
    _err(lambda: partialDependence(glme, [0, 1, 2]), "fitglme:BadVars")
    _err(lambda: partialDependence(glme, "supplier", QueryPoints=["Z"]), "fitglme:BadQueryPoints")
    _err(lambda: partialDependence(glme, "time_dev", QueryPoints=["a"]), "fitglme:BadQueryPoints")
    _err(lambda: partialDependence(glme, ["time_dev", "supplier"], QueryPoints=[1, 2, 3]),
         "fitglme:BadQueryPoints")
    _err(lambda: partialDependence(glme, "time_dev", NumObservationsToSample=0),
         "fitglme:BadNumObservationsToSample")
    _err(lambda: partialDependence(glme, "time_dev", Bogus=1), "fitglme:UnknownOption")
    _err(lambda: partialDependence(glme, "time_dev", pd.DataFrame({"x": [1]})),
         "fitglme:UnknownVariable")


# --------------------------------------------------------------------------- plotPartialDependence
def test_plot_pd_one_variable(glme, tmp_path):
    h = plotPartialDependence(glme, "time_dev")
    ax = h[0].axes
    assert ax.get_title() == "Partial Dependence Plot"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("time_dev", "defects")
    res = partialDependence(glme, "time_dev")
    np.testing.assert_allclose(h[0].get_xdata(), res.x)
    np.testing.assert_allclose(h[0].get_ydata(), res.pd)
    _save(ax, tmp_path / "pdp.png")


def test_plot_pd_ice(glme, tmp_path):
    n = glme.NumObservations
    h = plotPartialDependence(glme, "supplier", "Conditional", "absolute")
    ax = h[0].axes
    assert ax.get_title() == "Individual Conditional Expectation Plot"
    assert len(h) == 1 + n + 1
    np.testing.assert_allclose(h[0].get_ydata(), partialDependence(glme, "supplier").pd)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["A", "B", "C"]
    np.testing.assert_allclose(h[-1].get_ydata(), glme.fit_state.result.mu)  # observations
    _save(ax, tmp_path / "ice.png")
    h = plotPartialDependence(glme, "time_dev", Conditional="centered")
    assert h[0].get_ydata()[0] == 0 and all(line.get_ydata()[0] == 0 for line in h[1:1 + n])


def test_plot_pd_two_variables(glme, tmp_path):
    fig, ax = plt.subplots()
    h = plotPartialDependence(glme, ["time_dev", "newprocess"], Parent=ax)
    assert h[0].axes is ax
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == (
        "time_dev", "newprocess", "Partial Dependence Plot")
    _save(ax, tmp_path / "pd2.png")
    h = plotPartialDependence(glme, ["supplier", "time_dev"])
    _save(h[0].axes, tmp_path / "pd2cat.png")


def test_plot_pd_errors(glme):
    _err(lambda: plotPartialDependence(glme, ["time_dev", "supplier"], Conditional="absolute"),
         "fitglme:BadConditional")
    _err(lambda: plotPartialDependence(glme, "time_dev", Conditional="relative"),
         "fitglme:BadConditional")
    _err(lambda: plotPartialDependence(glme, "time_dev", Parent=3), "fitglme:BadAxes")
    _err(lambda: plotPartialDependence(glme, "time_dev", Bogus=1), "fitglme:UnknownOption")


def test_attached_methods(glme):
    assert glme.partialDependence("supplier").pd.shape == (3,)
    assert glme.plotPartialDependence("time_dev")[0].axes.get_title() == "Partial Dependence Plot"


# --------------------------------------------------------------------------- where the plot goes
def test_draws_into_current_axes_after_subplot(glme):
    """MATLAB: subplot(1,2,1); plotResiduals(glme) draws into the left axes; pyplot does the same."""
    plt.close("all")
    left = plt.subplot(1, 2, 1)
    h = plotResiduals(glme, "fitted")
    assert h[0].axes is left and plt.get_fignums() == [left.figure.number]
    right = plt.subplot(1, 2, 2)
    h = glme.plotResiduals("histogram")
    assert h[0].axes is right and len(right.figure.axes) == 2
    h = plotPartialDependence(glme, "time_dev")
    assert h[0].axes is right and plt.get_fignums() == [left.figure.number]


def test_new_axes_only_when_there_are_none(glme):
    plt.close("all")
    h = plotResiduals(glme)                      # no open figure: one is made
    assert plt.get_fignums() == [h[0].axes.figure.number]
    plt.close("all")
    fig = plt.figure()                           # an open figure without axes gets them
    h = plotResiduals(glme, "caseorder")
    assert h[0].axes.figure is fig and fig.axes == [h[0].axes] and len(plt.get_fignums()) == 1
    fig2, ax2 = plt.subplots()                   # the newest figure is the current one
    assert plotResiduals(glme)[0].axes is ax2 and len(plt.get_fignums()) == 2
