"""Array helpers shared by the engine and the layers above it (no option names, no warnings)."""
from __future__ import annotations

from typing import Any

import numpy as np


def constant_value(a: Any) -> float | None:
    """The common value of a broadcast (stride-0) vector such as :func:`fitglme.options.as_vector`
    returns for a scalar with ``broadcast_scalar=True``; None for any other array."""
    if isinstance(a, np.ndarray) and a.ndim == 1 and a.size and a.strides == (0,):
        return float(a[0])
    return None
