"""Many fits: parametric bootstrap, many-response refit, NumSimulations, parallel backends.

Tolerances:
* fast path against a full refit: both stop where the gradient pins the optimum (a step below
  1e-11 relative, docs/choices.md "One optimum"); measured agreement ~3e-11 SE on the mfr model,
  the tests allow 1e-8 SE (1e-7 relative for SEs, which come from a second derivative).
* identical replicates across backends: exact equality (the design promises bit-identical numbers).
* statistical checks: binomial / Monte Carlo bands stated at each test.
"""
from __future__ import annotations

import importlib.util
import warnings

import numpy as np
import pandas as pd
import pytest

from fitglme import FitglmeError, fitglme, load_example, random, refit, statset
from fitglme.random_streams import child_seeds, seed_sequence
from fitglme.methods import manyfits

MFR_FORMULA = "defects ~ 1 + newprocess + time_dev + temp_dev + supplier + (1|factory)"
HAVE_JOBLIB = importlib.util.find_spec("joblib") is not None
HAVE_DASK = importlib.util.find_spec("distributed") is not None


@pytest.fixture(scope="module")
def mfr():
    return load_example()


@pytest.fixture(scope="module")
def glme_laplace(mfr):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fitglme(mfr, MFR_FORMULA, "Distribution", "Poisson", "Link", "log", "FitMethod", "Laplace",
                       "DummyVarCoding", "effects")


@pytest.fixture(scope="module")
def glme_mpl(mfr):
    return fitglme(mfr, "defects ~ 1 + newprocess + (1|factory)", "Distribution", "Poisson")


def _quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*a, **k)


def _params(m):
    """(estimates, SEs) of the fixed effects and the random-effect standard deviations."""
    sds = [np.sqrt(np.diag(p)) for p in m.fit_state.result.psi]
    return np.concatenate([m.fit_state.result.beta, *sds]), np.sqrt(np.diag(m.fit_state.result.cov_beta))


# ------------------------------------------------------------------------------ replicates
def test_replicate_is_random_then_refit(glme_laplace):
    """Replicate j: the response random(glme, seed=child j) refitted; the fast path agrees with the
    general engine's refit to within 1e-8 standard errors (module docstring)."""
    bs = _quiet(glme_laplace.parametricBootstrap, 4, "Seed", 11)
    seeds = child_seeds(seed_sequence(11, "test"), 4)
    se = glme_laplace.Coefficients.SE.to_numpy()
    p = len(se)
    for j in range(4):
        m = _quiet(refit, glme_laplace, random(glme_laplace, seed=seeds[j]))
        row = bs.Replicates.iloc[j]
        beta = row[glme_laplace.CoefficientNames].to_numpy(float)
        assert np.all(np.abs(beta - m.fit_state.result.beta) <= 1e-8 * se)
        sd = float(row["factory: std((Intercept))"])
        assert abs(sd - np.sqrt(m.fit_state.result.psi[0][0, 0])) <= 1e-8 * max(sd, 0.05)
        assert abs(float(row["LogLikelihood"]) - m.LogLikelihood) <= 1e-6
        assert row["Converged"]
    assert bs.Replicates.shape == (4, 1 + p + 1 + 2 + 3)


@pytest.mark.parametrize("formula, kw", [
    ("defects ~ 1 + newprocess + time_dev + (1 + time_dev|factory)", dict(Distribution="Poisson")),
    ("pos ~ 1 + time_dev + (1|factory)", dict(Distribution="Gamma", Link="log")),
    ("pos ~ 1 + time_dev + (1|factory)", dict(Distribution="InverseGaussian", Link="log")),
    ("prop ~ 1 + time_dev + newprocess + (1|factory)", dict(Distribution="Binomial", BinomialSize=12,
                                                             Link="probit")),
])
def test_fast_path_matches_full_refit(mfr, formula, kw):
    """Other single-term Laplace models (a random slope, a free dispersion, non-canonical links, sizes):
    the many-response refit equals the one-column refit within 1e-8 SE."""
    tbl = mfr.copy()
    rng = np.random.default_rng(4)
    effect = rng.normal(0.0, 0.4, tbl["factory"].cat.categories.size)[tbl["factory"].cat.codes]
    tbl["pos"] = np.exp(0.3 + 2.0 * tbl["time_dev"] + effect + 0.3 * rng.standard_normal(len(tbl)))
    tbl["prop"] = rng.binomial(12, 1 / (1 + np.exp(-(tbl["time_dev"] * 5 - 0.2 + effect)))) / 12
    glme = _quiet(fitglme, tbl, formula, FitMethod="Laplace", **kw)
    assert manyfits.make_plan(glme).hessian is not None  # the fast path is the one tested
    Y = random(glme, "NumSimulations", 3, seed=2)
    many = _quiet(refit, glme, Y)
    for j in range(3):
        one = _quiet(refit, glme, Y[:, j])
        a, se = _params(many[j])
        b, _ = _params(one)
        scale = np.concatenate([se, np.maximum(b[len(se):], 0.05)])
        assert np.all(np.abs(a - b) <= 1e-8 * scale), (a, b)
        assert abs(many[j].Dispersion - one.Dispersion) <= 1e-8 * one.Dispersion
        assert np.allclose(many[j].Coefficients.SE, one.Coefficients.SE, rtol=1e-7)


