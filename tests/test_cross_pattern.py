"""The pair sums of fitglme/engine/cross_pattern.py (the sparse Schur complement of crossed scalar
terms and its selected inverse) against their direct forms: the dense K'K and K' diag(d) K, and
np.bincount over the pair list -- bit for bit where the module says it adds the same terms in the
same order (docs/performance.md, item 24)."""
from __future__ import annotations

import numpy as np
import pytest

from fitglme.engine import cross_pattern as cp_mod
from fitglme.engine.layout import ReLayout


def _pattern(rng, intp: bool, monkeypatch):
    if not intp:  # the int32 index arrays of large pair lists
        monkeypatch.setattr(cp_mod, "INTP_PAIRS", 0)
    n = 4000
    ix1 = rng.integers(0, 300, n)  # the first term: 300 levels
    ix2 = rng.integers(0, 40, n)
    ix3 = rng.integers(0, 9, n)
    lay = ReLayout([ix1, ix2, ix3], [300, 40, 9], [1, 1, 1])
    pat = cp_mod.CrossPattern.build(lay)
    data = rng.standard_normal(pat.nnz) * np.exp(2 * rng.standard_normal(pat.nnz))
    return lay, pat, data


@pytest.mark.parametrize("intp", [True, False])
def test_pair_list_dtype_follows_its_size(intp, monkeypatch):
    _lay, pat, _data = _pattern(np.random.default_rng(0), intp, monkeypatch)
    a, b, r, kid, _ja, _jb = pat.pairs()
    assert a.size == pat.n_pairs
    assert {x.dtype for x in (a, b, r, kid)} == {np.dtype(np.intp if intp else np.int32)}
    # every pair lies within one row, columns non-decreasing, a and the row non-decreasing
    assert np.all(pat.rows[a] == r) and np.all(pat.rows[b] == r)
    assert np.all(pat.indices[a] <= pat.indices[b])
    assert np.all(np.diff(a) >= 0) and np.all(np.diff(r) >= 0)


@pytest.mark.parametrize("intp", [True, False])
def test_gram_is_the_dense_product_and_the_bincount_bit_for_bit(intp, monkeypatch):
    lay, pat, data = _pattern(np.random.default_rng(1), intp, monkeypatch)
    K = pat.matrix(data).toarray()
    a, b, _r, kid, ja, jb = pat.pairs()
    np.testing.assert_allclose(pat.gram(data), K.T @ K, rtol=1e-12, atol=1e-12 * np.abs(K.T @ K).max())
    sums = np.bincount(kid, weights=data[a] * data[b], minlength=ja.size)  # the form it replaced
    S0 = np.random.default_rng(2).standard_normal((lay.Q2 + 2, lay.Q2 + 2))
    full, upper = S0.copy(), S0.copy()
    pat.subtract_gram(full, data)
    pat.subtract_gram(upper, data, upper_only=True)
    ref = S0.copy()
    ref[jb, ja] -= sums
    off = ja != jb
    ref[ja[off], jb[off]] -= sums[off]
    assert np.array_equal(full, ref)
    iu = np.triu_indices(S0.shape[0])
    assert np.array_equal(upper[iu], ref[iu])  # the upper triangle, the one the Cholesky reads
    il = np.tril_indices(S0.shape[0], -1)
    assert np.array_equal(upper[il], S0[il])  # the lower one untouched


@pytest.mark.parametrize("intp", [True, False])
def test_pair_operator_is_k_diag_d_k(intp, monkeypatch):
    _lay, pat, data = _pattern(np.random.default_rng(3), intp, monkeypatch)
    K = pat.matrix(data).toarray()
    d = np.random.default_rng(4).standard_normal((pat.shape[0], 2))
    op = pat.pair_operator(data)
    for c, P in enumerate(op(d)):
        ref = K.T @ (d[:, c:c + 1] * K)
        np.testing.assert_allclose(P, ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())
    # its values: the sums over the pairs of each column pair, in the pairs' order (bincount)
    a, b, r, kid, ja, _jb = pat.pairs()
    ref = np.bincount(kid, weights=(data[a] * data[b]) * d[r, 0], minlength=ja.size)
    np.testing.assert_allclose(op.values(d)[:, 0], ref, rtol=1e-13, atol=1e-13 * np.abs(ref).max())


@pytest.mark.parametrize("intp", [True, False])
def test_sums_by_entry_and_by_row_are_the_bincounts(intp, monkeypatch):
    _lay, pat, _data = _pattern(np.random.default_rng(5), intp, monkeypatch)
    rng = np.random.default_rng(6)
    a, b, r, _kid, _ja, _jb = pat.pairs()
    vals = rng.standard_normal(a.size)
    x = rng.standard_normal(pat.nnz)
    assert np.array_equal(pat.sums_by_first(vals, x), np.bincount(a, weights=vals * x[b], minlength=pat.nnz))
    assert np.array_equal(pat.sums_by_row(vals, x), np.bincount(r, weights=vals * x[b], minlength=pat.shape[0]))
    assert np.array_equal(pat.repeat_first(x), x[a])
