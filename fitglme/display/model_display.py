"""The display of a fitted mixed-effects model (``disp(glme)`` and ``glme`` without semicolon).

Layout (``format loose``; see ``docs/display.md`` for the evidence)::

    <heading>
    <blank>
    Model information:
        Number of observations             100        <- '    %-27s%11d', 42 characters
        ...
        Distribution                    Poisson       <- GLME text rows: values from column 36,
        Link                            Log           <- line padded to 42 characters
    <blank>
    Formula:
        <formula>
    <blank>
    Model fit statistics:
        <one-row table>
    <blank>                                            <- blank after each table ('loose' only)
    Fixed effects coefficients (95% CIs):
        <table>
    <blank>
    Random effects covariance parameters[ (95% CIs)]:
    Group: <name> (<k> Levels)
        <table>
    <blank>
    Group: Error
        <table>

Blank lines after the heading, after the model information and after the formula are always
printed; the blank line after each table belongs to the table display and disappears in
``compact`` spacing (Live Script output).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from fitglme.display.dataset import INDENT, Column, render_named, table_lines
from fitglme.display.numfmt import format_pct
from fitglme.errors import FitglmeError

__all__ = [
    "CovarianceGroup",
    "ErrorGroup",
    "ModelDisplay",
    "render_model",
    "model_information_lines",
]

_COUNT_LABEL_WIDTH = 27   # len('Random effects coefficients')
_COUNT_VALUE_WIDTH = 11   # count rows are exactly 4 + 27 + 11 = 42 characters
_TEXT_VALUE_COLUMN = 36   # GLME text rows: 'Poisson' / 'Log   ' / 'Laplace' start at column 36


@dataclass
class CovarianceGroup:
    """Covariance parameters of one grouping variable (one ``Group:`` block).

    Attributes
    ----------
    name : str
        Grouping variable name as displayed (``'factory'``, ``'Patient:Session'``).
    nlevels : int
        Number of levels, shown as ``(<nlevels> Levels)``.
    name1, name2 : list of str
        Row and column names of each parameter.
    types : list of str
        ``'std'`` or ``'corr'`` per parameter.
    estimate : list of float
        Estimates.
    lower, upper : list of float, optional
        Confidence limits; required when the model display shows covariance CIs.
    """

    name: str
    nlevels: int
    name1: list[str]
    name2: list[str]
    types: list[str]
    estimate: list[float]
    lower: list[float] | None = None
    upper: list[float] | None = None


@dataclass
class ErrorGroup:
    """The ``Group: Error`` block.

    Attributes
    ----------
    name : str
        ``'sqrt(Dispersion)'`` (GLME) or ``'Res Std'`` (LME).
    estimate : float
        Estimate.
    lower, upper : float, optional
        Confidence limits; required when the model display shows covariance CIs.
    """

    name: str
    estimate: float
    lower: float | None = None
    upper: float | None = None


@dataclass
class ModelDisplay:
    """Everything the model display prints, already computed.

    Attributes
    ----------
    heading : str
        E.g. ``'Generalized linear mixed-effects model fit by ML'``.
    n_obs, n_fixed, n_random, n_cov : int
        Number of observations, fixed-effects coefficients, random-effects coefficients,
        covariance parameters.
    info_text : list of (str, str)
        GLME-only text rows of "Model information", in order, e.g.
        ``[('Distribution', 'Poisson'), ('Link', 'Log'), ('FitMethod', 'Laplace')]``;
        ``[]`` for an LME.
    formula : str
        The formula as displayed.
    aic, bic, loglik, deviance : float
        Model fit statistics.
    coef_names : list of str
        Fixed-effects coefficient names.
    estimate, se, tstat, df, pvalue, lower, upper : Sequence of float
        Fixed-effects table columns, one value per coefficient.
    cov_groups : list of CovarianceGroup
        One per grouping variable, in display order.
    error_group : ErrorGroup
        The error (residual / dispersion) row.
    cov_ci : bool
        ``True``: section ``Random effects covariance parameters (95% CIs):`` with
        ``Lower``/``Upper`` columns; ``False``: ``Random effects covariance parameters:``
        with the ``Estimate`` column only.
    ci_level : float, default 0.95
        Confidence level shown in the section titles.
    """

    heading: str
    n_obs: int
    n_fixed: int
    n_random: int
    n_cov: int
    info_text: list[tuple[str, str]]
    formula: str
    aic: float
    bic: float
    loglik: float
    deviance: float
    coef_names: list[str]
    estimate: Sequence[float]
    se: Sequence[float]
    tstat: Sequence[float]
    df: Sequence[float]
    pvalue: Sequence[float]
    lower: Sequence[float]
    upper: Sequence[float]
    cov_groups: list[CovarianceGroup]
    error_group: ErrorGroup
    cov_ci: bool
    ci_level: float = 0.95


def _bad(message: str) -> FitglmeError:
    return FitglmeError(message, "fitglme:display:BadModelDisplay")


def model_information_lines(d: ModelDisplay) -> list[str]:
    """The lines under ``Model information:`` (without that title).

    Count rows are ``'    %-27s%11d'`` (42 characters).  GLME text rows put their value at
    column 36, left-aligned, and are padded with trailing spaces to 42 characters like the
    count rows (``'    Link                            Log   '``; longer values run past 42).

    Examples
    --------
    >>> d = ModelDisplay('h', 100, 6, 20, 1, [('Link', 'Log'), ('FitMethod', 'Laplace')], 'f',
    ...                  0, 0, 0, 0, [], [], [], [], [], [], [], [], [], ErrorGroup('Res Std', 1), False)
    >>> model_information_lines(d)[-2:]
    ['    Link                            Log   ', '    FitMethod                       Laplace']
    """
    counts = [
        ("Number of observations", d.n_obs),
        ("Fixed effects coefficients", d.n_fixed),
        ("Random effects coefficients", d.n_random),
        ("Covariance parameters", d.n_cov),
    ]
    lines = [f"{INDENT}{label:<{_COUNT_LABEL_WIDTH}}{int(value):>{_COUNT_VALUE_WIDTH}d}"
             for label, value in counts]
    line_width = len(INDENT) + _COUNT_LABEL_WIDTH + _COUNT_VALUE_WIDTH
    label_width = _TEXT_VALUE_COLUMN - len(INDENT)
    lines += [f"{INDENT}{label:<{label_width}}{value}".ljust(line_width)
              for label, value in d.info_text]
    return lines


def _check_lengths(d: ModelDisplay) -> None:
    p = len(d.coef_names)
    for attr in ("estimate", "se", "tstat", "df", "pvalue", "lower", "upper"):
        if len(getattr(d, attr)) != p:
            raise _bad(f"ModelDisplay.{attr} has {len(getattr(d, attr))} values; "
                       f"expected one per coefficient name ({p}).")
    if d.cov_ci:
        for g in d.cov_groups:
            if g.lower is None or g.upper is None:
                raise _bad(f"cov_ci=True but covariance group {g.name!r} has no lower/upper limits.")
        if d.error_group.lower is None or d.error_group.upper is None:
            raise _bad("cov_ci=True but the error group has no lower/upper limits.")


def _fixed_effects_columns(d: ModelDisplay) -> list[Column]:
    return [
        Column("Name", list(d.coef_names), "text"),
        Column("Estimate", list(d.estimate)),
        Column("SE", list(d.se)),
        Column("tStat", list(d.tstat)),
        Column("DF", list(d.df)),
        Column("pValue", list(d.pvalue)),
        Column("Lower", list(d.lower)),
        Column("Upper", list(d.upper)),
    ]


def _covariance_columns(g: CovarianceGroup, ci: bool) -> list[Column]:
    cols = [
        Column("Name1", list(g.name1), "text"),
        Column("Name2", list(g.name2), "text"),
        Column("Type", list(g.types), "text"),
        Column("Estimate", list(g.estimate)),
    ]
    if ci:
        cols += [Column("Lower", list(g.lower or [])), Column("Upper", list(g.upper or []))]
    return cols


def _error_columns(e: ErrorGroup, ci: bool) -> list[Column]:
    cols = [Column("Name", [e.name], "text"), Column("Estimate", [e.estimate])]
    if ci:
        cols += [Column("Lower", [e.lower]), Column("Upper", [e.upper])]
    return cols


def render_model(
    d: ModelDisplay,
    style: str = "quoted",
    width: int | None = 80,
    name: str | None = None,
    *,
    spacing: str = "loose",
    precision: int = 5,
) -> str:
    """Render a mixed-effects model display exactly as MATLAB prints it.

    Parameters
    ----------
    d : ModelDisplay
        The numbers and names to show.
    style : {'quoted', 'braces'}, default 'quoted'
        Text cells ``'(Intercept)'`` (older, dataset-era releases) or ``{'(Intercept)'}``
        (newer releases).
    width : int or None, default 80
        Command-window width used to wrap wide tables (``None``: never wrap).
    name : str, optional
        ``None``: what ``disp(glme)`` prints, starting at the heading.  A variable name: what
        typing the name prints, i.e. ``'<name> = '`` first (followed by two blank lines in the
        quoted style, by the heading directly in the braces style or compact spacing).
    spacing : {'loose', 'compact'}, keyword-only, default 'loose'
        ``'compact'`` drops the blank line after each table and uses one blank line between
        wrapped blocks (MATLAB ``format compact`` and Live Script text output).
    precision : int, keyword-only, default 5
        Significant digits of table numbers (15 reproduces ``format long g``).

    Returns
    -------
    str
        The display, lines joined by ``'\\n'``, no trailing newline.
    """
    _check_lengths(d)
    tbl = dict(style=style, width=width, spacing=spacing, precision=precision)
    after_table = [""] if spacing == "loose" else []
    pct = format_pct(d.ci_level)

    lines: list[str] = [d.heading, "", "Model information:"]
    lines += model_information_lines(d)
    lines += ["", "Formula:", INDENT + d.formula, "", "Model fit statistics:"]
    fit = [Column("AIC", [d.aic]), Column("BIC", [d.bic]),
           Column("LogLikelihood", [d.loglik]), Column("Deviance", [d.deviance])]
    lines += table_lines(fit, **tbl) + after_table
    lines += [f"Fixed effects coefficients ({pct}% CIs):"]
    lines += table_lines(_fixed_effects_columns(d), **tbl) + after_table
    if d.cov_ci:
        lines += [f"Random effects covariance parameters ({pct}% CIs):"]
    else:
        lines += ["Random effects covariance parameters:"]
    for g in d.cov_groups:
        lines += [f"Group: {g.name} ({int(g.nlevels)} Levels)"]
        lines += table_lines(_covariance_columns(g, d.cov_ci), **tbl) + after_table
    lines += ["Group: Error"]
    lines += table_lines(_error_columns(d.error_group, d.cov_ci), **tbl)
    body = "\n".join(lines)
    if name is None:
        return body
    return render_named(name, body, style=style, spacing=spacing)
