"""The random-effects layout: which level of each term every row belongs to, and the row-wise
products with Z Lambda that never form Z.

Each random term k is stored as the level index of every row and a small n-by-q_k matrix of
covariates; ``Zt_k = Z_k L_k`` (n-by-q_k) carries the relative factor (a stride-0 broadcast view for
a random intercept).  The term with the most random-effect columns comes first (its block of the
penalised system is block diagonal); the others form the "rest".  Per-level sums are ``np.bincount``
passes over the rows; cross products of two terms are bincounts over their combined level index.
"""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import numpy as np

from .problem import NumericalMode

if TYPE_CHECKING:
    from .cross_pattern import CrossPattern

#: Z_1'Z_rest is held sparse (and the Schur complement of the first term formed by a sparse product)
#: when at most this fraction of its (level of term 1, level of a later term) pairs occurs in the
#: data (docs/performance.md, "Crossed designs": measured break-even against the dense BLAS form).
SPARSE_DENSITY = 0.08
#: ... and when the pairs of columns met within a first-term level (the size of the sparse Schur
#: complement's accumulation, 16 bytes each) are at most this many.
MAX_PAIRS = 10_000_000
#: rows per block of the blocked row passes (docs/performance.md, "Growth in n"): a block's
#: temporaries (512 KB each) stay in cache and below glibc's mmap threshold, where a fresh
#: n-vector of a large n is a fresh mmap whose pages the kernel faults in and zeroes
BLOCK_ROWS = 1 << 16


def constant_rows(Z: np.ndarray) -> np.ndarray:
    """Z itself, or -- when every row equals the first (a random intercept: a column of ones) -- a
    read-only broadcast view of that row: the engine's row-wise products then read one array
    fewer (and :func:`scale_columns` keeps the view)."""
    Z = np.asarray(Z, float)
    if Z.ndim == 2 and Z.shape[0] > 1 and Z.strides[0] != 0 and np.array_equal(Z, np.broadcast_to(Z[:1], Z.shape)):
        return np.broadcast_to(Z[:1], Z.shape)
    return Z


def scale_columns(Z: np.ndarray, L: np.ndarray) -> np.ndarray:
    """Z L, kept a broadcast view when Z's rows are one broadcast row (:func:`constant_rows`)."""
    if Z.ndim == 2 and Z.strides[0] == 0:
        return np.broadcast_to(Z[:1] @ L, (Z.shape[0], L.shape[1]))
    return Z @ L


def vdot(a: np.ndarray, b: np.ndarray) -> float:
    """a . b for 1-D arrays without BLAS: threaded OpenBLAS ddot can be ~100x slower than this
    (measured 8 ms against 0.06 ms at n = 1e5 on a 2-core machine), and the engine takes many."""
    return float(np.einsum("i,i->", a, b))


