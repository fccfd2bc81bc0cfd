"""``fitglme``: MATLAB's entry point, a thin layer over the Pythonic internals.

Flow (docs/internals.md): check the call (table, formula, name-value options) -> build the
problem and run the engine (:func:`fitglme.problem_builder.run_fit`) -> model
(:class:`fitglme.model.GeneralizedLinearMixedModel`).
"""
from __future__ import annotations

from typing import Any

from .design.variables import as_table
from .errors import FitglmeError
from .options import is_string, parse_name_value
from .problem_builder import CODINGS, FIT_METHODS, FitRequest
from .random_streams import resolve_rng

__all__ = ["fitglme", "OPTION_NAMES", "FIT_METHODS", "CODINGS", "FitRequest"]

#: Every name-value option of MATLAB's fitglme (its documentation page lists these 23).
OPTION_NAMES = (
    "BinomialSize", "CheckHessian", "CovarianceMethod", "CovariancePattern", "DispersionFlag",
    "Distribution", "DummyVarCoding", "EBMethod", "EBOptions", "Exclude", "FitMethod",
    "InitPLIterations", "Link", "MuStart", "Offset", "Optimizer", "OptimizerOptions",
    "PLIterations", "PLTolerance", "StartMethod", "UseSequentialFitting", "Verbose", "Weights",
)


def fitglme(tbl: Any, formula: str, *args: Any, seed: Any = None, **kwargs: Any):
    """Fit a generalized linear mixed-effects model (MATLAB's ``fitglme``).

    Parameters
    ----------
    tbl : pandas.DataFrame or dict of equal-length columns
        The data (MATLAB's table). Never modified.
    formula : str
        Wilkinson formula, e.g. ``'defects ~ 1 + newprocess + (1|factory)'``.
    *args
        MATLAB name-value pairs, positionally: ``'Distribution', 'Poisson', 'Link', 'log'``.
    **kwargs
        The same options as keywords (``Distribution='Poisson'``). Names are case-insensitive and
        unambiguous prefixes are accepted, as in MATLAB.
    seed : None, int, numpy.random.SeedSequence or numpy.random.Generator
        Python extra (keyword only): the stream of ``StartMethod='random'``; None draws from
        numpy's global state (``np.random.seed``, MATLAB's ``rng``).

    Returns
    -------
    GeneralizedLinearMixedModel

    Notes
    -----
    The 23 name-value options (MATLAB's; names case-insensitive, unambiguous prefixes accepted;
    string values likewise; the default is listed first):

    * ``BinomialSize``: positive integers: a vector of length N, a scalar, or a column name
      (default 1; Binomial only)
    * ``CheckHessian``: False, True (or 0/1): check the Hessian at the optimum
    * ``CovarianceMethod``: 'conditional', 'JointHessian'
    * ``CovariancePattern``: 'FullCholesky' (a term with one random effect: 'Isotropic'),
      'Full', 'Diagonal', 'Isotropic', 'CompSymm', or a q-by-q logical matrix; one value, or a
      list with one per random term
    * ``DispersionFlag``: False, True: estimate the dispersion of Binomial / Poisson (MPL,
      REMPL)
    * ``Distribution``: 'Normal', 'Binomial', 'Poisson', 'Gamma', 'InverseGaussian'
    * ``DummyVarCoding``: 'reference', 'effects', 'full'
    * ``EBMethod``: 'Default', 'LineSearchNewton', 'LineSearchModifiedNewton', 'TrustRegion2D',
      'fsolve'
    * ``EBOptions``: a dict like ``statset('eb')``: TolFun, TolX, MaxIter, Display
    * ``Exclude``: a boolean mask of length N, **0-based** row positions, or a pandas Index of
      row labels (docs/migration.md, per-row vectors)
    * ``FitMethod``: 'MPL', 'REMPL', 'Laplace', 'ApproximateLaplace'
    * ``InitPLIterations``: positive integer (10)
    * ``Link``: the canonical link, 'identity', 'log', 'logit', 'probit', 'comploglog',
      'loglog', 'reciprocal', a number P (power link; 0 is log), or a dict with Link,
      Derivative, Inverse (callables), SecondDerivative, Name
    * ``MuStart``: a scalar or a vector of length N inside the mean's domain
    * ``Offset``: a vector of length N, a scalar, or a column name (default 0)
    * ``Optimizer``: 'quasinewton', 'fminsearch', 'fminunc'
    * ``OptimizerOptions``: a dict like ``statset('fitglme')``: TolFun, TolX, MaxIter,
      MaxFunEvals, Display ('off', 'iter', 'final')
    * ``PLIterations``: positive integer (100)
    * ``PLTolerance``: positive real (1e-8)
    * ``StartMethod``: 'default', 'random'
    * ``UseSequentialFitting``: False, True
    * ``Verbose``: 0, 1, 2
    * ``Weights``: nonnegative values: a vector of length N, a scalar, or a column name (default
      1; positive integers for Binomial and Poisson)

    Per-row vectors: a numpy array or list is read by position, a pandas Series is aligned on
    the table's index (a label mismatch is an error). See docs/migration.md for each option
    next to its MATLAB form.

    Examples
    --------
    >>> from fitglme import fitglme, load_example
    >>> mfr = load_example()
    >>> glme = fitglme(mfr, 'defects ~ 1 + newprocess + time_dev + temp_dev + supplier + (1|factory)',
    ...                'Distribution', 'Poisson', 'Link', 'log', 'FitMethod', 'Laplace')
    >>> glme.NumObservations
    100
    """
    from .model import GeneralizedLinearMixedModel

    table = as_table(tbl)
    names = [str(c) for c in table.columns]
    if len(set(names)) != len(names):
        repeated = sorted({n for n in names if names.count(n) > 1})
        raise FitglmeError(
            f"tbl: variable names must be unique; repeated: {', '.join(repr(n) for n in repeated)}.",
            "fitglme:BadTable",
        )
    if not is_string(formula):
        raise FitglmeError(
            f"formula must be a string such as 'y ~ x + (1|g)'; got {type(formula).__name__} {formula!r:.60}.",
            "fitglme:BadFormula",
        )
    opts = parse_name_value(args, kwargs, OPTION_NAMES, "fitglme")
    if seed is not None:
        resolve_rng(seed, "fitglme")  # checked now; used only by StartMethod 'random'
    return GeneralizedLinearMixedModel.from_request(FitRequest(table, str(formula), opts, seed))
