"""Warnings about numerical trouble in a finished fit (the model is returned regardless).

* a random-effect variance on the boundary (0) or a correlation at +-1 (``fitglme:BoundaryFit``);
* quasi-separation in binomial fits: fitted probabilities within 1e-10 of 0 or 1
  (``fitglme:QuasiSeparation``);
* huge counts (above 1e12), where the penalised system loses precision (``fitglme:HugeValues``).
"""
from __future__ import annotations

import numpy as np

from .engine_warnings import ridged
from .errors import warn


#: counts above which the penalised system loses precision (data terms / penalty ~ 1/eps^(3/4)).
HUGE = 1e12


def check_fit(result, blocks, dist, y) -> None:
    """Warn about boundary estimates, separation and precision problems of a fit (an
    EngineResult: its numerical mode and events say which advice the huge-value warning gives)."""
    laplace = result.method in ("Laplace", "ApproximateLaplace")
    precise_counts = result.mode.reference_form if laplace else result.mode.stable_schur
    was_ridged = ridged(result.events)
    for psi, blk in zip(result.psi, blocks):
        sd = np.sqrt(np.clip(np.diag(psi), 0.0, None))
        zero = [blk.names[i] for i in np.flatnonzero(sd <= 1e-8 * max(1.0, np.sqrt(result.dispersion)))]
        if zero:
            warn(
                f"Random effects of group {blk.group_name!r}: the standard deviation of "
                f"{', '.join(repr(z) for z in zero)} is estimated at 0 (a boundary solution); its "
                "confidence limits are not meaningful.",
                "fitglme:BoundaryFit",
            )
        q = len(sd)
        if q > 1:
            with np.errstate(invalid="ignore", divide="ignore"):
                R = psi / np.outer(sd, sd)
            bad = [(blk.names[i], blk.names[j]) for i in range(q) for j in range(i)
                   if sd[i] > 0 and sd[j] > 0 and abs(R[i, j]) > 1 - 1e-6]
            if bad:
                warn(
                    f"Random effects of group {blk.group_name!r}: the correlation of "
                    f"{', '.join(f'{a!r} and {b!r}' for a, b in bad)} is estimated at +-1 (a boundary "
                    "solution); consider CovariancePattern 'Diagonal' or fewer random effects.",
                    "fitglme:BoundaryFit",
                )
    mu = np.asarray(result.mu)
    if dist.name == "Binomial":
        extreme = np.mean((mu < 1e-10) | (mu > 1 - 1e-10))
        if extreme > 0:
            warn(
                f"{100 * extreme:.3g}% of the fitted probabilities are within 1e-10 of 0 or 1: the data "
                "may be (quasi-)separated, and the estimates and standard errors of the affected "
                "coefficients are unreliable.",
                "fitglme:QuasiSeparation",
            )
    big = max(_max_abs(y), _max_abs(mu))
    counts = dist.name in ("Poisson", "Binomial")
    if big > (HUGE if counts else 2.0**52):
        why = ("the data terms of the penalised least-squares system exceed the random-effect penalty by "
               f"more than double precision can resolve (counts above about {HUGE:.0e})" if counts else
               "they exceed the integer precision of doubles (2^52)")
        if precise_counts:
            advice = ("the fit used its cancellation-free forms for huge counts (one scalar random-effect "
                      "term, log link), so the estimates keep their precision, but the absolute "
                      "log-likelihood is only as precise as doubles allow here (its rounding can reach "
                      f"eps times the summed terms, {2.2e-16 * big * len(y):.2g}).")
        elif was_ridged:
            advice = ("the penalised system lost positive definiteness to rounding and was regularised at "
                      "the rounding level, so the split between the fixed effects and the random effects "
                      "along their shared directions (e.g. the intercept against random intercepts) is "
                      "not determined and those estimates are unreliable (the fitted values, determined by "
                      "the data, are not affected). The precise forms for huge counts cover one scalar random-effect term "
                      "(e.g. (1|g)); otherwise consider rescaling the data (or an offset).")
        else:
            advice = ("estimates and log-likelihood may be inaccurate. Consider rescaling the data (or an "
                      "offset).")
        warn(
            f"Responses or fitted means as large as {big:.3g}: {why}; {advice}",
            "fitglme:HugeValues",
        )


def _max_abs(v: np.ndarray) -> float:
    """max |v| (0 for an empty v) as max(max v, -min v): the same value (|.| is exact) without the
    n-vector temporary of np.abs (docs/performance.md, "Growth in n"); a NaN gives NaN."""
    hi, lo = float(np.max(v, initial=0.0)), float(np.min(v, initial=0.0))
    if hi != hi or lo != lo:
        return float("nan")
    return max(hi, -lo)
