"""The one statistical rule of the gate: one-sided 95% bootstrap bounds on a mean.

Used for the suite means (is the mean beyond its threshold?) and for the
paired baseline comparison (is the mean drop beyond the tolerance?). The
resampling seed is fixed, so the same scores always give the same verdict:
re-running the gate from the render cache cannot flip it.

Why bootstrap-t and not percentiles of the resampled means: at the testbed's
12 renders the percentile bounds under-cover (simulated: an upper bound held
0.92 of the time on normal data, 0.89 on a skewed score), and the pair of
them, once printed as a "95% interval", covered the mean only 0.89 of the
time. Studentizing each resample corrects for the small sample and the skew;
tests/gate/test_stats_coverage.py checks the level on simulated data. The
pair (low, high) is two one-sided bounds, a two-sided 90% interval, and is
printed as such (``bounds_text``).
"""

from __future__ import annotations

import math
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
    """Bootstrap-t bounds on the mean of ``values`` (resampled with replacement).

    ``low`` is the bound the mean is above with ``CONFIDENCE``, ``high`` the
    bound it is below; values with no spread (one value, or all equal) get
    both equal to the mean.
    """
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        raise ValueError("mean_bounds needs at least one value")
    m, n = float(v.mean()), int(v.size)
    se = float(v.std(ddof=1)) / math.sqrt(n) if n > 1 else 0.0
    if se == 0.0:
        return MeanBounds(m, m, m, n)
    rng = np.random.default_rng(seed)
    x = v[rng.integers(0, n, (RESAMPLES, n))]
    s = x.std(axis=1, ddof=1)
    ok = s > 0  # a resample of one repeated value has no studentized mean (rare unless nearly all values tie)
    t = (x.mean(axis=1)[ok] - m) / (s[ok] / math.sqrt(n))
    t_low, t_high = np.quantile(t, [1 - CONFIDENCE, CONFIDENCE])
    return MeanBounds(m, m - float(t_high) * se, m - float(t_low) * se, n)


def bounds_text(b: MeanBounds, sign: bool = False) -> str:
    """The bounds as the gate prints them, with their true level."""
    f = "+.3f" if sign else ".3f"
    return f"one-sided {CONFIDENCE:.0%} bounds {b.low:{f}}..{b.high:{f}}"


def beyond(bounds: MeanBounds, direction: Direction | str, limit: float) -> bool:
    """True when the mean is confidently on the wrong side of ``limit``.

    ``direction`` "min": the mean should be at least ``limit`` (wrong side:
    even the upper bound is below it); "max": at most ``limit``. The rule is
    `evalkit.score.metrics.Direction.beyond`.
    """
    d = direction if isinstance(direction, Direction) else direction_named(direction)
    return d.beyond(bounds, limit)


def median_upper_bound(values) -> float | None:
    """A distribution-free one-sided ``CONFIDENCE`` upper bound on the median of ``values``.

    The k-th smallest value, k the least with P(Bin(n, 1/2) <= k - 1) >= CONFIDENCE: the median is
    below it unless k or more of n draws fall at or above it, which happens with probability at most
    1 - CONFIDENCE whatever the distribution (ties and point masses only make it more conservative).
    For skewed, zero-heavy values, where one outlier breaks bootstrap-t (the share of cells a weak
    LoRA changes: mostly 0, once 0.3). None when n is too small for the level (n < 5 at 95%).
    """
    v = np.sort(np.asarray(values, dtype=float))
    n = v.size
    cdf = 0.0
    for k in range(1, n + 1):
        cdf += math.comb(n, k - 1) / 2.0**n  # P(Bin(n, 1/2) = k - 1)
        if cdf >= CONFIDENCE:
            return float(v[k - 1])
    return None
