"""``GeneralizedLinearMixedModel``: the fitted model with MATLAB's property names.

The object keeps its fitted state, ``glme.fit_state`` (:class:`fitglme.problem_builder.FitOutcome`:
model spec, engine inputs, engine result); every MATLAB property is computed from it (lazily,
cached where it costs anything).  Methods live in :mod:`fitglme.methods`, one mixin class per
module in the class statement below, so both ``glme.fixedEffects()`` and ``fixedEffects(glme)``
work.
"""
from __future__ import annotations

from dataclasses import replace
from functools import cached_property
from types import SimpleNamespace

import numpy as np
import pandas as pd

from .covariance import std_corr
from .display.tables import MatlabDataset
from .engine.result import EngineResult
from .engine.response import GLMResponse
from .inference import coefficient_stats, information_criteria
from .methods.bootstrap import BootstrapMethods
from .methods.effects import EffectsMethods
from .methods.hypothesis import HypothesisMethods
from .methods.plots import PlotMethods
from .methods.prediction import PredictionMethods
from .methods.simulation import SimulationMethods
from .outputs import OneRowDataset
from .problem_builder import FitOutcome, FitRequest, ModelSpec, ProblemParts, fit_request

DISPLAY_STYLES = ("quoted", "braces")


class GeneralizedLinearMixedModel(EffectsMethods, HypothesisMethods, PredictionMethods, SimulationMethods,
                                  PlotMethods, BootstrapMethods):
    """A fitted generalized linear mixed-effects model (create it with :func:`fitglme`).

    Property names follow MATLAB (``Coefficients``, ``LogLikelihood``, ``ModelCriterion``, ...).
    ``print(glme)`` shows MATLAB's display; ``glme.display_style`` ('quoted', the older dataset
    style, by default, or 'braces') and ``glme.display_width`` (80) control it.

    Examples
    --------
    >>> from fitglme import fitglme, load_example
    >>> glme = fitglme(load_example(), 'defects ~ 1 + newprocess + (1|factory)', Distribution='Poisson')
    >>> glme.CoefficientNames
    ['(Intercept)', 'newprocess']
    """

    display_style: str = "quoted"
    display_width: int = 80

    #: the fitted state: model spec, engine inputs, engine result (docs/internals.md)
    fit_state: FitOutcome

    # ------------------------------------------------------------------ construction
    def __init__(self, spec: ModelSpec, problem: ProblemParts, result: EngineResult) -> None:
        """A model from its fitted state (normally made by :func:`fitglme` or ``refit``).

        Parameters
        ----------
        spec : fitglme.problem_builder.ModelSpec
            The request, formula, family, FitMethod and per-row options.
        problem : fitglme.problem_builder.ProblemParts
            The engine's inputs (design, response, layout, Z blocks, patterns, settings).
        result : fitglme.engine.result.EngineResult
            The engine's result.
        """
        self.fit_state = FitOutcome(spec, problem, result)

    @classmethod
    def from_request(cls, request: FitRequest,
                     response_override: np.ndarray | None = None) -> "GeneralizedLinearMixedModel":
        """Build the problem from ``request``, run the engine and make the model (the path of
        :func:`fitglme` and ``refit``; ``response_override`` replaces the used rows' response)."""
        return cls(*fit_request(request, response_override))

    def _with_result(self, y: np.ndarray, result: EngineResult) -> "GeneralizedLinearMixedModel":
        """A model for the response ``y`` (used rows) and its engine result, sharing this model's
        request, design and settings (the many-responses refit; nothing cached is carried over)."""
        spec, problem = self.fit_state.spec, self.fit_state.problem
        r = problem.resp
        resp = GLMResponse(spec.dist, spec.link, y, r.w, r.size, r.offset)
        return type(self)(spec, replace(problem, engine=replace(problem.engine, response=resp)), result)

    # shorthands of the fitted state for the property and method code (read-only)
    _request = property(lambda self: self.fit_state.spec.request)
    _parsed = property(lambda self: self.fit_state.spec.parsed)
    _dist = property(lambda self: self.fit_state.spec.dist)
    _link = property(lambda self: self.fit_state.spec.link)
    _method = property(lambda self: self.fit_state.spec.method)
    _weights = property(lambda self: self.fit_state.spec.weights)
    _offset = property(lambda self: self.fit_state.spec.offset)
    _size = property(lambda self: self.fit_state.spec.size)
    _design = property(lambda self: self.fit_state.problem.design)
    _resp = property(lambda self: self.fit_state.problem.resp)
    _layout = property(lambda self: self.fit_state.problem.layout)
    _patterns = property(lambda self: self.fit_state.problem.patterns)
    _settings = property(lambda self: self.fit_state.problem.settings)
    _result = property(lambda self: self.fit_state.result)

    # ------------------------------------------------------------------ basic sizes
    @property
    def NumObservations(self) -> int:
        """Number of observations used in the fit."""
        return int(self._design.X.shape[0])

    @property
    def NumCoefficients(self) -> int:
        """Number of fixed-effects coefficients."""
        return int(self._design.X.shape[1])

    @property
    def NumEstimatedCoefficients(self) -> int:
        return self.NumCoefficients

    @property
    def DFE(self) -> int:
        """Residual degrees of freedom n - p."""
        return self.NumObservations - self.NumCoefficients

    @property
    def CoefficientNames(self) -> list[str]:
        return list(self._design.coef_names)

    @property
    def ResponseName(self) -> str:
        return self._parsed.response

    @property
    def Distribution(self) -> str:
        return self._dist.name

    @property
    def Link(self) -> SimpleNamespace:
        """MATLAB's Link structure: Name, Link, Derivative, SecondDerivative, Inverse."""
        lk = self._link
        return SimpleNamespace(Name=lk.name, Link=lk.link, Derivative=lk.deriv,
                               SecondDerivative=lk.deriv2, Inverse=lk.inverse)

    @property
    def FitMethod(self) -> str:
        return self._method

    @property
    def Formula(self) -> SimpleNamespace:
        """The model formula: ``str(glme.Formula)`` is MATLAB's displayed formula."""
        from .formula import format_formula

        text = format_formula(self._parsed, [str(c) for c in self._request.table.columns])

        class _Formula(SimpleNamespace):
            def __str__(s):
                return s.text

            __repr__ = __str__

        return _Formula(text=text, ResponseName=self.ResponseName,
                        FixedEffectsTerms=list(self._design.term_labels),
                        GroupingVariableNames=[b.group_name for b in self._design.re_blocks])

    # ------------------------------------------------------------------ estimates
    @property
    def Dispersion(self) -> float:
        return float(self._result.dispersion)

    @property
    def DispersionEstimated(self) -> bool:
        return bool(self._result.dispersion_estimated)

    @property
    def LogLikelihood(self) -> float:
        """Log-likelihood: of the final pseudo-data LME (MPL: ML, REMPL: REML) or the Laplace one."""
        return float(self._result.loglik)

    @property
    def CoefficientCovariance(self) -> np.ndarray:
        """Covariance of the fixed effects conditional on the covariance parameters."""
        return self._result.cov_beta.copy()

    @property
    def NumCovarianceParameters(self) -> int:
        """Covariance parameters of the random terms, plus the dispersion when it is estimated."""
        return int(self._result.n_cov_params + (1 if self.DispersionEstimated else 0))

    @property
    def _num_parameters(self) -> int:
        """Parameter count of AIC/BIC and compare's DF: fixed effects + covariance parameters, plus
        the dispersion when it is estimated (MATLAB's rule for every FitMethod; docs/choices.md)."""
        return self.NumCoefficients + self.NumCovarianceParameters

    @cached_property
    def _coef_stats(self):
        se = np.sqrt(np.diag(self._result.cov_beta))
        return coefficient_stats(self._result.beta, se, self.DFE)

    @property
    def Coefficients(self) -> MatlabDataset:
        """Fixed-effects estimates: Name, Estimate, SE, tStat, DF, pValue, Lower, Upper."""
        s = self._coef_stats
        return MatlabDataset(
            {"Name": self.CoefficientNames, "Estimate": s.estimate, "SE": s.se, "tStat": s.tstat,
             "DF": s.df, "pValue": s.pvalue, "Lower": s.lower, "Upper": s.upper},
            text_columns=("Name",), style=self.display_style, width=self.display_width,
        )

    @property
    def ModelCriterion(self) -> OneRowDataset:
        """AIC, BIC, LogLikelihood and Deviance (= -2 LogLikelihood); one row, so that
        ``glme.ModelCriterion.AIC`` is a float, as MATLAB's one-row table variable is a scalar."""
        ll = self.LogLikelihood
        n_eff = self.NumObservations - (self.NumCoefficients if self._method == "REMPL" else 0)
        aic, bic = information_criteria(ll, self._num_parameters, n_eff)
        return OneRowDataset({"AIC": [aic], "BIC": [bic], "LogLikelihood": [ll], "Deviance": [-2 * ll]},
                             style=self.display_style, width=self.display_width)

    # ------------------------------------------------------------------ data bookkeeping
    @property
    def Variables(self) -> pd.DataFrame:
        return self._request.table.copy()

    @property
    def VariableNames(self) -> list[str]:
        return [str(c) for c in self._request.table.columns]

    @property
    def NumVariables(self) -> int:
        return len(self.VariableNames)

    @property
    def VariableInfo(self) -> pd.DataFrame:
        return self._design.variable_info.copy()

    @property
    def PredictorNames(self) -> list[str]:
        info = self._design.variable_info
        return [v for v in info.index if bool(info.loc[v, "InModel"]) and v != self.ResponseName]

    @property
    def NumPredictors(self) -> int:
        return len(self.PredictorNames)

    @property
    def ObservationNames(self) -> list[str]:
        idx = self._request.table.index
        if isinstance(idx, pd.RangeIndex):
            return []
        return [str(i) for i in idx]

    @property
    def ObservationInfo(self) -> pd.DataFrame:
        """One row per table row: Weights, Excluded, Missing, Subset, BinomSize."""
        d = self._design
        N = len(self._request.table)
        subset = np.zeros(N, dtype=bool)
        subset[d.rows] = True
        size = np.array(self._size, float) if self._size is not None else np.ones(N)
        return pd.DataFrame(
            {"Weights": np.array(self._weights, float), "Excluded": d.excluded.copy(), "Missing": d.missing.copy(),
             "Subset": subset, "BinomSize": size},
            index=self._request.table.index,
        )

    # ------------------------------------------------------------------ goodness of fit
    @cached_property
    def _ss(self):
        """MATLAB's sums of squares: weights w_eff / V(mu) at the conditional fitted values mu,
        SSR about the weighted mean of mu, SST = SSE + SSR (docs/matlab_source_notes.md item 10)."""
        y, mu = self._resp.y, self._result.mu
        weff = self._resp.pw / self._dist.variance(mu)
        fbar = float(np.einsum("i,i->", weff, mu) / weff.sum())
        return (float(np.einsum("i,i->", weff, (y - mu) ** 2)),
                float(np.einsum("i,i->", weff, (mu - fbar) ** 2)))

    @property
    def SSE(self) -> float:
        """sum w_eff (y - mu)^2 / V(mu): weighted squared conditional residuals."""
        return self._ss[0]

    @property
    def SSR(self) -> float:
        """sum w_eff (mu - mean_w(mu))^2 / V(mu): spread of the conditional fitted values."""
        return self._ss[1]

    @property
    def SST(self) -> float:
        """SSE + SSR."""
        return self._ss[0] + self._ss[1]

    @property
    def Rsquared(self) -> SimpleNamespace:
        """Ordinary = 1 - SSE/SST; Adjusted = 1 - (SSE/SST) (n - 1)/DFE."""
        sse, sst = self.SSE, self.SST
        n = self.NumObservations
        ordinary = 1 - sse / sst if sst > 0 else np.nan
        adjusted = 1 - (sse / self.DFE) / (sst / (n - 1)) if sst > 0 and self.DFE > 0 and n > 1 else np.nan
        return SimpleNamespace(Ordinary=ordinary, Adjusted=adjusted)

    # ------------------------------------------------------------------ covariance parameters
    def _covariance_rows(self):
        """Per random term: (group, nlevels, name1, name2, type, estimate)."""
        out = []
        for blk, pat, psi in zip(self._design.re_blocks, self._patterns, self._result.psi):
            rows = pat.report_rows()
            est = std_corr(psi, rows)
            out.append((blk.group_name, blk.nlevels, [blk.names[i] for i, _, _ in rows],
                        [blk.names[j] for _, j, _ in rows], [t for _, _, t in rows], est, pat))
        return out

    # ------------------------------------------------------------------ display
    def _display_data(self):
        from .display.model_display import CovarianceGroup, ErrorGroup, ModelDisplay

        s = self._coef_stats
        crit = self.ModelCriterion
        heading = "Generalized linear mixed-effects model fit by " + (
            "PL" if self._method in ("MPL", "REMPL") else "ML"
        )
        groups = [
            CovarianceGroup(name=g, nlevels=m, name1=n1, name2=n2, types=t, estimate=list(e))
            for g, m, n1, n2, t, e, _ in self._covariance_rows()
        ]
        return ModelDisplay(
            heading=heading,
            n_obs=self.NumObservations,
            n_fixed=self.NumCoefficients,
            n_random=int(self._layout.Q),
            n_cov=self.NumCovarianceParameters,
            info_text=[("Distribution", self._dist.display_name), ("Link", self._link.name),
                       ("FitMethod", self._method)],
            formula=str(self.Formula),
            aic=float(crit["AIC"].iloc[0]), bic=float(crit["BIC"].iloc[0]),
            loglik=self.LogLikelihood, deviance=-2 * self.LogLikelihood,
            coef_names=self.CoefficientNames, estimate=s.estimate, se=s.se, tstat=s.tstat, df=s.df,
            pvalue=s.pvalue, lower=s.lower, upper=s.upper,
            cov_groups=groups,
            error_group=ErrorGroup(name="sqrt(Dispersion)", estimate=float(np.sqrt(self.Dispersion))),
            cov_ci=False,
        )

    def disp(self, style: str | None = None, width: int | None = None) -> None:
        """Print MATLAB's display (``disp(glme)``)."""
        print(self._render(style, width))

    def display(self, name: str = "glme", style: str | None = None, width: int | None = None) -> str:
        """MATLAB's display as after typing the variable name (``glme = ...``); returns the text."""
        return self._render(style, width, name)

    def _render(self, style=None, width=None, name=None) -> str:
        from .display.model_display import render_model
        from .errors import FitglmeError

        width = self.display_width if width is None else width
        if width is not None and (isinstance(width, bool) or not isinstance(width, (int, np.integer))
                                  or width < 1):
            raise FitglmeError(
                f"display width must be a positive integer (characters per line, default 80) or None "
                f"(never wrap); got "
                f"{width!r}.",
                "fitglme:display:BadOption",
            )
        if name is not None and not isinstance(name, str):
            raise FitglmeError(
                f"display name must be a string (the variable name shown, e.g. 'glme'); got {name!r}.",
                "fitglme:display:BadOption",
            )
        return render_model(self._display_data(), style=style or self.display_style,
                            width=None if width is None else int(width), name=name)

    def __str__(self) -> str:
        return self._render()

    def __repr__(self) -> str:
        return self._render()

    def _repr_html_(self) -> str:
        """Notebook view: MATLAB's display, as ``print(glme)`` shows it, in a ``<pre>`` block."""
        import html

        return f'<pre class="fitglme-model">{html.escape(self._render())}</pre>'
