"""Ratings beside quality in real Chromium: the index's Ratings section with Spearman's rho, the run page's chip."""

from __future__ import annotations

import shutil

import pytest
from report_pages import open_page
from report_records import CHECKPOINTS

from evalkit.gate.calibration import spearman
from evalkit.report.api import write_index, write_run_report
from evalkit.store.ratings import RatingBook
from evalkit.store.store import ScoreStore

RATED = {"tiny_punks_perfect": (9, "crisp punks"), "tiny_punks_photoreal": (0, "<script>alert('babies')</script>"),
         "tiny_punks_wrong_colors": (4, "wrong colours")}


@pytest.fixture(scope="module")
def rated_reports(reports, tmp_path_factory, first_run):
    out = tmp_path_factory.mktemp("rated") / "reports"
    shutil.copytree(reports, out)
    store = ScoreStore.default(out)
    store.add_run(first_run)
    book = RatingBook(store)
    for name, (score, note) in RATED.items():
        book.add(str(CHECKPOINTS / f"{name}.safetensors"), score, note, rated_by="ana")
    return out


def test_the_index_sets_ratings_beside_quality_with_their_rank_correlation(page, rated_reports, first_run):
    open_page(page, write_index([first_run], rated_reports))
    sec = page.locator("section.ratings")
    rows = sec.locator("tbody tr")
    assert rows.count() == 3
    quality = {c.name: c.quality for c in first_run.checkpoints}
    got = {}
    for i in range(3):
        name = rows.nth(i).locator("th").inner_text()
        cells = rows.nth(i).locator("td").all_inner_texts()
        got[name] = cells
        assert cells[0] == f"{RATED[name][0]:.1f}" and cells[1] == f"{quality[name]:.1f}" and cells[2] == "ana"
        assert cells[4] == RATED[name][1]  # the note as text: the script tag is shown, never run
    assert set(got) == set(RATED)
    rho = spearman([RATED[n][0] for n in RATED], [quality[n] for n in RATED])
    assert sec.locator(".rho").inner_text() == f"{rho:.2f}"
    assert "over 3 rated checkpoint(s)" in sec.locator(".rank-agreement").inner_text()


def test_the_run_page_shows_each_rating_beside_quality(page, rated_reports, first_run):
    open_page(page, write_run_report(first_run, rated_reports))
    chip = page.locator("section.checkpoint[data-name='tiny_punks_perfect'] h2 .rating")
    assert chip.inner_text() == "rated 9.0/10" and "ana" in chip.get_attribute("title")


def test_no_ratings_no_section(page, reports, first_run, tmp_path):
    out = tmp_path / "reports"
    shutil.copytree(reports, out)
    open_page(page, write_index([first_run], out))
    assert page.locator("section.ratings").count() == 0
