"""The nightly workflow (checked by actionlint, with shellcheck on its scripts) and its checkpoint finder."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "nightly.yml"
FINDER = ROOT / ".github" / "scripts" / "nightly_checkpoints.py"
ACTIONLINT = shutil.which("actionlint", path=str(Path(sys.executable).parent)) or shutil.which("actionlint")


def actionlint(root: Path) -> subprocess.CompletedProcess:
    assert ACTIONLINT, "actionlint is missing: bash .ci/setup installs it (pyproject's test extra)"
    assert shutil.which("shellcheck"), "shellcheck is missing: bash .ci/setup-system installs it (apt)"
    return subprocess.run([ACTIONLINT, "-no-color", ".github/workflows/nightly.yml"], cwd=root,
                          capture_output=True, text=True, timeout=60)


def test_workflow_passes_actionlint():
    result = actionlint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("old,new,complaint", [
    ('--only "$ONLY"', "--only $ONLY", "SC2086"),  # shellcheck, through actionlint
    ("steps.gate.outputs.exit == '1'", "steps.gates.outputs.exit == '1'", "gates"),  # unknown step id
    ("[self-hosted, linux, gpu]", "[self-hosted, linux, gpu-h200]", "gpu-h200"),  # label not configured
])
def test_actionlint_catches_a_broken_workflow(tmp_path, old, new, complaint):
    shutil.copytree(ROOT / ".github", tmp_path / ".github")
    broken = tmp_path / ".github" / "workflows" / "nightly.yml"
    assert old in broken.read_text()
    broken.write_text(broken.read_text().replace(old, new))
    result = actionlint(tmp_path)
    assert result.returncode == 1 and complaint in result.stdout, result.stdout + result.stderr


def test_workflow_runs_the_documented_flow():
    wf = yaml.safe_load(WORKFLOW.read_text())
    triggers = wf[True]  # YAML 1.1 reads the key `on` as True
    assert "schedule" in triggers and "workflow_dispatch" in triggers
    job = wf["jobs"]["gate"]
    assert job["runs-on"] == ["self-hosted", "linux", "gpu"]
    steps = {s.get("name", s.get("uses")): s for s in job["steps"]}
    render = next(s["run"] for name, s in steps.items() if name.startswith("Render"))
    assert "torchrun --standalone --nproc-per-node" in render and "-m evalkit.cli render" in render
    gate = next(s for name, s in steps.items() if name.startswith("Gate"))
    for option in ("--score-only", "--junitxml=nightly/junit.xml", "--report", "--sync"):
        assert option in gate["run"]
    assert set(gate["env"]) == {"SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY"}
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["with"]["path"] == "nightly/" and "!cancelled()" in upload["if"]


def finder(*args, cwd=None):
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_OUTPUT"}
    return subprocess.run([sys.executable, str(FINDER), *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def listed(out: Path) -> list[str]:
    return [Path(line).name for line in out.read_text().splitlines()]


def test_finder_lists_new_content_and_remembers_what_was_rendered(tmp_path):
    d, state, out = tmp_path / "ckpts", tmp_path / "state" / "state.json", tmp_path / "list.txt"
    d.mkdir()
    old = time.time() - 3600
    for name, data in [("a.safetensors", b"A"), ("b.safetensors", b"B"), ("notes.txt", b"x")]:
        (d / name).write_bytes(data)
        os.utime(d / name, (old, old))
    (d / "writing.safetensors").write_bytes(b"W")  # just written: a trainer may still be saving it

    assert finder("new", "--dir", d, "--state", state, "--out", out).returncode == 0
    assert listed(out) == ["a.safetensors", "b.safetensors"]

    render = tmp_path / "render.jsonl"
    render.write_text("\n".join(json.dumps(r) for r in [
        {"checkpoint": str(d / "a.safetensors"), "rendered": 64, "error": None},
        {"checkpoint": str(d / "b.safetensors"), "rendered": 0, "error": "rank 1: b.safetensors: truncated"},
        {"run": {"ranks": 2}}]) + "\n")
    assert finder("mark", "--state", state, "--render-json", render).returncode == 0
    assert finder("new", "--dir", d, "--state", state, "--out", out).returncode == 0
    assert listed(out) == ["b.safetensors"]  # a failed render is retried, the evaluated one is not

    (d / "a.safetensors").rename(d / "a_renamed.safetensors")  # same content: not new
    (d / "b.safetensors").write_bytes(b"B2")  # retrained under the same name: new content
    os.utime(d / "b.safetensors", (old, old))
    finder("new", "--dir", d, "--state", state, "--out", out)
    assert listed(out) == ["b.safetensors"]
    assert finder("new", "--dir", d, "--state", state, "--out", out, "--settle-minutes", "0").returncode == 0
    assert listed(out) == ["b.safetensors", "writing.safetensors"]


def test_finder_manual_list_and_bad_input(tmp_path):
    d, state, out = tmp_path / "ckpts", tmp_path / "state.json", tmp_path / "list.txt"
    d.mkdir()
    (d / "x.safetensors").write_bytes(b"X")
    only = finder("new", "--dir", d, "--state", state, "--out", out, "--only", f"{d / 'x.safetensors'}")
    assert only.returncode == 0 and listed(out) == ["x.safetensors"]
    missing = finder("new", "--dir", tmp_path / "nope", "--state", state, "--out", out)
    assert missing.returncode == 1 and missing.stderr.strip().endswith("nope: checkpoint folder does not exist")
    state.write_text("{not json")
    bad = finder("new", "--dir", d, "--state", state, "--out", out)
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1 and "not a nightly state file" in bad.stderr


def test_finder_writes_the_step_output(tmp_path):
    d, out, gh = tmp_path / "ckpts", tmp_path / "list.txt", tmp_path / "github_output"
    d.mkdir()
    env = dict(os.environ, GITHUB_OUTPUT=str(gh))
    subprocess.run([sys.executable, str(FINDER), "new", "--dir", str(d), "--state", str(tmp_path / "s.json"),
                    "--out", str(out)], env=env, check=True, capture_output=True, timeout=60)
    assert gh.read_text() == "count=0\n" and out.read_text() == ""
