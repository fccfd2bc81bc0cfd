"""Design matrices: table + parsed formula -> fixed-effects matrix X and random-effects blocks.

See :func:`build_design` and docs/design.md.
"""
from .builder import Design, DesignSpec, GroupingSpec, ReBlock, ReTermSpec, build_design, parse_exclude
from .coding import SCHEMES, check_scheme
from .variables import Levels, as_table, find_levels, missing_mask, variable_kind

__all__ = [
    "Design",
    "DesignSpec",
    "GroupingSpec",
    "Levels",
    "ReBlock",
    "ReTermSpec",
    "SCHEMES",
    "as_table",
    "build_design",
    "check_scheme",
    "find_levels",
    "missing_mask",
    "parse_exclude",
    "variable_kind",
]
