"""One rule for every random draw (fitglme/random_streams.py, docs/migration.md "Random numbers").

numpy's global state plays MATLAB's ``rng``: ``np.random.seed(s)`` before a call reproduces every
draw (random, partialDependence's NumObservationsToSample, StartMethod 'random'); ``seed=`` governs
one call and leaves the global state alone; a fit without a random start draws nothing.
Exact equality throughout: the same stream gives the same numbers.
"""
from __future__ import annotations

import numpy as np
import pytest

from fitglme import FitglmeError, fitglme, load_example, partialDependence, random

F = "defects ~ 1 + newprocess + time_dev + (1|factory)"


@pytest.fixture(scope="module")
def glme():
    return fitglme(load_example(), F, Distribution="Poisson")


def _estimates(m):
    r = m.fit_state.result
    return np.r_[r.beta, np.concatenate([p.ravel() for p in r.psi]), r.loglik]


def _global_draw_after(call, s=11):
    np.random.seed(s)
    out = call()
    return out, np.random.random_sample()


def test_random_follows_np_random_seed(glme):
    (a, _), (b, _) = _global_draw_after(lambda: random(glme)), _global_draw_after(lambda: random(glme))
    np.testing.assert_array_equal(a, b)
    np.random.seed(12)
    assert not np.array_equal(random(glme), a)
    # also with a new table
    tbl = load_example().iloc[:30]
    np.random.seed(3); c = glme.random(tbl)
    np.random.seed(3); d = glme.random(tbl)
    np.testing.assert_array_equal(c, d)


def test_partial_dependence_sampling_follows_np_random_seed(glme):
    call = lambda: partialDependence(glme, "time_dev", NumObservationsToSample=15).pd  # noqa: E731
    np.random.seed(5); a = call()
    np.random.seed(5); b = call()
    np.random.seed(6); c = call()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_random_start_follows_np_random_seed():
    kw = dict(Distribution="Poisson", FitMethod="Laplace", StartMethod="random")
    tbl = load_example()
    (m1, after1), (m2, after2) = (_global_draw_after(lambda: fitglme(tbl, F, **kw)) for _ in range(2))
    np.testing.assert_array_equal(_estimates(m1), _estimates(m2))
    assert after1 == after2
    np.random.seed(11)
    untouched = np.random.random_sample()
    assert after1 != untouched  # the random start drew from the global state


@pytest.mark.parametrize("which", ["random", "partialDependence", "fitglme"])
def test_seed_argument_governs_one_call_and_leaves_global_state(glme, which):
    tbl = load_example()
    calls = {
        "random": lambda s: random(glme, seed=s),
        "partialDependence": lambda s: partialDependence(glme, "time_dev", NumObservationsToSample=15, seed=s).pd,
        "fitglme": lambda s: fitglme(tbl, F, Distribution="Poisson", FitMethod="Laplace",
                                     StartMethod="random", seed=s),
    }
    call = calls[which] if which != "fitglme" else (lambda s: _estimates(calls["fitglme"](s)))
    np.random.seed(11)
    untouched = np.random.random_sample()
    (a, after_a), (b, after_b) = _global_draw_after(lambda: call(4)), _global_draw_after(lambda: call(4))
    np.testing.assert_array_equal(a, b)
    assert after_a == after_b == untouched
    g1, g2 = np.random.default_rng(9), np.random.default_rng(9)
    np.testing.assert_array_equal(call(g1), call(g2))
    with pytest.raises(FitglmeError) as info:
        call(-1)
    assert info.value.identifier == "fitglme:BadSeed" and "np.random.seed" in str(info.value)


def test_default_fit_draws_nothing():
    tbl = load_example()
    np.random.seed(2)
    state = np.random.get_state()
    fitglme(tbl, F, Distribution="Poisson")
    after = np.random.get_state()
    assert all(np.array_equal(x, y) for x, y in zip(state, after))
