"""The evaluation collected by `pytest evalkit --checkpoint FILE`.

Per checkpoint, in this order:

* ``test_render[ckpt]``: render the suite (cache-aware) and score it;
* ``test_suite_mean[ckpt-metric]``: the gate proper, the suite mean beyond its
  threshold with 95% confidence (seed noise cannot flip it);
* ``test_golden_distance[ckpt]``, ``test_memorisation[ckpt]``: set level;
* ``test_baseline[ckpt-metric]``: paired comparison with the recorded baseline;
* ``test_grid_sharpness[ckpt-prompt-seedN]`` (and palette/photorealism): one
  lenient floor per render, catching a broken image.

Markers: grid, palette, realism (per metric), set, baseline. Scores go to
JUnit properties; a failure names the metric, the numbers and the renders.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from evalkit.errors import EvalkitError
from evalkit.gate.record import METRICS
from evalkit.gate.thresholds import DIRECTIONS

MARKS = {"grid_sharpness": pytest.mark.grid, "palette_fidelity": pytest.mark.palette, "photorealism": pytest.mark.realism}


@dataclass(frozen=True)
class Case:
    """What one item judges."""

    checkpoint: Path
    kind: str  # render | suite | mmd | memorisation | baseline | image
    metric: str | None = None
    prompt_id: str | None = None
    seed: int | None = None

    @property
    def name(self) -> str:
        return self.checkpoint.stem


def _cases(kind: str, metric: str | None, session) -> list:
    out = []
    for ck in session.checkpoints:
        name = ck.stem
        if kind == "image":
            out += [pytest.param(Case(ck, kind, metric, p.id, s), id=f"{name}-{p.id}-seed{s}", marks=MARKS[metric])
                    for p in session.prompts for s in p.seeds]
        elif kind in ("suite", "baseline"):
            for m in METRICS:
                marks = [MARKS[m]] + ([pytest.mark.baseline] if kind == "baseline" else [])
                out.append(pytest.param(Case(ck, kind, m), id=f"{name}-{m}", marks=marks))
        else:
            marks = [pytest.mark.set] if kind in ("mmd", "memorisation") else []
            out.append(pytest.param(Case(ck, kind), id=name, marks=marks))
    return out


KINDS = {
    "test_render": ("render", None),
    "test_suite_mean": ("suite", None),
    "test_golden_distance": ("mmd", None),
    "test_memorisation": ("memorisation", None),
    "test_baseline": ("baseline", None),
    "test_grid_sharpness": ("image", "grid_sharpness"),
    "test_palette_fidelity": ("image", "palette_fidelity"),
    "test_photorealism": ("image", "photorealism"),
}


def pytest_generate_tests(metafunc):
    if "case" in metafunc.fixturenames:
        kind, metric = KINDS[metafunc.function.__name__]
        metafunc.parametrize("case", _cases(kind, metric, metafunc.config.evalkit_session))


def test_render(case, evaluation, evalkit_session, record_property):
    r = evaluation.result
    record_property("rendered", r.rendered)
    record_property("cached", r.cached)
    record_property("render_seconds", r.render_seconds)
    expected = sum(len(p.seeds) for p in evalkit_session.prompts)
    assert len(evaluation.renders) == expected, f"{case.checkpoint}: {len(evaluation.renders)} of {expected} renders"


def test_suite_mean(case, evaluation, evalkit_session, record_property):
    v = evalkit_session.suite_verdict(evaluation, case.metric)
    record_property(f"{case.metric}_mean", round(v.value, 4))
    record_property(f"{case.metric}_interval", f"{v.low:.4f}..{v.high:.4f}")
    record_property(f"{case.metric}_threshold", v.threshold)
    if not v.passed:
        pytest.fail(f"{case.name}: {v.message}", pytrace=False)


def test_golden_distance(case, evaluation, evalkit_session, record_property):
    v = evalkit_session.mmd_verdict(evaluation)
    mmd = evaluation.result.set_level.get("mmd") or {}
    record_property("mmd2", mmd.get("mmd2"))
    record_property("mmd_p_value", mmd.get("p_value"))
    record_property("mmd_threshold", v.threshold)
    if not v.passed:
        pytest.fail(f"{case.name}: {v.message}", pytrace=False)


def test_memorisation(case, evaluation, evalkit_session, record_property):
    v = evalkit_session.memorisation_verdict(evaluation)
    record_property("copy_rate", round(v.value, 4))
    record_property("golden_copy_rate", v.baseline)
    record_property("copy_rate_limit", round(v.threshold, 4))
    if not v.passed:
        pytest.fail(f"{case.name}: {v.message}", pytrace=False)


def test_baseline(case, evaluation, evalkit_session, record_property):
    if evaluation.baseline_refused is not None:
        pytest.fail(f"{case.name}: {evaluation.baseline_refused}", pytrace=False)
    if evaluation.baseline_written is not None:
        pytest.skip(f"--update-baseline: recorded {evaluation.baseline_written}")
    path = evalkit_session.baseline_for(evaluation)
    if path is None and evalkit_session.opts.require_baseline:
        pytest.fail(f"{case.name}: no baseline recorded for this checkpoint and --require-baseline "
                    "(EVALKIT_REQUIRE_BASELINE=1) is set; record one with --update-baseline, or pass --baseline",
                    pytrace=False)
    if path is None:
        pytest.skip("no baseline recorded for this checkpoint (record one with --update-baseline, or pass --baseline)")
    try:
        c, message = evalkit_session.baseline_comparison(evaluation, case.metric, path)
    except EvalkitError as exc:
        pytest.fail(str(exc), pytrace=False)
    record_property("baseline", str(path))
    record_property(f"{case.metric}_baseline_mean", round(c.baseline_mean, 4))
    record_property(f"{case.metric}_obtained_mean", round(c.obtained_mean, 4))
    record_property(f"{case.metric}_delta", round(c.delta.mean, 4))
    record_property(f"{case.metric}_delta_interval", f"{c.delta.low:.4f}..{c.delta.high:.4f}")
    if c.regressed:
        pytest.fail(f"{case.name}: {message}", pytrace=False)


def _image(case, evaluation, evalkit_session, record_property):
    im = evaluation.image(case.prompt_id, case.seed)
    assert im is not None, f"{case.checkpoint}: no render for {case.prompt_id} seed {case.seed}"
    value, limit = im.scores[case.metric], im.thresholds[case.metric]
    path = evalkit_session.absolute(im.render)
    record_property(case.metric, value)
    record_property("threshold", limit)
    record_property("render", path)
    if not im.passed[case.metric]:
        side = ">=" if DIRECTIONS[case.metric] == "min" else "<="
        pytest.fail(f"{case.name}: {case.metric} {value:.3f} is not {side} {limit:.3f} (per-image limit) "
                    f"for {case.prompt_id} seed {case.seed}; look at {path}", pytrace=False)


def test_grid_sharpness(case, evaluation, evalkit_session, record_property):
    _image(case, evaluation, evalkit_session, record_property)


def test_palette_fidelity(case, evaluation, evalkit_session, record_property):
    _image(case, evaluation, evalkit_session, record_property)


def test_photorealism(case, evaluation, evalkit_session, record_property):
    _image(case, evaluation, evalkit_session, record_property)
