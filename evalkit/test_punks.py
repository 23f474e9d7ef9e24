"""The evaluation collected by `pytest evalkit --checkpoint FILE`.

Per checkpoint, in this order:

* ``test_render[ckpt]``: render the suite (cache-aware) and score it;
* ``test_suite_mean[ckpt-metric]``: the gate proper, the suite mean beyond its
  threshold with 95% confidence (seed noise cannot flip it);
* ``test_golden_distance[ckpt]``, ``test_memorisation[ckpt]``: set level;
* ``test_baseline[ckpt-metric]``: paired comparison with the recorded baseline;
* ``test_changes_base[ckpt]``: the LoRA changes what its base alone draws
  (gate/base_compare.py; skipped with ``--no-base-compare``);
* ``test_grid_sharpness[ckpt]`` (one ``test_<metric>`` per row of
  `evalkit.score.metrics.IMAGE_METRICS`): every render against its lenient
  per-image floor, catching a broken image; a failure names each render below
  it. One item per checkpoint, not per render: pytest's own work per item
  (~2-4 ms) was most of a cached re-run's wall time at 1,024 such items.

Markers: each metric row's marker (grid, palette, realism, adherence), set, baseline, base.
Scores go to JUnit properties; a failure names the metric, the numbers and
the renders.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from evalkit.plugin import GATE_SESSION
from evalkit.score.metrics import IMAGE_METRICS, METRICS, SET_METRICS
from evalkit.terminal_text import printable, printable_lines

MARKS = {m.name: getattr(pytest.mark, m.marker) for m in IMAGE_METRICS}


@dataclass(frozen=True)
class Case:
    """What one item judges."""

    checkpoint: Path
    kind: str  # render | suite | a SET_METRICS name | baseline | base | image
    metric: str | None = None

    @property
    def name(self) -> str:
        return self.checkpoint.stem


SET_KINDS = {s.name for s in SET_METRICS}


def _cases(kind: str, metric: str | None, session) -> list:
    out = []
    for ck in session.checkpoints:
        name = ck.stem
        if kind == "image":
            out.append(pytest.param(Case(ck, kind, metric), id=name, marks=MARKS[metric]))
        elif kind in ("suite", "baseline"):
            for m in METRICS:
                marks = [MARKS[m]] + ([pytest.mark.baseline] if kind == "baseline" else [])
                out.append(pytest.param(Case(ck, kind, m), id=f"{name}-{m}", marks=marks))
        else:
            marks = [pytest.mark.set] if kind in SET_KINDS else [pytest.mark.base] if kind == "base" else []
            out.append(pytest.param(Case(ck, kind), id=name, marks=marks))
    return out


KINDS = {
    "test_render": ("render", None),
    "test_suite_mean": ("suite", None),
    **{s.item: (s.name, None) for s in SET_METRICS},
    "test_baseline": ("baseline", None),
    "test_changes_base": ("base", None),
    **{f"test_{m.name}": ("image", m.name) for m in IMAGE_METRICS},
}


def pytest_generate_tests(metafunc):
    if "case" in metafunc.fixturenames:
        kind, metric = KINDS[metafunc.function.__name__]
        metafunc.parametrize("case", _cases(kind, metric, metafunc.config.stash[GATE_SESSION]))


def _report(verdict, record_property) -> None:
    """What every item does with the session's `Verdict`: properties, then skip / fail / pass."""
    if verdict.skip is not None:
        pytest.skip(printable(verdict.skip))  # messages name files: control characters escaped
    for name, value in verdict.properties:
        record_property(name, value)
    if not verdict.passed:
        pytest.fail(printable_lines(verdict.failure), pytrace=False)  # a multi-line failure escapes each line


def _set_item(name: str, item_name: str):
    def item(case, evaluation, evalkit_session, record_property):
        _report(evalkit_session.set_verdict(evaluation, name), record_property)
    item.__name__ = item.__qualname__ = item_name
    return item


def _image_item(metric: str):
    def item(case, evaluation, evalkit_session, record_property):
        _report(evalkit_session.image_verdict(evaluation, metric), record_property)
    item.__name__ = item.__qualname__ = f"test_{metric}"
    return item


# Items in run order (the record keeps verdicts in that order). One function per registry row:
# test_golden_distance, test_memorisation (SET_METRICS); test_grid_sharpness, ... (IMAGE_METRICS).
def test_render(case, evaluation, evalkit_session, record_property):
    _report(evalkit_session.render_verdict(evaluation), record_property)


def test_suite_mean(case, evaluation, evalkit_session, record_property):
    _report(evalkit_session.suite_verdict(evaluation, case.metric), record_property)


globals().update({row.item: _set_item(row.name, row.item) for row in SET_METRICS})


def test_baseline(case, evaluation, evalkit_session, record_property):
    _report(evalkit_session.baseline_verdict(evaluation, case.metric), record_property)


def test_changes_base(case, evaluation, evalkit_session, record_property):
    _report(evalkit_session.base_verdict(evaluation), record_property)


globals().update({f"test_{row.name}": _image_item(row.name) for row in IMAGE_METRICS})
