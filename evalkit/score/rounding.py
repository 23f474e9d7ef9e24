"""JSON-ready values: floats rounded, numpy scalars and tuples made plain."""

from __future__ import annotations

import dataclasses

import numpy as np

DIGITS = 6


def rounded(value, digits: int = DIGITS):
    """``value`` with every float rounded to ``digits``; dataclasses become dicts, tuples lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v, digits) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return round(float(value), digits)
    return value
