"""MATLAB data in and out: MAT-files with tables, and a model's results for MATLAB.

* :func:`loadmat` reads the variables of a MAT-file (v7 or v7.3); MATLAB **tables** come back
  as pandas DataFrames (categorical -> pandas Categorical in MATLAB's category order,
  string / cellstr -> Python ``str``, logical -> ``bool``, double -> float64).
* :func:`savemat` writes DataFrames back as MATLAB tables (and arrays, strings, dicts as the
  matching MATLAB types).
* :func:`results` / :func:`export_results` put a fitted model's numbers (Coefficients,
  ModelCriterion, covariance parameters, fitted values) in a .mat or JSON file, in one call,
  for loading into MATLAB next to MATLAB's own fit.

Reading and writing MAT-files uses the optional package ``mat-io`` (``python -m pip install
mat-io``, or ``python -m pip install ".[mat]"`` from the repository), imported only when a MAT-file is read or written; JSON needs nothing extra.
Data-set conversions follow MATLAB's ``readtable`` / ``table`` types (docs/migration.md).
"""
from __future__ import annotations

import json
import math
import os
import re
import warnings
from typing import Any

import numpy as np
import pandas as pd

from .errors import FitglmeError

__all__ = ["loadmat", "savemat", "results", "results_json", "export_results"]

#: What to run when mat-io is missing.
PIP_COMMAND = 'python -m pip install mat-io   (or, from the fitglme repository: python -m pip install ".[mat]")'

_VERSIONS = {"7": "v7", "v7": "v7", "-v7": "v7", "7.3": "v7.3", "v7.3": "v7.3", "-v7.3": "v7.3"}
_MATLAB_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")


# ---------------------------------------------------------------------------------------------
# the optional dependency
# ---------------------------------------------------------------------------------------------
def _matio():
    """Import mat-io lazily; a clear error naming the pip command when it is missing."""
    restore = None
    if int(pd.__version__.split(".")[0]) < 3:  # mat-io switches pandas' string inference on
        try:
            restore = pd.get_option("future.infer_string")
        except (KeyError, pd.errors.OptionError):  # pragma: no cover - very old pandas
            restore = None
    try:
        with warnings.catch_warnings():  # mat-io sets a pandas option that pandas 3 deprecates
            warnings.simplefilter("ignore")
            import matio  # noqa: PLC0415 - optional dependency, imported on first use
    except ImportError as exc:
        raise FitglmeError(
            "Reading and writing MAT-files needs the optional package mat-io, which is not "
            f"installed. Install it with:  {PIP_COMMAND}",
            "fitglme:NoMatio",
        ) from exc
    finally:
        if restore is not None:
            pd.set_option("future.infer_string", restore)
    return matio


def _check_path(path: Any, what: str) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise FitglmeError(f"{what}: the file name must be a string or path; got {type(path).__name__}.",
                           "fitglme:BadFileName")
    return os.fspath(path)


# ---------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------
def _char_to_str(v: Any) -> str:
    """A MATLAB char array (as numpy loads it) -> one Python string."""
    arr = np.asarray(v)
    if arr.size == 0:
        return ""
    if arr.ndim == 0 or arr.size == 1:
        return str(arr.reshape(-1)[0])
    return "\n".join(str(s) for s in arr.reshape(-1))


def _is_char(v: Any) -> bool:
    return isinstance(v, np.ndarray) and v.dtype.kind in "US"


def _text_cell(v: Any) -> Any:
    if isinstance(v, str):
        return v
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return v
    if _is_char(v) or (isinstance(v, np.ndarray) and v.size == 0):
        return _char_to_str(v)
    return v


def _table_from_mat(df: pd.DataFrame) -> pd.DataFrame:
    """Normalise a table as mat-io returns it: cellstr / string columns -> str values."""
    out = {}
    for name in df.columns:
        s = df[name]
        if isinstance(s.dtype, pd.CategoricalDtype):
            cats = s.cat.categories
            if not all(isinstance(c, str) for c in cats):
                s = s.cat.rename_categories([_text_cell(c) for c in cats])
            out[str(name)] = s
        elif s.dtype == object:
            vals = [_text_cell(v) for v in s.tolist()]
            if all(isinstance(v, str) or v is None or (isinstance(v, float) and math.isnan(v)) for v in vals):
                out[str(name)] = pd.Series(vals, index=df.index, dtype="str" if _HAS_STR_DTYPE else object)
            else:
                out[str(name)] = pd.Series(vals, index=df.index, dtype=object)
        elif pd.api.types.is_string_dtype(s.dtype):
            out[str(name)] = s
        else:
            out[str(name)] = s
    res = pd.DataFrame(out, index=df.index)
    res.attrs.update(df.attrs)
    return res


