"""EBMethod and EBOptions (the posterior-mode search of Laplace / ApproximateLaplace), and the
OptimizerOptions fields that cannot change a fit.

Each EBMethod is a different search (fitglme.engine.posterior_mode) and EBOptions.TolFun / TolX
are its stopping rules; every search is completed by PIRLS's Newton polish to rounding level, so
the mode -- and the fit -- must not depend on them.  The tests observe the difference in what the
search did (the engine's counts and path, ``ModeTrace``) and the sameness of the result.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from fitglme import fitglme, load_example
from fitglme.engine.layout import constant_rows, scale_columns
from fitglme.engine.pirls import pirls
from fitglme.errors import FitglmeWarning
from fitglme.fit_options import statset

F = "defects ~ 1 + newprocess + time_dev + temp_dev + supplier + (1|factory)"
EB_METHODS = ["Default", "LineSearchNewton", "LineSearchModifiedNewton", "TrustRegion2D", "fsolve"]
ENGINE_METHODS = ["newton", "line_search", "modified_line_search", "trust_region_2d", "dogleg"]

#: The modes are Newton-polished to a decrement at rounding level: measured differences between
#: the methods are <= 2.2e-15 (u and beta are O(1)); 1e-12 leaves room for other BLAS kernels.
MODE_TOL = 1e-12
#: Fits: measured differences between EBMethods <= 1.3e-15 SE (fixed effects), 8e-11 relative
#: (covariance parameters, ApproximateLaplace Gamma/log), 1.1e-13 (log-likelihood); 1e-9 is the
#: project's pinning target.
FIT_TOL = 1e-9


@pytest.fixture(scope="module")
def mfr():
    return load_example()


@pytest.fixture(scope="module")
def unequal_poisson():
    """Poisson counts with (1|g) over 30 groups of 2, 40 and 300 rows (curvatures 1 to ~1e3):
    from a start away from the mode the full Newton steps are cut back, differently by each
    search."""
    rng = np.random.default_rng(3)
    sizes = np.r_[np.full(10, 2), np.full(10, 40), np.full(10, 300)]
    g = np.repeat(np.arange(len(sizes)), sizes)
    x = rng.normal(size=len(g))
    b = rng.normal(scale=1.5, size=len(sizes))
    y = rng.poisson(np.exp(1.0 + 0.5 * x + b[g]))
    df = pd.DataFrame({"y": y, "x": x, "g": [f"g{i:02d}" for i in g]})
    return fitglme(df, "y ~ 1 + x + (1|g)", Distribution="Poisson", FitMethod="Laplace")


def _mode(model, method, start, profile_beta, **kw):
    """PIRLS at the fitted covariance parameters from u = start (every component)."""
    Zs = [constant_rows(b.Z) for b in model.fit_state.problem.design.re_blocks]
    zts = [scale_columns(Z, L) for Z, L in zip(Zs, model.fit_state.result.Ls)]
    u0 = np.full(model.fit_state.problem.layout.Q, float(start))
    return pirls(model.fit_state.problem.layout, zts, model.fit_state.problem.design.X, model.fit_state.problem.resp, model.fit_state.result.beta, u0, 1.0,
                 profile_beta=profile_beta, method=method, **kw)


# ---------------------------------------------------------------------------------------------
# The engine's searches
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("profile_beta", [False, True])
@pytest.mark.parametrize("start", [0.0, 3.0, -3.0])
@pytest.mark.parametrize("method", ENGINE_METHODS[1:])
def test_every_search_reaches_the_newton_mode(unequal_poisson, method, start, profile_beta):
    ref = _mode(unequal_poisson, "newton", start, profile_beta)
    st = _mode(unequal_poisson, method, start, profile_beta)
    assert ref.converged and st.converged
    np.testing.assert_allclose(st.u, ref.u, rtol=0, atol=MODE_TOL)
    np.testing.assert_allclose(st.beta, ref.beta, rtol=0, atol=MODE_TOL)
    # the search itself stopped on its own rule and the polish completed it
    assert st.trace.method == method and st.trace.stop in ("gradient", "step")
    assert st.trace.polish_iterations >= 1 and ref.trace.polish_iterations == 0
    assert ref.trace.stop == "rounding"


@pytest.mark.parametrize("start,profile_beta", [(0.0, False), (0.0, True), (-3.0, False), (-3.0, True)])
def test_searches_take_different_paths(unequal_poisson, start, profile_beta):
    traces = {m: _mode(unequal_poisson, m, start, profile_beta).trace for m in ENGINE_METHODS[1:]}
    ls, tr, dl = traces["line_search"], traces["trust_region_2d"], traces["dogleg"]
    # the line search halves steps, the trust regions reject them and shrink the region
    assert ls.rejected_steps == 0 and tr.rejected_steps > 0 and dl.rejected_steps > 0
    assert ls.residual_norms != tr.residual_norms
    # 2-D subspace minimisation and the dogleg path leave the Newton point for different steps
    assert len(tr.residual_norms) != len(dl.residual_norms) or not np.allclose(
        tr.residual_norms, dl.residual_norms, rtol=1e-6)


def test_modified_newton_replaces_a_poor_direction(unequal_poisson):
    plain = _mode(unequal_poisson, "line_search", 3.0, True)
    modified = _mode(unequal_poisson, "modified_line_search", 3.0, True)
    assert plain.trace.modified_directions == 0
    assert modified.trace.modified_directions > 0  # Levenberg directions were used ...
    assert modified.trace.residual_norms != plain.trace.residual_norms  # ... which changed the path
    np.testing.assert_allclose(modified.u, plain.u, rtol=0, atol=MODE_TOL)
    np.testing.assert_allclose(modified.beta, plain.beta, rtol=0, atol=MODE_TOL)


def test_grad_tol_is_the_stopping_rule(unequal_poisson):
    loose = _mode(unequal_poisson, "line_search", 0.0, True, grad_tol=1e-1)
    tight = _mode(unequal_poisson, "line_search", 0.0, True, grad_tol=1e-9)
    assert loose.trace.stop == "gradient" and tight.trace.stop in ("gradient", "step")
    assert loose.trace.iterations < tight.trace.iterations
    # stopped further out: the loose search ends at 4.8e-9, the tight one at rounding noise, which moves
    # with the kernel and the fixture's last digits (6.8e-13 to 5.4e-12 measured): a factor 1e2, not 1e3
    assert loose.trace.residual_norms[-1] > 1e2 * tight.trace.residual_norms[-1]
    np.testing.assert_allclose(loose.u, tight.u, rtol=0, atol=MODE_TOL)


def test_step_tol_is_the_stopping_rule(unequal_poisson):
    st = _mode(unequal_poisson, "trust_region_2d", 0.0, False, grad_tol=1e-300, step_tol=1e-2)
    assert st.trace.stop == "step"
    ref = _mode(unequal_poisson, "newton", 0.0, False)
    np.testing.assert_allclose(st.u, ref.u, rtol=0, atol=MODE_TOL)


def test_newton_eta_and_step_rules(unequal_poisson):
    ref = _mode(unequal_poisson, "newton", 0.0, True)
    by_eta = _mode(unequal_poisson, "newton", 0.0, True, eta_tol=1e-3)
    by_step = _mode(unequal_poisson, "newton", 0.0, True, step_tol=1e-2)
    assert by_eta.trace.stop == "eta" and by_step.trace.stop == "step"
    for st in (by_eta, by_step):
        assert st.trace.iterations < ref.trace.iterations and st.trace.polish_iterations >= 1
        np.testing.assert_allclose(st.u, ref.u, rtol=0, atol=MODE_TOL)
        np.testing.assert_allclose(st.beta, ref.beta, rtol=0, atol=MODE_TOL)


@pytest.mark.parametrize("method", ENGINE_METHODS)
def test_max_iter_is_honoured(unequal_poisson, method):
    st = _mode(unequal_poisson, method, 0.0, False, max_iter=1)
    assert not st.converged and st.trace.stop == "max_iter" and st.trace.polish_iterations == 0
    assert st.iterations == 1


# ---------------------------------------------------------------------------------------------
# The MATLAB options
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fit_method", ["Laplace", "ApproximateLaplace"])
def test_eb_methods_reach_the_same_fit(mfr, fit_method):
    fits = {m: fitglme(mfr, F, Distribution="Poisson", FitMethod=fit_method, EBMethod=m) for m in EB_METHODS}
    base = fits["Default"]
    se = base.Coefficients["SE"].to_numpy()
    engine = {"Default": "newton", "LineSearchNewton": "line_search",
              "LineSearchModifiedNewton": "modified_line_search", "TrustRegion2D": "trust_region_2d",
              "fsolve": "dogleg"}
    for m, g in fits.items():
        pm = g.fit_state.result.info["posterior_mode"]
        assert pm["method"] == engine[m]
        if m == "Default":
            assert set(pm["stops"]) == {"rounding"} and pm["polish_iterations"] == 0
        else:  # stopped by EBOptions' (default) TolFun, then polished
            assert set(pm["stops"]) <= {"gradient", "step"} and pm["polish_iterations"] > 0
        d = np.abs(g.Coefficients["Estimate"].to_numpy() - base.Coefficients["Estimate"].to_numpy()) / se
        assert d.max() <= FIT_TOL
        np.testing.assert_allclose(g.fit_state.result.psi[0], base.fit_state.result.psi[0], rtol=FIT_TOL)
        assert g.LogLikelihood == pytest.approx(base.LogLikelihood, abs=FIT_TOL)


def test_eb_tolfun_changes_the_search_not_the_fit(mfr):
    loose = fitglme(mfr, F, Distribution="Poisson", FitMethod="Laplace", EBMethod="LineSearchNewton",
                    EBOptions={"TolFun": 1e-1})
    tight = fitglme(mfr, F, Distribution="Poisson", FitMethod="Laplace", EBMethod="LineSearchNewton",
                    EBOptions={"TolFun": 1e-12})
    a, b = loose.fit_state.result.info["posterior_mode"], tight.fit_state.result.info["posterior_mode"]
    assert a["iterations"] < b["iterations"]
    se = tight.Coefficients["SE"].to_numpy()
    d = np.abs(loose.Coefficients["Estimate"].to_numpy() - tight.Coefficients["Estimate"].to_numpy()) / se
    assert d.max() <= FIT_TOL
    assert loose.LogLikelihood == pytest.approx(tight.LogLikelihood, abs=FIT_TOL)


@pytest.mark.parametrize("eb_options,stop", [({"TolFun": 1e-3}, "eta"), ({"TolX": 1e-1}, "step")])
def test_default_eb_method_tolerances(mfr, eb_options, stop):
    base = fitglme(mfr, F, Distribution="Poisson", FitMethod="Laplace")
    g = fitglme(mfr, F, Distribution="Poisson", FitMethod="Laplace", EBOptions=eb_options)
    pm = g.fit_state.result.info["posterior_mode"]
    assert pm["stops"].get(stop, 0) > 0 and pm["polish_iterations"] > 0
    se = base.Coefficients["SE"].to_numpy()
    d = np.abs(g.Coefficients["Estimate"].to_numpy() - base.Coefficients["Estimate"].to_numpy()) / se
    assert d.max() <= FIT_TOL
    assert g.LogLikelihood == pytest.approx(base.LogLikelihood, abs=FIT_TOL)


def test_eb_display_prints_the_search(mfr, capsys):
    fitglme(mfr, F, Distribution="Poisson", FitMethod="Laplace", EBMethod="TrustRegion2D",
            EBOptions={"Display": "final"})
    assert "EB iteration" in capsys.readouterr().out


def _fitglme_warnings(**kw):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        fit = fitglme(load_example(), F, Distribution="Poisson", **kw)  # (this line is the user's)
    return fit, [w for w in rec if isinstance(w.message, FitglmeWarning)]


def test_optimizer_tolerances_warn_once_and_change_nothing(mfr):
    base = fitglme(mfr, F, Distribution="Poisson", FitMethod="Laplace")
    fit, rec = _fitglme_warnings(FitMethod="Laplace", OptimizerOptions={"TolFun": 1e-10, "TolX": 1e-14})
    ours = [w for w in rec if w.message.identifier == "fitglme:OptimizerToleranceNotUsed"]
    assert len(ours) == 1
    assert "TolFun = 1e-10" in str(ours[0].message) and "TolX = 1e-14" in str(ours[0].message)
    assert ours[0].filename == __file__  # attributed to the caller's line, not to fitglme's
    np.testing.assert_array_equal(fit.Coefficients["Estimate"], base.Coefficients["Estimate"])
    assert fit.LogLikelihood == base.LogLikelihood


def test_statset_defaults_do_not_warn():
    _, rec = _fitglme_warnings(OptimizerOptions=statset("fitglme", MaxIter=200))
    assert not [w for w in rec if w.message.identifier == "fitglme:OptimizerToleranceNotUsed"]


@pytest.mark.parametrize("kw", [{"EBMethod": "TrustRegion2D"}, {"EBOptions": {"TolFun": 1e-8}}])
def test_eb_options_with_pseudo_likelihood_warn(kw):
    _, rec = _fitglme_warnings(FitMethod="MPL", **kw)
    ours = [w for w in rec if w.message.identifier == "fitglme:EBOptionsNotUsed"]
    assert len(ours) == 1 and ours[0].filename == __file__
    assert "Laplace" in str(ours[0].message)


def test_default_eb_method_with_pseudo_likelihood_is_quiet():
    _, rec = _fitglme_warnings(FitMethod="MPL", EBMethod="Default")
    assert not [w for w in rec if w.message.identifier == "fitglme:EBOptionsNotUsed"]


def test_huge_counts_use_newton_and_say_so():
    rng = np.random.default_rng(4)
    g = np.repeat(np.arange(8), 6)
    y = rng.poisson(np.exp(18.0 + rng.normal(scale=0.3, size=8)[g])).astype(float)  # counts ~ 7e7
    df = pd.DataFrame({"y": y, "g": [f"g{i}" for i in g]})
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        fit = fitglme(df, "y ~ 1 + (1|g)", Distribution="Poisson", FitMethod="Laplace", EBMethod="TrustRegion2D")
    ours = [w for w in rec if getattr(w.message, "identifier", "") == "fitglme:EBMethodNotUsed"]
    assert len(ours) == 1 and ours[0].filename == __file__
    assert fit.fit_state.result.info["posterior_mode"]["method"] == "newton"
