"""Titled dataset tables printed character for character as MATLAB's dataset display.

The model display sub-tables (fit statistics, fixed effects, covariance parameters) and the
tables returned by ``anova``, ``compare``, ``fixedEffects`` ... all use this layout.  The rules
(measured on real MATLAB output, see ``docs/display.md``):

* every line starts with a 4-space indent and columns are separated by 4 spaces;
* each column is a block of equal-width strings: the header left-aligned, padded with
  trailing spaces to the column width;
* numeric columns: each value formatted on its own (:func:`~fitglme.display.numfmt.format_g`),
  values right-aligned among themselves, that block left-aligned under a wider header;
  column width ``max(len(header), widest value)``;
* cell-string ("text") columns: values quoted (``'(Intercept)'``, older releases) or braced
  and padded inside the braces (``{'std' }``, newer releases); the column is 4 characters
  wider than its widest value (``max(len(header), widest value + 4)``), which is MATLAB
  displaying the cell column with its own 4-space indent;
* plain char columns (``compare``'s ``Model``): values as they are, no extra width;
* empty cells (``None``) are blanks;
* wrapping: columns are added left to right; a column that would make the line, not
  counting its 4-space indent, longer than ``width`` starts a new block (the first column
  always stays in the first block, and a block always holds at least one column).  With
  ``width=80`` lines of up to 84 characters stay on one line: MATLAB printed an 81-character
  ``compare`` line unwrapped and wrapped every line of 87 or more (``docs/display.md``).  Blocks are separated by two blank lines (one in
  ``compact`` spacing) and later blocks do not repeat the first column.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from fitglme.display.numfmt import format_g
from fitglme.errors import FitglmeError

__all__ = ["Column", "render_dataset", "render_named", "column_cells", "table_lines", "INDENT"]

INDENT = "    "
"""Left margin of every table line and separator between columns."""

_KINDS = ("number", "text", "plain")
_STYLES = ("quoted", "braces")
_SPACINGS = ("loose", "compact")


@dataclass
class Column:
    """One variable (column) of a dataset table.

    Attributes
    ----------
    name : str
        Header text.
    values : Sequence
        One entry per row: ``str`` for text columns, real numbers for numeric columns
        (a ``str`` in a numeric column is taken as already formatted), ``None`` for an
        empty cell.
    kind : str, default 'number'
        ``'number'``, ``'text'`` (cell-string column: quoted/braced, 4 extra characters of
        width) or ``'plain'`` (plain char column such as compare's ``Model``: printed as is).
    """

    name: str
    values: Sequence
    kind: str = "number"


def _check_choice(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise FitglmeError(
            f"{what} must be one of {', '.join(repr(a) for a in allowed)}; got {value!r}.",
            "fitglme:display:BadOption",
        )


def _text_cells(values: Sequence, style: str) -> list[str]:
    strings = [None if v is None else str(v) for v in values]
    if style == "quoted":
        return ["" if s is None else f"'{s}'" for s in strings]
    longest = max((len(s) for s in strings if s is not None), default=0)
    return ["" if s is None else "{'" + s + "'" + " " * (longest - len(s)) + "}" for s in strings]


def _number_cells(values: Sequence, precision: int) -> list[str]:
    texts = ["" if v is None else v if isinstance(v, str) else format_g(v, precision) for v in values]
    longest = max((len(t) for t in texts), default=0)
    return ["" if t == "" else t.rjust(longest) for t in texts]


def column_cells(column: Column, style: str = "quoted", precision: int = 5) -> list[str]:
    """The header line and the row cells of one column, all padded to the column width.

    Parameters
    ----------
    column : Column
        The column.
    style : {'quoted', 'braces'}
        Text-cell style (older / newer MATLAB releases).
    precision : int, default 5
        Significant digits of numbers (5 = ``format short``, 15 = ``format long g``).

    Returns
    -------
    list of str
        ``[header, row1, row2, ...]``, every string of the same length (the column width).

    Examples
    --------
    >>> column_cells(Column("DF1", [1, 3]))
    ['DF1', '1  ', '3  ']
    >>> column_cells(Column("Type", ["std", "corr"], "text"), style="braces")
    ['Type        ', "{'std' }    ", "{'corr'}    "]
    """
    _check_choice(column.kind, _KINDS, "Column.kind")
    _check_choice(style, _STYLES, "style")
    values = list(column.values)
    if column.kind == "number":
        cells = _number_cells(values, precision)
        width = max([len(column.name)] + [len(c) for c in cells])
    elif column.kind == "text":
        cells = _text_cells(values, style)
        width = max([len(column.name)] + [len(c) + len(INDENT) for c in cells if c])
    else:
        cells = ["" if v is None else str(v) for v in values]
        width = max([len(column.name)] + [len(c) for c in cells])
    return [column.name.ljust(width)] + [c.ljust(width) for c in cells]


def table_lines(
    columns: list[Column],
    style: str = "quoted",
    width: int | None = 80,
    spacing: str = "loose",
    precision: int = 5,
) -> list[str]:
    """Lines of an untitled table, wrapped into column blocks (see :func:`render_dataset`).

    Returns
    -------
    list of str
        Table lines; blank lines between wrapped blocks are ``''``.  No trailing blank line.
    """
    _check_choice(spacing, _SPACINGS, "spacing")
    if not columns:
        return []
    cols = [column_cells(c, style, precision) for c in columns]
    nrows = {len(c) - 1 for c in cols}
    if len(nrows) != 1:
        raise FitglmeError(
            "All columns of a dataset must have the same number of rows; got "
            + ", ".join(f"{c.name}: {len(c.values)}" for c in columns) + ".",
            "fitglme:display:RaggedColumns",
        )
    if nrows.pop() == 0:  # MATLAB prints nothing for a dataset without observations
        return []
    blocks: list[list[list[str]]] = [[]]
    line_len = 0
    for k, cells in enumerate(cols):
        col_len = len(INDENT) + len(cells[0])
        if k > 0 and width is not None and line_len + col_len - len(INDENT) > width:
            blocks.append([])
            line_len = 0
        blocks[-1].append(cells)
        line_len += col_len
    gap = [""] * (2 if spacing == "loose" else 1)
    lines: list[str] = []
    for b, block in enumerate(blocks):
        if b > 0:
            lines.extend(gap)
        for row in zip(*block):
            lines.append("".join(INDENT + cell for cell in row))
    return lines


def render_dataset(
    columns: list[Column],
    title: str | None = None,
    style: str = "quoted",
    width: int | None = 80,
    *,
    spacing: str = "loose",
    precision: int = 5,
) -> str:
    """Render a (titled) dataset table exactly as MATLAB displays it.

    Parameters
    ----------
    columns : list of Column
        The variables, left to right.
    title : str, optional
        Title of a titled dataset (``"ANOVA marginal tests: DFMethod = 'Residual'"``): printed
        as ``'    ' + title`` followed by one blank line before the table.
    style : {'quoted', 'braces'}, default 'quoted'
        ``'quoted'``: older dataset-era display (``'(Intercept)'``); ``'braces'``: newer
        releases (``{'(Intercept)'}``, padded inside the braces).
    width : int or None, default 80
        Command-window width.  A column is moved to a new block when the line (every column
        with its 4-space separator, trailing padding included, the 4-space indent of the
        line not counted) would become longer than ``width``.  ``None`` never wraps (Live
        Editor / wide window).
    spacing : {'loose', 'compact'}, keyword-only, default 'loose'
        MATLAB ``format loose`` (two blank lines between wrapped blocks) or ``format compact``
        / Live Script output (one blank line).
    precision : int, keyword-only, default 5
        Significant digits (5 = ``format short``, 15 = ``format long g``).

    Returns
    -------
    str
        The lines joined by ``'\\n'``, without a trailing newline or trailing blank line.

    Examples
    --------
    >>> print(render_dataset([Column("Term", ["(Intercept)", "design"], "text"),
    ...                       Column("FStat", [526.61, 6.0465]), Column("DF1", [1, 3])],
    ...                      title="ANOVA marginal tests: DFMethod = 'Residual'"))
        ANOVA marginal tests: DFMethod = 'Residual'
    <BLANKLINE>
        Term                 FStat     DF1
        '(Intercept)'        526.61    1  
        'design'             6.0465    3  
    """
    lines = table_lines(columns, style=style, width=width, spacing=spacing, precision=precision)
    if title is not None:
        lines = [INDENT + title, ""] + lines
    return "\n".join(lines)


def render_named(name: str, body: str, style: str = "quoted", spacing: str = "loose") -> str:
    """Prefix a display with the ``name = `` line MATLAB prints for an unterminated statement.

    Parameters
    ----------
    name : str
        Variable name (``'ans'``, ``'glme'``).
    body : str
        What ``disp`` prints (a model display or a titled dataset).
    style : {'quoted', 'braces'}, default 'quoted'
        ``'quoted'`` (older releases, ``format loose``): ``'name = '`` then two blank lines.
        ``'braces'`` (newer releases): ``'name = '`` then the body directly.
    spacing : {'loose', 'compact'}, default 'loose'
        ``'compact'`` never inserts blank lines after ``'name = '``.

    Returns
    -------
    str
        ``name + ' = '`` (note the trailing space), the blank lines, then ``body``.

    Examples
    --------
    >>> render_named("ans", "    T", "quoted").split("\\n")
    ['ans = ', '', '', '    T']
    >>> render_named("me", "    T", "braces").split("\\n")
    ['me = ', '    T']
    """
    _check_choice(style, _STYLES, "style")
    _check_choice(spacing, _SPACINGS, "spacing")
    blanks = 2 if (style == "quoted" and spacing == "loose") else 0
    return "\n".join([f"{name} = "] + [""] * blanks + [body])