_HAS_STR_DTYPE = int(pd.__version__.split(".")[0]) >= 3


def _simplify(v: Any) -> Any:
    """scipy's ``simplify_cells`` + ``squeeze_me`` for what mat-io returns."""
    if isinstance(v, pd.DataFrame):
        return _table_from_mat(v)
    if isinstance(v, pd.Categorical):
        if v.ndim > 1 and 1 in v.shape:  # MATLAB categorical row/column vector
            codes = np.asarray(v.codes).reshape(-1)
            return pd.Categorical.from_codes(codes, categories=v.categories, ordered=v.ordered)
        return v
    if not isinstance(v, np.ndarray):
        return v
    if v.dtype.kind in "US":
        return _char_to_str(v)
    if v.dtype.names:  # struct array
        if v.size == 1:
            rec = v.reshape(-1)[0]
            return {name: _simplify(rec[name]) for name in v.dtype.names}
        return [{name: _simplify(rec[name]) for name in v.dtype.names} for rec in v.reshape(-1, order="F")]
    if v.dtype == object:  # cell array
        return [_simplify(c) for c in v.reshape(-1, order="F")]
    if v.dtype.kind == "T":  # MATLAB string array
        vals = [None if not isinstance(s, str) else str(s) for s in v.reshape(-1, order="F")]
        return vals[0] if len(vals) == 1 else vals
    if v.ndim == 2 and 1 in v.shape:
        flat = v.reshape(-1)
        return flat[0].item() if flat.size == 1 else flat
    return v


def loadmat(path: str | os.PathLike, variable_names: list[str] | None = None, *,
            simplify: bool = True) -> dict[str, Any]:
    """Read the variables of a MAT-file; MATLAB tables come back as pandas DataFrames.

    Parameters
    ----------
    path : str or path-like
        A MAT-file saved by MATLAB (``save``; v7 or v7.3) or by :func:`savemat`.
    variable_names : list of str, optional
        Read only these variables (default: all).
    simplify : bool, default True
        Also simplify the other variables as ``scipy.io.loadmat(..., simplify_cells=True,
        squeeze_me=True)`` would: char -> ``str``, 1x1 -> Python scalar, vectors -> 1-D
        arrays, cell arrays -> lists, scalar structs -> dicts.  ``False`` leaves every variable
        but the tables as mat-io returns it (2-D numpy arrays).

    Returns
    -------
    dict
        ``{variable name: value}``.  A table is a DataFrame whose columns are:
        categorical -> pandas Categorical (MATLAB's category order, ordinal -> ordered),
        cellstr / string / char -> Python ``str`` values (missing string -> NaN),
        logical -> ``bool``, double -> float64 (integer classes keep their dtype);
        ``RowNames`` become the index.

    Raises
    ------
    FitglmeError
        ``'fitglme:NoMatio'`` when the optional package mat-io is not installed (the message
        gives the pip command); ``'fitglme:BadFileName'``, ``'fitglme:MatReadError'``.

    Examples
    --------
    >>> import os, tempfile
    >>> from fitglme import load_example
    >>> from fitglme.io import loadmat, savemat
    >>> path = os.path.join(tempfile.mkdtemp(), "mfr.mat")
    >>> savemat(path, {"mfr": load_example()})
    >>> mfr = loadmat(path)["mfr"]
    >>> mfr["supplier"].cat.categories.tolist()
    ['A', 'B', 'C']
    """
    path = _check_path(path, "loadmat")
    if not os.path.exists(path):
        raise FitglmeError(f"loadmat: no such file {path!r}.", "fitglme:BadFileName")
    matio = _matio()
    try:
        raw = matio.load_from_mat(path, variable_names=variable_names)
    except Exception as exc:  # mat-io raises a variety of errors for damaged / foreign files
        raise FitglmeError(f"loadmat: could not read {path!r} as a MAT-file: {exc}",
                           "fitglme:MatReadError") from exc
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if name.startswith("__"):
            continue
        if isinstance(value, pd.DataFrame):
            out[name] = _table_from_mat(value)
        elif simplify:
            out[name] = _simplify(value)
        else:
            out[name] = value
    return out


