"""The per-run page in real Chromium: verdicts, metrics, gallery, swatches, charts, the failing-only toggle."""

from __future__ import annotations

import json

import pytest
from report_pages import GOLDEN, load_lazy_images, open_page
from PIL import Image

from evalkit.gate.record import METRICS
from evalkit.golden.prompts import hex_codes_in
from evalkit.report.api import write_run_report
from evalkit.report.golden_dist import GOLDEN_SIZE
from evalkit.report.images import THUMB_PX
from evalkit.golden.labels import load_labels
from evalkit.golden.load import load_golden
from evalkit.score.prompt_adherence import golden_requests
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
    g = load_golden(GOLDEN)  # each golden punk scored against its own labels, as the report does
    fresh = golden_scores(reference, size=GOLDEN_SIZE, limit=3,
                          requested=golden_requests(g.ids, g.captions.values(), load_labels(GOLDEN)))
    for m in METRICS:
        assert cached[m][:3] == pytest.approx([getattr(s, m) for s in fresh], abs=1e-4)


def card_facts(sec, title):
    """label -> value of one inspection card ("Model", "Network", "Captions", "Training")."""
    card = sec.locator(".inspect-grid .card", has=sec.page.locator(f"h4:text-is('{title}')"))
    labels = card.locator("dt").all_inner_texts()
    return dict(zip(labels, card.locator("dd").all_inner_texts()))


def test_checkpoint_inspection_record(page, run_page, first_run):
    open_page(page, run_page)
    for ck in first_run.checkpoints:
        sec = section(page, ck.name)
        info = ck.info
        prov = info["provenance"]
        model = card_facts(sec, "Model")
        assert model["base"] == "SD1.5"
        assert model["base model"] == prov["base_model_name"]
        assert model["sha256"] == info["hashes"]["sha256"][:12]
        net = card_facts(sec, "Network")
        assert net["network_dim (rank)"] == str(info["network"]["rank"])
        assert net["alpha"] == f"{info['network']['alpha']:g}"
        captions = card_facts(sec, "Captions")
        assert captions["caption fingerprint"] == info["captions"]["tag_set_hash"][:12]
        assert captions["captioned images"] == str(info["captions"]["images"])
        training = card_facts(sec, "Training")
        assert training["learning rate"] == f"{prov['learning_rate']:g}"
        assert training["optimizer"] == prov["optimizer"]
        assert training["steps"] == str(prov["steps"])
        assert training["resolution"] == " x ".join(map(str, prov["resolution"]))
        # The key facts line above the verdict agrees with the cards.
        chips = sec.locator(".key-facts .chip").all_inner_texts()
        assert chips[:3] == ["base SD1.5", f"network_dim {prov['network_dim']}", f"alpha {prov['network_alpha']:g}"]


@pytest.fixture(scope="module")
def baseline_page(testbed, reports, reference):
    """A run of the perfect LoRA gated against the wrong-colours one as its baseline: every delta is non-zero."""
    from report_records import CHECKPOINTS, checkpoint_result, run_record

    ck = checkpoint_result(CHECKPOINTS / "tiny_punks_perfect.safetensors", reports, reference,
                           baseline=testbed["tiny_punks_wrong_colors"])
    run = run_record("20261121T100000Z-base", "2026-11-21T10:00:00+00:00", [ck])
    return write_run_report(run, reports, golden_dir=GOLDEN), ck, testbed["tiny_punks_wrong_colors"]


def test_metric_table_shows_thresholds_baseline_and_deltas(page, baseline_page, first_run):
    path, ck, base = baseline_page
    open_page(page, path)
    rows = section(page, ck.name).locator("table.metrics tbody tr")
    tones = []
    for i, metric in enumerate(METRICS):
        spec = first_run.thresholds[metric]
        cells = rows.nth(i).locator("td")
        assert cells.nth(0).inner_text() == f"{'≥' if spec['direction'] == 'min' else '≤'} {spec['value']:.2f}"
        assert cells.nth(4).inner_text() == f"{base.mean(metric):.3f}"
        delta = ck.mean(metric) - base.mean(metric)
        assert cells.nth(5).inner_text() == f"{delta:+.3f}"
        better = delta > 0 if spec["direction"] == "min" else delta < 0
        tone = "same" if abs(delta) < 0.0005 else "good" if better else "worse"
        assert cells.nth(5).get_attribute("class").split()[-1] == tone
        tones.append(tone)
        assert "baseline" in cells.nth(6).inner_text()
    assert "good" in tones  # palette fidelity: far better than the wrong-colours baseline
    # Without a baseline the columns say so rather than showing zeros.
    open_page(page, write_run_report(first_run, path.parents[1], golden_dir=GOLDEN))
    assert section(page, first_run.checkpoints[0].name).locator("table.metrics tbody tr td:nth-child(7)").all_inner_texts()[:3] == ["—"] * 3


def test_gallery_pictures_are_lazy_and_from_the_reports_folder(page, run_page, reports):
    """Self-contained: every request the page makes is a file under the reports folder; gallery images load lazily."""
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    open_page(page, run_page)
    load_lazy_images(page, "main img")
    assert requests and all(u.startswith(reports.resolve().as_uri() + "/") for u in requests)
    lazy = page.eval_on_selector_all(".trio img, figure.chart img", "els => els.map(e => e.loading)")
    assert lazy and set(lazy) == {"lazy"}


def test_each_checkpoint_shows_its_change_against_the_base_alone(page, first_run, reports):
    """Issue 22 finding 9: the page says what a LoRA changed against its base, and flags one that changed nothing."""
    import copy

    from evalkit.gate.base_compare import base_verdict, compare_to_base

    record = copy.deepcopy(first_run)
    record.run_id = first_run.run_id + "-vs-base"
    same, other, *rest = record.checkpoints
    for ck in rest:  # a comparison that could not be made (found by the attack: the page raised on it)
        ck.vs_base = {"base": "tiny-punks-base", "skipped": "the base alone could not be scored: <why>"}
    same.vs_base = compare_to_base(same.images, same.images, "tiny-punks-base")  # its own renders: unchanged
    other.vs_base = compare_to_base(other.images, same.images, "tiny-punks-base")
    same.verdicts.append(base_verdict(same.name, same.vs_base, same.quality))
    open_page(page, write_run_report(record, reports, golden_dir=GOLDEN))
    flagged = section(page, same.name).locator("p.vs-base").inner_text()
    assert "indistinguishable from its base" in flagged and f"{len(same.images)} of {len(same.images)} renders unchanged" in flagged
    assert "base_change (base)" in section(page, same.name).locator("table").all_inner_texts()[0]
    changed = section(page, other.name).locator("p.vs-base").inner_text()
    assert "indistinguishable" not in changed
    assert f"({other.vs_base['quality_delta']:+.1f})" in changed
    for ck in rest:
        assert "not compared (the base alone could not be scored: <why>)" in section(page, ck.name).locator("p.vs-base").inner_text()
