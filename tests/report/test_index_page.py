"""The cross-run index in real Chromium: filters, sorting, side-by-side, per-setting means, timeline."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from report_pages import GOLDEN, load_lazy_images, open_page
from report_records import CHECKPOINTS, checkpoint_copy, checkpoint_result, run_record

from evalkit.gate.record import METRICS
from evalkit.golden.load import load_golden
from evalkit.report.api import write_index, write_run_report
from evalkit.report.summary import summarise_all


@pytest.fixture(scope="module")
def runs(first_run, testbed, reports, reference, tmp_path_factory):
    """Two runs days apart; the second holds the perfect LoRA again and a copy retrained on v2 captions."""
    tags = Counter(t.strip().lower() for c in load_golden(GOLDEN).captions["v2"] for t in c.split(","))
    v2 = checkpoint_copy(CHECKPOINTS / "tiny_punks_perfect.safetensors",
                         tmp_path_factory.mktemp("ck") / "tiny_punks_perfect_v2captions.safetensors",
                         ss_tag_frequency=json.dumps({"1_punks": dict(tags)}))
    second = run_record("20261124T100000Z-bbbb", "2026-11-24T10:00:00+00:00", [
        checkpoint_result(CHECKPOINTS / "tiny_punks_perfect.safetensors", reports, reference, baseline=testbed["tiny_punks_perfect"]),
        checkpoint_result(v2, reports, reference),
    ])
    return [first_run, second]


@pytest.fixture(scope="module")
def index_page(runs, reports):
    for r in runs:
        write_run_report(r, reports, golden_dir=GOLDEN)
    return write_index(runs, reports)


def visible_names(page):
    return page.locator("#runs tbody tr:visible td.name").all_inner_texts()


def choose(page, attr, value):
    page.locator(f"select[data-filter='{attr}']").select_option(value)


def test_every_checkpoint_of_every_run_is_a_row(page, index_page, runs):
    open_page(page, index_page)
    rows = page.locator("#runs tbody tr")
    assert rows.count() == sum(len(r.checkpoints) for r in runs)
    # Newest run first, and each row links to its run page.
    assert page.locator("#runs tbody tr td.run a").first.inner_text() == runs[-1].run_id
    link = page.locator("#runs tbody tr td.run a").first.get_attribute("href")
    assert (index_page.parent / link).is_file()


def test_filters(page, index_page, runs):
    open_page(page, index_page)
    summaries = summarise_all(runs)
    total = len(summaries)

    choose(page, "network_dim", "64")
    assert visible_names(page) == ["tiny_punks_photoreal"]
    assert page.locator("#shown-count").inner_text() == f"1 of {total} shown"

    page.click("#reset-filters")
    v2 = next(s for s in summaries if s.name.endswith("v2captions"))
    assert v2.caption != summaries[-1].caption  # the copy's captions fingerprint differently
    choose(page, "caption", v2.caption)
    assert visible_names(page) == [v2.name]

    page.click("#reset-filters")
    choose(page, "verdict", "fail")
    assert sorted(visible_names(page)) == sorted(s.name for s in summaries if s.verdict == "fail")

    page.click("#reset-filters")
    choose(page, "alpha", "16")
    choose(page, "base", "SD1.5")
    assert sorted(visible_names(page)) == sorted(s.name for s in summaries if s.alpha == "16")

    page.click("#reset-filters")
    page.fill("input[data-filter-date='from']", "2026-11-21")
    assert sorted(visible_names(page)) == sorted(c.name for c in runs[-1].checkpoints)

    page.click("#reset-filters")
    choose(page, "network_dim", "64")
    choose(page, "alpha", "16")
    assert visible_names(page) == []
    assert page.locator("#no-rows").is_visible()


def test_sorting_by_a_score_column(page, index_page, runs):
    open_page(page, index_page)
    button = page.locator("button.sort:text('palette fidelity')")
    column = f"#runs tbody tr td:nth-child({int(button.get_attribute('data-col')) + 1})"
    button.click()
    means = [float(v) for v in page.locator(column).all_inner_texts()]
    assert means == [round(v, 3) for v in sorted(s.means["palette_fidelity"] for s in summarise_all(runs))]
    assert len(set(means)) > 1
    button.click()
    means = [float(v) for v in page.locator(column).all_inner_texts()]
    assert means == sorted(means, reverse=True)
    assert page.locator("th[aria-sort='descending']").inner_text().startswith("palette fidelity")


def test_side_by_side_of_two_runs(page, index_page, runs):
    open_page(page, index_page)
    assert not page.locator("#compare-view").is_visible()
    a_run, a_index = runs[0], 1   # photoreal, first run
    b_run, b_index = runs[1], 0   # perfect, second run
    page.check(f"input[name='side-a'][value='{a_run.run_id}/{a_index}']")
    assert not page.locator("#compare-view").is_visible()  # needs both sides
    page.check(f"input[name='side-b'][value='{b_run.run_id}/{b_index}']")
    a, b = a_run.checkpoints[a_index], b_run.checkpoints[b_index]
    assert page.locator("#compare-view").is_visible()
    assert page.locator("#compare-count").inner_text().startswith(f"{len(a.images)} renders on the same prompts and seeds")
    pairs = page.locator("#compare-pairs .pair")
    assert pairs.count() == len(a.images)
    first = pairs.first
    assert first.locator(".pid").inner_text() == f"{a.images[0].prompt_id} · seed {a.images[0].seed}"
    assert a.images[0].prompt in first.locator(".pair-prompt").inner_text().replace("\n", "")
    assert first.locator(".side-a .pair-scores div").first.inner_text() == f"grid sharpness {a.images[0].scores['grid_sharpness']:.3f}"
    assert first.locator(".side-b .pair-scores div").first.inner_text() == f"grid sharpness {b.images[0].scores['grid_sharpness']:.3f}"
    summary = page.locator("#compare-summary tr").last.locator("td.num").all_inner_texts()
    expected = [b.mean(m) - a.mean(m) for m in METRICS]
    assert summary == [("+" if d >= 0 else "\u2212") + f"{abs(d):.3f}" for d in expected]
    load_lazy_images(page, "#compare-pairs img")
    # Picking another B replaces the view rather than adding to it.
    page.check(f"input[name='side-b'][value='{runs[0].run_id}/2']")
    assert pairs.count() == len(a.images)
    assert page.locator("#compare-summary tr.summary-b td").first.inner_text() == runs[0].checkpoints[2].name


def test_mean_scores_by_setting(page, index_page, runs):
    open_page(page, index_page)
    latest = {}
    for s in summarise_all(runs):  # newest first: the latest evaluation of each distinct checkpoint
        latest.setdefault(s.sha256, s)
    table = page.locator("table.setting[data-setting='network_dim']")
    for dim in {s.network_dim for s in latest.values()}:
        group = [s for s in latest.values() if s.network_dim == dim]
        row = table.locator("tbody tr", has=page.locator(f"th:text-is('{dim}')"))
        cells = row.locator("td").all_inner_texts()
        assert int(cells[0]) == len(group)
        assert int(cells[1]) == sum(s.verdict == "pass" for s in group)
        for k, m in enumerate(METRICS):
            assert cells[2 + k] == f"{sum(s.means[m] for s in group) / len(group):.3f}"
    captions = page.locator("table.setting[data-setting='caption version'] tbody th").all_inner_texts()
    assert sorted(c.split()[-1] for c in captions) == sorted({s.caption for s in latest.values()})
    assert sorted(c.split()[0] for c in captions) == ["v1", "v2"]  # labelled as the golden caption versions


def test_timeline_chart_loads(page, index_page):
    open_page(page, index_page)
    load_lazy_images(page, ".timeline img")
    src = page.locator(".timeline img").get_attribute("src")
    assert "<svg" in (index_page.parent / src).read_text()


def test_sorting_by_settings_and_date(page, index_page, runs):
    open_page(page, index_page)
    summaries = summarise_all(runs)

    def column(label):
        button = page.locator(f"button.sort:text-is('{label}')")
        return button, f"#runs tbody tr td:nth-child({int(button.get_attribute('data-col')) + 1})"

    button, cells = column("network_dim")
    button.click()  # numeric, not text order: 32 < 64 < 128
    assert [int(v) for v in page.locator(cells).all_inner_texts()] == sorted(int(s.network_dim) for s in summaries)
    button, cells = column("alpha")
    button.click()
    button.click()
    assert [int(v) for v in page.locator(cells).all_inner_texts()] == sorted((int(s.alpha) for s in summaries), reverse=True)
    button, _ = column("date")
    button.click()
    runs_shown = page.locator("#runs tbody tr td.run").all_inner_texts()
    assert runs_shown == sorted(runs_shown) and runs_shown[0] == runs[0].run_id
    button, cells = column("verdict")
    button.click()
    assert page.locator(cells).all_inner_texts() == sorted(s.verdict.upper() for s in summaries)
    # Sorting keeps the filters: hidden rows stay hidden.
    choose(page, "verdict", "pass")
    column("network_dim")[0].click()
    assert sorted(visible_names(page)) == sorted(s.name for s in summaries if s.verdict == "pass")


def test_index_needs_nothing_outside_the_reports_folder(page, index_page, runs, reports):
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    open_page(page, index_page)
    page.check(f"input[name='side-a'][value='{runs[0].run_id}/0']")
    page.check(f"input[name='side-b'][value='{runs[1].run_id}/0']")
    load_lazy_images(page, "main img")
    assert any("/img/" in u for u in requests)  # the side-by-side thumbnails were fetched
    assert all(u.startswith(reports.resolve().as_uri() + "/") for u in requests)
    assert page.eval_on_selector_all("#compare-pairs img", "els => els.map(e => e.loading)") == ["lazy"] * (
        2 * 2 * len(runs[0].checkpoints[0].images))
