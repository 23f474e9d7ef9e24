"""The one statistical rule of the gate: a one-sided 95% bootstrap bound on a mean.

Used for the suite means (is the mean beyond its threshold?) and for the
paired baseline comparison (is the mean drop beyond the tolerance?). The
resampling seed is fixed, so the same scores always give the same verdict:
re-running the gate from the render cache cannot flip it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evalkit.score.metrics import Direction, direction_named

CONFIDENCE = 0.95
RESAMPLES = 2000


@dataclass(frozen=True)
class MeanBounds:
    """Mean of the values and its one-sided ``CONFIDENCE`` lower and upper bounds."""

    mean: float
    low: float
    high: float
    n: int


def mean_bounds(values, seed: int = 0) -> MeanBounds:
    """Bootstrap the mean of ``values`` (resampling the values themselves with replacement).

    ``low`` is the bound the mean is above with ``CONFIDENCE``, ``high`` the
    bound it is below; a single value has no spread and gets both equal to it.
    """
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        raise ValueError("mean_bounds needs at least one value")
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, (RESAMPLES, v.size))].mean(axis=1)
    low, high = np.quantile(means, [1 - CONFIDENCE, CONFIDENCE])
    return MeanBounds(float(v.mean()), float(low), float(high), int(v.size))


def beyond(bounds: MeanBounds, direction: Direction | str, limit: float) -> bool:
    """True when the mean is confidently on the wrong side of ``limit``.

    ``direction`` "min": the mean should be at least ``limit`` (wrong side:
    even the upper bound is below it); "max": at most ``limit``. The rule is
    `evalkit.score.metrics.Direction.beyond`.
    """
    d = direction if isinstance(direction, Direction) else direction_named(direction)
    return d.beyond(bounds, limit)
