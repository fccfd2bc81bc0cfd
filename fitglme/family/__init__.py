"""Distributions and link functions of fitglme (MATLAB's 'Distribution' and 'Link').

See ``docs/families.md`` for the conventions and the MATLAB facts they follow.
"""
from __future__ import annotations

from .distributions import (
    BINOMIAL_RESPONSE_MESSAGE,
    DISTRIBUTION_NAMES,
    WEIGHT_CONVENTIONS,
    Binomial,
    Distribution,
    Gamma,
    InverseGaussian,
    Normal,
    Poisson,
    canonical_distribution_name,
    make_distribution,
)
from .links import (
    EPS,
    STANDARD_LINKS,
    TINY,
    Link,
    canonical_link_spec,
    check_distribution_link,
    is_canonical,
    make_link,
)

__all__ = [
    "BINOMIAL_RESPONSE_MESSAGE",
    "DISTRIBUTION_NAMES",
    "WEIGHT_CONVENTIONS",
    "Binomial",
    "Distribution",
    "Gamma",
    "InverseGaussian",
    "Normal",
    "Poisson",
    "canonical_distribution_name",
    "make_distribution",
    "EPS",
    "STANDARD_LINKS",
    "TINY",
    "Link",
    "canonical_link_spec",
    "check_distribution_link",
    "is_canonical",
    "make_link",
]
