"""The command line: ``python -m fitglme [fit | validate | example] ...``.

``python -m fitglme`` alone fits the bundled example and prints MATLAB's display.

``python -m fitglme fit DATA --formula "y ~ x + (1|g)" --Distribution Poisson ...`` fits a model
and prints MATLAB's display (``--json``: the numbers; ``--export FILE``: a .mat / .json file).

``python -m fitglme validate OUTPUT.txt --data DATA [--formula ...] [--Name Value ...]`` reads
a MATLAB display pasted into OUTPUT.txt, fits the same model here and prints every number side by
side; the exit status is 1 when any number differs beyond MATLAB's printed precision.

Any ``--Name Value`` (or ``--Name=Value``) that is not one of the options listed by ``--help``
is a fitglme name-value option, passed through as in MATLAB (names case-insensitive, unambiguous
prefixes accepted).  Values: ``true``/``false`` -> bool, numbers -> numbers, ``a,b`` or
``"[1 2 3]"`` -> a list; anything else is a string (a column name works for Weights, Offset and
BinomialSize).  Exclude positions are 0-based, as everywhere in fitglme.

DATA is a delimited text file as MATLAB's ``writetable`` writes it (``,``, ``;`` or tab, detected;
a column with quoted cells or non-numbers is text, and text columns are categorical in order of
first appearance, as MATLAB's string and cellstr columns; ``--categorical a,b`` makes more columns
categorical with sorted categories, like MATLAB's ``categorical``), an Excel workbook (``.xlsx``,
needs openpyxl; ``--table SHEET`` picks a sheet) or a MAT-file holding a table (``--table NAME``
when it holds several; needs mat-io).

Exit status: 0 success, 1 validation failed, 2 bad input (the message names the problem).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import textwrap
import warnings
from typing import Any, Sequence

import pandas as pd

from .errors import FitglmeError

__all__ = ["main", "load_data", "parse_value", "split_name_value"]

EXAMPLE_FORMULA = "defects ~ 1 + newprocess + time_dev + temp_dev + supplier + (1|factory)"

_INT = re.compile(r"^[-+]?\d+$")
_FLOAT = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$|^[-+]?(?:inf|nan)$", re.IGNORECASE)

#: The command line's own options per subcommand: name -> takes a value.
_OWN = {
    "fit": {"formula": True, "data": True, "categorical": True, "table": True, "json": False, "export": True,
            "fitted": False, "covariance-ci": False, "style": True, "width": True, "name": True, "help": False},
    "validate": {"formula": True, "data": True, "categorical": True, "table": True, "json": False,
                 "tolerance": True, "precision": True, "rtol": True, "failures": False, "show": False,
                 "help": False},
    "example": {"style": True, "width": True, "help": False},
}


# ---------------------------------------------------------------------------------------------
# name-value options
# ---------------------------------------------------------------------------------------------
def parse_value(text: str) -> Any:
    """Turn a command-line value into what fitglme expects.

    Examples
    --------
    >>> parse_value('true'), parse_value('3'), parse_value('1e-6'), parse_value('Poisson')
    (True, 3, 1e-06, 'Poisson')
    >>> parse_value('0,4,7'), parse_value('[1 2 3]'), parse_value('Diagonal,Isotropic')
    ([0, 4, 7], [1, 2, 3], ['Diagonal', 'Isotropic'])
    """
    s = text.strip()
    if s.lower() in ("true", "false"):
        return s.lower() == "true"
    if _INT.match(s):
        return int(s)
    if _FLOAT.match(s):
        return float(s)
    if s.startswith("[") and s.endswith("]"):
        inner = [t for t in re.split(r"[\s,;]+", s[1:-1].strip()) if t]
        return [parse_value(t) for t in inner]
    if "," in s and "(" not in s and "~" not in s:
        return [parse_value(t) for t in s.split(",")]
    return s


def split_name_value(argv: Sequence[str], own: dict[str, bool]) -> tuple[list[str], list[Any]]:
    """Separate the command line's own options from fitglme's ``--Name Value`` pairs.

    Returns ``(own arguments for argparse, [Name1, Value1, Name2, Value2, ...])``.

    Examples
    --------
    >>> split_name_value(['d.csv', '--formula', 'y ~ x', '--Distribution', 'Poisson', '--Offset=-1'],
    ...                  {'formula': True})
    (['d.csv', '--formula', 'y ~ x'], ['Distribution', 'Poisson', 'Offset', -1])
    """
    rest: list[str] = []
    pairs: list[Any] = []
    i = 0
    argv = list(argv)
    while i < len(argv):
        a = argv[i]
        if a == "--":
            rest.extend(argv[i:])
            break
        if a.startswith("--") and len(a) > 2:
            name, eq, val = a[2:].partition("=")
            if name in own:
                rest.append(a)
                if own[name] and not eq and i + 1 < len(argv):
                    rest.append(argv[i + 1])
                    i += 1
            else:
                if not eq:
                    if i + 1 >= len(argv):
                        raise FitglmeError(f"option --{name} has no value; fitglme options come as --Name Value.",
                                           "fitglme:cli:BadNameValue")
                    val = argv[i + 1]
                    i += 1
                pairs += [name, parse_value(val)]
        else:
            rest.append(a)
        i += 1
    return rest, pairs


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------
def _categorical(s: pd.Series) -> pd.Series:
    if isinstance(s.dtype, pd.CategoricalDtype):
        return s
    values = s.dropna().unique().tolist()
    try:
        cats = sorted(values)
    except TypeError:
        cats = sorted(values, key=str)
    return pd.Series(pd.Categorical(s, categories=cats), index=s.index, name=s.name)


def load_data(path: str, categorical: Sequence[str] = (), table: str | None = None) -> pd.DataFrame:
    """Read the data of a command: a CSV file or a table in a MAT-file.

    Parameters
    ----------
    path : str
        ``.mat``, an Excel workbook (``.xlsx``) or a delimited text file (any other extension;
        :func:`fitglme.readtable.read_table`).
    categorical : sequence of str
        Columns to make categorical (sorted categories, as MATLAB's ``categorical``).
    table : str, optional
        The table variable of a MAT-file that holds several, or the sheet of a workbook.

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> from importlib import resources
    >>> path = str(resources.files('fitglme').joinpath('data/mfr_sim.csv'))
    >>> tbl = load_data(path, categorical=['factory'])
    >>> tbl['factory'].dtype.name, str(tbl['supplier'].dtype) in ('str', 'object')
    ('category', True)
    """
    if not os.path.isfile(path):
        raise FitglmeError(f"data file {path!r} not found.", "fitglme:cli:BadData")
    if path.lower().endswith(".mat"):
        from .io import loadmat

        variables = loadmat(path)
        tables = {k: v for k, v in variables.items() if isinstance(v, pd.DataFrame)}
        if table is not None:
            if table not in tables:
                raise FitglmeError(
                    f"--table {table}: {path!r} has no table variable {table!r}; its tables: "
                    f"{', '.join(tables) or '(none)'}.", "fitglme:cli:BadData")
            df = tables[table]
        elif len(tables) == 1:
            df = next(iter(tables.values()))
        else:
            raise FitglmeError(
                f"{path!r} holds {len(tables)} tables ({', '.join(tables) or 'none'}); choose one with --table NAME.",
                "fitglme:cli:BadData")
    else:
        from .readtable import read_table

        is_excel = path.lower().endswith((".xlsx", ".xlsm", ".xls"))
        if table is not None and not is_excel:
            raise FitglmeError("--table applies to MAT-files (table variable) and Excel workbooks (sheet) only.",
                               "fitglme:cli:BadData")
        df = read_table(path, sheet=table)
    for col in categorical:
        if col not in df.columns:
            raise FitglmeError(
                f"--categorical: {col!r} is not a column of the data ({', '.join(map(str, df.columns))}).",
                "fitglme:cli:BadData")
        df[col] = _categorical(df[col])
    return df


# ---------------------------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------------------------
def _parsers() -> dict[str, argparse.ArgumentParser]:
    common = dict(allow_abbrev=False, formatter_class=argparse.RawDescriptionHelpFormatter)
    nv_help = ("Any other --Name Value pair is a fitglme name-value option (e.g. --Distribution Poisson "
               "--Link log --FitMethod Laplace --DummyVarCoding effects --Exclude 0,4 (0-based) "
               "--Weights w). Values: true/false, numbers, a,b or \"[1 2]\" lists, strings.")
    fit = argparse.ArgumentParser(prog="python -m fitglme fit", description="Fit a model and print MATLAB's display.",
                                  epilog=textwrap.fill(nv_help, 79), **common)
    fit.add_argument("data_file", nargs="?", metavar="DATA", help="CSV file or MAT-file with a table")
    fit.add_argument("--data", dest="data_opt", metavar="DATA", help="the data (instead of the positional DATA)")
    fit.add_argument("--formula", required=True, help="Wilkinson formula, e.g. \"y ~ x + (1|g)\"")
    fit.add_argument("--categorical", default="", metavar="COLS", help="comma-separated columns to make categorical")
    fit.add_argument("--table", help="table variable of a MAT-file holding several, or the sheet of a workbook")
    fit.add_argument("--json", action="store_true", help="print the numbers as JSON instead of the display")
    fit.add_argument("--fitted", action="store_true", help="with --json: include the fitted values")
    fit.add_argument("--covariance-ci", action="store_true",
                     help="with --json / --export: include covariance-parameter confidence limits")
    fit.add_argument("--export", metavar="FILE", help="also write the results to FILE (.mat or .json)")
    fit.add_argument("--style", choices=("quoted", "braces"), default="quoted",
                     help="display style: older quoted (default) or newer braces")
    fit.add_argument("--width", type=int, default=80, help="display width (default 80)")
    fit.add_argument("--name", default="glme", help="variable name shown as 'NAME = ' ('' for disp(glme))")

    val = argparse.ArgumentParser(
        prog="python -m fitglme validate",
        description="Compare a MATLAB display (pasted into a text file) with the same fit here.",
        epilog=textwrap.fill(nv_help + " Distribution, Link, FitMethod and the formula default to what the "
                             "display shows. Exit status 1 when a number differs beyond MATLAB's printed "
                             "precision.", 79),
        **common)
    val.add_argument("output", metavar="OUTPUT.txt", help="text file with MATLAB's display of the model")
    val.add_argument("--data", required=True, help="CSV (any delimiter), .xlsx or MAT-file with the table MATLAB fitted")
    val.add_argument("--formula", help="default: the formula in the display")
    val.add_argument("--categorical", default="", metavar="COLS", help="comma-separated columns to make categorical")
    val.add_argument("--table", help="table variable of a MAT-file holding several, or the sheet of a workbook")
    val.add_argument("--tolerance", type=int, default=1,
                     help="units in MATLAB's last printed digit accepted (default 1; 0: identical print)")
    val.add_argument("--precision", type=int, help="significant digits of the display (default: detected, 5 or 15)")
    val.add_argument("--rtol", type=float, default=None,
                     help="also accept numbers within this relative difference (default 0 at 5 digits, "
                          "1e-6 for format long g displays, whose last digits a fit does not pin)")
    val.add_argument("--failures", action="store_true", help="list only the numbers that fail")
    val.add_argument("--show", action="store_true", help="also print our display")
    val.add_argument("--json", action="store_true", help="print the comparison as JSON")

    ex = argparse.ArgumentParser(prog="python -m fitglme example",
                                 description="Fit the bundled mfr-shaped example and print MATLAB's display.",
                                 **common)
    ex.add_argument("--style", choices=("quoted", "braces"), default="quoted")
    ex.add_argument("--width", type=int, default=80)
    return {"fit": fit, "validate": val, "example": ex}


def _top_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m fitglme",
        description="MATLAB's fitglme in Python. Without arguments: fit the bundled example and print "
                    "MATLAB's display.",
        epilog="Commands:\n  fit       fit a model to a CSV / MAT-file and print the display (or --json)\n"
               "  validate  compare a MATLAB display with the same fit here\n"
               "  example   fit the bundled example (what 'python -m fitglme' does)\n\n"
               "Run 'python -m fitglme COMMAND --help' for the options of a command.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=("fit", "validate", "example"))
    return p


def _columns(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def run_example(style: str = "quoted", width: int = 80, out=None) -> int:
    """What ``python -m fitglme`` prints: the MATLAB call and the display of the bundled example."""
    from . import fitglme, load_example

    out = out or sys.stdout
    mfr = load_example()
    print(">> glme = fitglme(mfr, '" + EXAMPLE_FORMULA + "', ...", file=out)
    print("       'Distribution', 'Poisson', 'Link', 'log', 'FitMethod', 'Laplace', 'DummyVarCoding', 'effects')",
          file=out)
    glme = fitglme(mfr, EXAMPLE_FORMULA, "Distribution", "Poisson", "Link", "log", "FitMethod", "Laplace",
                   "DummyVarCoding", "effects")
    print(glme.display("glme", style=style, width=width), file=out)
    return 0


def _progress_to_stderr():
    """Send what the fit prints (the Verbose progress lines) to standard error, so that standard
    output carries the result alone (the display, or the JSON of ``--json``)."""
    return contextlib.redirect_stdout(sys.stderr)


def _fit(args, pairs, out) -> int:
    from . import fitglme
    from .io import export_results, results_json

    path = args.data_opt or args.data_file
    if path is None:
        raise FitglmeError("fit: give the data file (python -m fitglme fit DATA --formula ...).", "fitglme:cli:BadData")
    if args.data_opt and args.data_file:
        raise FitglmeError("fit: give the data once (DATA or --data).", "fitglme:cli:BadData")
    tbl = load_data(path, _columns(args.categorical), args.table)
    with _progress_to_stderr():
        glme = fitglme(tbl, args.formula, *pairs)
    if args.export:
        export_results(glme, args.export, covariance_ci=args.covariance_ci)
    if args.json:
        print(results_json(glme, fitted=args.fitted, covariance_ci=args.covariance_ci), file=out)
    else:
        text = glme.display(args.name, style=args.style, width=args.width) if args.name else \
            glme._render(args.style, args.width)
        print(text, file=out)
    return 0


def _validate(args, pairs, out) -> int:
    from .compare_matlab import parse_display, validate

    if not os.path.isfile(args.output):
        raise FitglmeError(f"validate: MATLAB output file {args.output!r} not found.", "fitglme:cli:BadData")
    disp = parse_display(args.output)
    tbl = load_data(args.data, _columns(args.categorical), args.table)
    with _progress_to_stderr():
        report = validate(disp, tbl, *pairs, formula=args.formula, tolerance=args.tolerance,
                          precision=args.precision, rtol=args.rtol)
    if args.json:
        print(json.dumps(report.to_dict(), indent=1), file=out)
    else:
        if args.show:
            print(report.model.display(disp.name or "glme"), file=out)
            print(file=out)
        print(report.render(failures_only=args.failures), file=out)
    return 0 if report.ok else 1


def main(argv: Sequence[str] | None = None, out=None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 validation failed, 2 bad input).

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments after ``python -m fitglme`` (default ``sys.argv[1:]``).
    out : file, optional
        Where to print (default standard output).

    Examples
    --------
    >>> from importlib import resources
    >>> data = str(resources.files('fitglme').joinpath('data/mfr_sim.csv'))
    >>> main(['fit', data, '--formula', 'defects ~ 1 + newprocess + (1|factory)',
    ...       '--Distribution', 'Poisson', '--json'])  # doctest: +ELLIPSIS
    {
     "Info": {
    ...
    0
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    out = out or sys.stdout
    if not argv:
        return run_example(out=out)
    if argv[0] in ("-h", "--help") or argv[0] not in _OWN:
        top = _top_parser()
        top.parse_args(argv[:1])  # prints help / a usage error and exits
        return 2  # pragma: no cover
    command, rest = argv[0], argv[1:]
    parser = _parsers()[command]
    try:
        own, pairs = split_name_value(rest, _OWN[command])
    except FitglmeError as exc:
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(own)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            if command == "example":
                return run_example(args.style, args.width, out)
            if command == "fit":
                return _fit(args, pairs, out)
            return _validate(args, pairs, out)
    except FitglmeError as exc:
        print(f"{parser.prog}: error: {exc} [{exc.identifier}]", file=sys.stderr)
        return 2
