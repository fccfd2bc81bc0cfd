"""``MatlabDataset``: a pandas DataFrame that prints like MATLAB's titled dataset array.

The data stay an ordinary DataFrame (index, columns, dtypes, every pandas method); only the
printed form changes: ``print(tbl)`` gives MATLAB's display in the model's style ('quoted' or
'braces') and width, with the optional title line (e.g. ``ANOVA marginal tests: DFMethod =
'Residual'``).  Methods that derive a new frame return a plain DataFrame.
"""
from __future__ import annotations

import html
from typing import Sequence

import numpy as np
import pandas as pd

from .dataset import Column, render_dataset


class MatlabDataset(pd.DataFrame):
    """A DataFrame with MATLAB's dataset display.

    Parameters
    ----------
    data : anything pandas.DataFrame accepts
    title : str, optional
        Title line shown above the table.
    text_columns : sequence of str
        Columns shown as cell strings (quoted / braced); other object columns print plainly.
    style : {'quoted', 'braces'}
    width : int
        Display width (MATLAB's command window, 80 by default).

    Examples
    --------
    >>> t = MatlabDataset({"Name": ["(Intercept)"], "Estimate": [1.4689]}, text_columns=["Name"])
    >>> print(t)
        Name                 Estimate
        '(Intercept)'        1.4689  
    """

    _metadata = ["title", "text_columns", "display_style", "display_width"]

    def __init__(self, data=None, *args, title: str | None = None, text_columns: Sequence[str] = (),
                 style: str = "quoted", width: int = 80, **kwargs) -> None:
        super().__init__(data, *args, **kwargs)
        self.title = title
        self.text_columns = tuple(text_columns)
        self.display_style = style
        self.display_width = width

    @property
    def _constructor(self):
        return pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        """A plain DataFrame copy."""
        return pd.DataFrame(self, copy=True)

    def render(self, style: str | None = None, width: int | None = None) -> str:
        """MATLAB's text for this table."""
        cols = []
        for name in self.columns:
            values = self[name].tolist()
            if name in self.text_columns:
                kind = "text"
            elif not pd.api.types.is_numeric_dtype(self[name]) or pd.api.types.is_bool_dtype(self[name]):
                kind = "plain"
            else:
                kind = "number"
            cols.append(Column(str(name), values, kind))
        return render_dataset(cols, title=self.title, style=style or self.display_style, width=width or self.display_width)

    def __repr__(self) -> str:
        return self.render()

    def __str__(self) -> str:
        return self.render()

    def _repr_html_(self) -> str:
        """Notebook view: pandas' HTML table, under MATLAB's title line when the table has one
        (e.g. ``ANOVA marginal tests: DFMethod = 'Residual'``)."""
        table = pd.DataFrame(self)._repr_html_()
        if not self.title:
            return table
        title = html.escape(str(self.title))
        return (f'<div class="fitglme-dataset"><pre style="margin: 0 0 0.5em 0">{title}</pre>'
                f"{table}</div>")
