"""Inference on a fitted model: t-tests, confidence intervals and information criteria.

MATLAB's rules (docs/methods_inference.md): tStat = Estimate / SE; DF = n - p under DFMethod 'residual' and
Inf under 'none'; pValue = 2 tcdf(-|t|, DF); CI = Estimate -/+ tinv(1 - alpha/2, DF) SE.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


def t_quantile(alpha: float, df: np.ndarray | float) -> np.ndarray:
    """tinv(1 - alpha/2, df), the normal quantile where df is Inf."""
    df = np.asarray(df, float)
    return np.where(np.isinf(df), stats.norm.ppf(1 - alpha / 2), stats.t.ppf(1 - alpha / 2, np.where(np.isinf(df), 1.0, df)))


def two_sided_p(t: np.ndarray, df: np.ndarray | float) -> np.ndarray:
    """2 tcdf(-|t|, df) (normal where df is Inf)."""
    t = np.asarray(t, float)
    df = np.broadcast_to(np.asarray(df, float), t.shape)
    with np.errstate(invalid="ignore"):
        return np.where(
            np.isinf(df), 2 * stats.norm.sf(np.abs(t)), 2 * stats.t.sf(np.abs(t), np.where(np.isinf(df), 1.0, df))
        )


@dataclass
class CoefficientStats:
    estimate: np.ndarray
    se: np.ndarray
    tstat: np.ndarray
    df: np.ndarray
    pvalue: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


def coefficient_stats(estimate: np.ndarray, se: np.ndarray, df: float, alpha: float = 0.05) -> CoefficientStats:
    """t statistics, p-values and 100(1 - alpha)% confidence limits."""
    est = np.asarray(estimate, float)
    se = np.asarray(se, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = est / se
    dfv = np.full(est.shape, float(df))
    q = t_quantile(alpha, dfv)
    return CoefficientStats(est, se, t, dfv, two_sided_p(t, dfv), est - q * se, est + q * se)


def information_criteria(loglik: float, k: int, n_eff: float) -> tuple[float, float]:
    """AIC = -2 logL + 2k and BIC = -2 logL + k log(n_eff)."""
    return -2 * loglik + 2 * k, -2 * loglik + k * np.log(n_eff)
