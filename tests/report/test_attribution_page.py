"""The cross-run page's attribution table and caption-version filter, in real Chromium, over the users' runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import open_page

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
