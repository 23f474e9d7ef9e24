"""The run page's epoch section in real Chromium: best / earliest-within-noise epoch, table, curve chart.

The run's three epochs are the shipped LoRAs' scored stand-in renders (report_records), renamed and
given one ss_session_id, so the gate's grouping (evalkit/gate/epochs.py) makes them one training run.
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET

import pytest
from report_pages import load_lazy_images, open_page
from report_records import run_record

from evalkit.gate.epochs import Member, group_epochs
from evalkit.report.api import write_run_report
from evalkit.score.metrics import IMAGE_METRICS

ORDER = ["tiny_punks_photoreal", "tiny_punks_wrong_colors", "tiny_punks_perfect"]  # epochs 1, 2, 3


@pytest.fixture(scope="module")
def epoch_record(testbed):
    cks = []
    for epoch, name in enumerate(ORDER, 1):
        ck = copy.deepcopy(testbed[name])
        ck.name = f"RUN-{epoch:06d}" if epoch < len(ORDER) else "RUN"
        ck.info["provenance"].update(session_id="s42", output_name="RUN", epoch=epoch)
        cks.append(ck)
    record = run_record("20261121T100000Z-eeee", "2026-11-21T10:00:00+00:00", cks)
    runs, refused = group_epochs([Member.of(c) for c in cks])
    record.epochs = {"runs": [r.to_dict() for r in runs], "refused": refused}
    return record


def test_the_epoch_section_names_the_best_and_the_earliest_epoch(page, epoch_record, reports):
    out = write_run_report(epoch_record, reports)
    open_page(page, out)
    (run,) = epoch_record.epochs["runs"]
    assert run["best_epoch"] == 3  # the crisp punks, last
    sec = page.locator("section.epochs .epoch-run[data-run='RUN']")
    assert sec.locator(".best-epoch").inner_text() == "3"
    assert sec.locator(".earliest-epoch").inner_text() == str(run["earliest_within_noise"])
    assert "(RUN)" in sec.locator(".epoch-choice").inner_text()
    rows = sec.locator("table.epoch-table tbody tr")
    assert rows.count() == 3 and rows.nth(2).get_attribute("class") == "best"
    quality = [c for c in run["curves"] if c["name"] == "quality"][0]
    assert rows.nth(0).locator("td").last.inner_text().startswith(f"{quality['points'][0]['value']:.1f}")
    headers = sec.locator("thead th").all_inner_texts()
    assert headers[2:] == [*(m.name for m in IMAGE_METRICS), "quality"]  # loops over the registry

    load_lazy_images(page, "section.epochs figure.chart img")
    svg_path = out.parent / sec.locator("figure.chart img").get_attribute("src")
    root = ET.fromstring(svg_path.read_text())
    text = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    assert text.count("epoch") >= len(IMAGE_METRICS) + 1  # an epoch axis per panel
    assert "quality 0-10" in text and "earliest within noise" in text and "one-sided 95% bounds" in text


def test_a_refused_run_is_said_on_the_page(page, epoch_record, reports):
    rec = copy.deepcopy(epoch_record)
    rec.run_id = "20261121T100000Z-ffff"
    rec.checkpoints[1].info["provenance"]["epoch"] = 1  # two checkpoints claim epoch 1
    rec.checkpoints[1].name = "RUN-000001b"
    runs, refused = group_epochs([Member.of(c) for c in rec.checkpoints])
    rec.epochs = {"runs": [r.to_dict() for r in runs], "refused": refused}
    open_page(page, write_run_report(rec, reports))
    assert page.locator("section.epochs .epoch-run").count() == 0
    assert "mix training runs" in page.locator(".epoch-refused").inner_text()


def test_a_run_without_epochs_has_no_section(page, first_run, reports):
    open_page(page, write_run_report(first_run, reports))
    assert page.locator("section.epochs").count() == 0