@pytest.mark.parametrize("kw", [
    dict(Distribution="Poisson"),
    dict(Distribution="Poisson", FitMethod="REMPL", DispersionFlag=True),
    dict(Distribution="Binomial", BinomialSize=12),
    dict(Distribution="Gamma", Link="log"),
])
def test_pl_fast_path_matches_full_refit(mfr, kw):
    """MPL / REMPL with one scalar term (fitglme/engine/refit_pl.py): the same PL fixed point as the
    one-column refit -- the same iterations, each inner fit pinned by its gradient: 1e-8 SE allowed
    (measured ~1e-11) -- and the same log-likelihood of the final pseudo-data LME."""
    tbl = mfr.copy()
    rng = np.random.default_rng(6)
    effect = rng.normal(0.0, 0.4, tbl["factory"].cat.categories.size)[tbl["factory"].cat.codes]
    tbl["pos"] = np.exp(0.3 + 2.0 * tbl["time_dev"] + effect + 0.3 * rng.standard_normal(len(tbl)))
    tbl["prop"] = rng.binomial(12, 1 / (1 + np.exp(-(tbl["time_dev"] * 5 - 0.2 + effect)))) / 12
    resp = {"Poisson": "defects", "Binomial": "prop", "Gamma": "pos"}[kw["Distribution"]]
    glme = _quiet(fitglme, tbl, f"{resp} ~ 1 + time_dev + newprocess + (1|factory)", **kw)
    Y = random(glme, "NumSimulations", 3, seed=12)
    many = _quiet(refit, glme, Y)
    assert many[0].fit_state.result.info.get("fast_path")  # the specialised PL engine is the one tested
    for j in range(3):
        one = _quiet(refit, glme, Y[:, j])
        se = one.Coefficients.SE.to_numpy()
        assert np.all(np.abs(many[j].fit_state.result.beta - one.fit_state.result.beta) <= 1e-8 * se)
        assert abs(many[j].LogLikelihood - one.LogLikelihood) <= 1e-6 * abs(one.LogLikelihood)
        assert np.allclose(many[j].Coefficients.SE, se, rtol=1e-7)
        sd_a, sd_b = np.sqrt(many[j].fit_state.result.psi[0][0, 0]), np.sqrt(one.fit_state.result.psi[0][0, 0])
        assert abs(sd_a - sd_b) <= 1e-8 * max(sd_b, 0.05)
        assert many[j].Dispersion == pytest.approx(one.Dispersion, rel=1e-6)


def test_mpl_replicates_equal_full_refit(glme_mpl):
    """MPL (general engine from the original estimates) gives the one-column refit's fixed point."""
    bs = _quiet(glme_mpl.parametricBootstrap, 3, "Seed", 5)
    seeds = child_seeds(seed_sequence(5, "test"), 3)
    se = glme_mpl.Coefficients.SE.to_numpy()
    for j in range(3):
        m = _quiet(refit, glme_mpl, random(glme_mpl, seed=seeds[j]))
        beta = bs.Replicates.iloc[j][glme_mpl.CoefficientNames].to_numpy(float)
        # the same PL iterations, each pinned by its gradient (module docstring)
        assert np.all(np.abs(beta - m.fit_state.result.beta) <= 1e-8 * se)


def test_same_numbers_for_any_chunking(glme_laplace):
    a = _quiet(glme_laplace.parametricBootstrap, 9, "Seed", 3).Replicates
    b = _quiet(glme_laplace.parametricBootstrap, 9, "Seed", 3, "Options", statset("ChunkSize", 4)).Replicates
    assert a.equals(b)
    c = _quiet(glme_laplace.parametricBootstrap, 9, "Seed", 4).Replicates
    assert not np.allclose(a["(Intercept)"], c["(Intercept)"])


