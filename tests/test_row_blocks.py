"""The blocked row passes (docs/performance.md, "Growth in n") give the numbers of the whole-array
forms they replace, bit for bit, and the row buffers are only reused once given back."""
from __future__ import annotations

import numpy as np
import pytest

from fitglme.engine import layout as layout_mod
from fitglme.engine.arrays import RowBuffers, max_abs_diff
from fitglme.engine.layout import ReLayout


def _grouped_layout(rng, m: int = 400, q: int = 1) -> tuple[ReLayout, np.ndarray]:
    sizes = rng.integers(1, 30, m)
    ix = np.repeat(np.arange(m), sizes)
    return ReLayout([ix], [m], [q]), ix


@pytest.mark.parametrize("block", [1, 7, 64, 1 << 16])
def test_product_sums_equal_level_sums_of_the_product(monkeypatch, block):
    monkeypatch.setattr(layout_mod, "BLOCK_ROWS", block)
    rng = np.random.default_rng(1)
    lay, ix = _grouped_layout(rng)
    assert lay.level_blocks(0) is not None  # (grouped rows: the blocked form is the one tested)
    a, b, c = (rng.standard_normal(lay.n) * np.exp(3 * rng.standard_normal(lay.n)) for _ in range(3))
    whole = np.add.reduceat(a * b * c, lay._starts[0])
    assert np.array_equal(lay.product_sums(0, a, b, c), whole)
    assert np.array_equal(lay.product_sums(0, a, b), np.add.reduceat(a * b, lay._starts[0]))
    assert np.array_equal(lay.product_sums(0, a), np.add.reduceat(a, lay._starts[0]))


def test_product_sums_of_ungrouped_rows_are_bincounts():
    rng = np.random.default_rng(2)
    ix = rng.integers(0, 50, 3000)
    lay = ReLayout([ix], [50], [1])
    assert lay.level_blocks(0) is None
    a, b = rng.standard_normal(3000), rng.standard_normal(3000)
    assert np.array_equal(lay.product_sums(0, a, b), np.bincount(ix, weights=a * b, minlength=50))


@pytest.mark.parametrize("block", [5, 1 << 16])
def test_add_z_times_equals_adding_z_times(monkeypatch, block):
    monkeypatch.setattr(layout_mod, "BLOCK_ROWS", block)
    rng = np.random.default_rng(3)
    n = 2000
    ix1, ix2 = rng.integers(0, 40, n), rng.integers(0, 7, n)
    lay = ReLayout([ix1, ix2], [40, 7], [2, 1])
    zts = [rng.standard_normal((n, 2)), rng.standard_normal((n, 1))]
    u = rng.standard_normal(lay.Q)
    base = rng.standard_normal(n)
    out = base.copy()
    lay.add_z_times(zts, u, out)
    assert np.array_equal(out, base + lay.z_times(zts, u))
    lay.add_z_times(zts, u, out, subtract=True)
    assert np.array_equal(out, (base + lay.z_times(zts, u)) - lay.z_times(zts, u))
    buf = np.full(n, np.nan)
    assert np.array_equal(lay.z_times(zts, u, out=buf), lay.z_times(zts, u))


def test_max_abs_diff_is_the_max_of_the_whole_difference():
    rng = np.random.default_rng(4)
    for n in (1, 65536, 65537, 200_001):
        a, b = rng.standard_normal(n), rng.standard_normal(n)
        assert max_abs_diff(a, b) == float(np.max(np.abs(a - b)))
    a[100_000] = np.nan
    assert np.isnan(max_abs_diff(a, b))


def test_row_buffers_reuse_only_what_is_given_back():
    pool = RowBuffers(10, max_free=RowBuffers.MAX_FREE)
    a, b = pool.take(), pool.take()
    assert a is not b and a.shape == (10,)
    pool.give(a)
    assert pool.take() is a  # given back: reused
    assert pool.take() is not b  # still held by the caller: never handed out again
    pool.give(np.empty(3), np.empty(10, dtype=np.int64))  # (wrong shape or dtype: not kept)
    assert pool.take().dtype == float and len(pool._free) == 0
    pool.give(*(np.empty(10) for _ in range(RowBuffers.MAX_FREE + 2)))
    assert len(pool._free) == RowBuffers.MAX_FREE


def test_row_buffers_keep_nothing_below_the_mmap_threshold():
    """Below REUSE_FROM_ROWS rows malloc reuses freed n-vectors itself: kept buffers would only add to
    the peak memory (docs/performance.md, "Growth in n")."""
    from fitglme.engine.arrays import REUSE_FROM_ROWS

    small = RowBuffers(10)
    small.give(np.empty(10))
    assert small.max_free == 0 and small._free == []
    assert RowBuffers(REUSE_FROM_ROWS - 1).max_free == 0
    assert RowBuffers(REUSE_FROM_ROWS).max_free == RowBuffers.MAX_FREE
