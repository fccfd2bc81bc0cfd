"""Parametric bootstrap of a fitted model (``glme.parametricBootstrap(nboot, ...)``).

Each replicate simulates a response from the fitted model exactly as ``random(glme)`` does (new
random effects, then y | b, with the fit's weights, binomial sizes and offset), refits the model
to it with every setting of the original fit, and records the fixed effects, the covariance
parameters (MATLAB's std / corr rows), the dispersion and the log-likelihood, with a converged
flag and the identifiers of the warnings the refit raised.  A replicate whose fit fails keeps NaN
statistics and the error's identifier; it never stops the batch.

Reproducibility: the replicates' random streams are the children of one
``numpy.random.SeedSequence(Seed)`` -- replicate j (0-based) draws from
``default_rng(SeedSequence(Seed, spawn_key=(j,)))``, i.e. ``random(glme, seed=that)`` -- and every
refit starts from the original estimates, so the table is the same whatever the backend, the
number of workers and the chunking (docs/many_fits.md).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from ..display.tables import MatlabDataset
from ..errors import FitglmeError
from ..options import as_positive_int, match_string, parse_name_value
from ..parallel import parallel_options, run_chunks
from ..random_streams import child_seeds, seed_sequence
from .effects import check_alpha
from .manyfits import bootstrap_task, make_plan

__all__ = ["BootstrapMethods", "parametricBootstrap"]

BOOT_OPTIONS = ("Seed", "Options")
CI_TYPES = ("percentile", "basic", "normal")
CI_ALIASES = {"per": "percentile", "norm": "normal"}


class BootstrapResult:
    """Result of :func:`parametricBootstrap`.

    Attributes
    ----------
    Replicates : MatlabDataset
        One row per replicate: ``Replicate`` (1-based), the statistics (coefficient names, then
        ``'<group>: std(<name>)'`` / ``'<group>: corr(<name1>,<name2>)'``, ``Dispersion``,
        ``LogLikelihood``), ``Converged``, ``Warnings`` (identifiers, comma-separated) and
        ``Error`` (identifier of a failed fit; its statistics are NaN).
    Estimates : pandas.Series
        The same statistics of the original fit.
    NumReplicates, NumFailed : int
    Seed : int or tuple
        The root seed (its entropy): ``Seed=result.Seed`` repeats the run.
    """

    def __init__(self, glme, stats: np.ndarray, converged: np.ndarray, warns: list, errors: list,
                 columns: list[str], estimates: np.ndarray, seed) -> None:
        self._style, self._width = glme.display_style, glme.display_width
        self.FitMethod = glme.FitMethod
        self.columns = list(columns)
        data = {"Replicate": np.arange(1, len(stats) + 1)}
        for j, name in enumerate(columns):
            data[name] = stats[:, j]
        data["Converged"] = converged
        data["Warnings"] = [", ".join(w) for w in warns]
        data["Error"] = list(errors)
        self.Replicates = MatlabDataset(data, text_columns=("Warnings", "Error"), style=self._style,
                                        width=self._width)
        self.Estimates = pd.Series(estimates, index=self.columns, name="Estimate")
        self.NumReplicates = int(len(stats))
        self.NumFailed = int(sum(1 for e in errors if e))
        self.Seed = seed

    def _values(self) -> np.ndarray:
        return self.Replicates[self.columns].to_numpy(float)

    @property
    def SE(self) -> pd.Series:
        """Bootstrap standard errors (standard deviation over the successful replicates, n - 1)."""
        v = self._values()
        ok = np.all(np.isfinite(v), axis=1)
        return pd.Series(np.std(v[ok], axis=0, ddof=1) if ok.sum() > 1 else np.full(v.shape[1], np.nan),
                         index=self.columns, name="SE")

    def coefCI(self, *args: Any, **kwargs: Any) -> MatlabDataset:
        """Bootstrap confidence intervals for every statistic but the log-likelihood.

        Parameters
        ----------
        Alpha : float, default 0.05
            1 - confidence level.
        Type : {'percentile', 'basic', 'normal'}, default 'percentile'
            'percentile': the alpha/2 and 1 - alpha/2 quantiles of the replicates (MATLAB's
            ``prctile`` definition: midpoint interpolation); 'basic': 2 estimate - those quantiles,
            swapped; 'normal': estimate - bias -/+ z SE (MATLAB ``bootci``'s 'norm').  MATLAB's
            short names 'per' and 'norm' are accepted.

        Returns
        -------
        MatlabDataset
            Name, Estimate, Bias (mean of the replicates - estimate), SE, Lower, Upper, titled with
            the type, Alpha and the number of replicates used (failed fits are left out).
        """
        opts = parse_name_value(args, kwargs, ("Alpha", "Type"), "coefCI")
        alpha = check_alpha(opts.get("Alpha", 0.05), "coefCI")
        kind = opts.get("Type", "percentile")
        if isinstance(kind, str) and kind.lower() in CI_ALIASES:
            kind = CI_ALIASES[kind.lower()]
        kind = match_string(kind, CI_TYPES, "coefCI: Type", identifier="fitglme:BadType")
        names = [c for c in self.columns if c != "LogLikelihood"]
        v = self.Replicates[names].to_numpy(float)
        ok = np.all(np.isfinite(v), axis=1)
        v = v[ok]
        est = self.Estimates[names].to_numpy(float)
        if len(v) < 2:
            raise FitglmeError(
                f"coefCI: {int(ok.sum())} of {self.NumReplicates} replicates succeeded; at least 2 are needed.",
                "fitglme:TooFewReplicates",
            )
        bias = v.mean(axis=0) - est
        se = v.std(axis=0, ddof=1)
        if kind == "normal":
            z = norm.ppf(1 - alpha / 2)
            lower, upper = est - bias - z * se, est - bias + z * se
        else:
            q = np.quantile(v, [alpha / 2, 1 - alpha / 2], axis=0, method="hazen")
            lower, upper = (q[0], q[1]) if kind == "percentile" else (2 * est - q[1], 2 * est - q[0])
        title = (f"Parametric bootstrap confidence intervals: Type = '{kind}', Alpha = {alpha:g}, "
                 f"{len(v)} of {self.NumReplicates} replicates")
        return MatlabDataset({"Name": names, "Estimate": est, "Bias": bias, "SE": se, "Lower": lower,
                              "Upper": upper}, title=title, text_columns=("Name",), style=self._style,
                             width=self._width)

    def __repr__(self) -> str:
        conv = int(self.Replicates["Converged"].sum())
        return (f"Parametric bootstrap of a {self.FitMethod} fit: {self.NumReplicates} replicates "
                f"({self.NumFailed} failed, {conv} converged), Seed = {self.Seed!r}\n"
                "Replicates (table), Estimates, SE, coefCI('Alpha', 0.05, 'Type', 'percentile')")


def parametricBootstrap(glme, nboot: Any, *args: Any, **kwargs: Any) -> BootstrapResult:
    """Parametric bootstrap: refit the model to ``nboot`` responses simulated from it.

    Parameters
    ----------
    glme : GeneralizedLinearMixedModel
    nboot : int
        Number of replicates.
    Seed : int, numpy.random.SeedSequence or None
        Root of the replicates' random streams (see the module docstring); None draws fresh
        entropy, reported as ``result.Seed``.
    Options : dict, optional
        ``statset('UseParallel', True, ...)``: run the replicates on local processes (joblib) or a
        Dask cluster (``Client``, or inside ``joblib.parallel_config(backend='dask')``); see
        :func:`fitglme.statset`.

    Returns
    -------
    BootstrapResult

    Examples
    --------
    >>> from fitglme import fitglme, load_example
    >>> glme = fitglme(load_example(), 'defects ~ 1 + newprocess + (1|factory)',
    ...                'Distribution', 'Poisson', 'FitMethod', 'Laplace')
    >>> bs = glme.parametricBootstrap(20, 'Seed', 1)
    >>> bs.Replicates.shape
    (20, 9)
    """
    where = "parametricBootstrap"
    nboot = as_positive_int(nboot, f"{where}: nboot", identifier="fitglme:BadNBoot")
    opts = parse_name_value(args, kwargs, BOOT_OPTIONS, where)
    popts = parallel_options(opts.get("Options"), where)
    root = seed_sequence(opts.get("Seed"), where)
    plan = make_plan(glme)
    items = list(zip(range(nboot), child_seeds(root, nboot)))
    ncol = len(plan.columns)
    stats = np.full((nboot, ncol), np.nan)
    converged = np.zeros(nboot, bool)
    warns: list = [[] for _ in range(nboot)]
    errors = [""] * nboot
    for _pos, rows in run_chunks(bootstrap_task, plan, items, popts, where=where, progress_label=where):
        for i, row, conv, ids, err in rows:
            stats[i], converged[i], warns[i], errors[i] = row, conv, ids, err
    estimates = plan.statistics(glme._result)
    seed = root.entropy if not root.spawn_key else (root.entropy, tuple(root.spawn_key))
    return BootstrapResult(glme, stats, converged, warns, errors, plan.columns, estimates, seed)


class BootstrapMethods:
    """Mixin of :class:`~fitglme.model.GeneralizedLinearMixedModel`: the parametric bootstrap.

    The methods are this module's functions, so ``glme.parametricBootstrap(...)`` and
    ``parametricBootstrap(glme, ...)`` are the same call.
    """

    parametricBootstrap = parametricBootstrap