@pytest.mark.skipif(not HAVE_JOBLIB, reason="joblib (extra 'parallel') is not installed")
def test_identical_with_two_processes(glme_laplace, glme_mpl):
    for g in (glme_laplace, glme_mpl):
        a = _quiet(g.parametricBootstrap, 8, "Seed", 21).Replicates
        b = _quiet(g.parametricBootstrap, 8, "Seed", 21, "Options",
                   statset("UseParallel", True, "NumWorkers", 2, "ChunkSize", 3)).Replicates
        assert a.equals(b)


@pytest.mark.skipif(not HAVE_JOBLIB, reason="joblib (extra 'parallel') is not installed")
def test_plan_travels_once_per_worker(glme_laplace, monkeypatch, tmp_path):
    """joblib: the chunks carry a handle to the plan, pickled once to a file that a worker reads once
    per batch (threading backend: one process, so one read in all); the file is gone afterwards."""
    import joblib
    import pickle
    import tempfile

    from fitglme import parallel

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    reads = []
    real_load = pickle.load
    monkeypatch.setattr(pickle, "load", lambda f, *a, **k: reads.append(f.name) or real_load(f, *a, **k))
    sent = []
    real_call = parallel._call_shared_file
    monkeypatch.setattr(parallel, "_call_shared_file",
                        lambda task, ref, i, c: sent.append(type(ref)) or real_call(task, ref, i, c))
    a = _quiet(glme_laplace.parametricBootstrap, 8, "Seed", 21).Replicates
    with joblib.parallel_config(backend="threading", n_jobs=2):
        b = _quiet(glme_laplace.parametricBootstrap, 8, "Seed", 21, "Options",
                   statset("UseParallel", True, "ChunkSize", 2)).Replicates
    assert a.equals(b)
    assert sent == [parallel.SharedFile] * 4  # four chunks, each with the handle only
    assert len(reads) == 1 and reads[0].startswith(str(tmp_path))
    assert list(tmp_path.iterdir()) == []  # removed when the batch ended
    assert parallel._WORKER_SHARED == {}


@pytest.mark.skipif(not HAVE_DASK, reason="dask.distributed (extra 'dask') is not installed")
def test_identical_on_dask_local_cluster(glme_laplace):
    import joblib
    from dask.distributed import Client, LocalCluster

    a = _quiet(glme_laplace.parametricBootstrap, 8, "Seed", 21).Replicates
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cl, \
            Client(cl) as client:
        b = _quiet(glme_laplace.parametricBootstrap, 8, "Seed", 21, "Options",
                   statset("UseParallel", True, "Client", client)).Replicates
        with joblib.parallel_config(backend="dask"):
            c = _quiet(glme_laplace.parametricBootstrap, 8, "Seed", 21, "Options",
                       statset("UseParallel", True)).Replicates
            Y = random(glme_laplace, "NumSimulations", 2, seed=1)
            models = _quiet(refit, glme_laplace, Y, "Options", statset("UseParallel", True))
    assert a.equals(b)
    assert a.equals(c)
    serial = _quiet(refit, glme_laplace, Y)
    assert [m.Coefficients.Estimate.tolist() for m in models] == [m.Coefficients.Estimate.tolist() for m in serial]


def test_failed_replicate_is_recorded(glme_laplace, monkeypatch):
    real = manyfits.engine.fit
    calls = {"n": 0}

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise FitglmeError("forced failure", "fitglme:NumericalFailure")
        return real(*a, **k)

    monkeypatch.setattr(manyfits.engine, "fit", flaky)
    bs = _quiet(glme_laplace.parametricBootstrap, 4, "Seed", 1)
    rep = bs.Replicates
    assert bs.NumFailed == 1
    assert rep["Error"].tolist() == ["", "fitglme:NumericalFailure", "", ""]
    assert np.isnan(rep.iloc[1]["(Intercept)"]) and not rep.iloc[1]["Converged"]
    assert np.isfinite(rep.drop(index=1)["(Intercept)"]).all()
    ci = bs.coefCI()
    assert "3 of 4 replicates" in ci.title


