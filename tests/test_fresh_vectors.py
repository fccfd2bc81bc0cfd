"""The paths that avoid fresh n-vectors at large n (docs/performance.md, "Growth in n") give the
answers of the forms they replace: the design when every row is used, categorical levels and codes,
the response checks and their row numbers, X'WX by row blocks, dW/deta by blocks, and fits whose
buffers are reused (forced on small data here by lowering the reuse threshold)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import fitglme
from fitglme.design import build_design
from fitglme.design.builder import AllRows
from fitglme.design.variables import Levels, find_levels
from fitglme.engine import arrays as arrays_mod
from fitglme.engine import crossprod as crossprod_mod
from fitglme.engine import pseudo_likelihood as pl_mod
from fitglme.engine.arrays import blockwise
from fitglme.errors import FitglmeError
from fitglme.family.distributions import make_distribution
from fitglme.formula.parser import parse_formula

EPS = np.finfo(float).eps


def _table(n=600, seed=0):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n // 6), 6)
    x = rng.standard_normal(n)
    y = rng.poisson(np.exp(0.3 + 0.4 * x + 0.5 * rng.standard_normal(n // 6)[g])).astype(float)
    return pd.DataFrame({"y": y, "x": x, "g": pd.Categorical(g), "w": rng.uniform(0.5, 2, n)})


# ---------------------------------------------------------------------------------- the design
def test_all_rows_design_owns_its_vectors_and_matches_an_explicit_selection():
    tbl = _table()
    before = tbl.copy(deep=True)
    parsed = parse_formula("y ~ 1 + x + (1|g)", list(tbl.columns))
    d = build_design(tbl, parsed)
    assert isinstance(d.used_rows, AllRows) and len(d.used_rows) == len(tbl)
    assert np.array_equal(d.rows, np.arange(len(tbl)))
    # the float columns are copies: writing into the design leaves the table as it was
    assert not np.shares_memory(d.y, tbl["y"].to_numpy())
    d.y[:] = -1.0
    d.X[:, 1] = -1.0
    pd.testing.assert_frame_equal(tbl, before)
    # the same numbers as through row positions (one excluded row that is then put back)
    d_all = build_design(tbl, parsed)
    d_sub = build_design(tbl, parsed, exclude=np.r_[True, np.zeros(len(tbl) - 1, bool)])
    assert isinstance(d_sub.used_rows, np.ndarray) and d_sub.used_rows[0] == 1
    assert np.array_equal(d_sub.y, d_all.y[1:]) and np.array_equal(d_sub.X, d_all.X[1:])
    assert np.array_equal(d_sub.re_blocks[0].index, d_all.re_blocks[0].index[1:])


def test_variable_range_skips_missing_and_unused_rows():
    tbl = _table(60)
    tbl.loc[3, "x"] = np.nan  # a missing predictor: the row is not used
    tbl["other"] = np.arange(60.0)
    tbl.loc[5, "other"] = np.nan
    d = build_design(tbl, parse_formula("y ~ 1 + x + (1|g)", list(tbl.columns)), exclude=[0])
    used = np.ones(60, bool)
    used[[0, 3]] = False
    info = d.variable_info
    assert info.loc["x", "Range"] == [float(np.nanmin(tbl.x[used])), float(np.nanmax(tbl.x[used]))]
    # a variable not in the model: over the non-excluded rows, NaN skipped
    assert info.loc["other", "Range"] == [1.0, 59.0]
    tbl["allnan"] = np.nan
    rng = build_design(tbl, parse_formula("y ~ 1 + x + (1|g)", list(tbl.columns))).variable_info.loc["allnan", "Range"]
    assert len(rng) == 2 and np.isnan(rng).all()


@pytest.mark.parametrize("order", ["levels", "shuffled", "extra"])
def test_categorical_codes_are_those_of_the_labels(order):
    rng = np.random.default_rng(5)
    labels = [f"s{i}" for i in range(30)]
    vals = rng.choice(labels, 500).astype(object)
    vals[[7, 11]] = None
    cats = {"levels": sorted(set(labels), key=labels.index),
            "shuffled": list(rng.permutation(labels)),
            "extra": labels + ["unused", ""]}[order]
    s_cat = pd.Series(pd.Categorical(vals, categories=cats))
    if order == "extra":
        s_cat[3] = ""  # '' is a missing value of a text category
    lev = find_levels(s_cat, np.ones(500, bool), "s")
    assert "unused" not in lev.labels and "" not in lev.labels
    codes, unseen = lev.encode(s_cat)
    # the same level numbers as for the values as plain text
    as_text = s_cat.astype(object).where(s_cat.notna(), None)
    codes_text, unseen_text = lev.encode(as_text)
    assert np.array_equal(codes, codes_text) and np.array_equal(unseen, unseen_text)
    ok = codes >= 0
    assert [lev.labels[c] for c in codes[ok]] == list(s_cat[ok].astype(str))
    assert not ok[7] and not ok[11]
    # levels that leave out a category present in the data: that value is unseen
    fewer = Levels("s", tuple(lev.labels[1:]))
    c2, u2 = fewer.encode(s_cat)
    assert np.array_equal(u2, s_cat.astype(object).eq(lev.labels[0]).to_numpy())
    assert np.all(c2[codes > 0] == codes[codes > 0] - 1)


def test_categorical_levels_drop_categories_absent_from_the_used_rows():
    s = pd.Series(pd.Categorical(["b", "a", "c", "a"], categories=["c", "b", "a", "d"]))
    assert find_levels(s, np.ones(4, bool), "s").labels == ("c", "b", "a")
    assert find_levels(s, np.array([False, True, False, True]), "s").labels == ("a",)


# ------------------------------------------------------------------------- the response checks
@pytest.mark.parametrize("row", [0, 65535, 65536, 70001, 199_999])
def test_response_checks_name_the_first_bad_row_across_blocks(row):
    n = 200_000
    y = np.ones(n)
    y[row] = -1.0
    y[row + 1:] = -2.0  # (later bad rows: the first is named)
    with pytest.raises(FitglmeError, match=rf"row {row} \(0-based\): response -1(\.0)? is negative"):
        make_distribution("poisson").validate_response(y)
    w = np.ones(n)
    w[row] = 0.5
    with pytest.raises(FitglmeError, match=rf"row {row} \(0-based\) is 0.5"):
        make_distribution("poisson").validate_response(np.ones(n), w)
    p = np.full(n, 0.5)
    p[row] = 0.3
    size = np.full(n, 2.0)
    with pytest.raises(FitglmeError, match=rf"Row {row} \(0-based\).*product 0.6"):
        make_distribution("binomial").validate_response(p, None, size)
    g = np.ones(n)
    g[row] = 0.0
    with pytest.raises(FitglmeError, match=rf"row {row} \(0-based\) is 0"):
        make_distribution("gamma").validate_response(g)


def test_response_checks_pass_scalar_weights_without_copies():
    make_distribution("poisson").validate_response(np.arange(10.0), 2.0)
    make_distribution("binomial").validate_response(np.full(10, 0.5), 1.0, 2.0)
    with pytest.raises(FitglmeError, match="row 0"):
        make_distribution("poisson").validate_response(np.arange(10.0), 0.5)


# ----------------------------------------------------------------------------- the engine
def test_blockwise_gives_the_whole_array_values_bit_for_bit():
    rng = np.random.default_rng(6)
    n = 200_003
    a, b = rng.standard_normal(n), np.exp(rng.standard_normal(n))

    def f(x, y, c):
        return (x * y + c) / np.sqrt(y)

    assert np.array_equal(blockwise(f, n, a, b, 0.25), f(a, b, 0.25))
    out = np.full(n, np.nan)
    assert blockwise(f, n, a, b, np.float64(2.0), out=out) is out and np.array_equal(out, f(a, b, 2.0))


@pytest.mark.parametrize("block", [1000, 1 << 16])
def test_weighted_gram_by_blocks_is_x_wx_to_rounding(monkeypatch, block):
    monkeypatch.setattr(crossprod_mod, "BLOCK_ROWS", block)
    rng = np.random.default_rng(7)
    n, p = 150_001, 3
    X = rng.standard_normal((n, p)) * np.array([1.0, 1e3, 1e-2])
    w = rng.uniform(0.0, 5.0, n)
    got = crossprod_mod.weighted_gram(X, w)
    for i in range(p):
        for j in range(p):
            terms = w * X[:, i] * X[:, j]
            exact = math.fsum(terms)
            # a sum of n rounded products: within n eps sum|terms| of the exact sum (the standard
            # bound of recursive summation; pairwise and blocked sums are far inside it)
            assert abs(got[i, j] - exact) <= n * EPS * np.abs(terms).sum()
    small = X[:block // 2], w[:block // 2]
    assert np.array_equal(crossprod_mod.weighted_gram(*small), small[0].T @ (small[1][:, None] * small[0]))


def _fit_numbers(tbl, method, formula="y ~ 1 + x + (1|g)"):
    m = fitglme.fitglme(tbl, formula, "Distribution", "Poisson", "FitMethod", method)
    return (np.asarray(m.Coefficients["Estimate"], float), np.asarray(m.covarianceParameters()[0][0], float).ravel(),
            float(m.LogLikelihood))


@pytest.mark.parametrize("method", ["MPL", "REMPL", "Laplace", "ApproximateLaplace"])
def test_fits_with_reused_row_buffers_are_bit_identical(monkeypatch, method):
    """The reuse that pays from 2^22 rows (PL's working data formed block by block in two buffers,
    a third shared by the LME's log w / w z and the next eta, PIRLS's and the Laplace gradient's
    pools), forced on 600 rows: a buffer handed out while still referenced, or a block pass that differs from the
    whole-array one, would change the numbers."""
    tbl = _table()
    plain = _fit_numbers(tbl, method)
    for mod in (arrays_mod, pl_mod):
        monkeypatch.setattr(mod, "REUSE_FROM_ROWS", 1)
    monkeypatch.setattr(pl_mod, "BLOCK_ROWS", 7)  # (PL's working data into the buffers, 86 blocks)
    reused = _fit_numbers(tbl, method)
    assert np.array_equal(plain[0], reused[0]) and np.array_equal(plain[1], reused[1])
    assert plain[2] == reused[2]


@pytest.mark.parametrize("block", [7, 1 << 15])
def test_reml_columns_of_one_scalar_term_equal_the_column_by_column_form(monkeypatch, block):
    """lme._reml_columns' elementwise form for one 1 x 1 term (by blocks of levels) against the
    general one (the solves and products column by column), bit for bit."""
    from fitglme.engine import lme as lme_mod
    monkeypatch.setattr(lme_mod, "LEVEL_BLOCK", block)
    from fitglme.covariance import make_pattern
    from fitglme.engine.crossprod import k_times, zwx
    from fitglme.engine.layout import ReLayout
    from fitglme.engine.lme import LMEProblem, ThetaMap, _reml_columns, _times_lambda

    rng = np.random.default_rng(8)
    n = 500
    g = rng.integers(0, 45, n)
    X = np.column_stack([np.ones(n), rng.standard_normal(n), rng.standard_normal(n)])
    lay = ReLayout([g], [45], [1])
    lme = LMEProblem(lay, [np.ones((n, 1))], X, ThetaMap([make_pattern("FullCholesky", 1, "t")]), True)
    lme.set_data(X @ [1.0, 0.5, -0.2] + rng.standard_normal(45)[g] + rng.standard_normal(n), rng.uniform(0.5, 2, n))
    st = lme.solve(np.array([0.7]))
    fac, Ls, ZWX = st.factor, st.Ls, zwx(lay, lme.cp)
    P, ET = _reml_columns(lay, lme.cp, Ls, fac, ZWX)
    for c in range(X.shape[1]):
        p_c = fac.re_solve(_times_lambda(lay, Ls, ZWX[:, c], transpose=True))
        assert np.array_equal(P[:, c], p_c)
        assert np.array_equal(ET[:, c], ZWX[:, c] - k_times(lay, lme.cp, _times_lambda(lay, Ls, p_c)))


def test_start_check_names_the_first_bad_row_across_blocks():
    """MuStart (and the default start) outside a custom link's domain: the first bad row is named,
    past the first check block, by its position in the table."""
    n = 100_000
    rng = np.random.default_rng(9)
    tbl = pd.DataFrame({"y": rng.poisson(2.0, n).astype(float) + 1.0, "x": rng.standard_normal(n),
                        "g": pd.Categorical(np.repeat(np.arange(n // 10), 10))})
    # log(mu - 0.1): defined where the link is checked (mu = 0.2 ... 0.8), not below 0.1
    shifted_log = {"Link": lambda mu: np.log(mu - 0.1), "Derivative": lambda mu: 1 / (mu - 0.1),
                   "SecondDerivative": lambda mu: -1 / (mu - 0.1) ** 2, "Inverse": lambda eta: np.exp(eta) + 0.1}
    mu = np.full(n, 3.0)
    mu[[70_000, 90_000]] = 0.05  # in the Poisson's domain, not the link's
    args = ("Link", shifted_log, "FitMethod", "MPL")
    with pytest.raises(FitglmeError, match=r"its value 0\.05 at row 70000 \(0-based\)"):
        fitglme.fitglme(tbl, "y ~ 1 + x + (1|g)", "Distribution", "Poisson", *args, "MuStart", mu)
    with pytest.raises(FitglmeError, match=r"at row 70000 \(0-based\)"):  # (the table's row number)
        fitglme.fitglme(tbl, "y ~ 1 + x + (1|g)", "Distribution", "Poisson", *args, "MuStart", mu, "Exclude", [5])
    tbl.loc[[66_000, 80_000], "y"] = 0.01  # the Gamma's default start is y itself
    with pytest.raises(FitglmeError, match=r"at row 66000 \(0-based\): response 0\.01 gives mu = 0\.01"):
        fitglme.fitglme(tbl, "y ~ 1 + x + (1|g)", "Distribution", "Gamma", *args)


def test_a_custom_link_is_applied_to_whole_vectors():
    """A user's link function may not be elementwise: the block-by-block passes over the rows
    leave it out and call it on the whole vector, as MATLAB does."""
    n = 70_000  # (more than one block of rows)
    rng = np.random.default_rng(10)
    tbl = pd.DataFrame({"y": rng.poisson(3.0, n).astype(float), "x": rng.standard_normal(n),
                        "g": pd.Categorical(np.repeat(np.arange(n // 10), 10))})
    sizes = set()

    def link(mu):
        sizes.add(np.size(mu))
        return np.log(mu)

    custom = {"Link": link, "Derivative": lambda mu: 1 / mu, "SecondDerivative": lambda mu: -1 / mu**2,
              "Inverse": np.exp}
    fitglme.fitglme(tbl, "y ~ 1 + x + (1|g)", "Distribution", "Poisson", "Link", custom, "FitMethod", "MPL")
    assert n in sizes and not sizes & {1 << 16, n - (1 << 16)}


@pytest.mark.parametrize("dist_name,link_name", [("poisson", "log"), ("binomial", "logit")])
@pytest.mark.parametrize("weighted", [False, True])
def test_working_into_buffers_equals_the_whole_array_form(dist_name, link_name, weighted):
    from fitglme.engine.response import GLMResponse
    from fitglme.family.links import make_link

    n = 150_001  # (three blocks of rows)
    rng = np.random.default_rng(11)
    eta = rng.normal(0.0, 1.0, n)
    y = rng.poisson(2.0, n).astype(float) if dist_name == "poisson" else rng.integers(0, 2, n).astype(float)
    w = rng.uniform(0.5, 3.0, n) if weighted else np.broadcast_to(1.0, (n,))
    size = None if dist_name == "poisson" else np.broadcast_to(1.0, (n,))
    dist = make_distribution(dist_name)
    resp = GLMResponse(dist, make_link(link_name, dist.name), y, w, size, np.broadcast_to(0.0, (n,)))
    assert resp.unit_canonical
    mu = resp.link.inverse(eta)
    whole = resp.working(eta, 1.7, True, mu.copy())
    bufs = (np.full(n, np.nan), np.full(n, np.nan))
    blocked = resp.working(eta, 1.7, True, mu.copy(), out=bufs)
    assert blocked[1] is bufs[0] and blocked[2] is bufs[1]
    for a, b in zip(whole, blocked):
        assert np.array_equal(a, b)
    assert np.array_equal(resp.initial_mu(), resp.dist.initial_mu(y, size))


# ------------------------------------------------ one-off passes without n-vector temporaries
def test_max_product_is_the_max_of_the_product(monkeypatch):
    monkeypatch.setattr(arrays_mod, "_BLOCK", 1000)
    rng = np.random.default_rng(4)
    n = 10_501
    a, b = rng.uniform(0, 3, n), rng.standard_normal(n) * 50
    assert arrays_mod.max_product(a, b) == np.max(a * b)
    w = np.broadcast_to(np.float64(2.5), (n,))  # (a scalar weight: a stride-0 vector)
    assert arrays_mod.max_product(w, b) == np.max(2.5 * b)
    b[7000] = np.nan
    assert np.isnan(arrays_mod.max_product(a, b))
    assert arrays_mod.max_product(a[:10], b[:10]) == np.max(a[:10] * b[:10])


def test_max_abs_of_the_diagnostics_is_numpys():
    from fitglme.diagnostics import _max_abs

    rng = np.random.default_rng(5)
    v = rng.standard_normal(1000) * 1e3
    assert _max_abs(v) == np.max(np.abs(v)) and _max_abs(-np.abs(v)) == np.max(np.abs(v))
    assert _max_abs(np.zeros(0)) == 0.0
    assert _max_abs(np.array([1.0, -np.inf])) == np.inf
    assert math.isnan(_max_abs(np.array([1.0, np.nan, -3.0])))


@pytest.mark.parametrize("block", [5, 1 << 16])
def test_level_runs_found_block_by_block(monkeypatch, block):
    from fitglme.engine import layout as layout_mod

    monkeypatch.setattr(layout_mod, "BLOCK_ROWS", block)

    def reference(ix, m):  # (the whole-vector form)
        if ix.size == 0 or m == 0 or ix[0] != 0 or ix[-1] != m - 1:
            return None
        step = np.diff(ix)
        if step.min(initial=0) < 0 or step.max(initial=0) > 1:
            return None
        return np.concatenate([[0], np.flatnonzero(step) + 1])

    rng = np.random.default_rng(6)
    ix = np.repeat(np.arange(40), rng.integers(1, 6, 40))
    got = layout_mod._run_starts(ix, 40)
    assert got.dtype == np.intp and np.array_equal(got, reference(ix, 40))
    assert np.array_equal(layout_mod._run_starts(np.zeros(1, np.intp), 1), [0])
    back = ix.copy()
    j = int(np.flatnonzero(np.diff(ix))[15])
    back[j], back[j + 1] = back[j + 1], back[j]  # a step back
    for bad in (back, np.r_[ix[ix < 10], ix[ix > 11]]):  # ... and levels skipped (a step of 3)
        assert reference(bad, 40) is None and layout_mod._run_starts(bad, 40) is None
    # a bad step exactly at a block boundary
    k = block if block < ix.size - 1 else 10
    jump = ix.copy()
    jump[k + 1:] = np.minimum(jump[k + 1:] + 2, 41)
    assert layout_mod._run_starts(jump, 42) is None


@pytest.mark.parametrize("block", [7, 1 << 16])
def test_direct_r2_and_fixed_part_by_row_blocks(monkeypatch, block):
    """The final state's r^2 from the rows, and eta's X beta + offset of PIRLS with beta profiled,
    block of rows by block: the numbers of the whole-vector forms (r^2 to rounding over blocks)."""
    from fitglme.engine import layout as layout_mod
    from fitglme.engine import lme as lme_mod
    from fitglme.engine import pirls as pirls_mod
    from fitglme.covariance import make_pattern
    from fitglme.engine.layout import ReLayout
    from fitglme.engine.lme import LMEProblem, ThetaMap

    for mod in (lme_mod, pirls_mod, layout_mod):
        monkeypatch.setattr(mod, "BLOCK_ROWS", block)
    rng = np.random.default_rng(9)
    n = 400
    g = rng.integers(0, 30, n)
    X = np.column_stack([np.ones(n), rng.standard_normal(n)])
    lay = ReLayout([g], [30], [1])
    lme = LMEProblem(lay, [np.ones((n, 1))], X, ThetaMap([make_pattern("FullCholesky", 1, "t")]), False)
    lme.set_data(X @ [1.0, 0.5] + rng.standard_normal(30)[g] + rng.standard_normal(n), rng.uniform(0.5, 2, n))
    st = lme.solve(np.array([0.8]))
    resid, w, _ = lme._row_residual(st.Ls, st.beta, st.u)
    want = float(np.sum(w * resid**2)) + float(st.u @ st.u)
    got = lme._direct_r2(st.Ls, st.beta, st.u)
    assert abs(got - want) <= 4 * n * EPS * want
    if block >= n:
        assert got == layout_mod.vdot(w, resid * resid) + layout_mod.vdot(st.u, st.u)
    beta, off = np.array([0.3, -1.2]), rng.standard_normal(n)
    base = rng.standard_normal(n)
    out = base.copy()
    pirls_mod._add_fixed(out, X, beta, off)
    assert np.array_equal(out, base + (X @ beta + off))
    out = base.copy()
    pirls_mod._add_fixed(out, X, beta, None)
    assert np.array_equal(out, base + X @ beta)


def test_give_unshared_takes_only_rows_nothing_else_holds():
    """A consumed mode's rows go back to the pool only when nothing else references them: a name,
    a view or a container holding one keeps it out (a result built from the same mode)."""
    pool = arrays_mod.RowBuffers(5, max_free=5)
    free, named, viewed, held = (np.empty(5) for _ in range(4))
    free_id = id(free)
    keep, view, box = named, viewed[1:], {"x": held}
    rows = [free, named, viewed, held, None, np.empty(4)]  # (None and a wrong shape: skipped)
    del free, named, viewed, held
    pool.give_unshared(rows)
    assert rows == [] and [id(a) for a in pool._free] == [free_id]
    assert keep.shape == (5,) and view.shape == (4,) and box["x"].shape == (5,)


def test_sum_log_of_positive_weights_by_row_blocks(monkeypatch):
    from fitglme.engine import lme as lme_mod

    rng = np.random.default_rng(10)
    w = rng.uniform(0.01, 30.0, 1000)
    assert lme_mod._sum_log_positive(w) == float(np.log(w).sum())  # (one block: bit for bit)
    monkeypatch.setattr(lme_mod, "BLOCK_ROWS", 64)
    got = lme_mod._sum_log_positive(w)
    logs = np.log(w)
    assert abs(got - math.fsum(logs)) <= len(w) * EPS * np.abs(logs).sum()
    for bad in (0.0, -1.0, np.nan):
        v = w.copy()
        v[900] = bad  # (in a later block)
        assert lme_mod._sum_log_positive(v) is None
    assert lme_mod._sum_log_positive(np.zeros(0)) is None
