"""Checkpoint metadata, names and prompts are attacker-controlled: the pages show them as text, never run them.

The hostile strings ride in a real safetensors file (its ``ss_*`` metadata,
caption tags and file name, read back by `inspect_checkpoint`) and in a
prompt, and reach every place the pages print text: inspection facts, raw
metadata, gallery, verdicts, the index table and the side-by-side view.
"""

from __future__ import annotations

import json
import shutil

import pytest
from report_pages import GOLDEN, open_page
from report_records import CHECKPOINTS, checkpoint_copy, checkpoint_result, run_record

from evalkit.errors import EvalkitError
from evalkit.gate.record import CheckpointResult
from evalkit.golden.prompts import Prompt
from evalkit.report.api import write_index, write_run_report

SCRIPT = "<script>window.__ek_pwned = 1; alert(1)</script>"
IMG = '<img src=x onerror="window.__ek_pwned = 2">'
NAME = "tiny_punks_perfect<svg onload=window.__ek_pwned=3>"  # a file name may hold markup too
PROMPT = Prompt(id="evil<b>id</b>", text=f"punk portrait {SCRIPT} #DBB180 skin, {IMG} #638596 background",
                negative="", seeds=(42,), golden=("0000",), caption_style="v1")


@pytest.fixture(scope="module")
def hostile(reports, reference, tmp_path_factory):
    """(reports folder, run) where one checkpoint and the prompt carry markup in every field they can."""
    folder = tmp_path_factory.mktemp("hostile_reports")
    shutil.copytree(reports / "golden_scores", folder / "golden_scores")
    evil = checkpoint_copy(
        CHECKPOINTS / "tiny_punks_perfect.safetensors", tmp_path_factory.mktemp("ck") / f"{NAME}.safetensors",
        ss_output_name=SCRIPT, ss_training_comment=IMG, ss_seed=IMG,
        ss_tag_frequency=json.dumps({"1_punks": {SCRIPT: 9000, IMG: 40, "pixel art": 9000}}),
        **{f"ss_{IMG}": SCRIPT},
    )
    bad = checkpoint_result(evil, folder, reference, prompts=[PROMPT])
    bad.verdicts[0].message += " " + SCRIPT
    bad.status = "fail"
    bad.verdicts[0].passed = False
    good = checkpoint_result(CHECKPOINTS / "tiny_punks_perfect.safetensors", folder, reference, prompts=[PROMPT])
    broken = CheckpointResult(name=IMG, path=SCRIPT, sha256=None, model_hash=None, info=None, status="error", error=SCRIPT)
    return folder, run_record("20261125T100000Z-evil", "2026-11-25T10:00:00+00:00", [bad, good, broken])


def assert_inert(page, expected_scripts: int):
    assert page.evaluate("window.__ek_pwned") is None
    assert page.locator("script").count() == expected_scripts
    assert page.locator("[onerror], [onload], main svg, img[src='x'], main b").count() == 0


def test_run_page_shows_markup_as_text(page, hostile):
    folder, run = hostile
    open_page(page, write_run_report(run, folder, golden_dir=GOLDEN))
    assert_inert(page, expected_scripts=1)
    text = page.locator("main").text_content()  # includes the collapsed raw-metadata table
    for s in (SCRIPT, IMG, NAME, PROMPT.id, f"ss_{IMG}"):
        assert s in text
    assert page.locator("section.checkpoint h2").first.inner_text().startswith(NAME)
    # Only the validated hex codes became swatches; the markup around them is plain text.
    assert page.locator(".prompt-text .swatch").count() == 2 * 2  # two checkpoints, two codes each
    page.locator("details.metadata summary").first.click()
    assert SCRIPT in page.locator("details.metadata").first.inner_text()
    assert_inert(page, expected_scripts=1)


def test_index_and_side_by_side_show_markup_as_text(page, hostile):
    folder, run = hostile
    open_page(page, write_index([run], folder))
    assert_inert(page, expected_scripts=2)  # the JSON data block and the page's script
    assert page.locator("#runs td.name").first.inner_text() == NAME
    page.check(f"input[name='side-a'][value='{run.run_id}/0']")
    page.check(f"input[name='side-b'][value='{run.run_id}/1']")
    pair = page.locator("#compare-pairs .pair-prompt")
    assert pair.count() == 1
    assert PROMPT.text in pair.inner_text().replace("\n", "")
    assert pair.locator(".swatch").count() == 2
    assert page.locator("#compare-summary tr.summary-a td").first.inner_text() == NAME
    assert_inert(page, expected_scripts=2)


def test_unsafe_run_id_is_refused(hostile, tmp_path):
    _, run = hostile
    run = run_record("../../outside", run.started_at, [])
    with pytest.raises(EvalkitError, match="not a safe folder name"):
        write_run_report(run, tmp_path)
    assert not (tmp_path.parent / "outside").exists()