def test_warnings_recorded(mfr):
    """A boundary replicate (variance 0) carries the warning identifier of the fit."""
    glme = _quiet(fitglme, mfr, "defects ~ 1 + newprocess + (1|factory)", Distribution="Poisson",
                  FitMethod="Laplace")
    bs = _quiet(glme.parametricBootstrap, 40, "Seed", 8)
    rep = bs.Replicates
    boundary = rep["factory: std((Intercept))"] <= 1e-8
    assert boundary.any()  # (true std 0.3 with 20 factories: some replicates hit 0)
    assert all("fitglme:BoundaryFit" in w for w in rep.loc[boundary, "Warnings"])
    assert all(w == "" for w in rep.loc[~boundary, "Warnings"])


# ------------------------------------------------------------------------------ intervals
def test_coefci_types(glme_laplace):
    bs = _quiet(glme_laplace.parametricBootstrap, 30, "Seed", 2)
    v = bs.Replicates["newprocess"].to_numpy()
    est = glme_laplace.Coefficients.Estimate[1]
    per = bs.coefCI("Alpha", 0.1)
    row = per[per.Name == "newprocess"].iloc[0]
    # MATLAB's prctile: the sorted values sit at the (i - 0.5) / n quantiles, linear in between
    s = np.sort(v)
    pos = 0.05 * 30 + 0.5
    lo = s[int(pos) - 1] + (pos - int(pos)) * (s[int(pos)] - s[int(pos) - 1])
    assert row.Lower == pytest.approx(lo, rel=1e-12)
    basic = bs.coefCI("Alpha", 0.1, "Type", "basic")
    brow = basic[basic.Name == "newprocess"].iloc[0]
    assert brow.Upper == pytest.approx(2 * est - lo, rel=1e-12)
    nrm = bs.coefCI("Type", "norm")
    nrow = nrm[nrm.Name == "newprocess"].iloc[0]
    sd = v.std(ddof=1)
    assert nrow.Upper - nrow.Lower == pytest.approx(2 * 1.959963984540054 * sd, rel=1e-9)
    assert nrow.Lower + nrow.Upper == pytest.approx(2 * (2 * est - v.mean()), rel=1e-9)
    assert "LogLikelihood" not in per.Name.tolist()
    text = str(per)
    assert text.splitlines()[0].strip().startswith("Parametric bootstrap confidence intervals: Type = 'percentile'")
    assert "'factory: std((Intercept))'" in text


def _simulated_poisson(seed, G=20, per=5):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(G), per)
    x = rng.standard_normal(G * per)
    u = rng.normal(0, 0.5, G)
    y = rng.poisson(np.exp(0.5 + 0.4 * x + u[g]))
    return pd.DataFrame({"g": pd.Categorical(g), "x": x, "y": y})


def test_percentile_coverage():
    """Coverage of 80% percentile intervals of the fixed effects over 40 simulated data sets
    (Poisson, 20 groups of 5, true beta = (0.5, 0.4), sd 0.5), 39 replicates each.  Per
    coefficient the count of covering intervals is Binomial(40, 0.8) when the intervals are
    right: mean 32, sd 2.53, so 32 +- 7.6 (3 sd), i.e. 25..39 of 40."""
    truth = np.array([0.5, 0.4])
    hits = np.zeros(2, int)
    for d in range(40):
        tbl = _simulated_poisson(1000 + d)
        glme = _quiet(fitglme, tbl, "y ~ 1 + x + (1|g)", Distribution="Poisson", FitMethod="Laplace")
        ci = _quiet(glme.parametricBootstrap, 39, "Seed", d).coefCI("Alpha", 0.2)
        lo, hi = ci.Lower.to_numpy()[:2], ci.Upper.to_numpy()[:2]
        hits += (lo <= truth) & (truth <= hi)
    print("covering intervals of 40:", hits)
    assert np.all((hits >= 25) & (hits <= 39)), hits


def test_bootstrap_se_matches_model_se():
    """Well-identified model (Poisson, 50 groups of 10): the bootstrap SEs of the fixed effects
    from 300 replicates agree with the model's SEs.  The Monte Carlo relative sd of an SD estimate
    from B draws is 1 / sqrt(2 (B - 1)) = 4.1%; 4 sd gives 16.4%."""
    tbl = _simulated_poisson(7, G=50, per=10)
    glme = _quiet(fitglme, tbl, "y ~ 1 + x + (1|g)", Distribution="Poisson", FitMethod="Laplace")
    bs = _quiet(glme.parametricBootstrap, 300, "Seed", 99)
    ratio = bs.SE.to_numpy()[:2] / glme.Coefficients.SE.to_numpy()
    print("bootstrap SE / model SE:", ratio)
    assert np.all(np.abs(ratio - 1) <= 0.164), ratio


