"""Diagnostic and partial-dependence plots: ``plotResiduals``, ``partialDependence``,
``plotPartialDependence``.

matplotlib is an optional extra (``python -m pip install ".[plot]"`` from the repository); it is imported only when a plot
is drawn (``partialDependence`` itself needs no matplotlib).  Every plot goes into the axes given
(``ax=`` keyword, MATLAB's leading ``ax`` argument, or ``'Parent'``) or, as in MATLAB and pyplot,
into the current axes (new ones when pyplot has no open figure with axes), and the
function returns the list of artists it created (MATLAB's ``h``).  Axis texts live in
:data:`RESIDUAL_PLOT_TEXT` so they are easy to change.  See docs/plots.md.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ..design.variables import as_table, column, missing_mask, numeric_values
from ..errors import FitglmeError
from ..random_streams import resolve_rng
from ..options import as_bool, as_positive_int, is_string, match_name, match_string, parse_name_value
from ..outputs import with_outputs

__all__ = ["PlotMethods", "plotResiduals", "partialDependence", "plotPartialDependence"]

PLOT_TYPES = ("histogram", "caseorder", "fitted", "lagged", "probability", "observed", "symmetry")
RESIDUAL_TYPES = ("raw", "pearson")
CONDITIONAL_TYPES = ("none", "absolute", "centered")
GRID_POINTS = 100
_CHUNK_ROWS = 200_000  # rows of the stacked prediction table built at once

#: (xlabel, ylabel, title) per plot type; ``{r}`` is 'Residuals' or 'Pearson residuals', ``{r1}``
#: 'Residual' or 'Pearson residual'.
RESIDUAL_PLOT_TEXT = {
    "histogram": ("{r}", "Frequency", "Histogram of residuals"),
    "caseorder": ("Row number", "{r}", "Case order plot of residuals"),
    "fitted": ("Fitted values", "{r}", "Plot of residuals vs. fitted values"),
    "lagged": ("{r1}(t-1)", "{r1}(t)", "Plot of residuals vs. lagged residuals"),
    "probability": ("{r}", "Probability", "Normal probability plot of residuals"),
    "observed": ("Observed response", "Fitted response", "Fitted response vs. Observed response"),
    "symmetry": ("Lower tail", "Upper tail", "Symmetry plot of residuals around median"),
}
_PROB_TICKS = (0.001, 0.003, 0.01, 0.02, 0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95, 0.98, 0.99,
               0.997, 0.999)


class PartialDependence(NamedTuple):
    """Output of :func:`partialDependence` (MATLAB's ``[pd, x, y]``)."""

    pd: np.ndarray
    x: np.ndarray
    y: np.ndarray | None


# ---------------------------------------------------------------------------------------------
# shared helpers
# ---------------------------------------------------------------------------------------------
def _pyplot():
    """matplotlib.pyplot, or a FitglmeError saying how to install it."""
    try:
        import matplotlib.pyplot as plt
        from matplotlib.axes import Axes
    except ImportError:
        raise FitglmeError(
            'Plotting needs matplotlib, which is not installed; install it with '
            'python -m pip install matplotlib (or, from the fitglme repository, '
            'python -m pip install ".[plot]").',
            "fitglme:NoMatplotlib",
        ) from None
    return plt, Axes


def _is_axes(obj: Any) -> bool:
    mod = type(obj).__module__ or ""
    if not mod.startswith("matplotlib"):
        return False
    _, Axes = _pyplot()
    return isinstance(obj, Axes)


def _check_model(glme: Any, where: str) -> None:
    from ..model import GeneralizedLinearMixedModel

    if not isinstance(glme, GeneralizedLinearMixedModel):
        raise FitglmeError(
            f"{where}: the model argument must be a GeneralizedLinearMixedModel (from fitglme); "
            f"got a value of type {type(glme).__name__}.",
            "fitglme:BadModel",
        )


def current_axes_or_new():
    """The current axes if there is one, else new axes, as MATLAB's plots and pyplot do.

    "There is one" means: pyplot has an open figure (``plt.get_fignums()`` is not empty) and it
    holds axes (``fig.axes``), e.g. after ``plt.subplot(1, 2, 1)``; those are drawn into
    (``fig.gca()``, which creates nothing when the figure has axes). An open figure without axes
    (``plt.figure()``) gets one; with no open figure a new one is made. ``plt.gca()`` alone is not
    the test: it always creates axes. See docs/plots.md.
    """
    plt, _ = _pyplot()
    if not plt.get_fignums():
        return plt.figure().add_subplot()
    fig = plt.gcf()  # an open figure exists: gcf creates nothing
    return fig.gca() if fig.axes else fig.add_subplot()


def _target_axes(ax: Any, where: str):
    if ax is None:
        return current_axes_or_new()
    if not _is_axes(ax):
        raise FitglmeError(
            f"{where}: ax (or 'Parent') must be a matplotlib Axes; got a value of type "
            f"{type(ax).__name__}.",
            "fitglme:BadAxes",
        )
    return ax


def _split_style(args, kwargs, names, where):
    """Separate the options in ``names`` from matplotlib style properties (other string names).

    Returns ``(options, style)``; ``style`` has lower-cased names (MATLAB's 'Color', 'MarkerSize'
    map to matplotlib's 'color', 'markersize').
    """
    args = tuple(args)
    if len(args) % 2 or any(not is_string(a) for a in args[::2]):
        parse_name_value(args, {}, names, where)  # raises the standard message
    opt_args, style = [], {}
    for name, value in list(zip(args[::2], args[1::2])) + list(kwargs.items()):
        if match_name(str(name), names):
            opt_args += [name, value]
        else:
            style[str(name).lower()] = (str(name), value)
    return parse_name_value(opt_args, {}, names, where), style


def _check_style(style, proto, names, where) -> dict:
    """Check the style properties on a throw-away artist; returns {property: value}."""
    out = {}
    for key, (given, value) in style.items():
        try:
            proto.set(**{key: value})
        except AttributeError:
            try:
                parse_name_value((given, value), {}, names, where)
            except FitglmeError as err:
                raise FitglmeError(
                    f"{err} Other names must be properties of the plotted matplotlib "
                    f"{type(proto).__name__} (e.g. color, marker, markersize, linewidth).",
                    err.identifier,
                ) from None
        except Exception as exc:  # a bad property value
            raise FitglmeError(
                f"{where}: bad value {value!r} for the plot property '{given}': {exc}",
                "fitglme:BadPlotProperty",
            ) from None
        out[key] = value
    return out


# ---------------------------------------------------------------------------------------------
# residuals
# ---------------------------------------------------------------------------------------------
def _conditional_residuals(glme, rtype: str) -> np.ndarray:
    """Conditional residuals of the used rows: raw y - mu, or Pearson (y - mu) / sqrt(var)."""
    y = np.asarray(glme._resp.y, dtype=float)
    mu = np.asarray(glme._result.mu, dtype=float)
    r = y - mu
    if rtype == "pearson":
        var = glme._result.dispersion * np.asarray(glme._dist.variance(mu), float)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = r / np.sqrt(var / np.asarray(glme._resp.pw, float))
    return r


def _prctile(sorted_r: np.ndarray, p) -> np.ndarray:
    """MATLAB's prctile: sorted values sit at (i - 0.5)/n, linear interpolation, clamped."""
    n = sorted_r.size
    return np.interp(p, (np.arange(n) + 0.5) / n, sorted_r)


def plotResiduals(glme, plottype="histogram", *args, ax=None, **kw):
    """Plot the conditional residuals of the model (MATLAB's ``plotResiduals``).

    Parameters
    ----------
    glme : GeneralizedLinearMixedModel
        The fitted model.  MATLAB's order ``plotResiduals(ax, glme, plottype, ...)`` (a matplotlib
        Axes first) is accepted too.
    plottype : str, default 'histogram'
        Case-insensitive, unambiguous prefixes accepted: 'histogram', 'caseorder' (residuals against
        the 0-based table row of each observation), 'fitted' (against the conditional fitted values),
        'lagged' (r(t) against r(t-1)), 'probability' (normal probability plot with the line
        through the quartiles), 'observed' (fitted response against observed response, dotted
        y = x line), 'symmetry' (distances above the median against distances below it, dotted
        y = x line).
    *args, **kw
        Name-value options: ``ResidualType`` 'raw' (default) or 'pearson'.  Any other name is a
        property of the plotted markers / histogram bars (``'Color', 'r'``, ``markersize=4``).
    ax : matplotlib Axes, optional
        Axes to draw into; by default the current axes (after ``plt.subplot(1, 2, 1)``, say), or
        new axes when pyplot has no open figure with axes.

    Returns
    -------
    list of matplotlib artists
        The data artists first (the bars of a histogram, else the marker line), then the
        reference lines.

    Raises
    ------
    FitglmeError
        'fitglme:BadPlotType', 'fitglme:BadResidualType', 'fitglme:UnknownOption',
        'fitglme:NoMatplotlib', ...

    Examples
    --------
    >>> import matplotlib; matplotlib.use('Agg')
    >>> from fitglme import fitglme, load_example
    >>> glme = fitglme(load_example(), 'defects ~ 1 + newprocess + (1|factory)', Distribution='Poisson')
    >>> h = plotResiduals(glme, 'fitted', 'ResidualType', 'pearson')
    >>> h[0].axes.get_title()
    'Plot of residuals vs. fitted values'
    """
    if _is_axes(glme):  # MATLAB: plotResiduals(ax, glme, plottype, ...)
        if ax is not None:
            raise FitglmeError("plotResiduals: the axes are given twice (first argument and ax=).",
                               "fitglme:BadAxes")
        ax, glme = glme, plottype
        plottype, args = (args[0], args[1:]) if args else ("histogram", ())
    elif _is_axes(plottype):  # glme.plotResiduals(ax, plottype, ...)
        ax = plottype if ax is None else ax
        plottype, args = (args[0], args[1:]) if args else ("histogram", ())
    _check_model(glme, "plotResiduals")
    names = ["ResidualType"]
    if (is_string(plottype) and not match_name(str(plottype), PLOT_TYPES)
            and match_name(str(plottype), names) and len(args) % 2 == 1):
        plottype, args = "histogram", (plottype,) + tuple(args)  # plottype omitted
    ptype = match_string(plottype, PLOT_TYPES, "plottype", identifier="fitglme:BadPlotType")
    opts, style = _split_style(args, kw, names, "plotResiduals")
    rtype = match_string(opts.get("ResidualType", "raw"), RESIDUAL_TYPES, "ResidualType")
    plt, _ = _pyplot()
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    proto = Rectangle((0, 0), 1, 1) if ptype == "histogram" else Line2D([], [])
    style = _check_style(style, proto, names, "plotResiduals")
    ax = _target_axes(ax, "plotResiduals")

    r = _conditional_residuals(glme, rtype)
    mu = np.asarray(glme._result.mu, dtype=float)
    y = np.asarray(glme._resp.y, dtype=float)
    ok = np.isfinite(r)
    mark = dict(marker="x", linestyle="none", color="C0")
    ref = dict(color="k", linestyle=":", linewidth=1)
    if ptype == "histogram":
        try:
            bins = np.histogram_bin_edges(r[ok], bins="auto")
        except ValueError:  # a range numpy cannot split into 'auto' bins (tiny or overflowing)
            try:
                bins = np.histogram_bin_edges(r[ok], bins=10)
            except ValueError:
                raise FitglmeError(
                    f"plotResiduals: the residuals (from {np.min(r[ok]):.4g} to {np.max(r[ok]):.4g}) "
                    "cannot be split into histogram bins; the fit is probably degenerate.",
                    "fitglme:NumericalFailure",
                ) from None
        _, _, bars = ax.hist(r[ok], bins=bins, color="C0", edgecolor="k", linewidth=0.5)
        data, refs = list(bars), []
    elif ptype == "caseorder":
        data = ax.plot(np.asarray(glme._design.rows)[ok], r[ok], **mark)
        refs = [ax.axhline(0.0, **ref)]
    elif ptype == "fitted":
        data = ax.plot(mu[ok], r[ok], **mark)
        refs = [ax.axhline(0.0, **ref)]
    elif ptype == "lagged":
        rr = r[ok]
        data = ax.plot(rr[:-1], rr[1:], **mark)
        refs = [ax.axhline(0.0, **ref), ax.axvline(0.0, **ref)]
    elif ptype == "observed":
        data = ax.plot(y[ok], mu[ok], **mark)
        lo = min(np.nanmin(y), np.nanmin(mu))
        hi = max(np.nanmax(y), np.nanmax(mu))
        refs = ax.plot([lo, hi], [lo, hi], **ref)
    elif ptype == "symmetry":
        rs = np.sort(r[ok])
        med, half = np.median(rs), rs.size // 2
        lower, upper = med - rs[:half][::-1], rs[rs.size - half:] - med
        data = ax.plot(lower, upper, **mark)
        top = float(max(lower.max(initial=0.0), upper.max(initial=0.0)))
        refs = ax.plot([0.0, top], [0.0, top], **ref)
    else:  # probability
        data, refs = _normal_probability(ax, r[ok])
    for artist in data:
        artist.set(**style)
    word = "Pearson residual" if rtype == "pearson" else "Residual"
    xl, yl, title = (t.format(r=word + "s", r1=word) for t in RESIDUAL_PLOT_TEXT[ptype])
    ax.set_xlabel(xl)
    ax.set_ylabel(yl)
    ax.set_title(title)
    return list(data) + list(refs)


def _normal_probability(ax, r: np.ndarray):
    """MATLAB's normplot: '+' at the sorted data against the normal quantiles of (i - 0.5)/n, a
    solid line between the quartiles and its dash-dot extension to the data range."""
    from scipy.stats import norm

    rs = np.sort(r)
    n = rs.size
    z = norm.ppf((np.arange(1, n + 1) - 0.5) / n)
    data = ax.plot(rs, z, marker="+", linestyle="none", color="C0")
    refs = []
    if n >= 2:
        q1, q3 = _prctile(rs, [0.25, 0.75])
        z1, z3 = norm.ppf([0.25, 0.75])
        slope = (z3 - z1) / (q3 - q1) if q3 > q1 else np.inf
        if np.isfinite(slope):
            ends = np.array([rs[0], rs[-1]])
            refs += ax.plot(ends, z1 + slope * (ends - q1), color="r", linestyle="-.")
            refs += ax.plot([q1, q3], [z1, z3], color="r", linestyle="-")
        ticks = [p for p in _PROB_TICKS if z[0] - 1e-12 <= norm.ppf(p) <= z[-1] + 1e-12]
        ax.set_yticks(norm.ppf(ticks), [f"{p:g}" for p in ticks])
    return data, refs


# ---------------------------------------------------------------------------------------------
# partial dependence
# ---------------------------------------------------------------------------------------------
def _conditional_mu(glme, tbl: pd.DataFrame, offset: np.ndarray) -> np.ndarray:
    """g^-1(X beta + Z b + offset) for every row of ``tbl`` (unseen groups contribute 0)."""
    spec = glme._design.spec
    eta = spec.fixed_matrix(tbl) @ np.asarray(glme._result.beta, float) + offset
    for blk, bk in zip(spec.random_blocks(tbl), glme._layout.split(np.asarray(glme._result.b))):
        ok = blk.index >= 0
        eta[ok] += np.einsum("ij,ij->i", blk.Z[ok], bk[blk.index[ok]])
    return np.asarray(glme._link.inverse(eta), dtype=float)


def _resolve_vars(glme, vars, where: str) -> list[str]:
    names = glme.PredictorNames
    items = [vars] if is_string(vars) or isinstance(vars, (int, np.integer)) else vars
    try:
        items = list(items)
    except TypeError:
        items = None
    if not items or len(items) > 2:
        raise FitglmeError(
            f"{where}: Vars must be one or two predictor names or 0-based indices into "
            f"PredictorNames {names}; got {vars!r}.", "fitglme:BadVars")
    out = []
    for v in items:
        if is_string(v) and str(v) in names:
            out.append(str(v))
        elif isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) \
                and 0 <= int(v) < len(names):
            out.append(names[int(v)])
        else:
            raise FitglmeError(
                f"{where}: {v!r} in Vars is not a predictor of the model; give a name from "
                f"PredictorNames {names} or a 0-based index from 0 to {len(names) - 1}.",
                "fitglme:BadVars")
    if len(out) == 2 and out[0] == out[1]:
        raise FitglmeError(f"{where}: Vars names the predictor '{out[0]}' twice.", "fitglme:BadVars")
    return out


