"""The metric registry is the one place a metric's facts live; everything else reads its rows."""

from __future__ import annotations

import numpy as np
import pytest

from evalkit.gate.quality import WEIGHTS, quality
from evalkit.gate.stats import mean_bounds
from evalkit.gate.thresholds import derive_defaults
from evalkit.score.metrics import AT_LEAST, AT_MOST, IMAGE_METRICS, MARKERS, METRICS, SET_METRICS
from evalkit.score.score_image import score_image

GOLDEN = {m: {"q05": 0.97, "q50": 0.99, "q95": 0.02} for m in METRICS}


def test_rows_are_complete_and_consistent():
    assert METRICS == tuple(m.name for m in IMAGE_METRICS) and len(set(METRICS)) == len(METRICS)
    assert sum(m.quality_weight for m in IMAGE_METRICS) == pytest.approx(1.0)
    assert {m.marker for m in IMAGE_METRICS} | {"baseline", "set", "base"} == {name for name, _ in MARKERS}
    assert len({s.item for s in SET_METRICS}) == len(SET_METRICS)
    assert WEIGHTS == {m.name: m.quality_weight for m in IMAGE_METRICS}


def test_directions_judge_each_side():
    assert AT_LEAST.passes(0.6, 0.6) and not AT_LEAST.passes(0.59, 0.6)
    assert AT_MOST.passes(0.25, 0.25) and not AT_MOST.passes(0.26, 0.25)
    low = mean_bounds(np.full(8, 0.4))
    assert AT_LEAST.beyond(low, 0.6) and not AT_MOST.beyond(low, 0.6)
    assert sorted([0.9, 0.1, 0.5], key=AT_LEAST.rank)[0] == 0.1 and sorted([0.9, 0.1, 0.5], key=AT_MOST.rank)[0] == 0.9
    assert AT_LEAST.drop(0.05) == -0.05 and AT_MOST.drop(0.05) == 0.05
    assert AT_LEAST.goodness(0.8) == 0.8 and AT_MOST.goodness(0.2) == pytest.approx(0.8)


def test_thresholds_and_record_follow_the_rows():
    t = derive_defaults(GOLDEN)
    for m in IMAGE_METRICS:
        q = GOLDEN[m.name][m.direction.percentile]
        sign = -1 if m.direction.higher_is_better else 1
        assert t.suite[m.name] == pytest.approx(min(1.0, max(0.0, q + sign * m.suite_margin)))
        assert t.image[m.name] == pytest.approx(min(1.0, max(0.0, q + sign * m.image_margin)))
        assert t.baseline[m.name] == m.baseline_tolerance
    record = t.to_record()
    assert set(record) == set(METRICS) | {s.name for s in SET_METRICS}
    assert all(record[m.name]["direction"] == m.direction.name for m in IMAGE_METRICS)
    for s in SET_METRICS:
        assert record[s.name]["value"] == t.set_limits[s.limit_key] == getattr(t, s.limit_key) == s.default_limit


def test_quality_is_ten_for_perfect_scores_and_uses_each_direction():
    perfect = {m.name: 1.0 if m.direction.higher_is_better else 0.0 for m in IMAGE_METRICS}
    assert quality(perfect) == 10.0
    worst = {m.name: 0.0 if m.direction.higher_is_better else 1.0 for m in IMAGE_METRICS}
    assert quality(worst) == 0.0


def test_every_row_is_scored_on_a_real_golden_punk(reference):
    punk = reference.cells[0]
    idx = np.minimum((np.arange(192) * 24) // 192, 23)
    s = score_image(punk[idx][:, idx], reference)
    assert tuple(s.values) == METRICS and tuple(s.to_dict()["details"]) == METRICS
    for m in IMAGE_METRICS:
        assert 0.0 <= s.value(m.name) <= 1.0 and getattr(s, m.name) == s.value(m.name)
        assert m.direction.goodness(s.value(m.name)) > 0.9  # a golden punk is good on every metric
