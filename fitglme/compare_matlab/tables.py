"""Reading MATLAB's printed tables back into DataFrames (quoted or braces style, wrapped or not)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import pandas as pd

from ..errors import FitglmeError

# ---------------------------------------------------------------------------------------------
# tokens and tables
# ---------------------------------------------------------------------------------------------
_TOKEN = re.compile(r"""\{\s*'(?:[^']|'')*'\s*\}|\{\s*"(?:[^"]|"")*"\s*\}|'(?:[^']|'')*'|"(?:[^"]|"")*"|\S+""")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NUMBER = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$|^[-+]?(?:Inf|NaN)$")
_NAME_LINE = re.compile(r"^\s*([A-Za-z]\w*)\s*=\s*$")
#: Column names of the tables of a model display (and of anova / compare), used to recognise a
#: header line that follows rows without a blank line (wrapped tables in compact output).
KNOWN_HEADERS = frozenset(
    "Name Estimate SE tStat DF pValue Lower Upper Name1 Name2 Type Group AIC BIC LogLikelihood "
    "Deviance Term FStat DF1 DF2 Model LogLik LRStat deltaDF".split()
)


@dataclass
class _Token:
    text: str
    start: int

    @property
    def quoted(self) -> bool:
        return self.text[:1] in "'{\""

    @property
    def value(self) -> str:
        t = self.text
        if t.startswith("{"):
            t = t[1:-1].strip()
        if t[:1] in "'\"" and len(t) >= 2:
            q = t[0]
            t = t[1:-1].replace(q + q, q)
            return t.rstrip() if self.text.startswith("{") else t
        return t


def _tokens(line: str) -> list[_Token]:
    return [_Token(m.group(0), m.start()) for m in _TOKEN.finditer(line)]


def _is_header(tokens: list[_Token]) -> bool:
    return bool(tokens) and all(
        not t.quoted and _IDENT.match(t.text) and t.text not in ("NaN", "Inf") for t in tokens
    )


def is_number(text: str) -> bool:
    """True for a number as MATLAB prints it (``-0.0064824``, ``1.2538e+05``, ``NaN``, ``-Inf``)."""
    return bool(_NUMBER.match(text))


def _blocks(lines: Sequence[str]) -> tuple[list[str], list[tuple[list[_Token], list[list[_Token]], bool]]]:
    """Split table lines into (title lines, [(header tokens, rows, after_blank)])."""
    items = []  # (tokens, raw line, blank before)
    blank = True
    for line in lines:
        toks = _tokens(line)
        if not toks:
            blank = True
            continue
        items.append((toks, line, blank))
        blank = False
    titles: list[str] = []
    blocks: list[tuple[list[_Token], list[list[_Token]], bool]] = []
    items = [it for it in items if not _NAME_LINE.match(it[1])]  # 'ans = ' lines
    i = 0
    # Title lines before the first header (e.g. "ANOVA marginal tests: ..."): a line that is not a
    # header, or a header-looking line directly followed by another header line.
    while i < len(items):
        toks, raw, _ = items[i]
        nxt = items[i + 1][0] if i + 1 < len(items) else None
        if _is_header(toks) and not (nxt is not None and _is_header(nxt) and not blocks):
            break
        if _is_header(toks) and nxt is not None and _is_header(nxt):
            titles.append(raw.strip())
            i += 1
            continue
        if not _is_header(toks):
            titles.append(raw.strip())
            i += 1
            continue
        break
    current = None
    while i < len(items):
        toks, raw, blank_before = items[i]
        starts_block = _is_header(toks) and (
            current is None or blank_before or all(t.text in KNOWN_HEADERS for t in toks)
        )
        if starts_block:
            current = (toks, [], blank_before)
            blocks.append(current)
        else:
            if current is None:  # pragma: no cover - guarded by the title loop
                raise FitglmeError(f"table row before any header: {raw.strip()!r}", "fitglme:validate:BadTable")
            current[1].append(toks)
        i += 1
    return titles, blocks


def _assign(header: list[_Token], row: list[_Token], raw_cols: int) -> list[str | None]:
    """Cells of one row under the header columns (by position when cells are empty)."""
    n = len(header)
    if len(row) == n:
        return [t.value for t in row]
    if len(row) > n:
        raise FitglmeError(
            "table row has more cells than the header has columns: "
            + " ".join(t.text for t in row) + "  (header: " + " ".join(t.text for t in header) + ")",
            "fitglme:validate:BadTable",
        )
    cells: list[str | None] = [None] * n
    starts = [t.start for t in header]
    for t in row:
        k = max([j for j in range(n) if starts[j] <= t.start] or [0])
        if cells[k] is not None:
            raise FitglmeError(
                "cannot place the cells of a table row with empty cells under its header (has the "
                "whitespace been flattened?): " + " ".join(x.text for x in row),
                "fitglme:validate:BadTable",
            )
        cells[k] = t.value
    return cells


def parse_table(text: str | Sequence[str]) -> pd.DataFrame:
    """Parse one MATLAB dataset/table display into a DataFrame of the printed cells.

    Parameters
    ----------
    text : str or sequence of str
        The table as printed: header line, rows, and any wrapped column blocks (separated by
        blank lines or not); an optional title line first (kept in ``df.attrs['title']``).

    Returns
    -------
    pandas.DataFrame
        One column per table variable, cells as the printed **text** (quotes / braces removed;
        ``None`` for an empty cell).  Convert with ``pd.to_numeric``; the printed text is kept
        because the number of printed digits matters to validation.

    Raises
    ------
    FitglmeError
        ``'fitglme:validate:BadTable'`` when the lines are not a table.

    Examples
    --------
    >>> t = parse_table('''
    ...     Name                 Estimate    SE
    ...     '(Intercept)'         -2.0193    0.087995
    ...
    ...
    ...     Lower       Upper
    ...      -2.1929       -1.8457
    ... ''')
    >>> t.to_dict('records')
    [{'Name': '(Intercept)', 'Estimate': '-2.0193', 'SE': '0.087995', 'Lower': '-2.1929', 'Upper': '-1.8457'}]
    """
    lines = text.split("\n") if isinstance(text, str) else list(text)
    titles, blocks = _blocks(lines)
    if not blocks:
        raise FitglmeError("no table header found in: " + " / ".join(l.strip() for l in lines if l.strip())[:200],
                           "fitglme:validate:BadTable")
    nrows = len(blocks[0][1])
    data: dict[str, list] = {}
    for header, rows, _ in blocks:
        if len(rows) != nrows:
            raise FitglmeError(
                f"wrapped table blocks have different numbers of rows ({nrows} and {len(rows)}) under "
                + " ".join(t.text for t in header),
                "fitglme:validate:BadTable",
            )
        ncols = len(header)
        cols = list(zip(*[_assign(header, r, ncols) for r in rows])) if rows else [()] * ncols
        for h, c in zip(header, cols):
            name = h.text
            while name in data:
                name += "_"
            data[name] = list(c)
    df = pd.DataFrame(data, dtype=object)
    df.attrs["title"] = " ".join(titles) if titles else None
    return df