def _levels_of(glme, var: str):
    """The Levels of a categorical predictor or grouping variable; None if continuous."""
    spec = glme._design.spec
    if var in spec.predictor_levels:
        return spec.predictor_levels[var]
    for r in spec.random:
        if var in r.group.group_vars:
            return r.group.var_levels[r.group.group_vars.index(var)]
    return None  # pragma: no cover - every predictor is one of the above


class _Grid(NamedTuple):
    values: Any        # pd.Series (categorical) or float array: the values put into the table
    x: np.ndarray      # the query points returned to the user
    labels: list | None  # level labels (categorical) or None


def _default_grid(glme, var, lev, tbl) -> _Grid:
    if lev is None:
        v = numeric_values(column(tbl, var), var)
        v = v[np.isfinite(v)]
        if v.size == 0:
            raise FitglmeError(f"partialDependence: predictor '{var}' has no finite value in the "
                               "data.", "fitglme:BadData")
        g = np.linspace(v.min(), v.max(), GRID_POINTS)
        return _Grid(g, g.copy(), None)
    col = column(glme._request.table, var)
    codes, _ = lev.encode(col)
    first = np.array([np.flatnonzero(codes == k)[0] for k in range(lev.n)], dtype=np.int64)
    vals = col.iloc[first].reset_index(drop=True)
    return _Grid(vals, vals.to_numpy(dtype=object if vals.dtype.kind not in "biuf" else None),
                 list(lev.labels))


