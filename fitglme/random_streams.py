"""One rule for every random draw of fitglme (docs/migration.md, "Random numbers").

MATLAB's ``rng`` governs every random draw (``random``, ``partialDependence``'s sampling,
StartMethod 'random'). Here numpy's global state plays ``rng``'s part: by default every draw comes
from a generator seeded from it, so ``np.random.seed(1)`` before a call reproduces the call. Each
drawing function also takes an explicit ``seed=`` (a nonnegative integer, a
``numpy.random.SeedSequence`` or a ``numpy.random.Generator``), which then governs that call alone
and leaves the global state untouched.
"""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .errors import FitglmeError

__all__ = ["child_seeds", "resolve_rng", "seed_sequence"]


def resolve_rng(seed: Any, where: str) -> np.random.Generator:
    """The generator of one call.

    Parameters
    ----------
    seed : None, int, numpy.random.SeedSequence or numpy.random.Generator
        None: a generator seeded by one draw from numpy's global state (``np.random.seed``
        reproduces it, as MATLAB's ``rng`` does); an integer or SeedSequence: a new generator
        from it; a Generator: used as is (and advanced).
    where : str
        Function name for the error message.

    Examples
    --------
    >>> np.random.seed(5); a = resolve_rng(None, 'random').standard_normal()
    >>> np.random.seed(5); b = resolve_rng(None, 'random').standard_normal()
    >>> a == b
    True
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        # one 63-bit draw from the global (legacy) state seeds the call's own generator
        return np.random.default_rng(int(np.random.randint(0, 2**63 - 1, dtype=np.int64)))
    ok = (isinstance(seed, numbers.Integral) and not isinstance(seed, (bool, np.bool_)) and int(seed) >= 0) \
        or isinstance(seed, np.random.SeedSequence)
    if not ok:
        raise FitglmeError(
            f"{where}: seed must be None (numpy's global state, set by np.random.seed), a "
            f"nonnegative integer, a numpy.random.SeedSequence or a numpy.random.Generator; got {seed!r}.",
            "fitglme:BadSeed",
        )
    return np.random.default_rng(seed)


def seed_sequence(seed: Any, where: str) -> np.random.SeedSequence:
    """The root SeedSequence of a batch: from a nonnegative integer, a SeedSequence, a Generator
    (one draw from it), or None: one draw from numpy's global state, so that ``np.random.seed``
    reproduces the batch as it does every other draw (the root is kept on the result, so that the
    run can be repeated)."""
    if seed is None:
        return np.random.SeedSequence(int(np.random.randint(0, 2**63 - 1, dtype=np.int64)))
    if isinstance(seed, np.random.SeedSequence):
        return np.random.SeedSequence(seed.entropy, spawn_key=seed.spawn_key, pool_size=seed.pool_size)
    if isinstance(seed, numbers.Integral) and not isinstance(seed, (bool, np.bool_)) and int(seed) >= 0:
        return np.random.SeedSequence(int(seed))
    if isinstance(seed, np.random.Generator):
        return np.random.SeedSequence(int(seed.integers(0, 2**63)))
    raise FitglmeError(
        f"{where}: Seed must be a nonnegative integer, a numpy.random.SeedSequence, a "
        f"numpy.random.Generator or None (numpy's global state); got {seed!r:.60}.",
        "fitglme:BadSeed",
    )


def child_seeds(root: np.random.SeedSequence, k: int) -> list[np.random.SeedSequence]:
    """The first k children of ``root`` (what ``root.spawn(k)`` gives on a fresh sequence),
    without changing ``root``."""
    return [np.random.SeedSequence(root.entropy, spawn_key=tuple(root.spawn_key) + (j,), pool_size=root.pool_size)
            for j in range(k)]
