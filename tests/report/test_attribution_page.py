"""The cross-run page's attribution table and caption-version filter, in real Chromium, over the users' runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from report_pages import open_page

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "compare"))  # the users' runs live with the compare tests
from users_runs import FIRST_RUN, SEVENTH, SEVENTH_RUN, record, users_checkpoints  # noqa: E402

from evalkit.report.api import write_index  # noqa: E402
from evalkit.report.sources import load_runs  # noqa: E402
from evalkit.store.store import ScoreStore  # noqa: E402

V1, V2 = "tags-afca6c3edf5f", "tags-cce42d8f59ec"


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """The index after the six runs, and after the seventh too (two reports folders)."""
    six, seventh = users_checkpoints(tmp_path_factory.mktemp("loras")), None
    out = {}
    for name in ("six", "seven"):
        folder = tmp_path_factory.mktemp(name)
        store = ScoreStore.default(folder)
        store.add_run(record(*FIRST_RUN, six))
        if name == "seven":
            seventh = users_checkpoints(tmp_path_factory.mktemp("lora7"), [SEVENTH], seed=7)
            store.add_run(record(*SEVENTH_RUN, seventh))
        out[name] = write_index(load_runs(folder)[0], folder)
    return out


def test_six_runs_show_dim_and_captions_confounded(page, pages):
    open_page(page, pages["six"])
    sd15 = page.locator("table.attribution-table[data-stratum='SD1.5']")
    assert sd15.is_visible()
    confounded = sd15.locator("tr.confounded", has_text="network_dim + captions")
    assert confounded.count() == 1
    assert "together: network_dim 32 → 64, captions v1 (" + V1 + ") → v2 (" + V2 + ")" in confounded.inner_text()
    assert sd15.locator("tr.effect", has_text="network_dim").count() == 0  # no separate effect
    # the joint change drifted to photographs: realism worse, quality worse, both with intervals
    cells = confounded.locator("td")
    assert "worse" in cells.nth(0).get_attribute("class") and "worse" in cells.nth(3).get_attribute("class")
    assert "…" in cells.nth(0).locator(".iv").inner_text()
    assert page.locator(".next-runs li .next-config").first.inner_text() == "SD1.5, network_dim 32, v2 captions"


def test_the_seventh_run_gives_each_its_effect(page, pages):
    open_page(page, pages["seven"])
    sd15 = page.locator("table.attribution-table[data-stratum='SD1.5']")
    assert sd15.locator("tr.confounded", has_text="captions").count() == 0
    dim = sd15.locator("tr.effect", has_text="network_dim 32 → 64")
    captions = sd15.locator("tr.effect", has_text=f"captions v2 ({V2}) → v1 ({V1})")
    assert dim.count() == 1 and captions.count() == 1
    realism = dim.locator("td").nth(3)
    assert float(realism.inner_text().split("\n")[0]) > 0.3 and "worse" in realism.get_attribute("class")
    assert "worse" in captions.locator("td").nth(2).get_attribute("class")  # v1 captions: palette lower
    assert not page.locator(".next-runs li", has_text="in SD1.5").count()


def test_filter_by_caption_version_with_both_present(page, pages):
    open_page(page, pages["seven"])
    select = page.locator("select[data-filter='caption']")
    options = select.locator("option").all_inner_texts()
    assert f"v1 · {V1}" in options and f"v2 · {V2}" in options
    select.select_option(V2)
    names = page.locator("#runs tbody tr:visible td.name").all_inner_texts()
    assert sorted(names) == ["SD15_bespoke_baby_Nov10", "SD15_dim32_v2_planned", "SDXL_Current_Nov10"]
    labels = page.locator("#runs tbody tr:visible .caption-label").all_inner_texts()
    assert labels == ["v2"] * 3
    select.select_option(V1)
    assert len(page.locator("#runs tbody tr:visible td.name").all_inner_texts()) == 4


# -- end to end: the gate on two real testbed runs, then `evalkit compare` and the page on its records ---------------

ROOT = Path(__file__).resolve().parents[2]
# Two of the users' runs whose metadata differ in the captions alone: the planned run is PERFECT's recipe
# on v2 captions (dim 32/16 both; 216 and 226 time-budgeted steps, one level).
PAIR = [ROOT / "checkpoints" / "users_runs" / "SD15_PERFECT_Nov9.safetensors",
        ROOT / "checkpoints" / "planned_run" / "SD15_newcaps_dim32_Nov11.safetensors"]
SLICE = ("male_mohawk", "ape", "female_wild_hair")  # 3 prompts x seed 42 of the gate tests' slice
STEPS = 8  # sampling steps: a third of the base's 20 keeps the CPU run short; what is checked is which setting is named


def prompt_slice(src: Path, dst: Path) -> Path:
    head, *blocks = src.read_text().split("[[prompts]]")
    keep = [b for b in blocks if any(f'id = "{p}"' in b for p in SLICE)]
    dst.write_text(head.replace("seeds = [42, 43]", "seeds = [42]") + "".join("[[prompts]]" + b for b in keep))
    return dst


@pytest.fixture(scope="module")
def gated(tmp_path_factory):
    """`pytest evalkit` on the pair as a user runs it (real renders on CPU, the render cache in this module's
    folder), then the HTML report of its records."""
    import os
    import subprocess

    d = tmp_path_factory.mktemp("e2e")
    prompts = prompt_slice(ROOT / "tests" / "gate" / "prompts_small.toml", d / "prompts.toml")
    args = [sys.executable, "-m", "pytest", str(ROOT / "evalkit"), f"--rootdir={ROOT}", "-p", "no:cacheprovider",
            "--prompts", str(prompts), "--reports-dir", str(d / "reports"), "--device", "cpu", "--steps", str(STEPS), "--no-base-compare"]
    for path in PAIR:
        args += ["--checkpoint", str(path)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    gate = subprocess.run(args, cwd=d, env=env, capture_output=True, text=True, timeout=600)
    assert gate.returncode in (0, 1), gate.stdout[-3000:] + gate.stderr[-3000:]  # 1: a gate verdict, not a crash
    index = write_index(load_runs(d / "reports")[0], d / "reports")
    return d / "reports", gate.stdout, index


def test_gate_then_compare_names_the_one_setting_that_differs(gated, capsys):
    import json
    import re

    from evalkit.cli import main

    reports, gate_out, _ = gated
    assert "attribution over 2 runs" in gate_out  # the gate's own summary after the leaderboard
    assert main(["compare", "--reports-dir", str(reports)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^  captions v[12] \(tags-[0-9a-f]{12}\) -> v[12] \(tags-[0-9a-f]{12}\): quality [+-]", out, re.M), out
    assert "confounded" not in out and not re.search(r"^  .*steps", out, re.M)  # 216, 226 steps: one level
    assert "level: steps 216-226 holds 216, 226" in out
    assert main(["compare", "--reports-dir", str(reports), "--json", "--resamples", "200"]) == 0
    data = json.loads(capsys.readouterr().out)
    (stratum,) = data["strata"]
    assert [f["name"] for f in stratum["factors"]] == ["captions"] and stratum["factors"][0]["status"] == "estimable"
    assert stratum["constant"]["steps"] == "216-226" and stratum["constant"]["network_dim"] == 32
    assert {r["renders"] for r in data["runs"]} == {len(SLICE)} and data["resampling"] == "paired"


def test_the_page_shows_the_attribution_of_the_real_records(page, gated):
    _, _, index = gated
    open_page(page, index)
    table = page.locator("table.attribution-table[data-stratum='all runs']")
    assert table.is_visible()
    row = table.locator("tr.effect", has_text="captions")
    assert row.count() == 1 and "→" in row.inner_text()
    assert table.locator("tr.confounded").count() == 0
    assert page.locator("select[data-filter='caption'] option").count() >= 3  # all, v1, v2