# ------------------------------------------------------------------------------ responses
def test_random_num_simulations(glme_laplace, mfr):
    Y = random(glme_laplace, "NumSimulations", 3, seed=5)
    assert Y.shape == (len(mfr), 3)
    seeds = child_seeds(seed_sequence(5, "test"), 3)
    for j in range(3):
        assert np.array_equal(Y[:, j], random(glme_laplace, seed=seeds[j]))
    new = mfr.iloc[:10]
    Yn = random(glme_laplace, new, "NumSimulations", 2, seed=5)
    assert Yn.shape == (10, 2)
    assert np.array_equal(Yn[:, 1], random(glme_laplace, new, seed=seeds[1]))
    assert not np.array_equal(Y[:, 0], Y[:, 1])


def test_refit_matrix_and_dataframe(glme_mpl):
    Y = random(glme_mpl, "NumSimulations", 3, seed=9)
    models = _quiet(refit, glme_mpl, pd.DataFrame(Y))
    assert len(models) == 3
    for j, m in enumerate(models):
        one = _quiet(refit, glme_mpl, Y[:, j])
        assert np.allclose(m.Coefficients.Estimate, one.Coefficients.Estimate, rtol=0, atol=1e-8)
        assert np.array_equal(m.response().y, one.response().y)
    assert glme_mpl.NumObservations == len(Y)  # the original is unchanged
    single = _quiet(refit, glme_mpl, Y[:, :1])  # an n-by-1 matrix is a vector
    assert not isinstance(single, list)


def test_refit_matrix_warning_names_column(mfr):
    glme = _quiet(fitglme, mfr, "defects ~ 1 + newprocess + (1|factory)", Distribution="Poisson",
                  FitMethod="Laplace")
    Y = random(glme, "NumSimulations", 12, seed=8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        refit(glme, Y)
    msgs = [str(w.message) for w in caught if getattr(w.message, "identifier", "") == "fitglme:BoundaryFit"]
    assert msgs and all(m.startswith("refit, column ") for m in msgs)


# ------------------------------------------------------------------------------ bad input
def test_bad_inputs(glme_laplace, mfr):
    with pytest.raises(FitglmeError, match="nboot"):
        glme_laplace.parametricBootstrap(0)
    with pytest.raises(FitglmeError, match="Seed"):
        glme_laplace.parametricBootstrap(2, "Seed", -1)
    with pytest.raises(FitglmeError, match="Options must be a statset"):
        glme_laplace.parametricBootstrap(2, "Options", True)
    with pytest.raises(FitglmeError, match="unknown field"):
        glme_laplace.parametricBootstrap(2, "Options", {"UsePar": True})
    with pytest.raises(FitglmeError, match="UseParallel"):
        statset("UseParallel", "yes please")
    with pytest.raises(FitglmeError, match="Client"):
        statset("Client", 3)
    bs = _quiet(glme_laplace.parametricBootstrap, 3, "Seed", 1)
    with pytest.raises(FitglmeError, match="Type"):
        bs.coefCI("Type", "bca")
    n = glme_laplace.NumObservations
    with pytest.raises(FitglmeError, match="rows"):
        refit(glme_laplace, np.ones((n - 1, 2)))
    Y = np.ones((n, 2))
    Y[4, 1] = -1
    with pytest.raises(FitglmeError, match=r"column 1 \(0-based\)"):
        refit(glme_laplace, Y)
    with pytest.raises(FitglmeError, match="NumSimulations"):
        random(glme_laplace, "NumSimulations", 0)


def test_statset_is_matlab_like():
    o = statset("UseParallel", True)
    assert o["UseParallel"] is True and o.get("Display") is None  # (unset fields are absent: the consumer default applies)
    o2 = statset(o, "Display", "iter")
    assert o2["UseParallel"] is True and o2["Display"] == "iter"
    assert o.get("Display") is None  # the old options are not modified


def test_progress_display(glme_laplace, capsys):
    _quiet(glme_laplace.parametricBootstrap, 3, "Seed", 1, "Options", statset("Display", "off"))
    assert capsys.readouterr().err == ""
    _quiet(glme_laplace.parametricBootstrap, 3, "Seed", 1, "Options", statset("Display", "iter"))
    assert "parametricBootstrap" in capsys.readouterr().err
