"""Size at the scale the report is meant for: 100 checkpoint evaluations x 64 images.

The cross-run index inlines no picture: its side-by-side data names each
thumbnail by path, and the browser fetches nothing but the timeline until two
rows are picked. Image files are not written here (the per-run pages make
them); only what the index itself weighs is measured.
"""

from __future__ import annotations

import copy

import pytest
from report_pages import open_page

from evalkit.gate.record import RunRecord
from evalkit.report.api import write_index
from evalkit.report.images import RunImages

RUNS, IMAGES = 100, 64
INDEX_LIMIT = 2_000_000  # bytes of reports/index.html for RUNS x IMAGES (about 1.2 MB when written)


@pytest.fixture(scope="module")
def big_index(first_run, tmp_path_factory):
    folder = tmp_path_factory.mktemp("scale_reports")
    template = first_run.checkpoints
    records = []
    for n in range(RUNS):
        ck = copy.copy(template[n % len(template)])
        ck.images = [copy.copy(ck.images[k % len(ck.images)]) for k in range(IMAGES)]
        for k, im in enumerate(ck.images):
            im.prompt_id, im.seed = f"{im.prompt_id}-{k // 8}", 1000 + k  # 8 prompts x 8 seeds, distinct slots
        day, hour = divmod(n, 24)
        records.append(RunRecord(**{**vars(first_run), "run_id": f"202611{day + 1:02d}T{hour:02d}0000Z-s{n:03d}",
                                    "started_at": f"2026-11-{day + 1:02d}T{hour:02d}:00:00+00:00", "checkpoints": [ck]}))
    mp = pytest.MonkeyPatch()  # paths as the run pages write them, without writing 6,400 files
    mp.setattr(RunImages, "render_thumbnail", lambda self, c, i, im: f"img/c{c}/{i:03d}.jpg")
    mp.setattr(RunImages, "grid", lambda self, c, i, im: f"img/c{c}/{i:03d}-24.png")
    try:
        yield write_index(records, folder), records
    finally:
        mp.undo()


def test_index_of_100_checkpoints_x_64_images_stays_small(big_index):
    path, records = big_index
    html = path.read_text(encoding="utf-8")
    assert html.count('<tr data-key="') == RUNS
    assert "data:image" not in html and "base64," not in html  # no picture is inlined
    assert path.stat().st_size < INDEX_LIMIT, f"index.html is {path.stat().st_size} bytes"


def test_index_fetches_only_the_timeline_until_two_rows_are_picked(page, big_index):
    path, records = big_index
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    open_page(page, path)
    assert [u.rsplit("/", 1)[1] for u in requests[1:]] == ["timeline.svg"]
    page.check(f"input[name='side-a'][value='{records[0].run_id}/0']")
    page.check(f"input[name='side-b'][value='{records[1].run_id}/0']")
    assert page.locator("#compare-pairs .pair").count() == IMAGES
    assert page.eval_on_selector_all("#compare-pairs img", "els => els.every(e => e.loading === 'lazy')")
    page.wait_for_timeout(300)
    fetched = [u for u in requests if "/img/" in u]
    assert 0 < len(fetched) < 4 * IMAGES // 2  # only the pairs near the viewport, not all 256 pictures
    page.problems.clear()  # those pictures were never written (see the fixture): their 404s are expected
