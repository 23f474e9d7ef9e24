"""A sample of the bad-input attack (issue 22), through the same harness, so neither rots.

One or two cases per category run as real subprocesses and must come out clean; the classifier
is shown to flag each kind of failure on inputs made to fail, so "clean" cannot mean "not looked at".
The whole attack: `PYTHONPATH=. python -m tests.attack.run_attack --out reports/attack.json`.
"""

from __future__ import annotations

import json
import pickle

import pytest

from .cases import CASES, CATEGORIES
from .harness import PY, Case, Plan, Workspace, label_problems, run_case
from .builders import raw_pickle

SAMPLE = {
    "checkpoints": ["symlink_loop", "ss_optimizer_clears_screen"],
    "pickles": ["inspect_torch_zip_named_safetensors"],
    "golden": ["jpeg_named_png"],
    "prompts": ["seed_2_70", "kohya_txt_seed_2_70"],
    "images": ["escape_newline_name"],
    "tampering": ["sidecar_seed_edited"],
    "concurrent": ["two_syncs_one_store"],
    "killed": ["sync_sigkill_mid_request_then_status"],
    "sync": ["server_plain_text", "sync_extra_missing"],
    "reports": ["render_reports_dir_a_file", "gate_reports_dir_under_proc"],
}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return Workspace(tmp_path_factory.mktemp("attack"))


def test_the_attack_has_every_category_and_at_least_165_cases():
    assert {c.category for c in CASES} == set(CATEGORIES) == set(SAMPLE)
    assert len(CASES) >= 165
    names = [(c.category, c.name) for c in CASES]
    assert len(names) == len(set(names))
    findings = {c.finding for c in CASES}
    assert {str(n) for n in range(1, 12)} <= findings, sorted(findings)  # every numbered finding of the issue


@pytest.mark.parametrize("category,name", [(c, n) for c, names in SAMPLE.items() for n in names])
def test_a_sampled_case_is_clean(workspace, category, name):
    case = next(c for c in CASES if (c.category, c.name) == (category, name))
    verdict = run_case(case, workspace)
    assert not verdict.problems, (verdict.problems, verdict.tail)


def test_the_classifier_flags_a_traceback_a_raw_escape_and_a_wrong_exit(workspace):
    script = "import sys; print('name: \\x1b[2J'); raise ValueError('boom')"
    case = Case("checkpoints", "made_to_fail", lambda ws, d: Plan([PY, "-c", script], {0}, says="some.file"))
    kinds = {kind for kind, _ in run_case(case, workspace).problems}
    assert kinds == {"traceback", "raw_escape", "exit", "unnamed"}


def test_the_classifier_flags_an_executed_pickle(workspace):
    def build(ws, d):
        (d / "model.ckpt").write_bytes(raw_pickle(ws.marker))
        return Plan([PY, "-c", f"import pickle; pickle.load(open({str(d / 'model.ckpt')!r}, 'rb'))"], {0})
    problems = run_case(Case("pickles", "unpickled", build), workspace).problems
    assert [kind for kind, _ in problems] == ["pickle"] and not workspace.marker.exists()
    assert pickle  # the payload is a real pickle: the stdlib loads it (above, in the subprocess)


def test_the_classifier_flags_a_score_under_a_seed_the_suite_lacks(workspace, tmp_path):
    run = tmp_path / "reports" / "20260101T000000Z-aaaa"
    run.mkdir(parents=True)
    images = [{"prompt_id": "ape", "seed": 43, "render": "cache/x/y/ape-seed42.png"}]
    (run / "run.json").write_text(json.dumps({"checkpoints": [{"images": images}]}))
    problems = label_problems(tmp_path / "reports", workspace.suite1)
    assert [kind for kind, _ in problems] == ["mislabelled", "mislabelled"], problems
