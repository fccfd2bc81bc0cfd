"""``python -m fitglme``: fit the bundled mfr-shaped example and print MATLAB's display.

With arguments it is the command line of :mod:`fitglme.cli`: ``fit`` (fit a CSV / MAT-file and
print the display or ``--json``), ``validate`` (compare a MATLAB display with the same fit here)
and ``example``.  ``python -m fitglme --help`` lists them.
"""
from __future__ import annotations

import sys

from .cli import EXAMPLE_FORMULA as FORMULA
from .cli import main as cli_main
from .cli import run_example


def main(argv: list[str] | None = None) -> int:
    """Without arguments: the bundled example and MATLAB's display; otherwise the command line."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:
        return run_example()
    return cli_main(argv)


__all__ = ["FORMULA", "main"]

if __name__ == "__main__":
    sys.exit(main())
