"""The fused row pass (fitglme.engine.rowpass) gives the numbers of the separate passes it replaces:
bit for bit for the per-level sums always and for the cross products over X within one block, to
rounding over several blocks; and it steps aside where those passes are not blocked by level."""
from __future__ import annotations

import math

import numpy as np
import pytest

from fitglme.engine import blocks as blocks_mod
from fitglme.engine import crossprod as crossprod_mod
from fitglme.engine import layout as layout_mod
from fitglme.engine.layout import ReLayout
from fitglme.engine.problem import NumericalMode
from fitglme.engine.rowpass import first_fixed_sums

EPS = np.finfo(float).eps


def _data(q1, n=900, m=120, seed=3, grouped=True):
    rng = np.random.default_rng(seed)
    g = np.sort(rng.integers(0, m, n)) if grouped else rng.integers(0, m, n)
    g = np.unique(g, return_inverse=True)[1]  # (every level present)
    m = int(g.max()) + 1
    Z1 = np.column_stack([np.ones(n)] + [rng.standard_normal(n) for _ in range(q1 - 1)])
    X = np.column_stack([np.ones(n), rng.standard_normal(n) * 1e3, rng.standard_normal(n)])
    w = rng.uniform(0.1, 3.0, n)
    z = rng.standard_normal(n) * 10
    return ReLayout([g], [m], [q1]), Z1, X, w, z


def _separate(lay, Z1, w, X, z):
    """The separate passes of crossprod.cross_products (before the fused pass)."""
    p = X.shape[1]
    K1X = np.empty((lay.m1, lay.q1, p))
    K1z = np.empty((lay.m1, lay.q1))
    wz = w * z
    for a in range(lay.q1):
        for c in range(p):
            K1X[:, a, c] = lay.product_sums(lay.first, w, X[:, c], Z1[:, a])
        K1z[:, a] = lay.product_sums(lay.first, Z1[:, a], wz)
    return lay.level_sums(w, Z1, Z1), K1X, K1z, X.T @ (w[:, None] * X), X.T @ wz, layout_mod.vdot(z, wz)


@pytest.mark.parametrize("q1", [1, 2])
def test_one_block_is_bit_identical_to_the_separate_passes(q1):
    lay, Z1, X, w, z = _data(q1)
    assert len(lay.level_blocks(0)) == 1
    f = first_fixed_sums(lay, Z1, w, X, z)
    K11, K1X, K1z, XWX, XWz, zWz = _separate(lay, Z1, w, X, z)
    for got, want in ((f.K11, K11), (f.K1X, K1X), (f.K1z, K1z), (f.XWX, XWX), (f.XWz, XWz)):
        assert np.array_equal(got, want)
    assert f.zWz == zWz
    # factorize's row-by-row form of X'WX: (w x_c)' X
    rows = first_fixed_sums(lay, Z1, w, X, gram_rows=True)
    assert rows.K1z is None and rows.XWz is None and rows.zWz is None
    assert np.array_equal(rows.K11, K11) and np.array_equal(rows.K1X, K1X)
    for c in range(X.shape[1]):
        assert np.array_equal(rows.XWX[c], (w * X[:, c]) @ X)


@pytest.mark.parametrize("q1", [1, 2])
def test_several_blocks_keep_level_sums_exact_and_cross_products_to_rounding(monkeypatch, q1):
    monkeypatch.setattr(layout_mod, "BLOCK_ROWS", 50)
    lay, Z1, X, w, z = _data(q1)
    assert len(lay.level_blocks(0)) > 10
    f = first_fixed_sums(lay, Z1, w, X, z)
    K11, K1X, K1z, *_ = _separate(lay, Z1, w, X, z)
    assert np.array_equal(f.K11, K11) and np.array_equal(f.K1X, K1X) and np.array_equal(f.K1z, K1z)
    p = X.shape[1]
    for i in range(p):
        for j in range(p):
            terms = w * X[:, i] * X[:, j]
            # recursive summation's bound n eps sum|terms| (blocked and pairwise sums are inside it)
            assert abs(f.XWX[i, j] - math.fsum(terms)) <= len(w) * EPS * np.abs(terms).sum()
        terms = w * z * X[:, i]
        assert abs(f.XWz[i] - math.fsum(terms)) <= len(w) * EPS * np.abs(terms).sum()
    terms = w * z * z
    assert abs(f.zWz - math.fsum(terms)) <= len(w) * EPS * terms.sum()


