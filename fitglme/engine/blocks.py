"""The one linear-algebra kernel: the penalised normal equations of a mixed model.

For diagonal weights W, relative covariance factor Lambda and design matrices X, Z the
engine repeatedly solves systems with

    A = [ Lambda'Z'WZ Lambda + I    Lambda'Z'WX ]
        [ X'WZ Lambda               X'WX        ]

and needs log det of the random-effects block and of the Schur complement R_X'R_X.

Z is never formed densely.  Each random term k is stored as the level index of every row
and a small n-by-q_k matrix of covariates; ``Zt_k = Z_k L_k`` (n-by-q_k) carries the relative
factor.  The term with the most levels is put first: its block of A is block diagonal with
q_1-by-q_1 blocks, accumulated with one sparse pass over the rows and factored all at once
(batched Cholesky).  The other terms ("rest", Q2 columns in all) and X join a dense Schur
complement of size Q2 + p.  The symbolic structure is built once (:class:`ReLayout`); each
evaluation only updates numbers.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


def vdot(a: np.ndarray, b: np.ndarray) -> float:
    """a . b for 1-D arrays without BLAS: threaded OpenBLAS ddot can be ~100x slower than this
    (measured 8 ms against 0.06 ms at n = 1e5 on a 2-core machine), and the engine takes many."""
    return float(np.einsum("i,i->", a, b))


class ReLayout:
    """Index bookkeeping of the random-effects design, built once per model.

    ``precise`` (set by the fit for huge counts): form the fixed-effects Schur complement without
    cancellation where the structure allows it (see :func:`stable_schur`).

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

    precise = False
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
        if self.nterms == 0:
            self.first = -1
            self.rest: list[int] = []
            return
        # The term with the most random-effect columns goes first (block diagonal).
        self.first = int(np.argmax(self.sizes))
        self.rest = [k for k in range(self.nterms) if k != self.first]
        self.q1 = self.qs[self.first]
        self.m1 = self.nlevels[self.first]
        n = self.n
        # Sparse Z_1 (n x m1*q1) structure: row i has q1 entries at idx*q1 + a.
        ix1 = self.indices[self.first]
        self._z1_indices = (ix1[:, None] * self.q1 + np.arange(self.q1)[None, :]).ravel()
        self._z1_indptr = np.arange(0, n * self.q1 + 1, self.q1, dtype=np.int64)
        # Sparse Z_rest (n x Q2): row i has sum_k q_k entries, terms in `rest` order.
        self.rest_offsets = [0]
        cols = []
        for k in self.rest:
            off = self.rest_offsets[-1]
            cols.append(off + self.indices[k][:, None] * self.qs[k] + np.arange(self.qs[k])[None, :])
            self.rest_offsets.append(off + self.sizes[k])
        self.Q2 = int(self.rest_offsets[-1])
        #: the cancellation-free Schur complement is implemented for one random term with one column
        self.stable_schur_applies = self.Q2 == 0 and self.q1 == 1
        self.qr = sum(self.qs[k] for k in self.rest)
        if self.rest:
            self._zr_indices = np.concatenate(cols, axis=1).ravel()
            self._zr_indptr = np.arange(0, n * self.qr + 1, self.qr, dtype=np.int64)
        # Indicator of first-term levels (m1 x n) for per-level sums.
        self.G1 = sp.csr_matrix(
            (np.ones(n), ix1, np.arange(n + 1)), shape=(n, self.m1)
        ).T.tocsr()

    # -- sparse row matrices with the fixed structure -------------------------------------
    def z1_matrix(self, x1: np.ndarray) -> sp.csr_matrix:
        """The first term's rows as a sparse n x (m1 q1) matrix (values x1, shape (n, q1))."""
        return sp.csr_matrix((np.ascontiguousarray(x1).ravel(), self._z1_indices, self._z1_indptr),
                             shape=(self.n, self.m1 * self.q1))

    def zr_matrix(self, parts: list[np.ndarray | None], w: np.ndarray | None = None) -> sp.csr_matrix:
        """The other terms' rows as a sparse n x Q2 matrix (None parts are zero), rows scaled by w."""
        data = np.concatenate(
            [parts[k] if parts[k] is not None else np.zeros((self.n, self.qs[k])) for k in self.rest], axis=1
        )
        if w is not None:
            data = data * w[:, None]
        return sp.csr_matrix((data.ravel(), self._zr_indices, self._zr_indptr), shape=(self.n, self.Q2))

    def level_sums(self, w: np.ndarray, x1: np.ndarray, y1: np.ndarray) -> np.ndarray:
        """sum over the rows of each first-term level of w x_a y_b: (m1, q1, q1)."""
        q1 = self.q1
        if q1 == 1:
            return (self.G1 @ (w * x1[:, 0] * y1[:, 0])).reshape(self.m1, 1, 1)
        prod = (w[:, None, None] * x1[:, :, None] * y1[:, None, :]).reshape(self.n, q1 * q1)
        return (self.G1 @ prod).reshape(self.m1, q1, q1)

    # -- conversions between the public u vector and per-term arrays -------------------
    def split(self, u: np.ndarray) -> list[np.ndarray]:
        """Public u vector -> list of (m_k, q_k) arrays."""
        return [
            u[self.offsets[k] : self.offsets[k + 1]].reshape(self.nlevels[k], self.qs[k])
            for k in range(self.nterms)
        ]

    def z_times(self, zts: list[np.ndarray], u: np.ndarray) -> np.ndarray:
        """Z Lambda u, for Zt_k = Z_k L_k."""
        out = np.zeros(self.n)
        for k, uk in enumerate(self.split(u)):
            if self.qs[k] == 1:
                out += zts[k][:, 0] * uk[self.indices[k], 0]
            else:
                out += np.einsum("ij,ij->i", zts[k], uk[self.indices[k]])
        return out

    def zt_times(self, zts: list[np.ndarray], v: np.ndarray) -> np.ndarray:
        """Lambda' Z' v as a public u vector."""
        out = np.empty(self.Q)
        for k in range(self.nterms):
            m, q = self.nlevels[k], self.qs[k]
            acc = np.zeros((m, q))
            for a in range(q):
                acc[:, a] = np.bincount(self.indices[k], weights=zts[k][:, a] * v, minlength=m)
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

    def _to_public(self, u1: np.ndarray, ur: np.ndarray) -> np.ndarray:
        out = np.empty(self.Q)
        f = self.first
        out[self.offsets[f] : self.offsets[f + 1]] = u1
        for j, k in enumerate(self.rest):
            out[self.offsets[k] : self.offsets[k + 1]] = ur[self.rest_offsets[j] : self.rest_offsets[j + 1]]
        return out


