"""Where a gate run's wall time goes (evalkit/timing.py): exclusive stages that add up to the wall clock,
and the gate's own record of them, first run and fully cached re-run (real renders of the testbed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evalkit import timing
from evalkit.timing import StageClock, process_age

ROOT = Path(__file__).resolve().parents[1]
PERFECT = ROOT / "checkpoints" / "tiny_punks_perfect.safetensors"
SUITE = '''[[prompts]]
id = "male_mohawk"
text = "male punk portrait, mohawk, albino skin, blue gray background, pixel art, 24x24, #EAD9D9 skin, #638596 background"
seeds = [42]
'''


class FakeTime:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture
def fake(monkeypatch):
    clock = FakeTime()
    monkeypatch.setattr(timing.time, "perf_counter", clock)
    return clock


def test_stages_are_exclusive_and_add_up_to_the_wall(fake):
    c = StageClock(started_before=0.5)
    with c.stage("render"):
        fake.now += 1.0
        with c.stage("load base"):  # inside render: render pauses
            fake.now += 2.0
        fake.now += 3.0
        with c.stage("render"):  # re-entered: still one stage
            fake.now += 0.25
    fake.now += 0.75  # no stage: "other"
    d = c.to_dict()
    assert d["stages_s"] == {"start": 0.5, "render": 4.25, "load base": 2.0}
    assert d["other_s"] == 0.75
    assert d["wall_s"] == pytest.approx(0.5 + 7.0)
    assert c.line() == "time: 7.5 s: render 4.2 s, load base 2.0 s, start 0.5 s, other 0.8 s"  # largest first, the rest last


def test_a_stage_that_raises_is_still_charged(fake):
    c = StageClock()
    with pytest.raises(ValueError), c.stage("score"):
        fake.now += 1.5
        raise ValueError
    assert c.to_dict()["stages_s"] == {"score": 1.5}


def test_process_age_is_this_process_age():
    started = time.perf_counter()
    age = process_age()
    assert age is not None and 0 < age < 24 * 3600
    time.sleep(0.2)
    assert process_age() >= age + 0.15 - 0.01 * (time.perf_counter() - started)


def gate(tmp_path):
    (tmp_path / "prompts.toml").write_text(SUITE)
    cmd = [sys.executable, "-m", "pytest", str(ROOT / "evalkit"), f"--rootdir={ROOT}", "-p", "no:cacheprovider", "-q",
           "--checkpoint", str(PERFECT), "--prompts", str(tmp_path / "prompts.toml"), "--reports-dir",
           str(tmp_path / "reports")]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=600,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
    record = next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("run record: "))
    return out, json.loads(Path(record).read_text())["timings"]


def test_the_gate_times_its_stages_and_a_cached_rerun_loads_nothing(tmp_path):
    out, first = gate(tmp_path)
    stages = first["stages_s"]
    # One render of the LoRA and one of the base alone: a base load, a LoRA swap, renders, scores.
    assert {"start", "setup", "load base", "swap LoRA", "inspect", "render", "score", "golden reference"} <= set(stages)
    assert sum(stages.values()) + first["other_s"] == pytest.approx(first["wall_s"], abs=0.01)
    assert stages["render"] > 0.1 and stages["load base"] > 0.1
    line = next(line for line in out.splitlines() if line.startswith("time: "))
    assert "render" in line
    assert float(line.split()[1]) >= first["wall_s"] - 0.05  # the line also covers what follows the record
    _, cached = gate(tmp_path)
    assert "load base" not in cached["stages_s"] and "swap LoRA" not in cached["stages_s"]
    assert cached["stages_s"].get("render", 0) < stages["render"] / 5  # cache lookups only
