"""Fused row passes: the first term's per-level sums and the fixed-effects cross products in one
pass over the rows, block by block.

Where the rows are grouped by the first term's levels (:meth:`ReLayout.level_blocks`), the sums

    K11 = per level Z1'WZ1,  K1X = per level Z1'WX,  K1z = per level Z1'Wz,  X'WX,  X'Wz,  z'Wz

are formed from each block of rows while its w, X, z and Z1 are in cache, instead of one pass over
all n rows per sum (docs/performance.md, "Growth in n": past the last-level cache every pass reads
the n-vectors from memory again, which is what made 10x the rows cost more than 10x the time).
Within a block every number is formed by the operations of the separate passes (the same products,
the same ``np.add.reduceat`` runs), so the per-level sums are bit-identical to them; the cross
products over X are sums of per-block products, bit-identical to the single product when there is
one block (at most :data:`~fitglme.engine.layout.BLOCK_ROWS` rows and a level) and equal to rounding
otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .layout import ReLayout, vdot


@dataclass
class FirstFixedSums:
    """The sums of :func:`first_fixed_sums` (``K1z``, ``XWz`` and ``zWz`` None without ``z``)."""

    K11: np.ndarray  # (m1, q1, q1)
    K1X: np.ndarray  # (m1, q1, p)
    XWX: np.ndarray  # (p, p), not symmetrised
    K1z: np.ndarray | None = None  # (m1, q1)
    XWz: np.ndarray | None = None  # (p,)
    zWz: float | None = None


def first_fixed_sums(lay: ReLayout, Z1: np.ndarray, w: np.ndarray, X: np.ndarray, z: np.ndarray | None = None,
                     gram_rows: bool = False) -> FirstFixedSums | None:
    """The first term's per-level sums and the fixed-effects cross products in one blocked pass.

    Parameters
    ----------
    lay : ReLayout
    Z1 : (n, q1) array
        The first term's columns (covariates, or relative ones Z1 L1).
    w : (n,) weights
    X : (n, p) fixed-effects design
    z : (n,) working response, optional
        With it, also K1z, X'Wz and z'Wz.
    gram_rows : bool
        Form X'WX row by row, ``(w x_c)' X`` (as :func:`fitglme.engine.blocks.factorize` does),
        instead of as ``X'(W X)`` (as :func:`fitglme.engine.crossprod.weighted_gram` does): each
        caller keeps the numbers of its own single-block form.

    Returns
    -------
    FirstFixedSums or None
        None when the rows are not grouped by the first term's levels (the caller's separate passes
        then apply).
    """
    blocks = lay.level_blocks(lay.first)
    if blocks is None:
        return None
    m1, q1 = lay.m1, lay.q1
    p = X.shape[1]
    rows = max(r1 - r0 for r0, r1, *_ in blocks)
    K11 = np.empty((m1, q1, q1))
    K1X = np.empty((m1, q1, p))
    XWX = np.zeros((p, p))
    t = np.empty(rows)
    wx = np.empty((p, rows)) if gram_rows else np.empty((rows, p))
    with_z = z is not None
    if with_z:
        K1z = np.empty((m1, q1))
        XWz = np.zeros(p)
        zWz = 0.0
        wz = np.empty(rows)
    for r0, r1, l0, l1, runs in blocks:
        h = r1 - r0
        wb, Xb, Zb = w[r0:r1], X[r0:r1], Z1[r0:r1]
        tb = t[:h]
        for a in range(q1):
            for b in range(q1):
                np.multiply(wb, Zb[:, a], out=tb)
                tb *= Zb[:, b]
                np.add.reduceat(tb, runs, out=K11[l0:l1, a, b])
        if gram_rows:
            for c in range(p):
                wxc = wx[c, :h]
                np.multiply(wb, Xb[:, c], out=wxc)
                XWX[c] += wxc @ Xb
        else:
            wxb = wx[:h]
            np.multiply(wb[:, None], Xb, out=wxb)
            XWX += Xb.T @ wxb
        for c in range(p):
            wxc = wx[c, :h] if gram_rows else wx[:h, c]
            for a in range(q1):
                np.multiply(wxc, Zb[:, a], out=tb)
                np.add.reduceat(tb, runs, out=K1X[l0:l1, a, c])
        if with_z:
            wzb = wz[:h]
            np.multiply(wb, z[r0:r1], out=wzb)
            for a in range(q1):
                np.multiply(Zb[:, a], wzb, out=tb)
                np.add.reduceat(tb, runs, out=K1z[l0:l1, a])
            XWz += Xb.T @ wzb
            zWz += vdot(z[r0:r1], wzb)
    if not with_z:
        return FirstFixedSums(K11, K1X, XWX)
    return FirstFixedSums(K11, K1X, XWX, K1z, XWz, zWz)
