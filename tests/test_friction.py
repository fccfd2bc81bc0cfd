"""What a MATLAB user hits at once: help, statset, warnings at the user's line, BLAS threads,
notebook display (fitglme/api.py, fit_options.py, errors.py, display/tables.py, model.py)."""
from __future__ import annotations

import pydoc
import re

import numpy as np
import pandas as pd
import pytest

import fitglme as fg
from fitglme import FitglmeError, fitglme, load_example
from fitglme.api import CODINGS, FIT_METHODS, OPTION_NAMES
from fitglme.covariance import PATTERN_NAMES
from fitglme.family.distributions import DISTRIBUTION_NAMES
from fitglme.family.links import STANDARD_LINKS
from fitglme.fit_options import COVARIANCE_METHODS, EB_METHODS, OPTIMIZERS, START_METHODS

F = "defects ~ 1 + newprocess + (1|factory)"


# ------------------------------------------------------------------ help(fitglme)
def test_help_lists_every_option_with_its_allowed_values():
    text = pydoc.render_doc(fg.fitglme, renderer=pydoc.plaintext)
    assert len(OPTION_NAMES) == 23
    for name in OPTION_NAMES:
        assert f"* ``{name}``: " in text, name
    for values in (DISTRIBUTION_NAMES, FIT_METHODS, CODINGS, PATTERN_NAMES, STANDARD_LINKS, OPTIMIZERS,
                   EB_METHODS, START_METHODS, COVARIANCE_METHODS):
        for v in values:
            assert f"'{v}'" in text, v


# ------------------------------------------------------------------ statset
def test_statset_importable_and_usable_as_options():
    from fitglme import statset

    assert fg.statset is statset and "statset" in fg.__all__
    tbl = load_example()
    base = fitglme(tbl, F, Distribution="Poisson", FitMethod="Laplace")
    m = fitglme(tbl, F, Distribution="Poisson", FitMethod="Laplace",
                OptimizerOptions=statset("fitglme"), EBOptions=statset("fitglme"))
    # the defaults given explicitly are the defaults: the same fit (rounding only)
    np.testing.assert_allclose(m.Coefficients["Estimate"], base.Coefficients["Estimate"], rtol=1e-10)
    # MATLAB's most common form: name-value pairs only
    opts = statset("MaxIter", 500, "TolFun", 1e-8)
    assert opts == {"MaxIter": 500, "TolFun": 1e-8}
    fitglme(tbl, F, Distribution="Poisson", FitMethod="Laplace", OptimizerOptions=opts, EBOptions=statset("eb"))
    with pytest.raises(FitglmeError) as info:
        statset("MaxIter", 500, "Bogus")
    assert info.value.identifier == "fitglme:BadStatset" and "Bogus" in str(info.value)
    with pytest.raises(FitglmeError) as info:
        statset("MaxIter", -1)
    assert info.value.identifier == "fitglme:BadStatset"


# ------------------------------------------------------------------ warnings point at the user's line
def _fitglme_warnings(call):
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = call()
    return out, [w for w in caught if issubclass(w.category, fg.FitglmeWarning)]


def _assert_here(ws, identifier_part):
    assert any(identifier_part in w.message.identifier for w in ws), [w.message.identifier for w in ws]
    for w in ws:
        assert w.filename == __file__, (w.message.identifier, w.filename, w.lineno)


def test_fit_warnings_point_at_the_callers_line():
    tbl = load_example()
    one = tbl[tbl["supplier"] == "A"].assign(g=1)
    _, ws = _fitglme_warnings(lambda: fitglme(one, "defects ~ 1 + newprocess + (1|g)", Distribution="Poisson"))
    _assert_here(ws, "SingleLevelGroup")                        # api.py
    _, ws = _fitglme_warnings(lambda: fitglme(tbl, F, Distribution="Poisson", Link="identity"))
    _assert_here(ws, "BadDistLinkCombination3")                 # family/links.py
    rng = np.random.default_rng(5)  # the data of tests/test_fitglme.py::test_covariance_patterns
    g = np.repeat(np.arange(20), 10)
    x = rng.normal(size=g.size)
    eta = -0.3 + 0.8 * x + rng.normal(scale=0.7, size=20)[g]
    size = rng.integers(1, 6, g.size)
    k = rng.binomial(size, 1 / (1 + np.exp(-eta)))
    df = pd.DataFrame({"y": k / size, "x": x, "g": [f"G{i:02d}" for i in g], "n": size})
    _, ws = _fitglme_warnings(lambda: fitglme(df, "y ~ x + (x|g)", Distribution="Binomial", BinomialSize="n",
                                              FitMethod="Laplace"))
    _assert_here(ws, "")                                        # diagnostics.py (boundary fit)
    assert ws


def test_method_warnings_point_at_the_callers_line():
    tbl = load_example()
    one = tbl[tbl["supplier"] == "A"].assign(g=1)
    m = fitglme(one, "defects ~ 1 + newprocess + (1|g)", Distribution="Poisson")
    _, ws = _fitglme_warnings(lambda: m.refit(one["defects"].to_numpy()))  # refit -> the fit's warning
    _assert_here(ws, "SingleLevelGroup")
    small = fitglme(tbl, F, Distribution="Poisson")
    big = fitglme(tbl, "defects ~ 1 + newprocess + supplier + (1|factory)", Distribution="Poisson")
    _, ws = _fitglme_warnings(lambda: fg.compare(small, big, "CheckNesting", True))  # MPL fits
    _assert_here(ws, "LRTUsingPseudoData")


