"""The per-run page in real Chromium: verdicts, metrics, gallery, swatches, charts, the failing-only toggle."""

from __future__ import annotations

import json

import pytest
from conftest import GOLDEN, load_lazy_images, open_page
from PIL import Image

from evalkit.gate.record import METRICS
from evalkit.golden.prompts import hex_codes_in
from evalkit.report.api import write_run_report
from evalkit.report.golden_dist import GOLDEN_SIZE
from evalkit.report.images import THUMB_PX
from evalkit.score.score_image import golden_scores


@pytest.fixture(scope="module")
def run_page(first_run, reports):
    return write_run_report(first_run, reports, golden_dir=GOLDEN)


def section(page, name):
    return page.locator(f"section.checkpoint[data-name='{name}']")


def test_header_and_one_section_per_checkpoint(page, run_page, first_run):
    open_page(page, run_page)
    assert first_run.run_id in page.locator("h1").inner_text()
    assert page.locator("header .badge").inner_text().lower() == first_run.status
    assert page.locator("section.checkpoint").count() == len(first_run.checkpoints)
    assert page.locator(".ck-nav a").all_inner_texts() == [
        f"{c.name} {c.status.upper()}" for c in first_run.checkpoints
    ]


def test_verdict_summary_and_metric_table_show_the_records_numbers(page, run_page, first_run):
    open_page(page, run_page)
    for ck in first_run.checkpoints:
        sec = section(page, ck.name)
        failed = [v for v in ck.verdicts if not v.passed]
        summary = sec.locator(".verdict-summary").inner_text()
        if failed:
            assert f"{len(failed)} of {len(ck.verdicts)} gate checks failed" in summary
            assert all(v.message in summary for v in failed)
        else:
            assert f"All {len(ck.verdicts)} gate checks passed" in summary
        rows = sec.locator("table.metrics tbody tr")
        for i, metric in enumerate(METRICS):
            cells = rows.nth(i).locator("td").all_inner_texts()
            verdict = next(v for v in ck.verdicts if v.metric == metric and v.kind == "threshold")
            assert rows.nth(i).locator("th").inner_text() == metric
            assert cells[1] == f"{verdict.value:.3f}"
            assert cells[2] == f"{verdict.low:.3f} – {verdict.high:.3f}"
            passing = sum(im.passed[metric] for im in ck.images)
            assert cells[3].startswith(f"{passing} / {len(ck.images)}")
            assert ("FAIL" in cells[-1]) == (not verdict.passed)


def test_gallery_cards_show_every_render_with_its_scores(page, run_page, first_run):
    open_page(page, run_page)
    ck = first_run.checkpoints[1]  # photoreal: images fail per-image limits too
    cards = section(page, ck.name).locator("figure.image-card")
    assert cards.count() == len(ck.images)
    for n, im in enumerate(ck.images):
        card = cards.nth(n)
        assert card.locator(".seed").inner_text().startswith(f"seed {im.seed}")
        assert im.nearest_golden in card.locator(".seed").inner_text()
        values = card.locator("table.scores td.num").all_inner_texts()
        assert values == [f"{im.scores[m]:.3f}" for m in METRICS]
        assert card.locator(".bad").count() == sum(not p for p in im.passed.values())


def test_pictures_load_crisp_and_small(page, run_page, first_run, reports):
    open_page(page, run_page)
    sec = section(page, first_run.checkpoints[0].name)
    sel = f"section.checkpoint[data-name='{first_run.checkpoints[0].name}'] .trio img"
    load_lazy_images(page, sel)
    sizes = page.eval_on_selector_all(sel, "els => els.map(e => [e.className, e.naturalWidth, getComputedStyle(e).imageRendering])")
    grids = [s for s in sizes if "grid24" in s[0]]
    goldens = [s for s in sizes if "golden" in s[0]]
    thumbs = [s for s in sizes if "thumb" in s[0]]
    assert len(grids) == len(goldens) == len(thumbs) == len(first_run.checkpoints[0].images)
    assert all(w == 24 and r == "pixelated" for _, w, r in grids + goldens)  # true-size punk, upscaled by CSS
    assert all(0 < w <= THUMB_PX for _, w, _ in thumbs)
    # The full-size render is linked, the thumbnail is a small JPEG beside the page.
    href = sec.locator(".trio a").first.get_attribute("href")
    assert (run_page.parent / href).resolve() == (reports / first_run.checkpoints[0].images[0].render).resolve()
    thumb = run_page.parent / sec.locator("img.thumb").first.get_attribute("src")
    with Image.open(thumb) as im:
        assert im.format == "JPEG" and max(im.size) <= THUMB_PX


def test_prompt_hex_codes_are_swatches_of_their_colour(page, run_page, first_run):
    open_page(page, run_page)
    ck = first_run.checkpoints[0]
    groups = section(page, ck.name).locator(".prompt-group")
    prompts = list(dict.fromkeys(im.prompt for im in ck.images))
    assert groups.count() == len(prompts)
    for g, text in enumerate(prompts):
        head = groups.nth(g).locator(".prompt-text")
        assert head.inner_text().replace("\n", "") == text.replace("\n", "")
        colours = head.locator(".swatch").evaluate_all("els => els.map(e => getComputedStyle(e).backgroundColor)")
        assert colours == [f"rgb({int(h[1:3], 16)}, {int(h[3:5], 16)}, {int(h[5:7], 16)})" for h in hex_codes_in(text)]


def test_only_failing_toggle(page, run_page, first_run):
    open_page(page, run_page)
    for ck in first_run.checkpoints:
        sec = section(page, ck.name)
        sec.locator("input.only-failing").check()
        failing = sum(1 for im in ck.images if not all(im.passed.values()))
        assert sec.locator("figure.image-card:visible").count() == failing
        sec.locator("input.only-failing").uncheck()
        assert sec.locator("figure.image-card:visible").count() == len(ck.images)
    assert any(not all(im.passed.values()) for ck in first_run.checkpoints for im in ck.images)


def test_distribution_charts_against_the_cached_golden_scores(page, run_page, first_run, reports, reference):
    open_page(page, run_page)
    load_lazy_images(page, "figure.chart img")
    assert page.locator("figure.chart img").count() == len(first_run.checkpoints)
    svg = (run_page.parent / page.locator("figure.chart img").first.get_attribute("src")).read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and svg.count("<path") > 20
    # The golden distribution is computed once per golden set, then read back; it is the real golden scores.
    (cache,) = (reports / "golden_scores").glob("*.json")
    before = cache.stat().st_mtime_ns
    write_run_report(first_run, reports, golden_dir=GOLDEN)
    assert cache.stat().st_mtime_ns == before
    cached = json.loads(cache.read_text())
    fresh = golden_scores(reference, size=GOLDEN_SIZE, limit=3)
    for m in METRICS:
        assert cached[m][:3] == pytest.approx([getattr(s, m) for s in fresh], abs=1e-4)