def _query_grid(var, lev, q) -> _Grid:
    if lev is None:
        try:
            g = np.asarray(q, dtype=float).reshape(-1)
        except (TypeError, ValueError):
            g = np.array([np.nan])
        if g.size == 0 or not np.all(np.isfinite(g)):
            raise FitglmeError(
                f"QueryPoints for the continuous predictor '{var}' must be a non-empty vector of "
                f"finite numbers; got {q!r}.", "fitglme:BadQueryPoints")
        return _Grid(g, g.copy(), None)
    vals = pd.Series(list(np.asarray(q, dtype=object).reshape(-1)), dtype=object)
    codes, unseen = lev.encode(vals)
    if vals.size == 0 or (codes < 0).any():
        raise FitglmeError(
            f"QueryPoints for the categorical predictor '{var}' must be levels of it "
            f"({', '.join(lev.labels)}); got {q!r}.", "fitglme:BadQueryPoints")
    return _Grid(vals, vals.to_numpy(), [lev.labels[c] for c in codes])


def _pd_work(glme, vars, data, opts, where, keep_ice=False, seed=None):
    """Everything partialDependence and its plot need: vars, grids, pd, ICE (optional), data."""
    names = _resolve_vars(glme, vars, where)
    spec = glme._design.spec
    if data is None:
        rows = np.asarray(glme._design.rows)
        tbl = glme._request.table.iloc[rows]
        offset = np.asarray(glme._offset, float)[rows]
    else:
        tbl = as_table(data)
        offset = np.zeros(len(tbl))
    needed = list(dict.fromkeys(spec.predictor_names))
    for v in needed:
        column(tbl, v)  # clear error if a model variable is absent
    keep = np.ones(len(tbl), dtype=bool)
    for v in needed:
        if v not in names:
            keep &= ~missing_mask(column(tbl, v))
    tbl = tbl.loc[:, needed].iloc[np.flatnonzero(keep)].reset_index(drop=True)
    offset = offset[keep]
    if len(tbl) == 0:
        raise FitglmeError(f"{where}: the data has no row without missing predictor values.",
                           "fitglme:BadData")
    levels = [_levels_of(glme, v) for v in names]
    q = opts.get("QueryPoints")
    if q is None:
        grids = [_default_grid(glme, v, lev, tbl) for v, lev in zip(names, levels)]
    else:
        if len(names) == 2:
            if isinstance(q, np.ndarray) and q.ndim == 2 and q.shape[1] == 2:
                q = [q[:, 0], q[:, 1]]
            if is_string(q) or not hasattr(q, "__len__") or len(q) != 2:
                raise FitglmeError(
                    "QueryPoints for two predictors must be a pair of vectors (list/tuple) or a "
                    f"two-column array; got {q!r}.", "fitglme:BadQueryPoints")
        else:
            q = [q]
        grids = [_query_grid(v, lev, qq) for v, lev, qq in zip(names, levels, q)]
    if "NumObservationsToSample" in opts:
        k = as_positive_int(opts["NumObservationsToSample"], "NumObservationsToSample")
        if k < len(tbl):
            pick = np.sort(resolve_rng(seed, where).choice(len(tbl), k, replace=False))
            tbl, offset = tbl.iloc[pick].reset_index(drop=True), offset[pick]
    if "UseParallel" in opts:
        as_bool(opts["UseParallel"], "UseParallel")  # accepted, computations are vectorised

    n = len(tbl)
    sizes = [len(g.x) for g in grids]
    G = int(np.prod(sizes))
    # grid point g <-> (ix, iy) with g = iy * nx + ix
    gidx = [np.arange(G) % sizes[0]] + ([np.arange(G) // sizes[0]] if len(sizes) == 2 else [])
    pd_flat = np.empty(G)
    ice = np.empty((G, n)) if keep_ice else None
    step = max(1, _CHUNK_ROWS // n)
    for g0 in range(0, G, step):
        g1 = min(G, g0 + step)
        big = tbl.iloc[np.tile(np.arange(n), g1 - g0)].reset_index(drop=True)
        for v, grid, gi in zip(names, grids, gidx):
            sel = np.repeat(gi[g0:g1], n)
            vals = grid.values
            big[v] = vals.iloc[sel].reset_index(drop=True) if isinstance(vals, pd.Series) else vals[sel]
        mu = _conditional_mu(glme, big, np.tile(offset, g1 - g0)).reshape(g1 - g0, n)
        pd_flat[g0:g1] = np.nanmean(mu, axis=1)
        if keep_ice:
            ice[g0:g1] = mu
    pdv = pd_flat if len(sizes) == 1 else pd_flat.reshape(sizes[1], sizes[0])
    return dict(names=names, grids=grids, pd=pdv, ice=ice, tbl=tbl, offset=offset)


_PD_OPTIONS = ["NumObservationsToSample", "QueryPoints", "UseParallel"]


def _data_and_args(data, args):
    if is_string(data):  # no Data: the first positional argument is an option name
        return None, (data,) + tuple(args)
    return data, tuple(args)


def partialDependence(glme, vars, data=None, *args, seed=None, **kw):
    """Partial dependence of the conditional predicted response on one or two predictors.

    For each query point the predictors in ``vars`` are set to it in every row of ``data`` and the
    conditional means mu = g^-1(X beta + Z b + offset) are averaged over the rows.

    Parameters
    ----------
    glme : GeneralizedLinearMixedModel
    vars : str, int or sequence of one or two of them
        Predictor names, or **0-based** indices into ``glme.PredictorNames`` (which includes the
        grouping variables).
    data : DataFrame, optional
        Rows to average over (needs every predictor of the model; the response is not needed).
        Default: the rows used in the fit, with the fit's offsets; new data get offset 0.  Rows
        with a missing value in a predictor not in ``vars`` are dropped.
    *args, **kw
        Name-value options: ``NumObservationsToSample`` (average over that many rows sampled
        without replacement; default all rows), ``QueryPoints`` (a vector, or a pair of vectors for two predictors; for a categorical
        predictor, some of its levels), ``UseParallel`` (accepted and ignored).
    seed : None, int, numpy.random.SeedSequence or numpy.random.Generator
        Python extra: the random stream of the sampling.  None (default): numpy's global state, so
        ``np.random.seed(1)`` reproduces the sample, as MATLAB's ``rng(1)`` does (the rule of every
        random draw, docs/migration.md).

    Returns
    -------
    numpy.ndarray
        The first output, which unpacks into all of them (``pd, x, y = ...``);
        they are also attributes (``.x``), and ``.outputs`` is the ``PartialDependence``
        NamedTuple (docs/migration.md, "One output or several").
        ``(pd, x, y)``: ``x`` the query points of the first predictor (100 points from min to
        max of the data for a continuous predictor, every level for a categorical one); for one
        predictor ``pd`` has shape ``(len(x),)`` and ``y`` is None; for two, ``pd`` has shape
        ``(len(y), len(x))`` (row i is ``y[i]``, as in MATLAB).

    Examples
    --------
    >>> from fitglme import fitglme, load_example
    >>> glme = fitglme(load_example(), 'defects ~ 1 + newprocess + (1|factory)', Distribution='Poisson')
    >>> res = partialDependence(glme, 'newprocess', QueryPoints=[0, 1])
    >>> res.pd.shape, res.y is None
    ((2,), True)
    """
    _check_model(glme, "partialDependence")
    data, args = _data_and_args(data, args)
    opts = parse_name_value(args, kw, _PD_OPTIONS, "partialDependence")
    w = _pd_work(glme, vars, data, opts, "partialDependence", seed=seed)
    g = w["grids"]
    record = PartialDependence(w["pd"], g[0].x, g[1].x if len(g) == 2 else None)
    return with_outputs(record, "partialDependence")


def plotPartialDependence(glme, vars, data=None, *args, ax=None, seed=None, **kw):
    """Partial dependence plot (PDP) and individual conditional expectation (ICE) plots.

    Parameters
    ----------
    glme, vars, data
        As in :func:`partialDependence`.
    *args, **kw
        The options of :func:`partialDependence`, plus ``Conditional``: 'none' (default, the PDP
        only), 'absolute' (one grey ICE line per observation, the PDP in red, and the observations
        at their own predictor values as circles) or 'centered' (the same, each line shifted to
        start at 0); one predictor only.  ``Parent``: the axes (same as ``ax``).
    seed : None, int, numpy.random.SeedSequence or numpy.random.Generator
        The random stream of ``NumObservationsToSample`` (as in :func:`partialDependence`).
    ax : matplotlib Axes, optional
        Axes to draw into; by default the current axes, or new axes when pyplot has no open
        figure with axes (as for :func:`plotResiduals`).

    Returns
    -------
    list of matplotlib artists
        One predictor: the PDP line (plus the ICE lines and the observation markers).  Two
        predictors: the filled contour set (or a colour mesh when a predictor is categorical);
        a colour bar labelled with the response name is added.

    Examples
    --------
    >>> import matplotlib; matplotlib.use('Agg')
    >>> from fitglme import fitglme, load_example
    >>> glme = fitglme(load_example(), 'defects ~ 1 + time_dev + (1|factory)', Distribution='Poisson')
    >>> h = plotPartialDependence(glme, 'time_dev', Conditional='absolute')
    >>> h[0].axes.get_title()
    'Individual Conditional Expectation Plot'
    """
    _check_model(glme, "plotPartialDependence")
    data, args = _data_and_args(data, args)
    opts = parse_name_value(args, kw, _PD_OPTIONS + ["Conditional", "Parent"],
                            "plotPartialDependence")
    cond = match_string(opts.pop("Conditional", "none"), CONDITIONAL_TYPES, "Conditional")
    parent = opts.pop("Parent", None)
    if parent is not None and ax is not None:
        raise FitglmeError("plotPartialDependence: give the axes once (ax= or 'Parent').",
                           "fitglme:BadAxes")
    nvars = len(_resolve_vars(glme, vars, "plotPartialDependence"))
    if nvars == 2 and cond != "none":
        raise FitglmeError(
            f"plotPartialDependence: Conditional must be 'none' for two predictors; got '{cond}'.",
            "fitglme:BadConditional")
    _pyplot()
    ax = _target_axes(ax if ax is not None else parent, "plotPartialDependence")
    w = _pd_work(glme, vars, data, opts, "plotPartialDependence", keep_ice=cond != "none", seed=seed)
    names, grids, pdv = w["names"], w["grids"], w["pd"]
    pos = [np.arange(len(g.x), dtype=float) if g.labels is not None else g.x for g in grids]
    for g, p, setter in zip(grids, pos, (ax.set_xticks, ax.set_yticks)):
        if g.labels is not None:
            setter(p, g.labels, rotation=90 if setter == ax.set_xticks and len(p) > 8 else 0)
    if nvars == 2:
        return _draw_2d(ax, glme, names, grids, pos, pdv)
    x = pos[0]
    cat = grids[0].labels is not None
    artists = []
    if cond == "none":
        artists += ax.plot(x, pdv, color="C0", linewidth=1.5, marker="o" if cat else None)
        ax.set_title("Partial Dependence Plot")
    else:
        ice = w["ice"].T  # (n, G)
        obs_mu = _conditional_mu(glme, w["tbl"], w["offset"])
        obs_x = _positions(w["tbl"], names[0], grids[0])
        if cond == "centered":
            obs_mu = obs_mu - ice[:, 0]
            ice = ice - ice[:, :1]
            pdv = pdv - pdv[0]
        artists += ax.plot(x, pdv, color="r", linewidth=2, marker="o" if cat else None, zorder=3)
        artists += ax.plot(x, ice.T, color="0.7", linewidth=0.5, zorder=1)
        artists += ax.plot(obs_x, obs_mu, marker="o", linestyle="none", color="k",
                           markersize=3, zorder=2)
        ax.set_title("Individual Conditional Expectation Plot")
    ax.set_xlabel(names[0])
    ax.set_ylabel(glme.ResponseName)
    return artists


def _positions(tbl, var, grid) -> np.ndarray:
    """Plot x position of each data row's own value of ``var`` (level number if categorical)."""
    if grid.labels is None:
        return numeric_values(column(tbl, var), var)
    lab = {lab: i for i, lab in enumerate(grid.labels)}
    from ..design.variables import format_level

    return np.array([lab.get(format_level(v), np.nan) for v in column(tbl, var)], dtype=float)


def _draw_2d(ax, glme, names, grids, pos, pdv):
    if any(g.labels is not None for g in grids) or min(len(p) for p in pos) < 2:
        art = ax.pcolormesh(pos[0], pos[1], pdv, shading="nearest")
    else:
        art = ax.contourf(pos[0], pos[1], pdv, levels=20)
    ax.figure.colorbar(art, ax=ax, label=glme.ResponseName)
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    ax.set_title("Partial Dependence Plot")
    return [art]


class PlotMethods:
    """Mixin of :class:`~fitglme.model.GeneralizedLinearMixedModel`: residual plots and partial dependence.

    The methods are this module's functions, so ``glme.plotResiduals(...)`` and
    ``plotResiduals(glme, ...)`` are the same call.
    """

    plotResiduals = plotResiduals
    partialDependence = partialDependence
    plotPartialDependence = plotPartialDependence
