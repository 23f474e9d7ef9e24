"""The stated interval level holds: coverage of the attribution's intervals on simulated runs with known effects.

Four runs in a 2x2 design (network_dim x captions) on one base, per-render
scores = the run's true mean + a prompt effect + skewed noise. The true
effects are what the same analysis gives on the true means (the estimand);
over many simulated sets of renders, the 95% intervals must hold them about
95% of the time, for metric effects and for quality, with paired slots and
with runs that share no slots, at a small suite (16 renders per run).
"""

from __future__ import annotations

import numpy as np
import pytest

from evalkit.compare.attribution import attribute
from evalkit.compare.runs import ScoredRun
from evalkit.gate.record import METRICS

RUNS = [("best", 32, "v1", (0.90, 0.60, 0.05, 0.9)), ("photoreal", 64, "v2", (0.50, 0.45, 0.35, 0.9)),
        ("v2", 32, "v2", (0.92, 0.70, 0.05, 0.9)), ("dim64", 64, "v1", (0.58, 0.38, 0.31, 0.9))]
RENDERS = 16
SIMULATIONS = 300


def simulated_runs(rng, paired: bool, noise: bool = True) -> list[ScoredRun]:
    shared = rng.normal(0, 0.05, (RENDERS, len(METRICS)))
    runs = []
    for name, dim, captions, mean in RUNS:
        prompt = shared if paired else rng.normal(0, 0.05, (RENDERS, len(METRICS)))
        values = np.array(mean) + (prompt + rng.gamma(2.0, 0.04, prompt.shape) - 0.08 if noise else 0 * prompt)
        slots = [(f"p{i}", 42) for i in range(RENDERS)] if paired else [(f"{name}-{i}", 42) for i in range(RENDERS)]
        runs.append(ScoredRun(name, {"base": "SD1.5", "network_dim": dim, "captions": captions}, slots,
                              {m: values[:, k] for k, m in enumerate(METRICS)}))
    return runs


def intervals(result):
    """(factor, statistic) -> Interval, for every effect in the one stratum."""
    (stratum,) = result.strata
    out = {}
    for f in stratum.factors:
        for e in f.effects:
            out[(f.name, "quality")] = e.quality
            out.update({(f.name, m): iv for m, iv in e.metrics.items()})
    return out


@pytest.mark.parametrize("paired", [True, False], ids=["paired", "within-run"])
def test_95_percent_intervals_cover_95_percent(paired):
    rng = np.random.default_rng(2026 + paired)
    truth = {k: iv.estimate for k, iv in intervals(attribute(simulated_runs(rng, paired, noise=False), resamples=200)).items()}
    assert set(truth) == {(f, s) for f in ("network_dim", "captions") for s in ("quality", *METRICS)}
    hits = {k: 0 for k in truth}
    widths = []
    for _ in range(SIMULATIONS):
        result = attribute(simulated_runs(rng, paired), resamples=1000, seed=int(rng.integers(2**31)))
        assert result.resampling == ("paired" if paired else "within-run")
        for k, iv in intervals(result).items():
            hits[k] += iv.low <= truth[k] <= iv.high
            widths.append(iv.high - iv.low)
    coverage = {k: h / SIMULATIONS for k, h in hits.items()}
    pooled = sum(hits.values()) / (SIMULATIONS * len(hits))
    # 8 intervals x 300 sets: the pooled rate's standard error is under 1% (correlated intervals: say 1.2%).
    assert 0.925 <= pooled <= 0.975, coverage
    assert min(coverage.values()) >= 0.90, coverage  # no statistic far off on its own (SE 1.3% each)
    assert min(widths) > 0
