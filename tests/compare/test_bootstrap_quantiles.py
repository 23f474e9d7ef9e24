"""The expanded percentile interval's quantiles (evalkit/compare/bootstrap.py) are scipy.stats' numbers:
the code takes them from scipy.special, which imports in a fraction of the time."""

import math

import pytest
from scipy import stats

from evalkit.compare.bootstrap import expanded_quantiles


@pytest.mark.parametrize("level", [0.5, 0.8, 0.9, 0.95, 0.99])
@pytest.mark.parametrize("n", [2, 3, 4, 8, 64, 1000])
def test_expanded_quantiles_are_scipy_stats(level, n):
    t = stats.t.ppf(0.5 + level / 2, n - 1)
    alpha = 2 * stats.norm.sf(math.sqrt(n / (n - 1)) * t)
    low, high = expanded_quantiles(level, n)
    assert low == pytest.approx(alpha / 2, rel=1e-12, abs=1e-300)
    assert high == pytest.approx(1 - alpha / 2, rel=1e-12)
    assert 0 <= low < (1 - level) / 2  # expanded: wider than the plain percentile interval (0: the extremes)


def test_one_unit_has_no_interval():
    assert expanded_quantiles(0.95, 1) is None
