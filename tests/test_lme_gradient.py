"""The exact gradient of the profiled LME objective (fitglme/engine/lme.py, crossprod.py) against
central differences of the objective, for every form of the block factorisation: one term (vector
or scalar levels),
crossed scalar terms in the dense and in the sparse form (docs/performance.md, "Crossed designs"),
and crossed terms with vector-valued levels (q = 2) first or later."""
from __future__ import annotations

import numpy as np
import pytest

from fitglme.covariance import make_pattern
from fitglme.engine.layout import ReLayout
from fitglme.engine.lme import LMEProblem, ThetaMap


def _problem(kind: str, reml: bool):
    rng = np.random.default_rng(7)
    n = 600
    x = rng.standard_normal(n)
    X = np.column_stack([np.ones(n), x])
    if kind == "one":
        groups, qs = [rng.integers(0, 40, n)], [2]
    elif kind == "one_scalar":  # one 1 x 1 term: the elementwise forms (lme._reml_columns, solves)
        groups, qs = [rng.integers(0, 40, n)], [1]
    elif kind == "crossed_dense":  # 30 x 8 levels, most pairs occur: the dense Schur complement
        groups, qs = [rng.integers(0, 30, n), rng.integers(0, 8, n)], [1, 1]
    elif kind == "crossed_sparse":  # 300 x 60 levels, 3% of the pairs: the sparse form
        groups, qs = [rng.integers(0, 300, n), rng.integers(0, 60, n)], [1, 1]
    elif kind == "vector_first":
        groups, qs = [rng.integers(0, 30, n), rng.integers(0, 8, n)], [2, 1]
    else:  # vector_rest
        groups, qs = [rng.integers(0, 30, n), rng.integers(0, 8, n)], [1, 2]
    lay = ReLayout(groups, [int(g.max()) + 1 for g in groups], qs)
    Zs = [np.ones((n, 1)) if q == 1 else np.column_stack([np.ones(n), x]) for q in qs]
    thetas = ThetaMap([make_pattern("FullCholesky", q, f"t{k}") for k, q in enumerate(qs)])
    lme = LMEProblem(lay, Zs, X, thetas, reml)
    z = 1 + 0.5 * x + sum(rng.standard_normal(g.max() + 1)[g] for g in groups) + rng.standard_normal(n)
    lme.set_data(z, rng.uniform(0.5, 2.0, n))
    theta = np.concatenate([[0.9, 0.2, 0.6][: q * (q + 1) // 2] if q == 2 else [0.8 - 0.3 * k]
                            for k, q in enumerate(qs)])
    return lme, theta


@pytest.mark.parametrize("reml", [False, True])
@pytest.mark.parametrize("kind", ["one", "one_scalar", "crossed_dense", "crossed_sparse", "vector_first", "vector_rest"])
def test_gradient_matches_central_differences(kind, reml):
    lme, theta = _problem(kind, reml)
    sparse = lme.layout.cross_pattern() is not None
    assert sparse == (kind == "crossed_sparse")  # (the form the case is about ran)
    _, g = lme.objective_and_grad(theta)
    h = 1e-5
    fd = np.array([(lme.objective(theta + h * e) - lme.objective(theta - h * e)) / (2 * h)
                   for e in np.eye(len(theta))])
    # central differences at h = 1e-5 of an objective of size ~1e3: truncation ~h^2 |f'''| and
    # rounding ~1e-16 |f| / h, both below 1e-6 here (measured: agreement to ~1e-8)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-6)


def test_c_lent_to_the_inverse_blocks_is_formed_again_bit_for_bit():
    """Dense crossed scalar terms: the gradient's H^{-1} blocks take C's storage (BlockFactor.remake_c,
    docs/performance.md); a later solve forms C again, the same bits."""
    lme, theta = _problem("crossed_dense", False)
    st = lme.solve(theta)
    fac = st.factor
    assert fac.remake_c is not None
    before = fac.C.copy()
    lme.objective_and_grad(theta)
    assert "C" not in vars(fac)  # (the storage was lent)
    np.testing.assert_array_equal(fac.C, before)
    h12 = fac._re_inverse_blocks()[1]
    assert not np.shares_memory(h12, fac.C)