@dataclass
class BlockFactor:
    """Cholesky factorisation of A in block form (see module docstring)."""

    layout: ReLayout
    L1: np.ndarray  # (m1, q1, q1) lower Cholesky factors of the first-term diagonal blocks
    L1inv: np.ndarray  # their inverses
    C: np.ndarray  # (m1*q1, Q2 + p) = L1^{-1} [A12 A13]
    L2: np.ndarray  # (Q2 + p, Q2 + p) lower Cholesky factor of the Schur complement
    p: int

    @property
    def logdet_re(self) -> float:
        """log det(Lambda'Z'WZ Lambda + I)."""
        d1 = np.einsum("kii->ki", self.L1)
        Q2 = self.layout.Q2
        return 2.0 * (np.log(d1).sum() + np.log(np.diag(self.L2)[:Q2]).sum())

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
        y1 = np.einsum("kab,kb->ka", self.L1inv, r1.reshape(m1, q1)).ravel()
        t = r2 - self.C.T @ y1
        y2 = _tri_solve(self.L2, t, lower=True)
        x2 = _tri_solve(self.L2.T, y2, lower=False)
        s = (y1 - self.C @ x2).reshape(m1, q1)
        x1 = np.einsum("kba,kb->ka", self.L1inv, s).ravel()
        Q2 = lay.Q2
        return lay._to_public(x1, x2[:Q2]), x2[Q2:]

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
        blocks1 = np.einsum("kca,kcd,kdb->kab", self.L1inv, inner, self.L1inv)
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
                L2r = self.L2[:Q2, :Q2]
                Linv2 = _tri_solve(L2r, np.eye(Q2), lower=True)
                T = (self.C[:, :Q2] @ Linv2.T).reshape(m1, q1, Q2)
                G = np.einsum("kca,kcj->kaj", self.L1inv, T)  # (m1, q1, Q2)
                H11 = B1 + np.einsum("kaj,kbj->kab", G, G)
                H12 = -(G.reshape(m1 * q1, Q2) @ Linv2).reshape(m1, q1, Q2)
                H22 = Linv2.T @ Linv2
            else:
                H11, H12, H22 = B1, np.zeros((m1, q1, 0)), np.zeros((0, 0))
            self._re_cache = (H11, H12, H22)
        return self._re_cache

    def row_forms(self, xs: list[np.ndarray | None], ys: list[np.ndarray | None]) -> np.ndarray:
        """x_i' H^{-1} y_i for every row i (H the random-effects block of A).

        ``xs``/``ys``: per term, the (n, q_k) values of the row vector at the row's level
        (e.g. Zt_k for the rows of Z Lambda); None means zero.
        """
        lay = self.layout
        H11, H12, H22 = self._re_inverse_blocks()
        f = lay.first
        l1 = lay.indices[f]
        out = np.zeros(lay.n)
        x1, y1 = xs[f], ys[f]
        if x1 is not None and y1 is not None:
            out += np.einsum("ia,iab,ib->i", x1, H11[l1], y1)
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
        """sum_i w_i x_i' H^{-1} y_i = tr(H^{-1} Y'WX), accumulated per level (no per-row gathers)."""
        lay = self.layout
        H11, H12, H22 = self._re_inverse_blocks()
        f = lay.first
        total = 0.0
        if xs[f] is not None and ys[f] is not None:
            total += float(np.einsum("kab,kab->", H11, lay.level_sums(w, ys[f], xs[f])))
        if lay.Q2:
            H12f = H12.reshape(lay.m1 * lay.q1, lay.Q2)
            if xs[f] is not None and any(ys[k] is not None for k in lay.rest):
                total += float(np.einsum("ij,ij->", H12f, (lay.z1_matrix(xs[f]).T @ lay.zr_matrix(ys, w)).toarray()))
            if ys[f] is not None and any(xs[k] is not None for k in lay.rest):
                total += float(np.einsum("ij,ij->", H12f, (lay.z1_matrix(ys[f]).T @ lay.zr_matrix(xs, w)).toarray()))
            if any(xs[k] is not None for k in lay.rest) and any(ys[k] is not None for k in lay.rest):
                K22 = (lay.zr_matrix(xs).T @ lay.zr_matrix(ys, w)).toarray()
                total += float(np.einsum("ij,ij->", H22, K22))
        return total

    def re_solve(self, r_u: np.ndarray) -> np.ndarray:
        """Solve H u = r_u with H the random-effects block only (ignores the X block)."""
        lay = self.layout
        m1, q1, Q2 = lay.m1, lay.q1, lay.Q2
        r1, rr = lay._to_internal(r_u)
        y1 = np.einsum("kab,kb->ka", self.L1inv, r1.reshape(m1, q1)).ravel()
        if Q2:
            L2r = self.L2[:Q2, :Q2]
            C1 = self.C[:, :Q2]
            y2 = _tri_solve(L2r, rr - C1.T @ y1, lower=True)
            x2 = _tri_solve(L2r.T, y2, lower=False)
            s = (y1 - C1 @ x2).reshape(m1, q1)
        else:
            x2 = np.zeros(0)
            s = y1.reshape(m1, q1)
        x1 = np.einsum("kba,kb->ka", self.L1inv, s).ravel()
        return lay._to_public(x1, x2)

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


