"""MATLAB-identical text display of mixed-effects models and titled dataset tables.

* :mod:`~fitglme.display.numfmt` -- numbers (``%.5g`` the MATLAB way);
* :mod:`~fitglme.display.dataset` -- (titled) dataset tables, column layout and wrapping;
* :mod:`~fitglme.display.model_display` -- the model display (``disp(glme)``).

The rules and the evidence behind them are in ``docs/display.md``.
"""
from fitglme.display.dataset import Column, column_cells, render_dataset, render_named, table_lines
from fitglme.display.model_display import (
    CovarianceGroup,
    ErrorGroup,
    ModelDisplay,
    model_information_lines,
    render_model,
)
from fitglme.display.numfmt import format_g, format_g5, format_pct

__all__ = [
    "Column",
    "CovarianceGroup",
    "ErrorGroup",
    "ModelDisplay",
    "column_cells",
    "format_g",
    "format_g5",
    "format_pct",
    "model_information_lines",
    "render_dataset",
    "render_model",
    "render_named",
    "table_lines",
]