# ---------------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------------
def _is_missing(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    return isinstance(v, float) and math.isnan(v)


def _table_to_mat(df: pd.DataFrame, text: str) -> pd.DataFrame:
    """Columns converted to what MATLAB's table holds (see :func:`savemat`)."""
    out = {}
    for name in df.columns:
        s = df[name]
        key = str(name)
        dt = s.dtype
        if isinstance(dt, pd.CategoricalDtype):
            cats = [str(c) for c in dt.categories]
            out[key] = pd.Series(pd.Categorical.from_codes(s.cat.codes.to_numpy(), categories=cats,
                                                           ordered=bool(dt.ordered)), index=df.index)
        elif pd.api.types.is_bool_dtype(dt):
            if s.isna().any():  # nullable boolean with missing values: MATLAB logical has none
                out[key] = s.astype("float64")
            else:
                out[key] = s.astype(bool)
        elif pd.api.types.is_numeric_dtype(dt):
            # MATLAB's numeric default (readtable, literals) is double.
            out[key] = pd.Series(s.to_numpy(dtype="float64", na_value=np.nan), index=df.index)
        elif pd.api.types.is_string_dtype(dt) or dt == object:
            vals = s.tolist()
            if not all(isinstance(v, str) or _is_missing(v) for v in vals):
                bad = next(v for v in vals if not (isinstance(v, str) or _is_missing(v)))
                raise FitglmeError(
                    f"savemat: table variable {key!r} mixes text with {type(bad).__name__} values "
                    f"({bad!r:.40}); a MATLAB table column holds one type.",
                    "fitglme:BadMatValue",
                )
            if text == "cellstr":
                out[key] = pd.Series(["" if _is_missing(v) else v for v in vals], index=df.index, dtype=object)
            else:
                out[key] = pd.Series(vals, index=df.index, dtype="string").astype("str" if _HAS_STR_DTYPE else "string")
        else:
            raise FitglmeError(
                f"savemat: table variable {key!r} has dtype {dt}, which has no MATLAB table equivalent here "
                "(use numbers, bool, text or categorical).",
                "fitglme:BadMatValue",
            )
    res = pd.DataFrame(out, index=df.index)
    if isinstance(df.index, pd.RangeIndex) and df.index.name is None:
        res.index = pd.RangeIndex(len(df))
    return res


def _to_mat_value(v: Any, text: str, where: str) -> Any:
    if isinstance(v, pd.DataFrame):
        return _table_to_mat(pd.DataFrame(v), text)
    if isinstance(v, pd.Series):
        col = _table_to_mat(v.to_frame(), text).iloc[:, 0]
        if isinstance(col.dtype, pd.CategoricalDtype):
            return col.array
        return col.to_numpy().reshape(-1, 1)
    if isinstance(v, pd.Categorical):
        return pd.Categorical.from_codes(v.codes, categories=[str(c) for c in v.categories], ordered=v.ordered)
    if isinstance(v, dict):
        for k in v:
            if not isinstance(k, str) or not _MATLAB_NAME.match(k):
                raise FitglmeError(f"savemat: struct field {k!r} in {where!r} is not a valid MATLAB name.",
                                   "fitglme:BadMatName")
        return {k: _to_mat_value(x, text, f"{where}.{k}") for k, x in v.items()}
    if isinstance(v, bool) or isinstance(v, np.bool_):
        return np.bool_(v)
    if isinstance(v, int):
        return float(v)  # MATLAB literals are double
    if v is None:
        return np.empty((0, 0))
    if isinstance(v, (list, tuple)):
        if v and all(isinstance(x, str) for x in v):
            arr = np.empty((len(v), 1), dtype=object)  # cellstr column
            for i, x in enumerate(v):
                arr[i, 0] = x
            return arr
        if all(isinstance(x, (int, float, np.number)) and not isinstance(x, bool) for x in v):
            return np.asarray(v, dtype=float).reshape(-1, 1)
        arr = np.empty((len(v), 1), dtype=object)  # cell array
        for i, x in enumerate(v):
            arr[i, 0] = _to_mat_value(x, text, f"{where}{{{i + 1}}}")
        return arr
    return v


def savemat(path: str | os.PathLike, mdict: dict[str, Any], *, version: str = "7",
            text: str = "cellstr", compress: bool = True) -> None:
    """Write variables to a MAT-file; DataFrames become MATLAB tables.

    Parameters
    ----------
    path : str or path-like
        File to write (conventionally ending in ``.mat``).
    mdict : dict
        ``{MATLAB variable name: value}``.  Values: a DataFrame (-> ``table``), a numpy array,
        a number, a string (-> char), a list of strings (-> cellstr column), a dict (-> struct),
        a pandas Categorical (-> categorical).
    version : {'7', '7.3'}, default '7'
        MAT-file version: ``'7'`` is MATLAB's default ``save`` format; ``'7.3'`` is HDF5-based
        (for variables over 2 GB).
    text : {'cellstr', 'string'}, default 'cellstr'
        How text columns of tables are written: cell arrays of char (what ``readtable`` gives and
        every MATLAB release reads) or MATLAB ``string`` arrays.
    compress : bool, default True
        Compress variables (v7 only).

    Notes
    -----
    Table columns: categorical -> ``categorical`` with the same category order (ordered ->
    ordinal); bool -> ``logical``; every other numeric dtype (including integers and nullable
    integers, missing -> NaN) -> ``double``, MATLAB's numeric default; text -> cellstr or string
    (missing text -> ``''`` in a cellstr).  A non-default index becomes the table's
    ``RowNames``.  Python ints are written as double.

    Raises
    ------
    FitglmeError
        ``'fitglme:NoMatio'`` (mat-io missing: the message gives the pip command),
        ``'fitglme:BadMatName'`` (a name MATLAB cannot use), ``'fitglme:BadMatValue'``,
        ``'fitglme:BadOption'``.

    Examples
    --------
    >>> import os, tempfile
    >>> import pandas as pd
    >>> from fitglme.io import loadmat, savemat
    >>> tbl = pd.DataFrame({"y": [1.0, 2.0], "g": pd.Categorical(["b", "a"], categories=["b", "a"])})
    >>> path = os.path.join(tempfile.mkdtemp(), "t.mat")
    >>> savemat(path, {"tbl": tbl, "note": "two rows"})
    >>> back = loadmat(path)
    >>> back["note"], back["tbl"]["g"].cat.categories.tolist()
    ('two rows', ['b', 'a'])
    """
    path = _check_path(path, "savemat")
    if not isinstance(mdict, dict):
        raise FitglmeError(f"savemat: the variables must be a dict {{name: value}}; got {type(mdict).__name__}.",
                           "fitglme:BadMatValue")
    ver = _VERSIONS.get(str(version).lower().lstrip())
    if ver is None:
        raise FitglmeError(f"savemat: version must be '7' or '7.3'; got {version!r}.", "fitglme:BadOption")
    if text not in ("cellstr", "string"):
        raise FitglmeError(f"savemat: text must be 'cellstr' or 'string'; got {text!r}.", "fitglme:BadOption")
    data = {}
    for name, value in mdict.items():
        if not isinstance(name, str) or not _MATLAB_NAME.match(name):
            raise FitglmeError(
                f"savemat: {name!r} is not a valid MATLAB variable name (a letter, then letters, "
                "digits or underscores, at most 63 characters).",
                "fitglme:BadMatName",
            )
        data[name] = _to_mat_value(value, text, name)
    matio = _matio()
    kwargs = {"do_compression": bool(compress)} if ver == "v7" else {}
    try:
        matio.save_to_mat(path, data, version=ver, **kwargs)
    except FitglmeError:
        raise
    except Exception as exc:
        raise FitglmeError(f"savemat: could not write {path!r}: {exc}", "fitglme:MatWriteError") from exc


# ---------------------------------------------------------------------------------------------
# a model's results
# ---------------------------------------------------------------------------------------------
def _version() -> str:
    from . import __version__

    return __version__


def _covariance_table(glme, ci: bool) -> pd.DataFrame:
    """One row per covariance parameter, then the error row (Group 'Error')."""
    rows: list[dict[str, Any]] = []
    if ci:
        _psi, mse, stats = glme.covarianceParameters()
        for (group, m, n1, n2, types, est, _pat), st in zip(glme._covariance_rows(), stats[:-1]):
            for i in range(len(types)):
                rows.append({"Group": group, "NumLevels": m, "Name1": n1[i], "Name2": n2[i], "Type": types[i],
                             "Estimate": float(est[i]), "Lower": float(st["Lower"].iloc[i]),
                             "Upper": float(st["Upper"].iloc[i])})
        err = stats[-1]
        rows.append({"Group": "Error", "NumLevels": float("nan"), "Name1": "sqrt(Dispersion)", "Name2": "",
                     "Type": "std", "Estimate": float(np.sqrt(mse)), "Lower": float(err["Lower"].iloc[0]),
                     "Upper": float(err["Upper"].iloc[0])})
    else:
        for group, m, n1, n2, types, est, _pat in glme._covariance_rows():
            for i in range(len(types)):
                rows.append({"Group": group, "NumLevels": m, "Name1": n1[i], "Name2": n2[i], "Type": types[i],
                             "Estimate": float(est[i])})
        rows.append({"Group": "Error", "NumLevels": float("nan"), "Name1": "sqrt(Dispersion)", "Name2": "",
                     "Type": "std", "Estimate": float(np.sqrt(glme.Dispersion))})
    df = pd.DataFrame(rows)
    df["NumLevels"] = df["NumLevels"].astype(float)
    return df


def results(glme, *, fitted: bool = True, covariance_ci: bool = False) -> dict[str, Any]:
    """A fitted model's numbers, as tables and plain values (what :func:`export_results` writes).

    Parameters
    ----------
    glme : GeneralizedLinearMixedModel
    fitted : bool, default True
        Include the fitted values (one row per row of the fitting table; NaN for rows not used).
    covariance_ci : bool, default False
        Add Lower/Upper of the covariance parameters (MATLAB's ``covarianceParameters``
        intervals; costs a numerical Hessian).

    Returns
    -------
    dict
        ``Info`` (dict: Formula, ResponseName, Distribution, Link, FitMethod, NumObservations,
        NumCoefficients, NumCovarianceParameters, Dispersion, DispersionEstimated, LogLikelihood,
        fitglme_version), ``ModelCriterion`` (AIC, BIC, LogLikelihood, Deviance),
        ``Coefficients`` (Name, Estimate, SE, tStat, DF, pValue, Lower, Upper),
        ``CovarianceParameters`` (Group, NumLevels, Name1, Name2, Type, Estimate[, Lower,
        Upper]; the last row is the error term ``sqrt(Dispersion)``), ``psi`` (list of the
        random-effects covariance matrices) and, with ``fitted``, ``Fitted`` (Conditional,
        Marginal).  Tables are plain pandas DataFrames.

    Examples
    --------
    >>> from fitglme import fitglme, load_example
    >>> from fitglme.io import results
    >>> glme = fitglme(load_example(), 'defects ~ 1 + newprocess + (1|factory)', Distribution='Poisson')
    >>> r = results(glme)
    >>> r["Coefficients"]["Name"].tolist(), r["Info"]["FitMethod"], r["Fitted"].shape
    (['(Intercept)', 'newprocess'], 'MPL', (100, 2))
    """
    crit = pd.DataFrame(glme.ModelCriterion)
    coef = pd.DataFrame(glme.Coefficients)
    info = {
        "Formula": str(glme.Formula),
        "ResponseName": glme.ResponseName,
        "Distribution": glme.Distribution,
        "Link": glme.Link.Name if isinstance(glme.Link.Name, str) else str(glme.Link.Name),
        "FitMethod": glme.FitMethod,
        "NumObservations": int(glme.NumObservations),
        "NumCoefficients": int(glme.NumCoefficients),
        "NumCovarianceParameters": int(glme.NumCovarianceParameters),
        "Dispersion": float(glme.Dispersion),
        "DispersionEstimated": bool(glme.DispersionEstimated),
        "LogLikelihood": float(glme.LogLikelihood),
        "fitglme_version": _version(),
    }
    out: dict[str, Any] = {
        "Info": info,
        "ModelCriterion": crit.reset_index(drop=True),
        "Coefficients": coef.reset_index(drop=True),
        "CovarianceParameters": _covariance_table(glme, covariance_ci),
        "psi": [np.array(P, dtype=float) for P in glme._result.psi],
    }
    if fitted:
        out["Fitted"] = pd.DataFrame({"Conditional": glme.fitted(), "Marginal": glme.fitted("Conditional", False)})
    return out


def _json_value(v: Any) -> Any:
    if isinstance(v, pd.DataFrame):
        return {str(c): _json_value(v[c].tolist()) for c in v.columns}
    if isinstance(v, dict):
        return {str(k): _json_value(x) for k, x in v.items()}
    if isinstance(v, np.ndarray):
        return _json_value(v.tolist())
    if isinstance(v, (list, tuple)):
        return [_json_value(x) for x in v]
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return f if math.isfinite(f) else None  # MATLAB's jsondecode reads null as NaN
    return v if v is None or isinstance(v, str) else str(v)


def results_json(glme, *, fitted: bool = True, covariance_ci: bool = False, indent: int | None = 1) -> str:
    """The numbers of :func:`results` as JSON text (NaN and Inf written as ``null``).

    Parameters
    ----------
    glme : GeneralizedLinearMixedModel
    fitted, covariance_ci : bool
        As in :func:`results`.
    indent : int or None, default 1
        JSON indentation (``None``: one line).

    Returns
    -------
    str
        JSON text; tables are objects of columns (MATLAB: ``struct2table(jsondecode(txt).Coefficients)``).

    Examples
    --------
    >>> import json
    >>> from fitglme import fitglme, load_example
    >>> from fitglme.io import results_json
    >>> glme = fitglme(load_example(), 'defects ~ 1 + newprocess + (1|factory)', Distribution='Poisson')
    >>> numbers = json.loads(results_json(glme, fitted=False))
    >>> numbers["Coefficients"]["Name"]
    ['(Intercept)', 'newprocess']
    """
    return json.dumps(_json_value(results(glme, fitted=fitted, covariance_ci=covariance_ci)),
                      indent=indent, allow_nan=False)


def export_results(glme, path: str | os.PathLike, *, fitted: bool = True, covariance_ci: bool = False,
                   format: str | None = None) -> str:
    """Write a fitted model's results to a .mat or JSON file, for loading into MATLAB.

    Parameters
    ----------
    glme : GeneralizedLinearMixedModel
    path : str or path-like
        Output file; ``.mat`` writes a MAT-file (needs mat-io), ``.json`` a JSON file.
    fitted, covariance_ci : bool
        As in :func:`results`.
    format : {'mat', 'json'}, optional
        Overrides the file extension.

    Returns
    -------
    str
        The path written.

    Notes
    -----
    In MATLAB, next to MATLAB's own fit ``glme``::

        S = load('fit.mat');                         % tables Coefficients, ModelCriterion, ...
        S.Coefficients.Estimate - glme.Coefficients.Estimate
        S = jsondecode(fileread('fit.json'));        % the same from JSON (structs of columns)
        struct2table(S.Coefficients)

    The MAT-file holds the variables ``Info`` (struct), ``ModelCriterion``, ``Coefficients``,
    ``CovarianceParameters``, ``Fitted`` (tables; text as cellstr) and ``psi`` (cell array).
    JSON holds the same keys; tables are objects of columns, NaN and Inf are ``null``.

    Examples
    --------
    >>> import json, os, tempfile
    >>> from fitglme import fitglme, load_example
    >>> from fitglme.io import export_results
    >>> glme = fitglme(load_example(), 'defects ~ 1 + newprocess + (1|factory)', Distribution='Poisson')
    >>> path = export_results(glme, os.path.join(tempfile.mkdtemp(), "fit.json"))
    >>> with open(path) as fh:
    ...     sorted(json.load(fh))
    ['Coefficients', 'CovarianceParameters', 'Fitted', 'Info', 'ModelCriterion', 'psi']
    """
    path = _check_path(path, "export_results")
    fmt = format
    if fmt is None:
        ext = os.path.splitext(path)[1].lower()
        fmt = {".mat": "mat", ".json": "json"}.get(ext)
        if fmt is None:
            raise FitglmeError(
                f"export_results: cannot tell the format from {path!r}; use a .mat or .json file name "
                "or format='mat' / 'json'.",
                "fitglme:BadExportFormat",
            )
    if fmt not in ("mat", "json"):
        raise FitglmeError(f"export_results: format must be 'mat' or 'json'; got {fmt!r}.",
                           "fitglme:BadExportFormat")
    if fmt == "json":
        text = results_json(glme, fitted=fitted, covariance_ci=covariance_ci)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
        return path
    res = results(glme, fitted=fitted, covariance_ci=covariance_ci)
    psi = np.empty((len(res["psi"]), 1), dtype=object)
    for i, P in enumerate(res["psi"]):
        psi[i, 0] = P
    res["psi"] = psi
    res["Info"] = {k: (float(v) if isinstance(v, int) and not isinstance(v, bool) else v)
                   for k, v in res["Info"].items()}
    savemat(path, res)
    return path
