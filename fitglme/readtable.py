"""Reading the tables MATLAB writes: ``writetable`` text files and Excel workbooks.

MATLAB's ``writetable`` writes a text file with the delimiter it was given (``','`` by default,
``';'`` and tab are common) and, with ``'QuoteStrings'``, every text cell in double quotes; an
``.xlsx`` workbook keeps numbers as numbers and text as text.  What was text in MATLAB must stay
text here even when it looks like a number (a subject id ``"1"``, a level ``"2"``): a numeric
column would be a continuous predictor instead of a grouping variable or a factor.  So a column
of a text file is text when any of its cells was quoted, or when any cell is not a number; all
other columns are numeric (an empty cell is a missing value).  Text columns keep their cells as
strings: fitglme makes them categorical in order of first appearance, as MATLAB does for string
and cellstr predictors.
"""
from __future__ import annotations

import csv
import io
import os
import re

import numpy as np
import pandas as pd

from .errors import FitglmeError

__all__ = ["read_table"]

_DELIMITERS = (",", ";", "\t", "|")
_EXCEL = (".xlsx", ".xlsm", ".xls")


def _delimiter(header: str) -> str:
    """The delimiter of a header line: the candidate that occurs most often outside quotes."""
    bare = re.sub(r'"(?:[^"]|"")*"', "", header)
    counts = {d: bare.count(d) for d in _DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


_QUOTED = re.compile(r'"((?:[^"]|"")*)"')


def _fields(line: str, delim: str) -> list[tuple[str, bool]]:
    """Cells of one record as (text, quoted); ``""`` inside a quoted cell is one quote."""
    out: list[tuple[str, bool]] = []
    i, n = 0, len(line)
    while True:
        j = i
        while j < n and line[j] == " ":
            j += 1
        if j < n and line[j] == '"':
            m = _QUOTED.match(line, j)
            k = m.end() if m else n
            while k < n and line[k] == " ":
                k += 1
            if m is None or (k < n and line[k] != delim):
                raise FitglmeError(f"malformed quoted cell in the record {line[:80]!r}.", "fitglme:cli:BadData")
            out.append((m.group(1).replace('""', '"'), True))
        else:
            k = line.find(delim, i)
            k = n if k < 0 else k
            out.append((line[i:k].strip(), False))
        if k >= n:
            return out
        i = k + 1
        if i == n:
            out.append(("", False))
            return out


def _records(text: str) -> list[str]:
    """Lines of the file, joining a quoted cell that spans a line break."""
    lines, current = [], None
    for line in text.split("\n"):
        current = line if current is None else current + "\n" + line
        if current.count('"') % 2 == 0:
            lines.append(current)
            current = None
    if current is not None:
        lines.append(current)
    return [ln for ln in lines if ln.strip()]


def _fast_cells(text: str, delim: str) -> tuple[pd.DataFrame, list[bool]] | None:
    """The cells as strings and which columns hold a quoted cell, read by pandas' C parser; None
    when that reading is not certain (a quoted cell holding the delimiter, ragged records)."""
    try:
        cells = pd.read_csv(io.StringIO(text), sep=delim, dtype=str, keep_default_na=False, engine="c")
        raw = pd.read_csv(io.StringIO(text), sep=delim, dtype=str, keep_default_na=False, engine="c",
                          quoting=csv.QUOTE_NONE)
    except (pd.errors.ParserError, ValueError):
        return None
    if (raw.shape != cells.shape or any('"' in str(c) for c in cells.columns)
            or not isinstance(cells.index, pd.RangeIndex) or not isinstance(raw.index, pd.RangeIndex)):
        return None  # (an index column inferred by pandas: a record with one cell too many)
    quoted = [bool(raw.iloc[:, j].str.lstrip(" ").str.startswith('"').any()) for j in range(raw.shape[1])]
    return cells, quoted


def _column(values: pd.Series, quoted: bool) -> pd.Series:
    """A column's cells (strings) as MATLAB had them: numbers, or text (see the module docstring)."""
    stripped = values.str.strip()
    if not quoted:
        blank = stripped == ""
        num = pd.to_numeric(stripped.where(~blank, "NaN"), errors="coerce")
        if not (num.isna() & ~blank & (stripped.str.lower() != "nan")).any():
            return num
    out = (values if quoted else stripped).astype(object)
    out[(stripped == "").to_numpy()] = None
    return out


def _read_text_table(path: str) -> pd.DataFrame:
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        text = fh.read().replace("\r\n", "\n").replace("\r", "\n")
    first = text.split("\n", 1)[0]
    delim = _delimiter(first)
    lines = [ln for ln in text.split("\n") if ln.strip()]
    ragged = any(ln.count(delim) != lines[0].count(delim) for ln in lines) if lines else True
    if not ragged and '"' not in text:  # nothing quoted: pandas' own type inference is the rule
        try:
            df = pd.read_csv(io.StringIO(text), sep=delim, engine="c")
        except (pd.errors.ParserError, ValueError):
            df = None
        if df is not None and not any(str(c).startswith("Unnamed:") for c in df.columns):
            return df
    fast = _fast_cells(text, delim) if text.strip() else None
    if fast is not None:
        cells, quoted = fast
        names = [str(c) for c in cells.columns]
        if len(set(names)) == len(names) and not any(n.startswith("Unnamed:") for n in names):
            return pd.DataFrame({n: _column(cells.iloc[:, j], quoted[j]) for j, n in enumerate(names)})
    return _read_records(text, path)


def _read_records(text: str, path: str) -> pd.DataFrame:
    """The record-by-record reader: every case pandas' parser cannot settle, and the error
    messages naming the record."""
    records = _records(text)
    if not records:
        raise FitglmeError(f"data file {path!r} is empty.", "fitglme:cli:BadData")
    delim = _delimiter(records[0])
    names = [t for t, _ in _fields(records[0], delim)]
    if len(set(names)) != len(names) or any(not n for n in names):
        raise FitglmeError(f"data file {path!r}: the header line needs distinct, non-empty column names; "
                           f"got {names}.", "fitglme:cli:BadData")
    cells: list[list[str]] = [[] for _ in names]
    quoted = [False] * len(names)
    for k, rec in enumerate(records[1:], start=2):
        row = _fields(rec, delim)
        if len(row) != len(names):
            raise FitglmeError(
                f"data file {path!r}, record {k}: {len(row)} cells where the header has {len(names)} "
                f"(delimiter {delim!r}).", "fitglme:cli:BadData")
        for j, (t, q) in enumerate(row):
            cells[j].append(t)
            quoted[j] = quoted[j] or q
    return pd.DataFrame({name: _column(pd.Series(col, dtype=object), q)
                         for name, col, q in zip(names, cells, quoted)})


def _read_excel(path: str, sheet) -> pd.DataFrame:
    try:
        import openpyxl  # noqa: F401  (pandas' reader for .xlsx)
    except ImportError:
        raise FitglmeError(
            f"reading {os.path.basename(path)!r} needs the openpyxl package: pip install 'fitglme[xlsx]' "
            "(or save the table as CSV with writetable).", "fitglme:cli:BadData") from None
    try:
        df = pd.read_excel(path, sheet_name=0 if sheet is None else sheet)
    except Exception as exc:  # openpyxl / pandas errors: a damaged or foreign file, a missing sheet
        raise FitglmeError(f"could not read {path!r} as an Excel workbook: {exc}", "fitglme:cli:BadData") from exc
    for col in df.columns:
        if df[col].dtype == object or str(df[col].dtype) in ("str", "string"):
            df[col] = df[col].astype(object).where(df[col].notna(), None)
    return df


def read_table(path: str | os.PathLike, sheet: str | int | None = None) -> pd.DataFrame:
    """Read a table written by MATLAB's ``writetable`` (text file or Excel workbook).

    Parameters
    ----------
    path : str or path-like
        ``.xlsx`` / ``.xlsm`` / ``.xls`` (needs openpyxl, the ``xlsx`` extra), anything else is
        read as delimited text (delimiter detected from the header line: ``,``, ``;``, tab or ``|``).
    sheet : str or int, optional
        Worksheet of a workbook (default: the first).

    Returns
    -------
    pandas.DataFrame
        Numeric columns as numbers; text columns (any quoted cell, or any cell that is not a
        number) as strings, empty cells as missing.

    Raises
    ------
    FitglmeError
        ``'fitglme:cli:BadData'`` for a missing, empty or malformed file.

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> p = os.path.join(d, 't.csv')
    >>> _ = open(p, 'w').write('Subject;A;y\\n"1";"a";1.5\\n"2";"b";2\\n')
    >>> t = read_table(p)
    >>> t['Subject'].tolist(), t['y'].tolist()
    (['1', '2'], [1.5, 2.0])
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FitglmeError(f"data file {path!r} not found.", "fitglme:cli:BadData")
    if path.lower().endswith(_EXCEL):
        return _read_excel(path, sheet)
    if sheet is not None:
        raise FitglmeError("a sheet applies to Excel workbooks only.", "fitglme:cli:BadData")
    return _read_text_table(path)