def _tri_solve(L: np.ndarray, b: np.ndarray, lower: bool) -> np.ndarray:
    from scipy.linalg import solve_triangular

    if L.shape[0] == 0:
        return b.copy()
    return solve_triangular(L, b, lower=lower, check_finite=False)


class NotPositiveDefinite(Exception):
    """The penalised system is not positive definite (e.g. negative observed weights)."""


def factorize(layout: ReLayout, zts: list[np.ndarray], w: np.ndarray, X: np.ndarray | None) -> BlockFactor:
    """Factor A for relative factors ``zts`` (Zt_k = Z_k L_k), weights ``w`` and X.

    Parameters
    ----------
    layout : ReLayout
    zts : list of (n, q_k) arrays
    w : (n,) weights
    X : (n, p) array or None (no fixed-effects block)

    Raises
    ------
    NotPositiveDefinite
        When a block is not positive definite.
    """
    lay = layout
    m1, q1 = lay.m1, lay.q1
    p = 0 if X is None else X.shape[1]
    zt1 = zts[lay.first]
    A11 = lay.level_sums(w, zt1, zt1)
    Q2 = lay.Q2
    n2 = Q2 + p
    B = np.zeros((m1 * q1, n2))
    S = np.zeros((n2, n2))
    if Q2:
        z1 = lay.z1_matrix(zt1)
        zr = lay.zr_matrix(zts)
        zr_w = lay.zr_matrix(zts, w)
        S[:Q2, :Q2] = (zr.T @ zr_w).toarray()
        B[:, :Q2] = (z1.T @ zr_w).toarray()
        if p:
            S[:Q2, Q2:] = zr_w.T @ X
            S[Q2:, :Q2] = S[:Q2, Q2:].T
    if p:
        wX = w[:, None] * X
        # Per-level sums of zt1[:, a] * w * X through the precomputed level indicator G1.
        if q1 == 1:
            B[:, Q2:] = lay.G1 @ (zt1[:, :1] * wX)
        else:
            B[:, Q2:] = (lay.G1 @ (zt1[:, :, None] * wX[:, None, :]).reshape(lay.n, q1 * p)).reshape(m1 * q1, p)
        S[Q2:, Q2:] = X.T @ wX
    schur = None
    if lay.precise and p and lay.stable_schur_applies:
        # Within-level residuals of the X rows on the first term's column (row space: no squaring).
        d = A11[:, 0, 0]
        gamma = np.divide(B, d[:, None], out=np.zeros_like(B), where=d[:, None] > 0)
        r = X - zt1[:, :1] * gamma[lay.indices[lay.first]]
        schur = stable_schur(d, B, (w[:, None] * r).T @ r)
    return factor_blocks(lay, A11, B, S, p, schur)


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