def test_rows_not_grouped_or_huge_counts_take_the_separate_passes():
    lay, Z1, X, w, z = _data(1, grouped=False)
    assert first_fixed_sums(lay, Z1, w, X, z) is None
    lay, Z1, X, w, z = _data(1)
    assert first_fixed_sums(lay.with_mode(NumericalMode.HUGE_COUNTS), Z1, w, X, z) is None


@pytest.mark.parametrize("q1", [1, 2])
def test_cross_products_and_factorize_are_those_of_the_separate_passes(monkeypatch, q1):
    lay, Z1, X, w, z = _data(q1)
    cp = crossprod_mod.cross_products(lay, [Z1], w, X, z)
    fac = blocks_mod.factorize(lay, [Z1 * 0.7], w, X)
    monkeypatch.setattr(crossprod_mod, "first_fixed_sums", lambda *a, **k: None)
    monkeypatch.setattr(blocks_mod, "first_fixed_sums", lambda *a, **k: None)
    cp0 = crossprod_mod.cross_products(lay, [Z1], w, X, z)
    fac0 = blocks_mod.factorize(lay, [Z1 * 0.7], w, X)
    for name in ("K11", "K1X", "K1z", "XWX", "XWz"):
        assert np.array_equal(getattr(cp, name), getattr(cp0, name)), name
    assert cp.zWz == cp0.zWz
    for name in ("L1", "L1inv", "C", "L2"):
        assert np.array_equal(getattr(fac, name), getattr(fac0, name)), name


# ------------------------------------------------------- passes over levels, block of levels by block
def _one_scalar_lme(m=45, n=500, seed=8):
    from fitglme.covariance import make_pattern
    from fitglme.engine.lme import LMEProblem, ThetaMap

    rng = np.random.default_rng(seed)
    g = rng.integers(0, m, n)
    X = np.column_stack([np.ones(n), rng.standard_normal(n), rng.standard_normal(n)])
    lay = ReLayout([g], [m], [1])
    lme = LMEProblem(lay, [np.ones((n, 1))], X, ThetaMap([make_pattern("FullCholesky", 1, "t")]), True)
    lme.set_data(X @ [1.0, 0.5, -0.2] + rng.standard_normal(m)[g] + rng.standard_normal(n), rng.uniform(0.5, 2, n))
    return lay, lme, X, g


def _block_levels(monkeypatch, block):
    from fitglme.engine import lme as lme_mod

    for mod in (lme_mod, crossprod_mod, blocks_mod):
        monkeypatch.setattr(mod, "LEVEL_BLOCK", block)


def test_level_blocks_give_the_objective_gradient_and_solve_to_rounding(monkeypatch):
    """The solve, log det, rho and trace of one scalar term by blocks of 7 levels (45 levels: 7
    blocks) against one block; and the solve against a dense solve of A itself."""
    lay, lme, X, g = _one_scalar_lme()
    theta = np.array([0.7])
    whole = lme.solve(theta)
    f_whole, g_whole = lme.objective_and_grad(theta)
    rng = np.random.default_rng(2)
    r_u, r_b = rng.standard_normal(lay.Q), rng.standard_normal(X.shape[1])
    u_whole, b_whole = whole.factor.solve(r_u, r_b)
    # A = [[L'Z'WZL + I, L'Z'WX], [., X'WX]] from the rows
    w = lme.w
    Z = np.zeros((len(g), lay.Q))
    Z[np.arange(len(g)), g] = 0.7
    M = np.hstack([Z, X])
    A = M.T @ (w[:, None] * M)
    A[: lay.Q, : lay.Q] += np.eye(lay.Q)
    x = np.linalg.solve(A, np.concatenate([r_u, r_b]))
    assert np.max(np.abs(np.concatenate([u_whole, b_whole]) - x)) <= 1e-12 * np.max(np.abs(x))
    _block_levels(monkeypatch, 7)
    lme._last = None
    blocked = lme.solve(theta)
    f_blk, g_blk = lme.objective_and_grad(theta)
    u_blk, b_blk = blocked.factor.solve(r_u, r_b)
    assert abs(f_blk - f_whole) <= 1e-13 * abs(f_whole)
    assert np.max(np.abs(g_blk - g_whole)) <= 1e-10 * max(1.0, np.max(np.abs(g_whole)))
    assert np.max(np.abs(u_blk - u_whole)) <= 1e-13 * np.max(np.abs(u_whole))
    assert np.max(np.abs(b_blk - b_whole)) <= 1e-13 * np.max(np.abs(b_whole))
    assert abs(blocked.factor.logdet_re - whole.factor.logdet_re) <= 1e-13 * abs(whole.factor.logdet_re)