class ReLayout:
    """Index bookkeeping of the random-effects design, built once per model.

    ``mode`` (a :class:`~fitglme.engine.problem.NumericalMode`, bound by the fit's
    :class:`~fitglme.engine.problem.FitProblem` through :meth:`with_mode`): huge counts use the
    validated per-level sums and, where the structure allows it, the cancellation-free Schur
    complement (see :func:`fitglme.engine.blocks.stable_schur`).

    Parameters
    ----------
    indices : list of int arrays (n,)
        Level index (0-based) of each row, one array per random term (formula order).
    nlevels : list of int
        Number of levels of each term.
    qs : list of int
        Number of covariate columns of each term.

    Notes
    -----
    The public order of the random-effects vector u (and of MATLAB's B) is term by term in
    formula order, level by level within a term, column by column within a level.
    """

    mode = NumericalMode.ORDINARY
    stable_schur_applies = False

    def __init__(self, indices: list[np.ndarray], nlevels: list[int], qs: list[int]) -> None:
        self.n = int(len(indices[0])) if indices else 0
        self.indices = [np.asarray(ix, dtype=np.int64) for ix in indices]
        self.nlevels = [int(m) for m in nlevels]
        self.qs = [int(q) for q in qs]
        self.nterms = len(self.indices)
        self.sizes = [m * q for m, q in zip(self.nlevels, self.qs)]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(np.int64)
        self.Q = int(self.offsets[-1])
        # Rows grouped by level (each level one run of consecutive rows, every level present, as in
        # data sorted by group): per-level sums are then np.add.reduceat over the runs, ~1.7x faster
        # than a bincount scatter.  None: bincount.
        self._starts = [_run_starts(ix, m) for ix, m in zip(self.indices, self.nlevels)]
        self._blocks: dict[int, list] = {}  # per term: its row blocks cut at level runs (level_blocks)
        if self.nterms == 0:
            self.first = -1
            self.rest: list[int] = []
            return
        # The term with the most random-effect columns goes first (block diagonal).
        self.first = int(np.argmax(self.sizes))
        self.rest = [k for k in range(self.nterms) if k != self.first]
        self.q1 = self.qs[self.first]
        self.m1 = self.nlevels[self.first]
        self.rest_offsets = [0]
        for k in self.rest:
            self.rest_offsets.append(self.rest_offsets[-1] + self.sizes[k])
        self.Q2 = int(self.rest_offsets[-1])
        #: the cancellation-free Schur complement is implemented for one random term with one column
        self.stable_schur_applies = self.Q2 == 0 and self.q1 == 1
        self.qr = sum(self.qs[k] for k in self.rest)

    def with_mode(self, mode: NumericalMode) -> "ReLayout":
        """This layout (sharing its index arrays) bound to the numerical mode ``mode``."""
        out = copy.copy(self)
        out.mode = mode
        return out

    @property
    def precise(self) -> bool:
        """Huge counts (``mode``): the validated per-level sums and the rounding-level ridge."""
        return self.mode.huge

    def sum_by_level(self, k: int, v: np.ndarray) -> np.ndarray:
        """Per level of term k, the sum of v over its rows: (m_k,)."""
        starts = self._starts[k]
        if starts is not None and not self.precise:  # (huge counts: the validated bincount sums)
            return np.add.reduceat(v, starts)
        return np.bincount(self.indices[k], weights=v, minlength=self.nlevels[k])

    @property
    def scalar(self) -> bool:
        """Every random term has one column (random intercepts, or one slope each)."""
        return all(q == 1 for q in self.qs)

    def level_blocks(self, k: int) -> list[tuple[int, int, int, int, np.ndarray]] | None:
        """Row blocks of about :data:`BLOCK_ROWS` rows cut at the level runs of term k, as
        (first row, end row, first level, end level, run starts within the block); None when the
        per-level sums are bincounts (rows not grouped by level, or huge counts)."""
        starts = self._starts[k]
        if starts is None or self.precise:
            return None
        if k not in self._blocks:
            m, blocks, l0 = len(starts), [], 0
            while l0 < m:
                r0 = int(starts[l0])
                l1 = max(int(np.searchsorted(starts, r0 + BLOCK_ROWS, "right")), l0 + 1)
                r1 = int(starts[l1]) if l1 < m else self.n
                blocks.append((r0, r1, l0, l1, starts[l0:l1] - r0))
                l0 = l1
            self._blocks[k] = blocks
        return self._blocks[k]

    def product_sums(self, k: int, *factors: np.ndarray) -> np.ndarray:
        """Per level of term k, the sum over its rows of the product of the (n,) ``factors``
        (multiplied left to right): :meth:`sum_by_level` of that product, the same numbers, formed
        block by block (:meth:`level_blocks`) with no n-vector temporary where the rows are grouped."""
        blocks = self.level_blocks(k)
        if blocks is None:
            tmp = np.array(factors[0], float) if len(factors) == 1 else np.multiply(factors[0], factors[1])
            for f in factors[2:]:
                tmp *= f
            return self.sum_by_level(k, tmp)
        out = np.empty(self.nlevels[k])
        buf = np.empty(max(r1 - r0 for r0, r1, *_ in blocks))
        for r0, r1, l0, l1, runs in blocks:
            t = buf[: r1 - r0]
            if len(factors) == 1:
                t[:] = factors[0][r0:r1]
            else:
                np.multiply(factors[0][r0:r1], factors[1][r0:r1], out=t)
            for f in factors[2:]:
                t *= f[r0:r1]
            np.add.reduceat(t, runs, out=out[l0:l1])
        return out

    def level_sum(self, v: np.ndarray) -> np.ndarray:
        """Per first-term level, the sum of v over its rows: (m1,)."""
        return self.sum_by_level(self.first, v)

    def within_level_fit(self, z1: np.ndarray, k11: np.ndarray, k1x: np.ndarray,
                         X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """X = z1 Gamma[level] + r for a one-column first term: Gamma (m1, p) = k1x / k11 per level
        (the weighted per-level regression of X on z1, from the level sums k11 = sum w z1^2 and
        k1x = sum w z1 x), and the within-level residual rows r (n, p), formed in row space (no
        squared condition number: what the cancellation-free Schur complement needs)."""
        gamma = np.divide(k1x, k11[:, None], out=np.zeros_like(k1x), where=k11[:, None] > 0)
        return gamma, X - z1[:, None] * gamma[self.indices[self.first]]

    def level_sum_columns(self, M: np.ndarray) -> np.ndarray:
        """Per first-term level, the column sums of the (n, c) array M over its rows: (m1, c)."""
        out = np.empty((self.m1, M.shape[1]))
        for c in range(M.shape[1]):
            out[:, c] = self.level_sum(M[:, c])
        return out

    def level_sums(self, w: np.ndarray, x1: np.ndarray, y1: np.ndarray) -> np.ndarray:
        """sum over the rows of each first-term level of w x_a y_b: (m1, q1, q1).

        Column by column with :meth:`product_sums` (block by block: no (n,) temporary).
        """
        q1 = self.q1
        out = np.empty((self.m1, q1, q1))
        for a in range(q1):
            for b in range(q1):
                out[:, a, b] = self.product_sums(self.first, w, x1[:, a], y1[:, b])
        return out

    # -- dense cross products of the random-effects columns (one bincount per column pair) ---
    def term_cross(self, k: int, l: int, xk: np.ndarray | None, yl: np.ndarray | None,
                   w: np.ndarray | None) -> np.ndarray:
        """Z_k(xk)' W Z_l(yl) as a dense (m_k q_k, m_l q_l) array (zeros when a side is None).

        Each entry is a sum over the rows sharing a (level of k, level of l) pair, so every
        column pair is one ``np.bincount`` over the combined level index: no sparse products.
        For k == l the result is block diagonal (the rows of a level meet only themselves).
        """
        mk, ml, qk, ql = self.nlevels[k], self.nlevels[l], self.qs[k], self.qs[l]
        if xk is None or yl is None:
            return np.zeros((mk * qk, ml * ql))
        ix_k = self.indices[k]
        if k == l:
            blocks = np.empty((mk, qk, ql))
            for a in range(qk):
                xa = xk[:, a] if w is None else w * xk[:, a]
                for b in range(ql):
                    blocks[:, a, b] = self.sum_by_level(k, xa * yl[:, b])
            out = np.zeros((mk, qk, mk, ql))
            lev = np.arange(mk)
            out[lev, :, lev, :] = blocks
            return out.reshape(mk * qk, mk * ql)
        # (int32 keys when the pairs fit: half the memory of the combined index)
        kt = np.int32 if mk * ml < 2**31 else np.int64
        key = ix_k.astype(kt) * kt(ml)
        key += self.indices[l]
        if qk == 1 and ql == 1:
            prod = xk[:, 0] * yl[:, 0]
            if w is not None:
                prod *= w
            return np.bincount(key, weights=prod, minlength=mk * ml).reshape(mk, ml)
        out = np.empty((mk, qk, ml, ql))
        for a in range(qk):
            xa = xk[:, a] if w is None else w * xk[:, a]
            for b in range(ql):
                out[:, a, :, b] = np.bincount(key, weights=xa * yl[:, b], minlength=mk * ml).reshape(mk, ml)
        return out.reshape(mk * qk, ml * ql)

    def first_rest_cross(self, x1: np.ndarray | None, ys: list, w: np.ndarray | None) -> np.ndarray:
        """Z_1(x1)' W Z_rest(ys): (m1 q1, Q2) dense."""
        if not self.rest:
            return np.zeros((self.m1 * self.q1, 0))
        parts = [self.term_cross(self.first, k, x1, ys[k], w) for k in self.rest]
        return parts[0] if len(parts) == 1 else np.hstack(parts)

    def rest_rest_cross(self, xs: list, ys: list, w: np.ndarray | None,
                        out: np.ndarray | None = None) -> np.ndarray:
        """Z_rest(xs)' W Z_rest(ys): (Q2, Q2) dense; into ``out`` (a (Q2, Q2) array of zeros, e.g.
        a block of the Schur complement) when given.  A scalar term's own block is diagonal: only
        its diagonal is written (no dense (m_k, m_k) temporary, 10 MB for InstEval's lecturers)."""
        if out is None:
            out = np.zeros((self.Q2, self.Q2))
        for j, k in enumerate(self.rest):
            rows = slice(self.rest_offsets[j], self.rest_offsets[j + 1])
            for jj, l in enumerate(self.rest):
                block = out[rows, self.rest_offsets[jj] : self.rest_offsets[jj + 1]]
                if k == l and self.qs[k] == 1:
                    if xs[k] is not None and ys[k] is not None:
                        xa = xs[k][:, 0] if w is None else w * xs[k][:, 0]
                        lev = np.arange(self.nlevels[k])
                        block[lev, lev] = self.sum_by_level(k, xa * ys[k][:, 0])
                else:
                    block[...] = self.term_cross(k, l, xs[k], ys[l], w)
        return out

    def rest_cross_dense(self, xs: list, V: np.ndarray) -> np.ndarray:
        """Z_rest(xs)' V for a dense (n, c) V: (Q2, c)."""
        out = np.zeros((self.Q2, V.shape[1]))
        for j, k in enumerate(self.rest):
            if xs[k] is None:
                continue
            m, q = self.nlevels[k], self.qs[k]
            blk = np.empty((m, q, V.shape[1]))
            for a in range(q):
                for c in range(V.shape[1]):
                    blk[:, a, c] = self.sum_by_level(k, xs[k][:, a] * V[:, c])
            out[self.rest_offsets[j] : self.rest_offsets[j + 1]] = blk.reshape(m * q, -1)
        return out

    # -- the sparse pattern of Z_1'Z_rest for crossed scalar terms ----------------------
    def cross_pattern(self) -> "CrossPattern | None":
        """The sparsity pattern of Z_1'WZ_rest when every term is scalar and it is sparse enough for
        the sparse Schur complement (:data:`SPARSE_DENSITY`, docs/performance.md); else None.
        Built once per layout."""
        if not hasattr(self, "_cross_pattern"):
            pat = None
            if self.nterms > 1 and self.scalar:
                from .cross_pattern import CrossPattern

                pat = CrossPattern.build(self)
                if pat.density > SPARSE_DENSITY or pat.n_pairs > MAX_PAIRS:
                    pat = None
            self._cross_pattern = pat
        return self._cross_pattern

    # -- conversions between the public u vector and per-term arrays -------------------
    def split(self, u: np.ndarray) -> list[np.ndarray]:
        """Public u vector -> list of (m_k, q_k) arrays."""
        return [
            u[self.offsets[k] : self.offsets[k + 1]].reshape(self.nlevels[k], self.qs[k])
            for k in range(self.nterms)
        ]

    def z_times(self, zts: list[np.ndarray], u: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Z Lambda u, for Zt_k = Z_k L_k (into ``out`` when given: an (n,) buffer to reuse)."""
        if self.nterms == 1 and self.qs[0] == 1:  # one scalar term: the gathered vector is the result
            out = np.take(u, self.indices[0], out=out, mode="clip")  # (mode="raise" would buffer out)
            out *= zts[0][:, 0]
            return out
        out = np.empty(self.n) if out is None else out
        self._z_rows(zts, self.split(u), 0, self.n, out)
        return out

    def add_z_times(self, zts: list[np.ndarray], u: np.ndarray, out: np.ndarray,
                    subtract: bool = False) -> np.ndarray:
        """out += Z Lambda u (``subtract``: out -= Z Lambda u), block by block (:data:`BLOCK_ROWS`):
        the same numbers as ``out += z_times(zts, u)`` without its (n,) temporary."""
        parts = self.split(u)
        buf = np.empty(min(BLOCK_ROWS, self.n))
        for r0 in range(0, self.n, BLOCK_ROWS):
            r1 = min(r0 + BLOCK_ROWS, self.n)
            t = buf[: r1 - r0]
            self._z_rows(zts, parts, r0, r1, t)
            if subtract:
                out[r0:r1] -= t
            else:
                out[r0:r1] += t
        return out

    def _z_rows(self, zts: list[np.ndarray], parts: list[np.ndarray], r0: int, r1: int, out: np.ndarray) -> None:
        """Rows r0:r1 of Z Lambda u (``parts``: u split by term) into ``out`` (r1 - r0,)."""
        out.fill(0.0)
        for k, uk in enumerate(parts):
            ix = self.indices[k][r0:r1]
            if self.qs[k] == 1:
                g = uk[ix, 0]
                g *= zts[k][r0:r1, 0]
                out += g
            else:
                out += np.einsum("ij,ij->i", zts[k][r0:r1], uk[ix])

    def zt_times(self, zts: list[np.ndarray], v: np.ndarray) -> np.ndarray:
        """Lambda' Z' v as a public u vector."""
        out = np.empty(self.Q)
        for k in range(self.nterms):
            m, q = self.nlevels[k], self.qs[k]
            acc = np.zeros((m, q))
            for a in range(q):
                acc[:, a] = self.product_sums(k, zts[k][:, a], v)
            out[self.offsets[k] : self.offsets[k + 1]] = acc.ravel()
        return out

    def _to_internal(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        f = self.first
        u1 = u[self.offsets[f] : self.offsets[f + 1]]
        ur = (
            np.concatenate([u[self.offsets[k] : self.offsets[k + 1]] for k in self.rest])
            if self.rest
            else np.empty(0)
        )
        return u1, ur

    def _to_public(self, u1: np.ndarray, ur: np.ndarray, owned: bool = False) -> np.ndarray:
        """The public u vector from the first term's part and the rest's.  ``owned``: u1 is a fresh
        array of the caller's, which may be returned itself when it is all of u (one term; no copy
        of a levels-long vector, docs/performance.md, "Growth in n")."""
        if owned and not self.rest and u1.shape == (self.Q,) and u1.dtype == np.float64 and u1.flags.c_contiguous:
            return u1
        out = np.empty(self.Q)
        f = self.first
        out[self.offsets[f] : self.offsets[f + 1]] = u1
        for j, k in enumerate(self.rest):
            out[self.offsets[k] : self.offsets[k + 1]] = ur[self.rest_offsets[j] : self.rest_offsets[j + 1]]
        return out


def _run_starts(ix: np.ndarray, m: int) -> np.ndarray | None:
    """Start of each level's run of rows when the rows are grouped by level in level order with
    every level present (ix non-decreasing, covering 0..m-1); else None."""
    n = ix.size
    if n == 0 or m == 0 or ix[0] != 0 or ix[-1] != m - 1:
        return None
    # (the steps of ix block by block: no n-vector of differences, docs/performance.md)
    parts = [np.zeros(1, np.intp)]
    buf = np.empty(min(BLOCK_ROWS, max(n - 1, 1)), ix.dtype)
    for r0 in range(0, n - 1, BLOCK_ROWS):
        r1 = min(r0 + BLOCK_ROWS, n - 1)
        step = np.subtract(ix[r0 + 1 : r1 + 1], ix[r0:r1], out=buf[: r1 - r0])
        if step.min() < 0 or step.max() > 1:
            return None
        parts.append(np.flatnonzero(step) + (r0 + 1))
    return np.concatenate(parts)