def factor_blocks(lay: ReLayout, A11: np.ndarray, B: np.ndarray, S: np.ndarray, p: int,
                  schur: np.ndarray | None = None) -> BlockFactor:
    """Cholesky of A from its blocks without the identity: A11 = per-level Lambda'Z'WZ Lambda blocks
    (m1, q1, q1), B = [Lambda_1'Z_1'W Z_2 Lambda_2 | Lambda_1'Z_1'WX] (m1 q1, Q2 + p) and
    S = [[Lambda_2'Z_2'WZ_2 Lambda_2, Lambda_2'Z_2'WX], [., X'WX]]; the identity of the penalty is
    added here.  ``A11`` and ``S`` are modified in place.  ``schur``: the Schur complement
    S - C'C computed without cancellation by the caller (:func:`stable_schur`), used instead."""
    m1, q1, Q2 = lay.m1, lay.q1, lay.Q2
    n2 = Q2 + p
    A11 += np.eye(q1)[None]
    if q1 == 1:
        if not np.all(A11 > 0):
            raise NotPositiveDefinite
        L1 = np.sqrt(A11)
        L1inv = 1.0 / L1
    else:
        try:
            L1 = np.linalg.cholesky(A11)
        except np.linalg.LinAlgError as exc:
            raise NotPositiveDefinite from exc
        L1inv = np.linalg.inv(L1)
    if Q2:
        S[np.arange(Q2), np.arange(Q2)] += 1.0
    C = np.einsum("kab,kbj->kaj", L1inv, B.reshape(m1, q1, n2)).reshape(m1 * q1, n2)
    if schur is not None:
        S = schur
    else:
        S -= C.T @ C
    try:
        L2 = np.linalg.cholesky(S) if n2 else np.zeros((0, 0))
    except np.linalg.LinAlgError as exc:
        raise NotPositiveDefinite from exc
    return BlockFactor(lay, L1, L1inv, C, L2, p)
