"""The block factorisation for crossed scalar random terms with a sparse Z_1'Z_rest.

In a crossed design (students x lecturers, subjects x items) the rows of a first-term level meet
only a few levels of the later terms: Lambda_1'Z_1'WZ_rest Lambda_2 (m1 x Q2) is sparse, while the
Schur complement of the first term, S = A22 - C'C (Q2 x Q2), is dense (two lecturers are linked
through any student who rated both).  Here the first term's block stays diagonal, the off-diagonal
block B and C = L1^{-1} B stay sparse (the pattern of :class:`~fitglme.engine.cross_pattern.CrossPattern`),
C'C is accumulated over the pairs of columns met within a level (no dense (m1, Q2) array, no
sparse-sparse product), and S is factored densely -- MixedModels.jl's blocked Cholesky.  The
quantities the Laplace gradient needs from H^{-1} are its entries on the same pattern (a selected
inverse), again sums over those pairs (docs/performance.md, "Crossed designs").
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from ..blas import dense_threads
from .blocks import BlockFactor, NotPositiveDefinite, _cholesky
from .cross_pattern import CrossPattern
from .layout import ReLayout


class SparseBlockFactor(BlockFactor):
    """:class:`~fitglme.engine.blocks.BlockFactor` whose C is a CSR array (rest columns sparse, X
    columns stored densely within it) and whose H^{-1} blocks are held on the sparse pattern."""

    pattern: CrossPattern
    C_rest: sp.csr_array

    def rest_schur_inverse_lower(self) -> np.ndarray:
        """The lower triangle of (A22 - A21 A11^{-1} A12)^{-1} = (H^{-1})_22 (upper triangle zero),
        cached: LAPACK's dpotri from the factor, without the mirrored copy that the gradient's
        traces do not need (:func:`fitglme.engine.crossprod._trace_blocks_sparse`)."""
        if getattr(self, "_sinv_lower", None) is None:
            Q2 = self.layout.Q2
            with dense_threads(Q2):
                inv, info = lapack.dpotri(self.L2[:Q2, :Q2], lower=1)
            if info != 0:
                raise NotPositiveDefinite
            self._sinv_lower = inv  # (the factor's upper triangle is zero, so is the inverse's)
        return self._sinv_lower

    def rest_schur_inverse(self) -> np.ndarray:
        """(A22 - A21 A11^{-1} A12)^{-1} = (H^{-1})_22 for the random-effects block H: (Q2, Q2)."""
        low = self.rest_schur_inverse_lower()
        inv = np.tril(low, -1).T
        inv += low
        return inv

    def _selected_inverse(self):
        """H^{-1} on the pattern, cached: the diagonal of (H^{-1})_11 (m1,), (H^{-1})_12 at the
        stored entries (nnz,) and the lower triangle of (H^{-1})_22 (Q2, Q2, dense, upper zero).

        With F = A11^{-1} B (the pattern) and Sinv = (H^{-1})_22: (H^{-1})_12 = -F Sinv and
        (H^{-1})_11 = A11^{-1} + F Sinv F', whose needed entries are sums over the pairs of stored
        entries of one row: O(pairs) after the O(Q2^3) inverse.  Every pair (a, b) is summed in
        both directions and the self-pairs (a = b, one per stored entry) are taken off once
        afterwards: no masks over the pairs."""
        if getattr(self, "_sel_cache", None) is None:
            pat = self.pattern
            li = self.L1inv[:, 0, 0]
            F = self.C_rest.data * li[pat.rows]
            low = self.rest_schur_inverse_lower()
            _a, b, _r, kid, ja, jb = pat.pairs()
            s = low[jb, ja][kid]  # Sinv at each pair's columns (ja <= jb: the lower triangle)
            self_term = F * np.diagonal(low)[pat.indices]  # F_e Sinv_cc of the self-pairs
            nnz = pat.nnz
            t = pat.repeat_first(F)
            t *= s  # F_a Sinv_ab
            h12 = np.bincount(b, weights=t, minlength=nnz)
            h12 += pat.sums_by_first(s, F)  # (Sinv_ab F_b summed over the pairs of entry a)
            del s
            h12 -= self_term
            np.negative(h12, out=h12)
            quad = 2.0 * pat.sums_by_row(t, F)  # F_a Sinv_ab F_b summed over the pairs of a row
            quad -= np.bincount(pat.rows, weights=F * self_term, minlength=self.layout.m1)
            h11 = li * li + quad
            self._sel_cache = (h11, h12, low)
        return self._sel_cache

    def row_forms(self, xs, ys) -> np.ndarray:
        """x_i' H^{-1} y_i for every row i (see :meth:`BlockFactor.row_forms`), from the selected
        inverse: O(n (number of terms)^2)."""
        lay, pat = self.layout, self.pattern
        h11, h12, H22 = self._selected_inverse()
        f = lay.first
        x1, y1 = xs[f], ys[f]
        out = np.zeros(lay.n)
        if x1 is not None and y1 is not None:
            out += h11[lay.indices[f]] * x1[:, 0] * y1[:, 0]
        cols = {k: lay.rest_offsets[j] + lay.indices[k] for j, k in enumerate(lay.rest)}
        for j, k in enumerate(lay.rest):
            h = h12[pat.positions[j]]
            if x1 is not None and ys[k] is not None:
                out += h * x1[:, 0] * ys[k][:, 0]
            if y1 is not None and xs[k] is not None:
                out += h * y1[:, 0] * xs[k][:, 0]
        for k in lay.rest:
            if xs[k] is None:
                continue
            for k2 in lay.rest:
                if ys[k2] is not None:
                    if k == k2:
                        h = H22[cols[k], cols[k]]
                    else:  # (H22 holds the lower triangle)
                        h = H22[np.maximum(cols[k], cols[k2]), np.minimum(cols[k], cols[k2])]
                    out += h * xs[k][:, 0] * ys[k2][:, 0]
        return out

    def weighted_trace(self, w, xs, ys) -> float:
        """sum_i w_i x_i' H^{-1} y_i = tr(H^{-1} Y'WX)."""
        return float(np.einsum("i,i->", w, self.row_forms(xs, ys)))

    def re_trace_inverse(self) -> float:
        h11, _, H22 = self._selected_inverse()
        return float(h11.sum() + np.trace(H22))


def factor_schur(lay: ReLayout, L1: np.ndarray, L1inv: np.ndarray, Cr: sp.csr_array, Cx: np.ndarray,
                 S: np.ndarray, p: int, d0: np.ndarray | None, overwrite: bool = False) -> SparseBlockFactor:
    """The factor from the first-term blocks L1 (m1, 1, 1), their inverses, C = L1^{-1}[A12 | A13]
    (``Cr``: the rest columns, CSR in the layout's pattern; ``Cx``: the X columns, dense) and the
    Schur complement ``S`` already formed.  ``d0``: its diagonal before the cancellation (huge
    counts, see :func:`fitglme.engine.blocks._cholesky`).  ``overwrite``: S may be factored in
    place (:func:`fitglme.engine.blocks._cholesky`: its upper triangle is read)."""
    L2 = _cholesky(S, lay, d0, overwrite=overwrite)
    C = sp.hstack([Cr, sp.csr_array(Cx)], format="csr") if p else Cr
    fac = SparseBlockFactor(lay, L1, L1inv, C, L2, p)
    fac.pattern = lay.cross_pattern()
    fac.C_rest = Cr
    return fac


def factor_sparse(lay: ReLayout, A11: np.ndarray, B12: np.ndarray, B1X: np.ndarray, S: np.ndarray,
                  p: int, symmetric: bool = False) -> SparseBlockFactor:
    """:func:`fitglme.engine.blocks.factor_blocks` for scalar crossed terms: ``B12`` the data array
    of Lambda_1'Z_1'WZ_2 Lambda_2 in the layout's pattern, ``B1X`` (m1, p) dense; the Schur
    complement S - C'C with C'C summed over the pattern's pairs.  Modifies its arguments.
    ``symmetric``: S is exactly symmetric (then factored in place)."""
    pat = lay.cross_pattern()
    Q2 = lay.Q2
    A11 += 1.0
    if not np.all(A11 > 0):
        raise NotPositiveDefinite
    L1 = np.sqrt(A11)
    li = 1.0 / L1[:, 0, 0]
    B12 *= li[pat.rows]
    Cx = B1X * li[:, None]
    Cr = pat.matrix(B12)
    S[np.arange(Q2), np.arange(Q2)] += 1.0
    d0 = np.abs(np.diag(S)).copy() if lay.precise else None
    # S exactly symmetric, C-ordered and no ridge possible: the in-place Cholesky reads its upper
    # triangle only (fitglme.engine.blocks._cholesky_lower), so only that one is updated here
    pat.subtract_gram(S, B12, upper_only=symmetric and not lay.precise and S.flags.c_contiguous)
    if p:
        CrX = Cr.T @ Cx
        S[:Q2, Q2:] -= CrX
        S[Q2:, :Q2] -= CrX.T
        G = Cx.T @ Cx
        S[Q2:, Q2:] -= np.tril(G) + np.tril(G, -1).T  # (its lower triangle, mirrored)
    # S was exactly symmetric when it came so (Z_rest'WZ_rest, X'WX and their cross blocks mirrored,
    # as fitglme.engine.blocks.factorize forms them): factored in place from its upper triangle
    return factor_schur(lay, L1, 1.0 / L1, Cr, Cx, S, p, d0, overwrite=symmetric)
