"""The evaluation collected by `pytest evalkit --checkpoint FILE`.

For each checkpoint: render the suite (cache-aware), recover the 24x24 grid
and score every render, then one item per metric judges the suite with
95% confidence (see evalkit/gate/thresholds.py). Scores go to JUnit
properties; a failure names the metric, the interval and the worst renders.
"""

from __future__ import annotations

import pytest

from evalkit.errors import EvalkitError
from evalkit.gate.thresholds import judge

METRICS = [
    ("grid_sharpness", pytest.mark.grid),
    ("palette_fidelity", pytest.mark.palette),
    ("photorealism", pytest.mark.realism),
]


def pytest_generate_tests(metafunc):
    paths = metafunc.config.evalkit_session.checkpoints
    if "checkpoint" in metafunc.fixturenames and "metric" in metafunc.fixturenames:
        params = [pytest.param(p, m, id=f"{p.stem}", marks=mark) for p in paths for m, mark in METRICS
                  if metafunc.function.__name__ == f"test_{m}"]
        metafunc.parametrize("checkpoint,metric", params)
    elif "checkpoint" in metafunc.fixturenames:
        metafunc.parametrize("checkpoint", paths, ids=[p.stem for p in paths])


def _check(evalkit_session, checkpoint, metric, record_property):
    try:
        result = evalkit_session.evaluate(checkpoint)
    except EvalkitError as exc:
        pytest.fail(str(exc), pytrace=False)
    direction, threshold = evalkit_session.thresholds[metric]
    values = [getattr(s, metric) for s in result.scores]
    verdict = judge(metric, values, direction, threshold)
    record_property(f"{metric}_mean", round(verdict.mean, 4))
    record_property(f"{metric}_interval", f"{verdict.low:.4f}..{verdict.high:.4f}")
    record_property(f"{metric}_threshold", threshold)
    if not verdict.passed:
        worst = sorted(zip(values, result.renders), key=lambda t: t[0], reverse=direction == "max")[:3]
        paths = ", ".join(f"{r.path} ({v:.2f})" for v, r in worst)
        pytest.fail(f"{checkpoint.name}: {verdict.message()}; look at {paths}", pytrace=False)


def test_grid_sharpness(evalkit_session, checkpoint, metric, record_property):
    _check(evalkit_session, checkpoint, metric, record_property)


def test_palette_fidelity(evalkit_session, checkpoint, metric, record_property):
    _check(evalkit_session, checkpoint, metric, record_property)


def test_photorealism(evalkit_session, checkpoint, metric, record_property):
    _check(evalkit_session, checkpoint, metric, record_property)
