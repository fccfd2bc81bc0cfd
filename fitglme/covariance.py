"""Covariance patterns of the random-effects terms and their parameterisation.

Each random term k has a q_k-by-q_k covariance ``Psi_k`` (relative to the dispersion in the
linear-mixed-model engine, absolute in the Laplace engine).  It is parameterised through a
square-root factor ``L_k`` with ``Psi_k = L_k L_k'``; the optimiser works on the free
parameters ``theta_k``, with the diagonal of ``L_k`` bounded below by 0 so that boundary fits
(a variance exactly 0) are reachable exactly.

Patterns (MATLAB's ``CovariancePattern``):

* ``'FullCholesky'`` / ``'Full'`` -- every lower-triangular element of ``L`` is free
  (column-major order, q(q+1)/2 parameters).
* ``'Diagonal'`` -- diagonal ``L`` (q parameters).
* ``'Isotropic'`` -- ``L = s I`` (one parameter).
* ``'CompSymm'`` -- ``Psi = s^2 ((1 - rho) I + rho 11')`` (two parameters, one when q = 1).
* a square boolean matrix -- ``Psi`` is zero where the pattern is false; the pattern must be
  block diagonal up to a permutation (each connected set of variables fully connected), and
  each block is a full Cholesky factor.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import FitglmeError

PATTERN_NAMES = ("FullCholesky", "Full", "Diagonal", "Isotropic", "CompSymm")


@dataclass
class CovariancePattern:
    """Parameterisation of one random term's covariance matrix.

    Parameters
    ----------
    name : str
        One of :data:`PATTERN_NAMES` or ``'Pattern'`` for a boolean matrix.
    q : int
        Size of the covariance matrix (number of random-effect columns of the term).
    mask : numpy.ndarray, optional
        Boolean q-by-q pattern when ``name == 'Pattern'``.

    Examples
    --------
    >>> cp = CovariancePattern("FullCholesky", 2)
    >>> cp.n_params
    3
    >>> cp.factor(np.array([1.0, 0.5, 2.0]))
    array([[1. , 0. ],
           [0.5, 2. ]])
    """

    name: str
    q: int
    mask: np.ndarray | None = None
    _blocks: list[np.ndarray] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if self.name == "Pattern":
            self._blocks = _pattern_blocks(self.mask)
        elif self.name in ("FullCholesky", "Full"):
            self._blocks = [np.arange(self.q)]

    # -- sizes and bounds -------------------------------------------------------------
    @property
    def n_params(self) -> int:
        """Number of free covariance parameters (MATLAB's count for the term)."""
        if self.name in ("FullCholesky", "Full", "Pattern"):
            return sum(len(b) * (len(b) + 1) // 2 for b in self._blocks)
        if self.name == "Diagonal":
            return self.q
        if self.name == "Isotropic":
            return 1
        if self.name == "CompSymm":
            return 1 if self.q == 1 else 2
        raise AssertionError(self.name)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds of theta (diagonal of L >= 0)."""
        lo = np.full(self.n_params, -np.inf)
        hi = np.full(self.n_params, np.inf)
        if self.name in ("FullCholesky", "Full", "Pattern"):
            pos = 0
            for b in self._blocks:
                c = len(b)
                for j in range(c):
                    lo[pos] = 0.0
                    pos += c - j
        elif self.name in ("Diagonal", "Isotropic"):
            lo[:] = 0.0
        elif self.name == "CompSymm":
            lo[0] = 0.0
            if self.q > 1:
                lo[1] = -1.0 / (self.q - 1) + 1e-8
                hi[1] = 1.0 - 1e-8
        return lo, hi

    def diagonal_mask(self) -> np.ndarray:
        """Which parameters are bounded below by 0 (the diagonal of L, scale parameters)."""
        lo, _ = self.bounds()
        return lo == 0.0

    def start(self, scale: float = 1.0) -> np.ndarray:
        """Default start: Psi = scale^2 I."""
        return self.theta_from_cov(np.eye(self.q) * scale**2)

    # -- theta <-> L ---------------------------------------------------------------------
    def factor(self, theta: np.ndarray) -> np.ndarray:
        """The square-root factor L (q-by-q) with Psi = L L'."""
        q = self.q
        L = np.zeros((q, q))
        if self.name in ("FullCholesky", "Full", "Pattern"):
            pos = 0
            for b in self._blocks:
                c = len(b)
                for j in range(c):
                    L[b[j:], b[j]] = theta[pos : pos + c - j]
                    pos += c - j
        elif self.name == "Diagonal":
            L[np.diag_indices(q)] = theta
        elif self.name == "Isotropic":
            L[np.diag_indices(q)] = theta[0]
        elif self.name == "CompSymm":
            s = theta[0]
            if q == 1:
                L[0, 0] = s
            else:
                rho = theta[1]
                R = (1.0 - rho) * np.eye(q) + rho * np.ones((q, q))
                L = s * _psd_sqrt(R)
        return L

    def factor_derivatives(self, theta: np.ndarray) -> list[np.ndarray]:
        """dL/dtheta_j for every parameter (exact for the patterns linear in theta)."""
        theta = np.asarray(theta, float)
        out = []
        linear = self.name != "CompSymm"
        for j in range(len(theta)):
            e = np.zeros_like(theta)
            if linear:
                e[j] = 1.0
                out.append(self.factor(e) - self.factor(np.zeros_like(theta)))
            else:
                h = 1e-7 * max(1.0, abs(theta[j]))
                e[j] = h
                out.append((self.factor(theta + e) - self.factor(theta - e)) / (2 * h))
        return out

    def theta_from_cov(self, psi: np.ndarray) -> np.ndarray:
        """Parameters whose covariance is closest to ``psi`` within the pattern."""
        psi = np.asarray(psi, dtype=float)
        q = self.q
        if self.name in ("FullCholesky", "Full", "Pattern"):
            out = []
            for b in self._blocks:
                sub = psi[np.ix_(b, b)]
                Lb = _psd_sqrt(sub)
                for j in range(len(b)):
                    out.extend(Lb[j:, j])
            return np.array(out)
        d = np.sqrt(np.clip(np.diag(psi), 0.0, None))
        if self.name == "Diagonal":
            return d
        if self.name == "Isotropic":
            return np.array([np.sqrt(max(np.mean(np.diag(psi)), 0.0))])
        if self.name == "CompSymm":
            s2 = max(np.mean(np.diag(psi)), 0.0)
            if q == 1:
                return np.array([np.sqrt(s2)])
            off = psi[~np.eye(q, dtype=bool)].mean()
            rho = 0.0 if s2 <= 0 else np.clip(off / s2, -1.0 / (q - 1) + 1e-6, 1 - 1e-6)
            return np.array([np.sqrt(s2), rho])
        raise AssertionError(self.name)

    # -- reporting -----------------------------------------------------------------------
    def report_rows(self) -> list[tuple[int, int, str]]:
        """(row, col, 'std'|'corr') of the rows MATLAB reports for this pattern.

        Full patterns: the column-major lower triangle ((1,1) std, (2,1) corr, ..., (2,2)
        std, ...); Diagonal: the standard deviations only; Isotropic: one std; CompSymm: one
        std and one corr; boolean pattern: the lower-triangle entries the pattern allows.
        """
        q = self.q
        if self.name in ("FullCholesky", "Full"):
            return [(i, j, "std" if i == j else "corr") for j in range(q) for i in range(j, q)]
        if self.name == "Pattern":
            return [
                (i, j, "std" if i == j else "corr")
                for j in range(q)
                for i in range(j, q)
                if self.mask[i, j]
            ]
        if self.name == "Diagonal":
            return [(i, i, "std") for i in range(q)]
        if self.name == "Isotropic":
            return [(0, 0, "std")]
        if self.name == "CompSymm":
            return [(0, 0, "std")] + ([(1, 0, "corr")] if q > 1 else [])
        raise AssertionError(self.name)


def _psd_sqrt(m: np.ndarray) -> np.ndarray:
    """A lower-triangular L with L L' = m for a positive semi-definite m."""
    try:
        return np.linalg.cholesky(m)
    except np.linalg.LinAlgError:
        pass
    # Semi-definite: pivot-free Cholesky with zero columns where the pivot vanishes.
    n = m.shape[0]
    L = np.zeros_like(m, dtype=float)
    for j in range(n):
        d = m[j, j] - L[j, :j] @ L[j, :j]
        if d <= 1e-14 * max(1.0, abs(m[j, j])):
            continue
        L[j, j] = np.sqrt(d)
        L[j + 1 :, j] = (m[j + 1 :, j] - L[j + 1 :, :j] @ L[j, :j]) / L[j, j]
    return L


def _pattern_blocks(mask: np.ndarray) -> list[np.ndarray]:
    """Connected components of a boolean pattern; each must be fully connected."""
    q = mask.shape[0]
    seen = np.zeros(q, dtype=bool)
    blocks = []
    for start in range(q):
        if seen[start]:
            continue
        comp = {start}
        frontier = [start]
        while frontier:
            i = frontier.pop()
            for j in np.flatnonzero(mask[i]):
                if j not in comp:
                    comp.add(int(j))
                    frontier.append(int(j))
        idx = np.array(sorted(comp))
        seen[idx] = True
        if not mask[np.ix_(idx, idx)].all():
            raise FitglmeError(
                "CovariancePattern: a logical pattern must be block diagonal after reordering "
                f"(variables {idx.tolist()} are connected but not all pairs are allowed); "
                "use a pattern whose connected variables are all mutually correlated.",
                "fitglme:BadCovariancePattern",
            )
        blocks.append(idx)
    return blocks


def make_pattern(spec: object, q: int, term_label: str) -> CovariancePattern:
    """Validate one term's CovariancePattern value and build its parameterisation.

    Parameters
    ----------
    spec : str or array_like of bool
        A pattern name (case-insensitive, unambiguous prefix) or a q-by-q boolean matrix.
    q : int
        Number of random-effect columns of the term.
    term_label : str
        The term as written, for error messages.
    """
    if isinstance(spec, str):
        low = spec.lower()
        exact = [p for p in PATTERN_NAMES if p.lower() == low]
        cands = exact or [p for p in PATTERN_NAMES if p.lower().startswith(low)]
        if len(cands) != 1 or not low:
            raise FitglmeError(
                f"CovariancePattern for random term {term_label}: {spec!r} is not a valid pattern; "
                f"allowed: {', '.join(PATTERN_NAMES)}, or a {q}-by-{q} logical matrix.",
                "fitglme:BadCovariancePattern",
            )
        return CovariancePattern(cands[0], q)
    try:
        m = np.asarray(spec)
    except Exception:  # pragma: no cover - defensive
        m = None
    if m is None or m.shape != (q, q) or not (m.dtype == bool or np.isin(m, [0, 1]).all()):
        raise FitglmeError(
            f"CovariancePattern for random term {term_label}: expected a pattern name "
            f"({', '.join(PATTERN_NAMES)}) or a {q}-by-{q} logical matrix, got {spec!r}.",
            "fitglme:BadCovariancePattern",
        )
    m = m.astype(bool)
    if not (m == m.T).all() or not np.diag(m).all():
        raise FitglmeError(
            f"CovariancePattern for random term {term_label}: a logical pattern must be "
            "symmetric with a true diagonal.",
            "fitglme:BadCovariancePattern",
        )
    return CovariancePattern("Pattern", q, mask=m)


def std_corr(psi: np.ndarray, rows: list[tuple[int, int, str]]) -> np.ndarray:
    """Standard deviations and correlations of ``psi`` at the reported ``rows``."""
    sd = np.sqrt(np.clip(np.diag(psi), 0.0, None))
    out = np.empty(len(rows))
    for k, (i, j, kind) in enumerate(rows):
        if kind == "std":
            out[k] = sd[i]
        else:
            den = sd[i] * sd[j]
            out[k] = psi[i, j] / den if den > 0 else np.nan
    return out