# ------------------------------------------------------------------ BLAS threads after concurrent fits
_CONCURRENT_SCRIPT = """
import json
from concurrent.futures import ThreadPoolExecutor
import numpy as np
from threadpoolctl import threadpool_info
from fitglme import fitglme, load_example
tbl = load_example()
F = "defects ~ 1 + newprocess + (1|factory)"
threads = lambda: [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"]
fit = lambda _: fitglme(tbl, F, Distribution="Poisson", FitMethod="Laplace")
before, after, inside = threads(), [], []
alone = fit(0).Coefficients["Estimate"].to_numpy()
def fit_and_look(i):
    m = fit(i)
    inside.append(threads())
    return m.Coefficients["Estimate"].to_numpy()
for _ in range(3):  # several rounds: overlapping fits are what used to leak
    with ThreadPoolExecutor(4) as pool:
        est = list(pool.map(fit_and_look, range(4)))
    after.append(threads())
same = all(np.array_equal(e, alone) for e in est)
print(json.dumps({"before": before, "after": after, "same": same}))
"""


def test_concurrent_fits_restore_blas_threads():
    """Four fits in threads, three times, in a fresh process with 2 BLAS threads: the thread counts
    afterwards are those before, and the fits equal a fit run alone."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="2", OMP_NUM_THREADS="2", MKL_NUM_THREADS="2",
               PYTHONPATH=str(root))
    proc = subprocess.run([sys.executable, "-c", _CONCURRENT_SCRIPT], capture_output=True, text=True,
                          cwd=root, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["before"] and set(res["before"]) == {2}
    assert res["after"] == [res["before"]] * 3
    assert res["same"]


def test_blas_limit_is_reentrant_and_restored_after_an_error():
    from threadpoolctl import threadpool_info, threadpool_limits

    from fitglme.blas import single_threaded_blas

    def blas_threads():
        return [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"]

    with threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        with pytest.raises(FitglmeError):
            fitglme(load_example(), F, Distribution="Poison")
        assert blas_threads() == before
        with single_threaded_blas():
            with single_threaded_blas():
                assert set(blas_threads()) == {1}
            assert set(blas_threads()) == {1}  # the outer block still holds the limit
        assert blas_threads() == before



def test_dense_calls_get_the_threads_back_only_when_one_fit_runs():
    """fitglme.blas.dense_threads: inside a fit, a large dense call runs with the threads the process
    had (then one again), a small one and one made while another thread's fit runs keep one thread,
    and nothing changes outside a fit."""
    import threading

    from threadpoolctl import threadpool_info, threadpool_limits

    from fitglme.blas import DENSE_THREADS_FROM, dense_threads, single_threaded_blas

    def blas_threads():
        return [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"]

    big, small = DENSE_THREADS_FROM, DENSE_THREADS_FROM - 1
    with threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        assert set(before) == {2}
        with dense_threads(big):  # (not inside a fit: untouched)
            assert blas_threads() == before
        with single_threaded_blas(), single_threaded_blas():  # (one fit's nested blocks)
            with dense_threads(small):
                assert set(blas_threads()) == {1}
            with dense_threads(big):
                assert blas_threads() == before
            assert set(blas_threads()) == {1}
            entered, release = threading.Event(), threading.Event()

            def other_fit():
                with single_threaded_blas():
                    entered.set()
                    release.wait(10)

            t = threading.Thread(target=other_fit)
            t.start()
            entered.wait(10)
            with dense_threads(big):  # another fit is running: the process-wide setting stays 1
                inside_while_other = blas_threads()
            release.set()
            t.join()
        assert set(inside_while_other) == {1}
        assert blas_threads() == before


# ------------------------------------------------------------------ notebooks
def test_notebook_html_keeps_matlab_content_and_text_repr_unchanged():
    import html as _html

    tbl = load_example()
    m = fitglme(tbl, F, Distribution="Poisson")
    text = repr(m)
    assert text == str(m) == m._render()  # the plain-text repr is MATLAB's display
    page = m._repr_html_()
    assert page.startswith("<pre") and _html.unescape(re.sub(r"</?pre[^>]*>", "", page)) == text
    a = m.anova()
    assert a.title.startswith("ANOVA marginal tests")
    page = a._repr_html_()
    assert _html.escape(a.title) in page and "<table" in page
    assert repr(a).splitlines()[0].strip() == a.title  # text repr: MATLAB's, title first
    small = fitglme(tbl, F, Distribution="Poisson", FitMethod="Laplace")
    big = fitglme(tbl, "defects ~ 1 + newprocess + supplier + (1|factory)", Distribution="Poisson", FitMethod="Laplace")
    c = fg.compare(small, big)
    assert _html.escape(c.title) in c._repr_html_()
    from fitglme.display.tables import MatlabDataset

    plain = MatlabDataset({"x": [1.0, 2.0]})  # no title: pandas' table alone
    assert plain._repr_html_() == pd.DataFrame(plain)._repr_html_()
