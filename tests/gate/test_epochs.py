"""Epoch grouping and the best / earliest-within-noise epoch, on plain numbers (milliseconds).

tests/gate/test_gate_epochs.py runs the same rules through `pytest evalkit` on real renders.
"""

import numpy as np
import pytest

from evalkit.gate.epochs import Member, epoch_run, group_epochs, kohya_file_epoch, summary_lines
from evalkit.gate.stats import mean_bounds
from evalkit.score.metrics import IMAGE_METRICS


def _values(level: float, n: int = 12, seed: int = 0, spread: float = 0.02) -> dict[str, list[float]]:
    """Per-image scores of every registry metric at a training level in [0, 1] (1: fully trained)."""
    rng = np.random.default_rng(seed)
    out = {}
    for m in IMAGE_METRICS:
        good = np.clip(level + rng.normal(0, spread, n), 0, 1)
        out[m.name] = list(good if m.direction.higher_is_better else 1 - good)
    return out


def _member(name, level, session="s1", output="RUN", epoch=None, num_epochs=None, seed=0, spread=0.02):
    return Member(name, session, output, epoch, num_epochs, _values(level, seed=seed, spread=spread))


def test_kohya_file_names():
    assert kohya_file_epoch("RUN-000003") == ("RUN", 3)
    assert kohya_file_epoch("my-run-000010") == ("my-run", 10)
    assert kohya_file_epoch("RUN") == ("RUN", None)
    assert kohya_file_epoch("RUN-3") == ("RUN-3", None)  # not sd-scripts' six digits: not an epoch


def test_a_rising_run_has_a_late_best_and_a_plateau_within_noise():
    levels = {1: 0.3, 2: 0.6, 3: 0.85, 4: 0.9, 5: 0.9}
    members = [_member(f"RUN-{e:06d}", lv, epoch=e, seed=e) for e, lv in levels.items()]
    runs, problems = group_epochs(members)
    assert problems == [] and len(runs) == 1
    r = runs[0]
    q = r.quality
    assert q.epochs == [1, 2, 3, 4, 5]
    assert all(a.value < b.value for a, b in zip(q.points[:3], q.points[1:4]))  # the curve rises
    assert r.best in (4, 5)
    # epoch 3 (0.85) is clearly below 0.9 with spread 0.02 over 12 renders; 4 and 5 tie
    assert r.earliest_within_noise == 4
    for p in q.points:
        assert p.low <= p.value <= p.high
    d = r.to_dict()
    assert d["best_epoch"] == r.best and [c["name"] for c in d["curves"]] == [*(m.name for m in IMAGE_METRICS), "quality"]


def test_within_noise_is_the_bounds_rule():
    """Epoch e is within noise of the best b exactly when high(e) >= low(b) (the module docstring)."""
    rng = np.random.default_rng(3)
    members = [_member(f"RUN-{e:06d}", 0.5 + 0.08 * e + rng.normal(0, 0.01), epoch=e, seed=e, spread=0.15)
               for e in range(1, 6)]
    (r,), _ = group_epochs(members)
    q = r.quality
    best = q.points[q.epochs.index(q.best)]
    expected = next(e for e, p in zip(q.epochs, q.points) if p.high >= best.low)
    assert q.earliest_within_noise == expected
    # the per-metric curves follow the metric's own bounds and direction
    for m, c in zip(IMAGE_METRICS, r.curves):
        b = [mean_bounds(x.values[m.name]) for x in sorted(members, key=lambda x: x.epoch)]
        assert [p.low for p in c.points] == pytest.approx([x.low for x in b])
        means = [x.mean if m.direction.higher_is_better else -x.mean for x in b]
        assert c.best == c.epochs[int(np.argmax(means))]


def test_kohya_final_file_is_the_last_epoch():
    """NAME.safetensors without ss_epoch follows NAME-000001..; with ss_num_epochs that number."""
    members = [Member("RUN-000001", None, None, None, None, _values(0.4)),
               Member("RUN-000002", None, None, None, None, _values(0.7)),
               Member("RUN", None, None, None, None, _values(0.9))]
    (r,), problems = group_epochs(members)
    assert problems == [] and [e for e, _, _ in r.members] == [1, 2, 3]
    assert r.members[-1] == (3, "RUN", True) and r.best == 3
    assert "e3?" in summary_lines([r])[0]  # an assumed epoch number is marked
    members[-1] = Member("RUN", None, None, None, 6, _values(0.9))
    (r,), _ = group_epochs(members)
    assert r.members[-1][0] == 6


def test_runs_are_kept_apart_by_session_and_name():
    a = [_member(f"A-{e:06d}", 0.5, session="s1", output="A", epoch=e) for e in (1, 2)]
    b = [_member(f"B-{e:06d}", 0.5, session="s2", output="B", epoch=e) for e in (1, 2, 3)]
    single = [_member("lonely", 0.5, session="s3", output="lonely", epoch=1)]
    runs, problems = group_epochs(a + b + single)
    assert [(r.run, len(r.members)) for r in runs] == [("A", 2), ("B", 3)] and problems == []


def test_epochs_that_mix_runs_are_refused():
    # the same epoch twice in one run (two folders' files with one output name and no session id)
    twice = [_member("RUN-000001", 0.5, session=None, epoch=1), _member("RUN-000002", 0.5, session=None, epoch=2),
             Member("RUN_copy", None, "RUN", 2, None, _values(0.5))]
    runs, problems = group_epochs(twice)
    assert runs == [] and len(problems) == 1
    assert "epoch 2 appears twice (RUN-000002, RUN_copy)" in problems[0] and "mix training runs" in problems[0]
    # a file number that contradicts ss_epoch
    renamed = [_member("RUN-000001", 0.5, epoch=1), _member("RUN-000002", 0.5, epoch=5)]
    runs, problems = group_epochs(renamed)
    assert runs == [] and "RUN-000002 is epoch 2 by its file name but ss_epoch 5" in problems[0]
    # one name, two training sessions: two runs of one epoch each, never one curve, and a line says so
    sessions = [_member("RUN-000001", 0.5, session="s1", epoch=1), _member("RUN-000002", 0.5, session="s2", epoch=2)]
    runs, problems = group_epochs(sessions)
    assert runs == [] and "2 training sessions" in problems[0]
    assert summary_lines(runs, problems)[0].startswith("epochs: RUN:")


def test_unscored_checkpoints_are_left_out():
    members = [_member("RUN-000001", 0.5, epoch=1), _member("RUN-000002", 0.5, epoch=2),
               Member("RUN-000003", "s1", "RUN", 3, None, {m.name: [] for m in IMAGE_METRICS})]
    (r,), _ = group_epochs(members)
    assert [e for e, _, _ in r.members] == [1, 2]


def test_epoch_run_refuses_a_repeated_epoch():
    from evalkit.gate.epochs import EpochPoint

    with pytest.raises(ValueError, match="twice"):
        epoch_run("RUN", [EpochPoint(1, "a", _values(0.5)), EpochPoint(1, "b", _values(0.5))])
