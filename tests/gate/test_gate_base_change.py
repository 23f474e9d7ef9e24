"""Issue 22 finding 9: a LoRA that does almost nothing is flagged, never named best (real renders on CPU).

The testbed's base already draws punks, so a LoRA whose effect is near zero scores as well as the
base alone and once topped the leaderboard. ``weak`` is the perfect testbed LoRA at a hundredth of
its strength (every ``.alpha`` scaled by 0.01, a real kohya file): above the took-effect check's
relative threshold, so it renders, but 11 of its 12 renders are its base's cell for cell. The gate
renders the base alone once per run (cached), pairs each render with it, fails
``test_changes_base[weak]`` and names the perfect LoRA best.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from test_gate_testbed import junit

ROOT = Path(__file__).resolve().parents[2]
PERFECT = ROOT / "checkpoints" / "tiny_punks_perfect.safetensors"
PROMPTS = Path(__file__).with_name("prompts_small.toml")  # 6 prompts x 2 seeds: 12 paired renders


def weaken(src: Path, dst: Path, factor: float) -> Path:
    weights = load_file(src)
    with safe_open(src, "pt") as f:
        meta = dict(f.metadata())
    # Another training run to the gate (its own output name and session), so no epoch curve joins them.
    meta.update(ss_output_name=dst.stem, ss_session_id="0")
    save_file({k: v * factor if k.endswith(".alpha") else v for k, v in weights.items()}, dst, meta)
    return dst


def gate(d: Path, *args):
    xml = d / f"junit-{len(list(d.glob('junit-*')))}.xml"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "evalkit"), f"--rootdir={ROOT}", "-p", "no:cacheprovider",
         "--prompts", str(d / "prompts.toml"), "--reports-dir", str(d / "reports"), "-q", f"--junitxml={xml}",
         # 8 steps, not the base's 20: the comparison is paired, so any fixed config shows it, in half the time
         "--steps", "8", "-k", "render or changes_base or suite_mean", *args],
        cwd=d, capture_output=True, text=True, timeout=900)
    return proc, junit(xml)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("base_change")
    shutil.copy(PROMPTS, d / "prompts.toml")
    weak = weaken(PERFECT, d / "weak.safetensors", 0.01)
    return d, gate(d, "--checkpoint", str(PERFECT), "--checkpoint", str(weak))


def test_the_weak_lora_fails_its_base_change_and_the_perfect_one_is_best(run):
    d, (proc, cases) = run
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert cases["test_changes_base[weak]"][0] == "failure"
    assert cases["test_changes_base[tiny_punks_perfect]"][0] == "passed"
    assert "indistinguishable from its base" in proc.stdout
    assert "best: tiny_punks_perfect" in proc.stdout
    assert "tiny-punks-base (base alone)" in proc.stdout
    weak_row = next(line for line in proc.stdout.splitlines() if " weak " in line)
    assert "same as its base" in weak_row


def test_the_record_keeps_each_lora_against_its_base(run):
    d, _ = run
    record = json.loads(next((d / "reports").glob("*/run.json")).read_text())
    vs = {c["name"]: c["vs_base"] for c in record["checkpoints"]}
    assert vs["weak"]["indistinguishable"] and not vs["tiny_punks_perfect"]["indistinguishable"]
    assert vs["weak"]["n"] == vs["tiny_punks_perfect"]["n"] == 12
    # The weak LoRA's quality is the base's own; the perfect one's changed share is far from zero.
    assert abs(vs["weak"]["quality_delta"]) < 0.2
    assert vs["tiny_punks_perfect"]["changed_share"]["median_high"] > 0.05
    assert {c["kind"] for c in record["checkpoints"][0]["verdicts"]} >= {"base"}


def test_the_base_renders_once_and_score_only_reuses_it(run):
    d, _ = run
    assert len(list((d / "reports" / "cache" / "base-alone").glob("*/*.png"))) == 12  # once, for both LoRAs
    proc, cases = gate(d, "--checkpoint", str(d / "weak.safetensors"), "--score-only")
    assert cases["test_changes_base[weak]"][0] == "failure"  # from the cache: nothing rendered
    proc, cases = gate(d, "--checkpoint", str(d / "weak.safetensors"), "--score-only", "--no-base-compare")
    assert proc.returncode == 0 and cases["test_changes_base[weak]"][0] == "skipped"
    assert "base alone" not in proc.stdout
