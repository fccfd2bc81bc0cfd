"""The one linear-algebra kernel: the penalised normal equations of a mixed model.

For diagonal weights W, relative covariance factor Lambda and design matrices X, Z the
engine repeatedly solves systems with

    A = [ Lambda'Z'WZ Lambda + I    Lambda'Z'WX ]
        [ X'WZ Lambda               X'WX        ]

and needs log det of the random-effects block and of the Schur complement R_X'R_X.

Z is never formed densely (:mod:`fitglme.engine.layout`).  The term with the most random-effect
columns is put first: its block of A is block diagonal with q_1-by-q_1 blocks, accumulated with
per-level sums over the rows and factored all at once (batched Cholesky).  The other terms ("rest",
Q2 columns in all) and X join a dense Schur complement of size Q2 + p.  The layout is built once
(:class:`~fitglme.engine.layout.ReLayout`); each evaluation only updates numbers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.linalg import blas
from scipy.linalg import lapack

from ..blas import dense_threads
from .arrays import LEVEL_BLOCK
from .events import EventKind, record
from .layout import ReLayout, vdot
from .rowpass import first_fixed_sums


@dataclass
class BlockFactor:
    """Cholesky factorisation of A in block form (see module docstring)."""

    layout: ReLayout
    L1: np.ndarray  # (m1, q1, q1) lower Cholesky factors of the first-term diagonal blocks
    L1inv: np.ndarray  # their inverses
    C: np.ndarray  # (m1*q1, Q2 + p) = L1^{-1} [A12 A13]
    L2: np.ndarray  # (Q2 + p, Q2 + p) lower Cholesky factor of the Schur complement
    p: int
    #: forms C again (bit for bit) once :meth:`_re_inverse_blocks` has used C's storage for
    #: (H^{-1})_12; None: C is kept (see :meth:`__getattr__`)
    remake_c: Callable[[], np.ndarray] | None = None

    def __getattr__(self, name: str):
        # Only reached when C has lent its storage to (H^{-1})_12 (LME scalar terms: C is the
        # cross product K12 scaled by rows and columns, cheap to form again): formed on demand.
        if name == "C" and self.__dict__.get("remake_c") is not None:
            self.C = self.remake_c()
            return self.C
        raise AttributeError(name)

    @property
    def logdet_re(self) -> float:
        """log det(Lambda'Z'WZ Lambda + I)."""
        d1 = np.einsum("kii->ki", self.L1)
        Q2 = self.layout.Q2
        return 2.0 * (_sum_log(d1) + np.log(np.diag(self.L2)[:Q2]).sum())

    @property
    def logdet_x(self) -> float:
        """log det(R_X'R_X), the Schur complement of the fixed effects."""
        Q2 = self.layout.Q2
        return 2.0 * np.log(np.diag(self.L2)[Q2:]).sum()

    def solve(self, r_u: np.ndarray, r_beta: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Solve A [u; beta] = [r_u; r_beta] (u in public order)."""
        lay = self.layout
        m1, q1 = lay.m1, lay.q1
        r1, rr = lay._to_internal(r_u)
        r2 = np.concatenate([rr, r_beta]) if self.p else rr
        if q1 == 1 and isinstance(self.C, np.ndarray):
            return self._solve_scalar(r1, r2)
        if q1 == 1:  # 1 x 1 level blocks: products, the same numbers as the einsums below
            y1 = self.L1inv[:, 0, 0] * r1
        else:
            y1 = np.einsum("kab,kb->ka", self.L1inv, r1.reshape(m1, q1)).ravel()
        t = r2 - self.C.T @ y1
        y2 = _tri_solve(self.L2, t, lower=True)
        x2 = _tri_solve(self.L2.T, y2, lower=False)
        if q1 == 1:  # (in the storage of C x2: no further levels-long arrays)
            x1 = self.C @ x2
            np.subtract(y1, x1, out=x1)
            x1 *= self.L1inv[:, 0, 0]
        else:
            s = (y1 - self.C @ x2).reshape(m1, q1)
            x1 = np.einsum("kba,kb->ka", self.L1inv, s).ravel()
        Q2 = lay.Q2
        return lay._to_public(x1, x2[:Q2], owned=True), x2[Q2:]

    def _solve_scalar(self, r1: np.ndarray, r2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`solve` for 1 x 1 level blocks and a dense C, block of levels by block: y1 = L1^{-1} r1
        is formed per block (never levels-long) and x1 in the storage of C x2 -- the numbers of the
        whole-vector form, bit for bit with at most :data:`~fitglme.engine.arrays.LEVEL_BLOCK`
        levels (C'y1 then sums the blocks' products: to rounding beyond)."""
        lay, C = self.layout, self.C
        li = self.L1inv[:, 0, 0]
        m = li.shape[0]
        buf = np.empty(min(m, LEVEL_BLOCK))
        cty = np.zeros(C.shape[1])
        for r0 in range(0, m, LEVEL_BLOCK):
            r = slice(r0, min(r0 + LEVEL_BLOCK, m))
            y = np.multiply(li[r], r1[r], out=buf[: r.stop - r0])
            cty += C[r].T @ y
        t = r2 - cty
        y2 = _tri_solve(self.L2, t, lower=True)
        x2 = _tri_solve(self.L2.T, y2, lower=False)
        x1 = C @ x2  # (x1 = L1^{-1}(y1 - C x2) in its storage, y1 again per block)
        for r0 in range(0, m, LEVEL_BLOCK):
            r = slice(r0, min(r0 + LEVEL_BLOCK, m))
            y = np.multiply(li[r], r1[r], out=buf[: r.stop - r0])
            np.subtract(y, x1[r], out=x1[r])
            x1[r] *= li[r]
        Q2 = lay.Q2
        return lay._to_public(x1, x2[:Q2], owned=True), x2[Q2:]

    def inverse_diag_blocks(self) -> list[np.ndarray]:
        """Diagonal blocks (per term and level, q_k x q_k) of the u-part of A^{-1}.

        Uses the partitioned inverse: with A = L L', (A^{-1})_{11} = L1^{-T}(I + C S^{-1} C')L1^{-1}.
        """
        lay = self.layout
        m1, q1 = lay.m1, lay.q1
        n2 = self.L2.shape[0]
        # W = L2^{-1} C' L1^{-1}-part: columns of C per level.
        Linv2 = _tri_solve(self.L2, np.eye(n2), lower=True)  # L2^{-1}
        G = self.C @ Linv2.T  # (m1*q1, n2): C L2^{-T}
        Gk = G.reshape(m1, q1, n2)
        inner = np.eye(q1)[None] + np.einsum("kai,kbi->kab", Gk, Gk)
        blocks1 = np.swapaxes(self.L1inv, 1, 2) @ inner @ self.L1inv  # per level L1^-T inner L1^-1
        # Rest terms: (A^{-1})_{22} = (S^{-1})_{Q2 block}
        Sinv = Linv2.T @ Linv2
        out: list[np.ndarray] = [None] * lay.nterms  # type: ignore[list-item]
        out[lay.first] = blocks1
        for j, k in enumerate(lay.rest):
            o = lay.rest_offsets[j]
            m, q = lay.nlevels[k], lay.qs[k]
            sub = Sinv[o : o + m * q, o : o + m * q]
            idx = np.arange(m)[:, None] * q + np.arange(q)[None, :]
            out[k] = sub[idx[:, :, None], idx[:, None, :]]
        return out

    # -- row-wise quadratic forms with H^{-1} (H = the random-effects block of A) ----------
    def _re_inverse_blocks(self):
        """Dense blocks of H^{-1}, cached: per-level (H^{-1})_11, (H^{-1})_12 and (H^{-1})_22.

        H^{-1} = blockdiag(A11^{-1}, 0) + Psi'Psi with Psi = [G', -L2^{-1}], G = L1^{-T} C L2^{-T}.
        Cost O(m1 q1 Q2^2) with BLAS; afterwards every row form needs O(q^2) gathers.
        """
        if getattr(self, "_re_cache", None) is None:
            lay = self.layout
            m1, q1, Q2 = lay.m1, lay.q1, lay.Q2
            B1 = np.einsum("kca,kcb->kab", self.L1inv, self.L1inv)  # A11^{-1} per level
            if Q2:
                L2r = np.asfortranarray(self.L2[:Q2, :Q2])
                H11 = B1
                H12 = self._h12_in_blocks(L2r, H11)
                with dense_threads(Q2):
                    low, info = lapack.dpotri(L2r, lower=1)  # S^{-1}: its lower triangle
                if info != 0:
                    raise NotPositiveDefinite
                H22 = np.tril(low, -1).T
                H22 += np.tril(low)
            else:
                H11, H12, H22 = B1, np.zeros((m1, q1, 0)), np.zeros((0, 0))
            self._re_cache = (H11, H12, H22)
        return self._re_cache

    def _h12_in_blocks(self, L2r: np.ndarray, H11: np.ndarray) -> np.ndarray:
        """(H^{-1})_12 = -G L2r^{-1} with G = L1^{-T} C L2r^{-T}, level block by level block (BLAS
        triangular solves in place on a block's copy), adding G G' to ``H11`` (m1, q1, q1).  When C
        can be formed again (``remake_c``, scalar first term) each block is written back into C's
        own storage, which becomes (H^{-1})_12 (a strided view) and C goes: no (m1 q1, Q2) array
        besides it.  At 10,000 x 1,000 crossed levels such an array is 80 MB (docs/performance.md,
        "Crossed designs")."""
        m1, q1, Q2 = self.layout.m1, self.layout.q1, L2r.shape[0]
        C = self.C
        if self.remake_c is not None and q1 == 1:
            out = C
            del self.C  # (formed again on demand: __getattr__)
        else:
            out = np.empty((m1 * q1, Q2))
        step = max(1, (1 << 20) // max(Q2 * q1, 1))  # levels per block: ~8 MB
        for l0 in range(0, m1, step):
            l1 = min(m1, l0 + step)
            rows = slice(l0 * q1, l1 * q1)
            T = np.array(C[rows, :Q2], order="C")
            with dense_threads(Q2):
                T = blas.dtrsm(1.0, L2r, T.T, side=0, lower=1, overwrite_b=1).T  # T' = L2r^{-1} C'
            G = _apply_level_blocks(self.L1inv[l0:l1], T.reshape(l1 - l0, q1, Q2), transpose=True)
            H11[l0:l1] += np.einsum("kaj,kbj->kab", G, G)
            with dense_threads(Q2):
                Gt = blas.dtrsm(-1.0, L2r, G.reshape(-1, Q2).T, side=0, lower=1, trans_a=1, overwrite_b=1)
            out[rows, :Q2] = Gt.T  # -G L2r^{-1}
        return out[:, :Q2].reshape(m1, q1, Q2)

    def row_forms(self, xs: list[np.ndarray | None], ys: list[np.ndarray | None]) -> np.ndarray:
        """x_i' H^{-1} y_i for every row i (H the random-effects block of A).

        ``xs``/``ys``: per term, the (n, q_k) values of the row vector at the row's level
        (e.g. Zt_k for the rows of Z Lambda); None means zero.
        """
        lay = self.layout
        H11, H12, H22 = self._re_inverse_blocks()
        f = lay.first
        l1 = lay.indices[f]
        x1, y1 = xs[f], ys[f]
        if x1 is not None and y1 is not None:
            out = _level_form(x1, H11, l1, y1)
        else:
            out = np.zeros(lay.n)
        cols = {}
        for j, k in enumerate(lay.rest):
            q = lay.qs[k]
            cols[k] = lay.rest_offsets[j] + lay.indices[k][:, None] * q + np.arange(q)[None, :]
        for k in lay.rest:
            ck = cols[k]
            for c in range(lay.qs[k]):
                for a in range(lay.q1):
                    if x1 is not None and ys[k] is not None:
                        out += x1[:, a] * H12[l1, a, ck[:, c]] * ys[k][:, c]
                    if y1 is not None and xs[k] is not None:
                        out += y1[:, a] * H12[l1, a, ck[:, c]] * xs[k][:, c]
        for k in lay.rest:
            if xs[k] is None:
                continue
            for k2 in lay.rest:
                if ys[k2] is None:
                    continue
                for c in range(lay.qs[k]):
                    for c2 in range(lay.qs[k2]):
                        out += xs[k][:, c] * H22[cols[k][:, c], cols[k2][:, c2]] * ys[k2][:, c2]
        return out

    def weighted_trace(self, w: np.ndarray, xs: list[np.ndarray | None], ys: list[np.ndarray | None]) -> float:
        """sum_i w_i x_i' H^{-1} y_i = tr(H^{-1} Y'WX), accumulated per level (no per-row gathers),
        except the first-rest part of scalar terms with fewer rows than (first level, rest column)
        cells: that one row by row (:meth:`_first_rest_trace_by_rows`, no dense (m1, Q2) sums)."""
        lay = self.layout
        H11, H12, H22 = self._re_inverse_blocks()
        f = lay.first
        total = 0.0
        if xs[f] is not None and ys[f] is not None:
            total += float(np.einsum("kab,kab->", H11, lay.level_sums(w, ys[f], xs[f])))
        if not lay.Q2:
            return total
        H12f = H12.reshape(lay.m1 * lay.q1, lay.Q2)
        if lay.scalar and lay.n < H12f.size:
            total += self._first_rest_trace_by_rows(w, xs, ys, H12f)
        else:
            if xs[f] is not None and any(ys[k] is not None for k in lay.rest):
                total += float(np.einsum("ij,ij->", H12f, lay.first_rest_cross(xs[f], ys, w)))
            if ys[f] is not None and any(xs[k] is not None for k in lay.rest):
                total += float(np.einsum("ij,ij->", H12f, lay.first_rest_cross(ys[f], xs, w)))
        if any(xs[k] is not None for k in lay.rest) and any(ys[k] is not None for k in lay.rest):
            total += float(np.einsum("ij,ij->", H22, lay.rest_rest_cross(xs, ys, w)))
        return total

    def _first_rest_trace_by_rows(self, w, xs, ys, H12f) -> float:
        """sum_i w_i (x1_i y_k,i + y1_i x_k,i) (H^{-1})_12[level_1(i), column_k(i)] over the rest terms k
        (scalar terms): the first-rest part of :meth:`weighted_trace` from one gather per row."""
        lay = self.layout
        f = lay.first
        x1, y1 = xs[f], ys[f]
        total = 0.0
        for j, k in enumerate(lay.rest):
            pair = None
            if x1 is not None and ys[k] is not None:
                pair = x1[:, 0] * ys[k][:, 0]
            if y1 is not None and xs[k] is not None:
                t = y1[:, 0] * xs[k][:, 0]
                pair = t if pair is None else pair + t
            if pair is None:
                continue
            h = H12f[lay.indices[f], lay.rest_offsets[j] + lay.indices[k]]
            h *= pair
            total += vdot(w, h)
        return total

    def re_solve(self, r_u: np.ndarray) -> np.ndarray:
        """Solve H u = r_u with H the random-effects block only (ignores the X block)."""
        lay = self.layout
        m1, q1, Q2 = lay.m1, lay.q1, lay.Q2
        r1, rr = lay._to_internal(r_u)
        y1 = np.einsum("kab,kb->ka", self.L1inv, r1.reshape(m1, q1)).ravel()
        if Q2:
            C1 = self.C[:, :Q2]
            # With the whole factor (its leading Q2 block factors the random-effects Schur complement):
            # the first Q2 entries of L2^{-1} [t; 0] are L2r^{-1} t, and L2^{-T} [y; 0] starts with
            # L2r^{-T} y -- no copy of the (non-contiguous) leading block per solve.
            t = np.zeros(self.L2.shape[0])
            t[:Q2] = rr - C1.T @ y1
            y2 = _tri_solve(self.L2, t, lower=True)
            y2[Q2:] = 0.0
            x2 = _tri_solve(self.L2.T, y2, lower=False)[:Q2]
            s = (y1 - C1 @ x2).reshape(m1, q1)
        else:
            x2 = np.zeros(0)
            s = y1.reshape(m1, q1)
        x1 = np.einsum("kba,kb->ka", self.L1inv, s).ravel()
        return lay._to_public(x1, x2, owned=True)

    def re_trace_inverse(self) -> float:
        """tr(H^{-1}) for the random-effects block H."""
        H11, _, H22 = self._re_inverse_blocks()
        return float(np.einsum("kaa->", H11) + np.trace(H22))

    def beta_covariance(self) -> np.ndarray:
        """(R_X'R_X)^{-1}: the beta block of A^{-1}."""
        Q2 = self.layout.Q2
        Lx = self.L2[Q2:, Q2:]
        Li = _tri_solve(Lx, np.eye(self.p), lower=True)
        return Li.T @ Li


def _level_form(x: np.ndarray, H: np.ndarray, ix: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x_i' H[ix_i] y_i for every row, entry by entry with (n,) temporaries (no (n, q, q) gather);
    when x is y, H's symmetry halves the gathers."""
    q = H.shape[1]
    same = x is y
    out = None
    for a in range(q):
        for b in range(a if same else 0, q):
            t = H[ix, a, b]
            t *= x[:, a]
            t *= y[:, b]
            if same and b != a:
                t *= 2.0
            if out is None:
                out = t
            else:
                out += t
    return out


def _tri_solve(L: np.ndarray, b: np.ndarray, lower: bool) -> np.ndarray:
    from scipy.linalg import solve_triangular

    if L.shape[0] == 0:
        return b.copy()
    return solve_triangular(L, b, lower=lower, check_finite=False)


class NotPositiveDefinite(Exception):
    """The penalised system is not positive definite (e.g. negative observed weights)."""


def factorize(layout: ReLayout, zts: list[np.ndarray], w: np.ndarray, X: np.ndarray | None,
              buf: np.ndarray | None = None) -> BlockFactor:
    """Factor A for relative factors ``zts`` (Zt_k = Z_k L_k), weights ``w`` and X.

    Parameters
    ----------
    layout : ReLayout
    zts : list of (n, q_k) arrays
    w : (n,) weights
    X : (n, p) array or None (no fixed-effects block)
    buf : (n,) array, optional
        Scratch for the rows of w X[:, c] (free again on return: the caller may reuse it).

    Raises
    ------
    NotPositiveDefinite
        When a block is not positive definite.
    """
    lay = layout
    m1, q1 = lay.m1, lay.q1
    p = 0 if X is None else X.shape[1]
    zt1 = zts[lay.first]
    # (rows grouped by level: A11, Z1'WX and X'WX in one blocked pass, fitglme.engine.rowpass)
    fused = first_fixed_sums(lay, zt1, w, X, gram_rows=True) if p else None
    A11 = lay.level_sums(w, zt1, zt1) if fused is None else fused.K11
    Q2 = lay.Q2
    n2 = Q2 + p
    pat = lay.cross_pattern() if Q2 else None
    # crossed scalar terms with a sparse Z_1'Z_rest: the rest columns of B stay sparse (crossed.py)
    B = np.zeros((m1 * q1, p if pat is not None else n2))
    S = np.zeros((n2, n2))
    if Q2:
        lay.rest_rest_cross(zts, zts, w, out=S[:Q2, :Q2])
        if pat is None:
            B[:, :Q2] = lay.first_rest_cross(zt1, zts, w)
        if p:
            S[:Q2, Q2:] = lay.rest_cross_dense([None if z is None else w[:, None] * z for z in zts], X)
            S[Q2:, :Q2] = S[:Q2, Q2:].T
    if p:
        # X'WX row by row and the per-level sums of zt1[:, a] w X[:, c] (block by block), all from
        # one (n,) buffer w X[:, c] (no (n, p) temporary: at a million rows a fresh one costs more
        # than the sums).
        if fused is not None:
            B1X = fused.K1X
            S[Q2:, Q2:] = fused.XWX
        else:
            B1X = np.empty((m1, q1, p))
            wx = np.empty(lay.n) if buf is None else buf
            for c in range(p):
                np.multiply(w, X[:, c], out=wx)
                S[Q2 + c, Q2:] = wx @ X
                for a in range(q1):
                    B1X[:, a, c] = lay.product_sums(lay.first, wx, zt1[:, a])
            del wx
        XWX = S[Q2:, Q2:]
        XWX += XWX.T  # (exactly symmetric)
        XWX *= 0.5
        B[:, B.shape[1] - p:] = B1X.reshape(m1 * q1, p)
    if pat is not None:
        from .crossed import factor_sparse

        return factor_sparse(lay, A11, pat.cross(lay, zt1, zts, w), B, S, p, symmetric=True)
    schur = None
    if lay.mode.stable_schur and p:
        # Within-level residuals of the X rows on the first term's column (row space: no squaring).
        d = A11[:, 0, 0]
        r = lay.within_level_fit(zt1[:, 0], d, B, X)[1]
        schur = stable_schur(d, B, (w[:, None] * r).T @ r)
    return factor_blocks(lay, A11, B, S, p, schur)


def _sum_log(d: np.ndarray) -> float:
    """sum(log d) of a (m, q) array (a view of diagonals), block of levels by block: the value of
    ``np.log(d).sum()`` (bit for bit with at most :data:`~fitglme.engine.arrays.LEVEL_BLOCK` rows, to
    rounding beyond) without its levels-long temporary."""
    m = d.shape[0]
    if m <= LEVEL_BLOCK:
        return float(np.log(d).sum())
    buf = np.empty((LEVEL_BLOCK,) + d.shape[1:])
    total = 0.0
    for r0 in range(0, m, LEVEL_BLOCK):
        t = np.log(d[r0 : r0 + LEVEL_BLOCK], out=buf[: min(LEVEL_BLOCK, m - r0)])
        total += float(t.sum())
    return total


def stable_schur(d: np.ndarray, B: np.ndarray, R: np.ndarray) -> np.ndarray:
    """X'WX - B'(D + I)^{-1}B for one random term with one column (q1 = 1, Q2 = 0), cancellation-free.

    ``d`` (m1,): per-level D_l = sum w zt^2; ``B`` (m1, p): per-level sum w zt x; ``R`` (p, p): the
    weighted scatter of the within-level residuals x_i - zt_i B_l / D_l.  Since
    sum_{i in l} w x x' = R_l + B_l B_l' / D_l, the Schur complement is
    R + sum_l B_l B_l' / (D_l (D_l + 1)) -- a sum of positive semidefinite terms, where the direct
    form subtracts two numbers of size W zt^2 to leave one of size 1 / zt^2 (huge counts: the
    intercept is identified through the penalty alone and the direct form loses every digit).
    """
    c = np.divide(1.0, d * (d + 1.0), out=np.zeros_like(d), where=d > 0)
    return R + (B * c[:, None]).T @ B


def _apply_level_blocks(L: np.ndarray, M: np.ndarray, transpose: bool = False) -> np.ndarray:
    """L_k M_k (or L_k' M_k) for every level k: L (m, q, q), M (m, q, r).

    For q = 1 the product is formed in place of M (which must be a temporary of the caller):
    the (m, r) arrays of crossed designs are as large as several n-vectors."""
    if L.shape[1] == 1:
        M *= L
        return M
    return np.einsum("kba,kbj->kaj" if transpose else "kab,kbj->kaj", L, M)


def factor_blocks(lay: ReLayout, A11: np.ndarray, B: np.ndarray, S: np.ndarray, p: int,
                  schur: np.ndarray | None = None) -> BlockFactor:
    """Cholesky of A from its blocks without the identity: A11 = per-level Lambda'Z'WZ Lambda blocks
    (m1, q1, q1), B = [Lambda_1'Z_1'W Z_2 Lambda_2 | Lambda_1'Z_1'WX] (m1 q1, Q2 + p) and
    S = [[Lambda_2'Z_2'WZ_2 Lambda_2, Lambda_2'Z_2'WX], [., X'WX]]; the identity of the penalty is
    added here.  ``A11``, ``B`` and ``S`` are modified in place.  ``schur``: the Schur complement
    S - C'C computed without cancellation by the caller (:func:`stable_schur`), used instead."""
    m1, q1, Q2 = lay.m1, lay.q1, lay.Q2
    n2 = Q2 + p
    A11 += np.eye(q1)[None]
    if q1 == 1:
        if not np.all(A11 > 0):
            raise NotPositiveDefinite
        L1 = np.sqrt(A11, out=A11)  # (in A11's storage: one levels-long array fewer)
        L1inv = 1.0 / L1
    else:
        L1 = _cholesky(A11, lay)
        L1inv = np.linalg.inv(L1)
    if Q2:
        S[np.arange(Q2), np.arange(Q2)] += 1.0
    C = _apply_level_blocks(L1inv, B.reshape(m1, q1, n2)).reshape(m1 * q1, n2)
    del B
    if schur is not None:
        S = schur
        d0 = None
    else:
        d0 = np.abs(np.diag(S)).copy() if lay.precise else None
        S -= C.T @ C
    L2 = _cholesky(S, lay, d0) if n2 else np.zeros((0, 0))
    return BlockFactor(lay, L1, L1inv, C, L2, p)


def _cholesky(M: np.ndarray, lay: "ReLayout", scale: np.ndarray | None = None,
              overwrite: bool = False) -> np.ndarray:
    """Cholesky factor of M (or of each block of a stack of blocks).

    Huge counts (``lay.precise``, the fit's NumericalMode) outside the cancellation-free
    forms: a block that rounding has left indefinite -- the penalty's identity lost beside data terms
    ~1e16 times larger, or a Schur complement that cancelled every digit -- gets a ridge at the
    rounding level of its terms (``scale``: their magnitude before the cancellation, else M's
    diagonal), so that the fit goes on as precisely as doubles allow (the huge-values warning of
    the layer above says the estimates may be inaccurate) instead of failing; the fit's RIDGED
    event records that it happened (fitglme.engine.events).  ``overwrite``: M (one C-ordered matrix)
    may be factored in place, except where a ridge may be needed (``lay.precise``): then only its
    upper triangle is read (see :func:`_cholesky_lower`); otherwise M must be exactly symmetric.
    """
    try:
        return _cholesky_lower(M, overwrite and not lay.precise)
    except np.linalg.LinAlgError as exc:
        if not lay.precise:
            raise NotPositiveDefinite from exc
    k = M.shape[-1]
    diag = np.abs(np.diagonal(M, axis1=-2, axis2=-1)) if scale is None else scale
    ridge = 64.0 * k * np.finfo(float).eps * np.maximum(diag, np.max(diag, axis=-1, keepdims=True) * 1e-300)
    Mr = M.copy()
    idx = np.arange(k)
    Mr[..., idx, idx] += ridge
    try:
        L = _cholesky_lower(Mr)
    except np.linalg.LinAlgError as exc:
        raise NotPositiveDefinite from exc
    record(EventKind.RIDGED)
    return L


def _cholesky_lower(M: np.ndarray, overwrite: bool = False) -> np.ndarray:
    """Lower Cholesky factor (upper triangle zero) of M or of each block of a stack.

    A single matrix goes to LAPACK's dpotrf through scipy: the same routine and the same factor,
    bit for bit, as ``np.linalg.cholesky``, at about half its time for the dense Schur complements
    of crossed designs (numpy's wrapper adds copies; docs/performance.md, item 22).  Raises
    ``np.linalg.LinAlgError`` when M is not positive definite.  ``overwrite``: M is C-ordered and
    its upper triangle holds the matrix (the lower one is not read); it is factored in place as its
    (Fortran-ordered) transpose, whose lower triangle that is, without the copy, and the factor
    shares its memory."""
    if M.ndim != 2 or M.shape[0] == 0:
        return np.linalg.cholesky(M)
    with dense_threads(M.shape[0]):
        if overwrite and M.flags.c_contiguous:
            L, info = lapack.dpotrf(M.T, lower=1, clean=1, overwrite_a=1)
        else:
            L, info = lapack.dpotrf(M, lower=1, clean=1)
    if info != 0:
        raise np.linalg.LinAlgError("Matrix is not positive definite")
    return L
