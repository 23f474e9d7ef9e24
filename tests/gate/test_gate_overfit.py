"""Issue 18: a LoRA that ignores its prompt fails the gate (pytester subprocess run, real renders on CPU).

``tiny_punks_overfit`` was trained like the other testbed LoRAs (``python -m testbed.train
--stage runs``) on 8 punks only: whatever it is asked it draws those few punks (its alien,
ape_detailed, male_hoodie and male_pipe renders are females). Those renders are still crisp punks
in the golden palette and none is a 99%-cell copy, so the distance and memorisation checks pass
it; prompt adherence, diversity and the near-copy collapse must fail it, while the perfect LoRA
passes every item of the same run. The suite is every prompt of ``golden/prompts.toml`` at two
seeds (32 renders per checkpoint: adherence's one-sided bounds need about that many to separate
the two; 16 renders do not).
"""

import re
from pathlib import Path

import pytest
from test_gate_testbed import junit  # one reading of a JUnit file for the gate tests

ROOT = Path(__file__).resolve().parents[2]
CK = ROOT / "checkpoints"
PERFECT, OVERFIT = CK / "tiny_punks_perfect.safetensors", CK / "tiny_punks_overfit.safetensors"

pytest_plugins = ["pytester"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    import subprocess
    import sys

    d = tmp_path_factory.mktemp("overfit")
    text = (ROOT / "golden" / "prompts.toml").read_text(encoding="utf-8")
    (d / "prompts.toml").write_text(re.sub(r"(?m)^seeds = \[.*\]$", "seeds = [42, 43]", text, count=1))
    xml = d / "junit.xml"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "evalkit"), f"--rootdir={ROOT}", "-p", "no:cacheprovider",
         "--prompts", str(d / "prompts.toml"), "--reports-dir", str(d / "reports"), "--checkpoint", str(PERFECT),
         "--checkpoint", str(OVERFIT), "--no-base-compare", "-q", f"--junitxml={xml}"],
        cwd=d, capture_output=True, text=True, timeout=1500)
    return proc, junit(xml)


def test_the_overfitted_lora_fails_adherence_diversity_and_collapse(run):
    proc, cases = run
    assert proc.returncode == 1, proc.stdout[-3000:]
    failed = {name for name, (outcome, _) in cases.items() if outcome == "failure" and "tiny_punks_overfit" in name}
    assert {"test_suite_mean[tiny_punks_overfit-prompt_adherence]", "test_diversity[tiny_punks_overfit]",
            "test_collapse[tiny_punks_overfit]"} <= failed
    # The holes the issue names: the old checks alone would have passed it.
    for item in ("test_golden_distance", "test_memorisation"):
        assert cases[f"{item}[tiny_punks_overfit]"][0] == "passed"
    for metric in ("grid_sharpness", "palette_fidelity", "photorealism"):
        assert cases[f"test_suite_mean[tiny_punks_overfit-{metric}]"][0] == "passed"
    out = proc.stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("tiny_punks_overfit: prompt_adherence: suite mean"))
    assert "is not >= " in line and "; look at " in line
    assert re.search(r"tiny_punks_overfit: diversity: 32 renders hold [\d.]+ distinct punks", out)
    assert re.search(r"tiny_punks_overfit: collapse: \d+% of renders share their nearest golden punk", out)


def test_the_perfect_lora_passes_every_item_of_the_same_run(run):
    proc, cases = run
    perfect = {name: outcome for name, (outcome, _) in cases.items() if "tiny_punks_perfect" in name}
    assert perfect and set(perfect.values()) <= {"passed", "skipped"}, sorted(n for n, o in perfect.items() if o != "passed")
    _, props = cases["test_suite_mean[tiny_punks_perfect-prompt_adherence]"]
    assert float(props["prompt_adherence_mean"]) > float(props["prompt_adherence_threshold"])
    _, props = cases["test_diversity[tiny_punks_perfect]"]
    assert float(props["vendi"]) > float(props["golden_vendi"]) * float(props["diversity_floor"])


def test_the_leaderboard_ranks_the_overfitted_lora_below_the_perfect_one(run):
    proc, _ = run
    rows = {ln.split()[1]: ln.split() for ln in proc.stdout.splitlines()
            if re.match(r"^\s+\d+\s+tiny_punks_", ln)}
    assert rows["tiny_punks_perfect"][-1] == "pass" and rows["tiny_punks_overfit"][-1] == "fail"
    header = next(ln.split() for ln in proc.stdout.splitlines() if ln.strip().startswith("#  checkpoint"))
    q = header.index("quality")  # the columns before it are one word each, in header and rows alike
    assert float(rows["tiny_punks_perfect"][q]) > float(rows["tiny_punks_overfit"][q])
    assert "best: tiny_punks_perfect" in proc.stdout
