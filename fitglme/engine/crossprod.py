"""Cross products of the linear mixed model that do not depend on the covariance parameters.

For fixed weights W and working response z (one pseudo-likelihood iteration, or a Normal fit)
every quantity of the LME objective is a function of

    K = Z'WZ, Z'WX, Z'Wz, X'WX, X'Wz, z'Wz

stored per level for the first (block-diagonal) term and densely for the other terms, exactly
in the layout of :mod:`fitglme.engine.layout`.  They are accumulated in one pass over the n rows;
afterwards an evaluation of the objective and of its exact gradient at a new theta costs
O(m1 q1^2 (Q2 + p) + Q2^3), independent of n (the approach of MixedModels.jl).

Notation: the first term's quantities carry index 1 and are per level ((m1, q1, ...) arrays);
"rest" quantities (the other terms, Q2 columns in all) are dense; Lambda_2 is the block-diagonal
expansion of the rest terms' factors.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import numpy as np

from .arrays import LEVEL_BLOCK
from .blocks import BlockFactor, NotPositiveDefinite, _apply_level_blocks, factor_blocks
from .crossed import factor_schur
from .layout import BLOCK_ROWS, ReLayout, vdot
from .rowpass import first_fixed_sums


@dataclass
class CrossProducts:
    K11: np.ndarray  # (m1, q1, q1)  per-level Z1'WZ1
    K1X: np.ndarray  # (m1, q1, p)   per-level Z1'WX
    K1z: np.ndarray  # (m1, q1)      per-level Z1'Wz
    K12: np.ndarray  # (m1 q1, Q2)   Z1'WZ2 (a CSR array when layout.cross_pattern() is not None)
    K22: np.ndarray  # (Q2, Q2)      Z2'WZ2
    K2X: np.ndarray  # (Q2, p)
    K2z: np.ndarray  # (Q2,)
    XWX: np.ndarray  # (p, p)
    XWz: np.ndarray  # (p,)
    zWz: float
    R: np.ndarray | None = None  # (p, p) scatter of the within-level residuals of X (layout.precise)
    pairs: object = None  # PairOperator of K12 (layout.cross_pattern() is not None)
    k22_pairs: np.ndarray | None = None  # K22 at the PairOperator's column pairs (ja, jb)
    #: Z'WX and Z'Wz in the public order, formed once (:func:`zwx`, :func:`zwz_vector`): they do
    #: not depend on theta, and every gradient evaluation needs them (read only)
    public: dict = field(default_factory=dict, repr=False)


def cross_products(lay: ReLayout, Zs: list[np.ndarray], w: np.ndarray, X: np.ndarray, z: np.ndarray,
                   wz_out: np.ndarray | None = None) -> CrossProducts:
    """One pass over the rows: the theta-independent cross products (covariates Zs, not Z Lambda);
    ``wz_out``: an (n,) buffer (not w or z) for the products w z."""
    m1, q1, Q2 = lay.m1, lay.q1, lay.Q2
    n, p = X.shape
    Z1 = Zs[lay.first]
    fused = first_fixed_sums(lay, Z1, w, X, z)  # (rows grouped by level: one blocked pass)
    if fused is not None:
        K11, K1X, K1z, XWX, XWz, zWz = fused.K11, fused.K1X, fused.K1z, fused.XWX, fused.XWz, fused.zWz
    else:
        XWX = weighted_gram(X, w)
        wz = np.multiply(w, z, out=wz_out)
        K11 = lay.level_sums(w, Z1, Z1)
        K1X = np.empty((m1, q1, p))
        K1z = np.empty((m1, q1))
        for a in range(q1):  # per-level sums of products, block by block (ReLayout.product_sums)
            for c in range(p):
                K1X[:, a, c] = lay.product_sums(lay.first, w, X[:, c], Z1[:, a])
            K1z[:, a] = lay.product_sums(lay.first, Z1[:, a], wz)
        XWz, zWz = X.T @ wz, vdot(z, wz)
        del wz
    pat = lay.cross_pattern() if Q2 else None
    if Q2:
        if pat is not None:
            K12 = pat.matrix(pat.cross(lay, Z1, Zs, w))
            pairs = pat.pair_operator(K12.data)
        else:
            K12, pairs = lay.first_rest_cross(Z1, Zs, w), None
        K22 = lay.rest_rest_cross(Zs, Zs, w)
        wZr = [w[:, None] * Zs[k] if k in lay.rest else None for k in range(lay.nterms)]
        K2X = lay.rest_cross_dense(wZr, X)
        K2z = lay.rest_cross_dense(wZr, z[:, None])[:, 0]
        del wZr
    else:
        K12, K22, K2X, K2z = np.zeros((m1 * q1, 0)), np.zeros((0, 0)), np.zeros((0, p)), np.zeros(0)
    R = None
    if lay.mode.stable_schur and p:
        # X = Z1 Gamma + r, Gamma the per-level weighted regression of X on Z1's column: the Schur
        # complement's cancellation-free form needs R = r'Wr, and X'Wz = Gamma'(Z1'Wz) + r'Wz keeps
        # X'Wz consistent with the level sums Z1'Wz (for huge weights, separately rounded sums would
        # leave an error far above the information the penalty gives about columns of X within
        # the span of Z1, such as the intercept).
        k11 = K11[:, 0, 0]
        gamma, r = lay.within_level_fit(Z1[:, 0], k11, K1X[:, 0, :], X)
        wr = w[:, None] * r
        R = wr.T @ r
        XWz = gamma.T @ K1z[:, 0] + wr.T @ z
    pairs = pairs if Q2 else None
    k22_pairs = K22[pairs.ja, pairs.jb] if pairs is not None else None
    return CrossProducts(K11, K1X, K1z, K12, K22, K2X, K2z, XWX, XWz, zWz, R, pairs, k22_pairs)


def weighted_gram(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """X'WX, W = diag(w), summed over blocks of :data:`~fitglme.engine.layout.BLOCK_ROWS` rows: no
    (n, p) temporary W X (at 1e7 rows a fresh one costs more than the product itself;
    docs/performance.md, "Growth in n")."""
    n, p = X.shape
    if n <= BLOCK_ROWS:
        return X.T @ (w[:, None] * X)
    out = np.zeros((p, p))
    buf = np.empty((BLOCK_ROWS, p))
    for r0 in range(0, n, BLOCK_ROWS):
        r1 = min(r0 + BLOCK_ROWS, n)
        wx = buf[: r1 - r0]
        np.multiply(w[r0:r1, None], X[r0:r1], out=wx)
        out += X[r0:r1].T @ wx
    return out


def rest_right(lay: ReLayout, Ls: list[np.ndarray], M: np.ndarray) -> np.ndarray:
    """M Lambda_2 (M's last axis has length Q2)."""
    out = np.empty_like(M)
    for j, k in enumerate(lay.rest):
        o, e = lay.rest_offsets[j], lay.rest_offsets[j + 1]
        m, q = lay.nlevels[k], lay.qs[k]
        if q == 1:  # no (…, Q2) temporary: these are as large as several n-vectors
            np.multiply(M[..., o:e], Ls[k][0, 0], out=out[..., o:e])
            continue
        blk = M[..., o:e].reshape(M.shape[:-1] + (m, q))
        out[..., o:e] = (blk @ Ls[k]).reshape(M.shape[:-1] + (m * q,))
    return out


def rest_left(lay: ReLayout, Ls: list[np.ndarray], M: np.ndarray) -> np.ndarray:
    """Lambda_2' M (M's first axis has length Q2)."""
    return np.moveaxis(rest_right(lay, Ls, np.moveaxis(M, 0, -1)), -1, 0)


@dataclass
class Assembled:
    """The blocks of A and the right-hand side at one theta."""

    factor: BlockFactor
    r_u: np.ndarray  # Lambda'Z'Wz (public order)
    r_b: np.ndarray  # X'Wz
    L1: np.ndarray


def assemble(lay: ReLayout, cp: CrossProducts, Ls: list[np.ndarray]) -> Assembled:
    """Factor A(theta) and form its right-hand side from the cross products."""
    m1, q1, Q2 = lay.m1, lay.q1, lay.Q2
    p = cp.XWX.shape[0]
    L1 = Ls[lay.first]
    lam = float(L1[0, 0]) if q1 == 1 else None
    if lam is not None:  # 1 x 1 level blocks: elementwise, the same numbers as the matmul below
        A11 = cp.K11 * lam
        A11 *= lam
    else:
        A11 = L1.T @ cp.K11 @ L1  # per level L1'K11 L1 (matmul: a three-operand einsum loops in C per element)
    if Q2 and lay.cross_pattern() is not None:
        return _assemble_sparse(lay, cp, Ls, A11)
    if lam is not None:
        B1X = cp.K1X.reshape(m1, p) * lam
    else:
        B1X = np.einsum("ba,kbp->kap", L1, cp.K1X).reshape(m1 * q1, p)
    S = np.empty((Q2 + p, Q2 + p))
    col = None
    if Q2 and lay.scalar:
        # scalar terms: Lambda_1' K12 Lambda_2 is K12 with its columns scaled, formed in B itself
        # (no (m1, Q2) temporaries: in crossed designs they are as large as several n-vectors)
        col = np.concatenate([np.full(lay.nlevels[k], Ls[k][0, 0]) for k in lay.rest]) * L1[0, 0]
        B = _scalar_b(cp.K12, col, B1X)
    elif not Q2:
        B = B1X  # (a temporary of its own: factor_blocks forms C in its place)
    else:
        B = np.empty((m1 * q1, Q2 + p))
        K12L = rest_right(lay, Ls, cp.K12)
        B[:, :Q2] = np.einsum("ba,kbj->kaj", L1, K12L.reshape(m1, q1, Q2)).reshape(m1 * q1, Q2)
        del K12L  # (m1 q1, Q2): recomputed by trace_blocks rather than kept
        B[:, Q2:] = B1X
    if Q2:
        S[:Q2, :Q2] = rest_left(lay, Ls, rest_right(lay, Ls, cp.K22))
        S2X = rest_left(lay, Ls, cp.K2X)
        S[:Q2, Q2:] = S2X
        S[Q2:, :Q2] = S2X.T
    S[Q2:, Q2:] = cp.XWX
    schur = None
    if cp.R is not None:
        # X'WX - B'(A11 + I)^{-1}B = R + sum_l K1X_l K1X_l' / (K11_l (1 + L1^2 K11_l)): no cancellation
        # (fitglme.engine.blocks.stable_schur, in the covariate scale so that L1 = 0 is covered).
        k11 = cp.K11[:, 0, 0]
        lam2 = float(L1[0, 0]) ** 2
        c = np.divide(1.0, k11 * (1.0 + lam2 * k11), out=np.zeros_like(k11), where=k11 > 0)
        kx = cp.K1X[:, 0, :]
        schur = cp.R + (kx * c[:, None]).T @ kx
    fac = factor_blocks(lay, A11, B, S, p, schur)
    if col is not None:
        # C may lend its storage to (H^{-1})_12 (BlockFactor.remake_c): the gradient's traces then
        # need no third (m1, Q2) array besides K12 and C
        fac.remake_c = partial(_scalar_c, cp.K12, col, B1X, fac.L1inv)
    r1 = cp.K1z.ravel() * lam if lam is not None else np.einsum("ba,kb->ka", L1, cp.K1z).ravel()
    r2 = rest_left(lay, Ls, cp.K2z) if Q2 else np.zeros(0)
    return Assembled(fac, lay._to_public(r1, r2, owned=True), cp.XWz.copy(), L1)


def _scalar_b(K12: np.ndarray, col: np.ndarray, B1X: np.ndarray) -> np.ndarray:
    """B = [Lambda_1'K12 Lambda_2 | Lambda_1'K1X] for scalar terms (``col``: the column scales)."""
    m1, Q2 = K12.shape
    B = np.empty((m1, Q2 + B1X.shape[1]))
    np.multiply(K12, col[None, :], out=B[:, :Q2])
    B[:, Q2:] = B1X
    return B


def _scalar_c(K12: np.ndarray, col: np.ndarray, B1X: np.ndarray, L1inv: np.ndarray) -> np.ndarray:
    """C = L1^{-1} B for scalar terms, formed by the same operations as :func:`assemble` and
    :func:`~fitglme.engine.blocks.factor_blocks` (so the same bits): :attr:`BlockFactor.remake_c`."""
    B = _scalar_b(K12, col, B1X)
    m1, n2 = B.shape
    return _apply_level_blocks(L1inv, B.reshape(m1, 1, n2)).reshape(m1, n2)


def _rest_scales(lay: ReLayout, Ls: list[np.ndarray]) -> np.ndarray:
    """The diagonal of Lambda_2 for scalar rest terms: (Q2,)."""
    return np.concatenate([np.full(lay.nlevels[k], float(Ls[k][0, 0])) for k in lay.rest])


def _assemble_sparse(lay: ReLayout, cp: CrossProducts, Ls: list[np.ndarray], A11: np.ndarray) -> Assembled:
    """:func:`assemble` for scalar terms with a sparse Z_1'WZ_rest (layout.cross_pattern()).

    With l1 the first term's factor, a = 1 + l1^2 K11 per level and Lambda_2 the rest terms'
    factors, the Schur complement of the first term is
    S_22 = Lambda_2 (K22 - l1^2 K12' diag(1/a) K12) Lambda_2 + I (and its X rows alike):
    K12' diag(d) K12 is one sparse product over the pairs of columns met within a first-term
    level (:class:`~fitglme.engine.cross_pattern.PairOperator`), never a dense (m1, Q2) array
    (docs/performance.md, "Crossed designs")."""
    pat = lay.cross_pattern()
    op = cp.pairs
    ja, jb = op.ja, op.jb
    Q2 = lay.Q2
    p = cp.XWX.shape[0]
    l1 = float(Ls[lay.first][0, 0])
    lam2 = _rest_scales(lay, Ls)
    a = A11[:, 0, 0] + 1.0
    if not np.all(a > 0):
        raise NotPositiveDefinite
    ia = 1.0 / a
    # K22 and K12' diag(d) K12 vanish off the column pairs met within a first-term level (every row
    # has a first-term level), so T and S_22 - I are formed on those pairs and scattered once.
    V = op.values(np.column_stack([ia, ia * ia]))
    tv = V[:, 0] * (-l1 * l1)
    tv += cp.k22_pairs  # T = K22 - l1^2 K12' diag(1/a) K12 on the pairs
    sv = lam2[ja] * lam2[jb]
    sv *= tv
    # The upper triangle (ja <= jb, sequential in S's C order) is what the in-place Cholesky reads
    # (fitglme.engine.blocks._cholesky_lower); the lower one only where a ridge may be needed.
    S = np.zeros((Q2 + p, Q2 + p))
    S[ja, jb] = sv
    if lay.precise:
        S[jb, ja] = sv
    S[np.arange(Q2), np.arange(Q2)] += 1.0
    K1X = cp.K1X[:, 0, :]
    if p:
        G = cp.K12.T @ (K1X * ia[:, None])
        S2X = (cp.K2X - l1 * l1 * G) * lam2[:, None]
        S[:Q2, Q2:] = S2X
        if lay.precise:
            S[Q2:, :Q2] = S2X.T
        SX = cp.XWX - l1 * l1 * (K1X.T @ (K1X * ia[:, None]))
        S[Q2:, Q2:] = np.tril(SX) + np.tril(SX, -1).T  # (its lower triangle, mirrored)
    d0 = None
    if lay.precise:  # (the magnitudes before the cancellation, for the rounding-level ridge)
        d0 = np.concatenate([lam2 * lam2 * np.diag(cp.K22) + 1.0, np.abs(np.diag(cp.XWX))])
    L1 = np.sqrt(a)[:, None, None]
    li = 1.0 / L1[:, 0, 0]
    Cr = pat.matrix(cp.K12.data * lam2[cp.K12.indices] * (l1 * li[pat.rows]))
    fac = factor_schur(lay, L1, 1.0 / L1, Cr, l1 * K1X * li[:, None], S, p, d0, overwrite=True)
    fac.sparse_parts = (tv, V[:, 1], lam2, l1, a)  # for trace_blocks
    r1 = l1 * cp.K1z[:, 0]
    return Assembled(fac, lay._to_public(r1, lam2 * cp.K2z), cp.XWz.copy(), Ls[lay.first])


def k_times(lay: ReLayout, cp: CrossProducts, v: np.ndarray) -> np.ndarray:
    """K v = Z'WZ v for v in the public random-effects order (no Lambda)."""
    m1, q1 = lay.m1, lay.q1
    v1, v2 = lay._to_internal(v)
    if q1 == 1:  # 1 x 1 level blocks: products, the same numbers as the einsum
        o1 = cp.K11[:, 0, 0] * v1
    else:
        o1 = np.einsum("kab,kb->ka", cp.K11, v1.reshape(m1, q1)).ravel()
    if lay.Q2:
        o1 = o1 + cp.K12 @ v2
        o2 = cp.K12.T @ v1 + cp.K22 @ v2
    else:
        o2 = np.zeros(0)
    return lay._to_public(o1, o2, owned=True)


def zwx(lay: ReLayout, cp: CrossProducts) -> np.ndarray:
    """Z'WX (Q, p) in the public order (formed once per cross products; read only)."""
    if "zwx" not in cp.public:
        p = cp.XWX.shape[0]
        out = np.empty((lay.Q, p))
        for c in range(p):
            out[:, c] = lay._to_public(cp.K1X[:, :, c].ravel(), cp.K2X[:, c] if lay.Q2 else np.zeros(0))
        out.flags.writeable = False
        cp.public["zwx"] = out
    return cp.public["zwx"]


def zwz_vector(lay: ReLayout, cp: CrossProducts) -> np.ndarray:
    """Z'Wz (Q,) in the public order (formed once per cross products; read only)."""
    if "zwz" not in cp.public:
        out = lay._to_public(cp.K1z.ravel(), cp.K2z)  # (a new array: not owned)
        out.flags.writeable = False
        cp.public["zwz"] = out
    return cp.public["zwz"]


def trace_blocks(lay: ReLayout, cp: CrossProducts, Ls: list[np.ndarray], asm: Assembled) -> list[np.ndarray]:
    """Per term k: the sum over its levels of the diagonal level blocks of H^{-1} Lambda'K (q_k, q_k).

    tr(H^{-1} Lambda'Z'WZ dLambda_j) = sum(D_k * dL_j^T) for a parameter of term k.
    """
    if lay.Q2 and lay.cross_pattern() is not None:
        return _trace_blocks_sparse(lay, cp, Ls, asm)
    fac = asm.factor
    m1, q1, Q2 = lay.m1, lay.q1, lay.Q2
    L1 = asm.L1
    out: list[np.ndarray] = [None] * lay.nterms  # type: ignore[list-item]
    if q1 == 1 and not Q2:
        # one scalar term: H^{-1} = A11^{-1} = L1^{-2} per level, squared block by block (the
        # levels-long blocks of H^{-1} are not formed for this sum)
        out[lay.first] = _sum_h11_lk11(fac.L1inv, float(L1[0, 0]), cp.K11, square=True)
        return out
    H11, H12, H22 = fac._re_inverse_blocks()
    if q1 == 1:  # (block of levels by block: no levels-long L1'K11)
        D1 = _sum_h11_lk11(H11, float(L1[0, 0]), cp.K11)
    else:
        D1 = np.einsum("kab,kbd->ad", H11, L1.T @ cp.K11)  # sum_l H11_l L1'K11_l
    if Q2:
        # Only the diagonal level blocks of U = (H^{-1})_21 L1'K12 + (H^{-1})_22 Lambda_2'K22 are
        # needed: O(m1 q1 Q2 q) sums instead of the (Q2, Q2) products (O(m1 q1 Q2^2)).
        H12f = H12.reshape(m1 * q1, Q2)
        M22 = rest_left(lay, Ls, cp.K22)
        if lay.scalar:
            # scalar terms: one column sum of (H^{-1})_12 * K12 serves both, no (m1, Q2) temporary
            v = np.einsum("ij,ij->j", H12f, cp.K12)
            D1 = D1 + vdot(v, _rest_scales(lay, Ls))
            d = float(L1[0, 0]) * v + np.einsum("ji,ij->j", H22, M22)
            for j, k in enumerate(lay.rest):
                out[k] = np.array([[d[lay.rest_offsets[j] : lay.rest_offsets[j + 1]].sum()]])
        else:
            K12L = rest_right(lay, Ls, cp.K12)  # Z1'WZ2 Lambda_2
            D1 = D1 + np.einsum("kaj,kbj->ab", H12, K12L.reshape(m1, q1, Q2))
            del K12L
            L1K12 = np.einsum("ba,kbj->kaj", L1, cp.K12.reshape(m1, q1, Q2)).reshape(m1 * q1, Q2)
            for j, k in enumerate(lay.rest):
                o, e = lay.rest_offsets[j], lay.rest_offsets[j + 1]
                m, q = lay.nlevels[k], lay.qs[k]
                out[k] = (np.einsum("ria,rib->ab", H12f[:, o:e].reshape(-1, m, q), L1K12[:, o:e].reshape(-1, m, q))
                          + np.einsum("iaz,zib->ab", H22[o:e].reshape(m, q, Q2), M22[:, o:e].reshape(Q2, m, q)))
    out[lay.first] = D1
    return out


def _sum_h11_lk11(H11: np.ndarray, lam: float, K11: np.ndarray, square: bool = False) -> np.ndarray:
    """sum_l H11_l lam K11_l (1 x 1 blocks) by blocks of levels: the value of the einsum of
    :func:`trace_blocks` (bit for bit with at most :data:`~fitglme.engine.arrays.LEVEL_BLOCK` levels,
    to rounding beyond) without its levels-long product lam K11.  ``square``: ``H11`` holds L1^{-1},
    whose square (the product BlockFactor._re_inverse_blocks forms) is taken per block."""
    m = K11.shape[0]
    buf = np.empty((min(m, LEVEL_BLOCK), 1, 1))
    hbuf = np.empty((min(m, LEVEL_BLOCK), 1, 1)) if square else None
    out = np.zeros((1, 1))
    for r0 in range(0, m, LEVEL_BLOCK):
        r = slice(r0, min(r0 + LEVEL_BLOCK, m))
        h = r.stop - r0
        t = np.multiply(lam, K11[r], out=buf[:h])  # (the 1 x 1 matmul's product)
        hr = np.multiply(H11[r], H11[r], out=hbuf[:h]) if square else H11[r]
        out += np.einsum("kab,kbd->ad", hr, t)
    return out


def _trace_blocks_sparse(lay: ReLayout, cp: CrossProducts, Ls: list[np.ndarray], asm: Assembled) -> list[np.ndarray]:
    """:func:`trace_blocks` for scalar terms with a sparse Z_1'WZ_rest, without the dense (m1, Q2)
    blocks of H^{-1}.

    With a = 1 + l1^2 K11 per first-term level, F = diag(l1/a) K12 Lambda_2 and Sinv = S_22^{-1}
    (:func:`_assemble_sparse`), H^{-1} = [[diag(1/a) + F Sinv F', -F Sinv], [., Sinv]], so
    D_1 = l1 sum K11/a - l1 <Sinv, Lambda_2 K12' diag(1/a^2) K12 Lambda_2> and, for rest term k,
    D_k = sum over its columns r of (Sinv Lambda_2 (K22 - l1^2 K12' diag(1/a) K12))_rr: traces of
    dense Q2 x Q2 products with the inverse of the Schur complement (docs/performance.md).
    """
    fac = asm.factor
    tv, p2v, lam2, l1, a = fac.sparse_parts  # T and K12' diag(1/a^2) K12 on the column pairs
    op = cp.pairs
    ja, jb, off = op.ja, op.jb, op.off_diagonal
    Q2 = lay.Q2
    k11 = cp.K11[:, 0, 0]
    # T and P2 vanish off the pairs (ja <= jb), so only Sinv there is needed: from the lower
    # triangle of dpotri's output.  sum_j Sinv_jr lam_j T_jr gets, from pair (ja, jb), the term
    # Sinv_ab lam_a T_ab at r = jb and (off the diagonal) Sinv_ab lam_b T_ab at r = ja.
    sinv = fac.rest_schur_inverse_lower()[jb, ja]
    st = sinv * tv
    colsum = np.bincount(jb, weights=st * lam2[ja], minlength=Q2)
    colsum += np.bincount(ja[off], weights=(st * lam2[jb])[off], minlength=Q2)
    # lam'(Sinv * P2) lam: each off-diagonal pair twice
    q = sinv * p2v
    q *= lam2[ja]
    q *= lam2[jb]
    quad = 2.0 * float(q.sum()) - float(q[~off].sum())
    d1 = l1 * float(np.sum(k11 / a)) - l1 * quad
    out: list[np.ndarray] = [None] * lay.nterms  # type: ignore[list-item]
    out[lay.first] = np.array([[d1]])
    for j, k in enumerate(lay.rest):
        out[k] = np.array([[colsum[lay.rest_offsets[j]:lay.rest_offsets[j + 1]].sum()]])
    return out


def level_pairs(lay: ReLayout, a: np.ndarray, b: np.ndarray, Ls_: list[np.ndarray] | None = None) -> list[np.ndarray]:
    """Per term k: sum over levels of a_l b_l' (q_k x q_k) for Q-vectors (or (Q, r) matrices)."""
    out = []
    for k in range(lay.nterms):
        m, q = lay.nlevels[k], lay.qs[k]
        ak = a[lay.offsets[k] : lay.offsets[k + 1]].reshape((m, q) + a.shape[1:])
        bk = b[lay.offsets[k] : lay.offsets[k + 1]].reshape((m, q) + b.shape[1:])
        if a.ndim == 1:
            out.append(np.einsum("la,lb->ab", ak, bk))
        else:
            out.append(np.einsum("lar,lbr->ab", ak, bk))
    return out
