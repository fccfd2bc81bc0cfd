"""The sparse pattern of Z_1'Z_rest for crossed scalar random terms, and the sums over the pairs
of its entries met within a first-term level that the sparse Schur complement and its selected
inverse are made of (fitglme.engine.crossed; docs/performance.md, "Crossed designs").

A pair (a, b) is two stored entries of one row (a level of the first term) with column(a) <=
column(b); the pairs are enumerated row by row, so ``a`` and the row are non-decreasing.  Sums over
the pairs grouped by ``a``, by row or by column pair are sparse matrix-vector products over
structures built once per layout: scipy's CSR product adds each group's terms in the pairs' order,
as ``np.bincount`` does (the same numbers), without the index conversions and temporaries that a
gather-multiply-bincount pass over millions of pairs costs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:
    from .layout import ReLayout

#: the column pairs are numbered by a lookup table of Q2^2 entries when it has at most this many
PAIR_TABLE = 4_000_000
#: ... and its pair index arrays are held as intp (8 bytes) up to this many pairs, as int32 above
#: (numpy's gathers and bincount convert other index types to intp at every call).
INTP_PAIRS = 1 << 22


@dataclass
class CrossPattern:
    """The (level of the first term, column of the rest) pairs that occur in the data, as a CSR
    pattern of Z_1'Z_rest (m1 x Q2, scalar terms), and for every row and rest term the position of
    its pair in the CSR data array: any Z_1'WZ_rest is then one bincount per rest term."""

    indptr: np.ndarray
    indices: np.ndarray
    rows: np.ndarray  # (nnz,) row (first-term level) of each stored entry
    positions: list  # per rest term, (n,) position of each row's pair in the data array
    shape: tuple
    density: float

    @classmethod
    def build(cls, lay: ReLayout) -> "CrossPattern":
        m1, Q2 = lay.m1, lay.Q2
        i1 = lay.indices[lay.first]
        keys = np.concatenate([i1 * Q2 + (lay.rest_offsets[j] + lay.indices[k])
                               for j, k in enumerate(lay.rest)])
        uniq, inv = np.unique(keys, return_inverse=True)
        del keys
        nnz = uniq.size
        rows = uniq // Q2
        indices = (uniq - rows * Q2).astype(np.int32 if Q2 < 2**31 else np.int64)
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=m1))])
        pos_type = np.int32 if nnz < 2**31 else np.int64
        inv = inv.astype(pos_type).ravel()
        n = lay.n
        positions = [inv[j * n:(j + 1) * n] for j in range(len(lay.rest))]
        return cls(indptr, indices, rows, positions, (m1, Q2), nnz / max(m1 * Q2, 1))

    @property
    def nnz(self) -> int:
        return int(self.indices.size)

    def matrix(self, data: np.ndarray) -> sp.csr_array:
        """The CSR matrix with this pattern and ``data``."""
        return sp.csr_array((data, self.indices, self.indptr), shape=self.shape)

    @property
    def n_pairs(self) -> int:
        """Number of entry pairs (column(a) <= column(b)) within the rows of Z_1'Z_rest: the size of
        :meth:`pairs` and of the operator of :meth:`pair_operator`."""
        c = np.diff(self.indptr)
        return int(np.sum(c * (c + 1) // 2))

    def pairs(self) -> tuple:
        """Every pair (a, b) of stored entries of one row with column(a) <= column(b), in row order:
        ``(a, b, row, kid, ja, jb)`` with ``kid`` the index of the pair's column pair (ja[kid],
        jb[kid]).  Built once, without sorting (a counting pass over the Q2^2 column pairs when
        that table is small, else np.unique)."""
        if getattr(self, "_pair_cache", None) is None:
            nnz = self.nnz
            Q2 = self.shape[1]
            c = np.repeat(self.indptr[1:], np.diff(self.indptr))  # each entry's row end ...
            c -= np.arange(nnz, dtype=c.dtype)  # ... entry a pairs with the entries a..(end of its row)
            total = int(c.sum())
            it = np.int32 if max(nnz, total) < 2**31 else np.int64
            # a is non-decreasing (every entry's run of pairs in turn): gathers by a are repeats
            a = np.repeat(np.arange(nnz, dtype=it), c)
            b = np.arange(total, dtype=it)
            first = np.cumsum(c, dtype=np.int64)
            first -= c
            first -= np.arange(nnz)
            b -= np.repeat(first.astype(it), c)
            del first
            kt = np.int32 if Q2 * Q2 < 2**31 else np.int64
            key = np.repeat(self.indices.astype(kt) * kt(Q2), c)  # (within a row, columns increase)
            key += self.indices[b]
            rows = np.repeat(self.rows.astype(it), c)
            self._pair_runs = c  # (nnz,) the pairs of each entry: F[a] is np.repeat(F, runs)
            del c
            if Q2 * Q2 <= PAIR_TABLE:
                seen = np.bincount(key, minlength=Q2 * Q2) > 0
                ukey = np.flatnonzero(seen)
                lookup = np.cumsum(seen, dtype=np.int32 if ukey.size < 2**31 else np.int64)
                lookup -= 1
                kid = lookup[key]
                del seen, lookup
            else:
                ukey, kid = np.unique(key, return_inverse=True)
            del key
            # numpy's gathers and bincount convert other index types to intp on every call (about
            # as long as the gather itself): the index arrays are held as intp unless that would
            # double a large table (docs/performance.md, "Crossed designs")
            it = np.intp if total <= INTP_PAIRS else np.int32 if max(nnz, ukey.size) < 2**31 else np.int64
            self._pair_cache = (a.astype(it, copy=False), b.astype(it, copy=False), rows.astype(it, copy=False),
                                kid.astype(it, copy=False).ravel(),
                                (ukey // Q2).astype(np.int64), (ukey % Q2).astype(np.int64))
        return self._pair_cache

    def repeat_first(self, data: np.ndarray) -> np.ndarray:
        """``data[a]`` for the first entries ``a`` of :meth:`pairs` (non-decreasing: each entry's
        value repeated over its pairs), without the gather."""
        self.pairs()
        return np.repeat(data, self._pair_runs)

    def gram(self, data: np.ndarray) -> np.ndarray:
        """K'K (dense, Q2 x Q2) for the matrix K with this pattern and ``data``."""
        Q2 = self.shape[1]
        P = np.zeros((Q2, Q2))
        self.subtract_gram(P, data)
        np.negative(P, out=P)
        return P

    def subtract_gram(self, S: np.ndarray, data: np.ndarray, upper_only: bool = False) -> None:
        """S[:Q2, :Q2] -= K'K in place, at the column pairs only (K'K is zero elsewhere): the same
        numbers as subtracting :meth:`gram`, without a dense Q2 x Q2 temporary.  ``upper_only``:
        only the upper triangle (with the diagonal) is updated -- all that the in-place Cholesky
        of a C-ordered S reads (fitglme.engine.blocks._cholesky_lower).

        (K'K)_(ja, jb) = sum over the pairs of that column pair of data[a] data[b]: one CSR
        product over the pairs grouped by column pair (:meth:`_by_column_pair`)."""
        a, b, _r, kid, ja, jb = self.pairs()
        if a.size:
            ptr, a_col, b_pos, _rows = self._by_column_pair()
            sums = sp.csr_array((data[b_pos], a_col, ptr), shape=(ja.size, self.nnz)) @ data
            if upper_only:
                S[ja, jb] -= sums
                return
            S[jb, ja] -= sums
            off = self.off_diagonal_pairs()
            S[ja[off], jb[off]] -= sums[off]

    def _by_column_pair(self) -> tuple:
        """The pairs grouped by column pair (``kid``; stable, so each group keeps the pairs'
        order), cached: ``(indptr, a, b, rows)`` -- the CSR row pointers over the column pairs,
        and per pair its first entry (CSR column indices), second entry (intp, for gathers) and
        row (the column indices of the pair operator)."""
        if getattr(self, "_by_pair_cache", None) is None:
            a, b, r, kid, ja, _jb = self.pairs()
            perm = np.argsort(kid, kind="stable")
            it = np.int32 if max(self.nnz, self.shape[0], a.size) < 2**31 else np.int64
            indptr = np.zeros(ja.size + 1, it)
            np.cumsum(np.bincount(kid, minlength=ja.size), out=indptr[1:])
            self._by_pair_cache = (indptr, a[perm].astype(it), b[perm].astype(np.intp), r[perm].astype(it))
        return self._by_pair_cache

    def _by_entry(self) -> tuple:
        """CSR structures of the pairs in their own order, cached: ``(ptr_entry, ptr_row, b)`` --
        row pointers grouping the pairs by first entry and by row (both non-decreasing) and the
        second entries as column indices."""
        if getattr(self, "_by_entry_cache", None) is None:
            _a, b, _r, _kid, _ja, _jb = self.pairs()
            it = np.int32 if max(self.nnz, b.size) < 2**31 else np.int64
            ptr_entry = np.zeros(self.nnz + 1, it)
            np.cumsum(self._pair_runs, out=ptr_entry[1:])
            self._by_entry_cache = (ptr_entry, ptr_entry[self.indptr], b.astype(it))
        return self._by_entry_cache

    def sums_by_first(self, values: np.ndarray, x: np.ndarray) -> np.ndarray:
        """For every entry e: the sum over the pairs (e, b) of values * x[b], in the pairs' order
        (``np.bincount(a, weights=values * x[b])``): (nnz,)."""
        ptr, _ptr_row, b = self._by_entry()
        return sp.csr_array((values, b, ptr), shape=(self.nnz, self.nnz)) @ x

    def sums_by_row(self, values: np.ndarray, x: np.ndarray) -> np.ndarray:
        """For every row: the sum over its pairs (a, b) of values * x[b], in the pairs' order
        (``np.bincount(row, weights=values * x[b])``): (m1,)."""
        _ptr, ptr_row, b = self._by_entry()
        return sp.csr_array((values, b, ptr_row), shape=(self.shape[0], self.nnz)) @ x

    def off_diagonal_pairs(self) -> np.ndarray:
        """The column pairs of :meth:`pairs` with ja < jb (a boolean mask, cached)."""
        if getattr(self, "_off_pairs", None) is None:
            _a, _b, _r, _kid, ja, jb = self.pairs()
            self._off_pairs = ja != jb
        return self._off_pairs

    def pair_operator(self, data: np.ndarray) -> "PairOperator":
        """For the matrix K with this pattern and ``data``: the linear map d -> K' diag(d) K.

        Its matrix (column pairs x first-term levels) holds data[a] data[b] of each pair; a row's
        entries keep the pairs' order, i.e. increasing levels (one entry per level), as scipy's
        COO conversion would place them, without its sort at every call."""
        a, b, r, kid, ja, jb = self.pairs()
        indptr, a_col, b_pos, rows = self._by_column_pair()
        vals = data[b_pos]
        vals *= data[a_col]
        Pi = sp.csr_array((vals, rows, indptr), shape=(ja.size, self.shape[0]))
        return PairOperator(Pi, ja, jb, self.shape[1], self.off_diagonal_pairs())

    def cross(self, lay: ReLayout, x1: np.ndarray, ys: list, w: np.ndarray | None) -> np.ndarray:
        """The data array of Z_1(x1)'W Z_rest(ys) (scalar terms: (n, 1) covariates)."""
        out = np.zeros(self.nnz)
        for j, k in enumerate(lay.rest):
            if ys[k] is None:
                continue
            prod = x1[:, 0] * ys[k][:, 0]
            if w is not None:
                prod = prod * w
            out += np.bincount(self.positions[j], weights=prod, minlength=self.nnz)
        return out


@dataclass
class PairOperator:
    """d -> K' diag(d) K for a sparse K (m1 x Q2) as one sparse product with the per-row pair
    products of K (theta-independent): the cost is the number of pairs, and no sparse-sparse
    product or sparse-to-dense conversion is needed per evaluation."""

    Pi: sp.csr_array  # (pairs of columns, m1)
    ja: np.ndarray
    jb: np.ndarray
    Q2: int
    off_diagonal: np.ndarray  # the column pairs with ja < jb (the pattern's mask, shared)

    def __call__(self, ds: np.ndarray) -> list[np.ndarray]:
        """K' diag(d) K (dense, Q2 x Q2) for each column d of ``ds`` (m1, r)."""
        vals = self.values(ds)
        out = []
        for c in range(ds.shape[1]):
            P = np.zeros((self.Q2, self.Q2))
            P[self.jb, self.ja] = vals[:, c]
            P[self.ja, self.jb] = vals[:, c]
            out.append(P)
        return out

    def values(self, ds: np.ndarray) -> np.ndarray:
        """K' diag(d) K at the column pairs (ja, jb), ja <= jb, for each column d of ``ds``:
        (pairs, r); every other entry of K' diag(d) K is zero."""
        return self.Pi @ ds
