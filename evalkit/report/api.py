"""The report's entry points, called by the gate (`evalkit.after_run`) and by `evalkit report`.

    write_run_report(record, reports_dir, golden_dir)  -> reports/<run_id>/index.html
    write_index(records, reports_dir)                   -> reports/index.html

Both only render what the records hold; no score is recomputed. Pictures
and charts are written next to the pages, so a reports folder can be opened
from ``file://`` or archived as a whole.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from evalkit.errors import EvalkitError
from evalkit.gate.record import RunRecord
from evalkit.score.metrics import IMAGE_METRICS, METRICS
from evalkit.report import charts
from evalkit.report.attribution_view import attribution_section, caption_names
from evalkit.report.golden_dist import golden_distribution
from evalkit.report.images import RunImages
from evalkit.report.index_view import compare_data, filter_options, setting_summary
from evalkit.report.pages import write_page
from evalkit.report.ratings_view import latest_ratings, ratings_section
from evalkit.report.run_view import checkpoint_context, page_url, thresholds_of
from evalkit.report.summary import check_run_id, summarise_all

# (summary attribute, header, sort kind) of the index table, after the A/B pickers.
INDEX_COLUMNS = [
    ("started_at", "date", "text"), ("run_id", "run", "text"), ("name", "checkpoint", "text"),
    ("base", "base", "text"), ("network_dim", "network_dim", "num"), ("alpha", "alpha", "num"),
    ("caption", "captions", "text"),
    *[(m, m.replace("_", " "), "num") for m in METRICS],
    ("quality", "quality", "num"), ("verdict", "verdict", "text"),
]
METRIC_SHORT = {m.name: m.short for m in IMAGE_METRICS}


def write_run_report(record: RunRecord, reports_dir: Path, golden_dir: Path | None = None) -> Path:
    """Write ``<reports_dir>/<run_id>/index.html`` (with its images and charts) and return its path.

    ``golden_dir`` gives the nearest golden punks' pictures and the golden
    score distribution; by default the run's own ``golden_path`` is used when
    it still exists, and the page says so when it does not.
    """
    reports_dir = Path(reports_dir)
    _check(record, reports_dir)
    golden, note = _golden_for(record, golden_dir)
    golden_scores = golden_distribution(golden, reports_dir) if golden is not None else None
    images = RunImages(reports_dir, record.run_id, golden)
    thresholds = thresholds_of(record)
    checkpoints = []
    for i, ck in enumerate(record.checkpoints):
        chart = None
        if ck.images:
            values = {m: [im.scores[m] for im in ck.images if im.scores.get(m) is not None] for m in METRICS}
            rel = f"charts/c{i}-distribution.svg"
            charts.distribution_chart(images.run_dir / rel, values, golden_scores, thresholds)
            chart = rel
        checkpoints.append(checkpoint_context(record, ck, i, images, thresholds, chart))
    epochs = []  # (EpochRun dict, chart path) per training run with an epoch curve
    for i, run in enumerate((record.epochs or {}).get("runs", [])):
        epochs.append((run, f"charts/epochs-{i}.svg"))
        charts.epoch_chart(images.run_dir / epochs[-1][1], run)
    return write_page(images.run_dir / "index.html", "run.html.j2", "run.js", record=record,
                      checkpoints=checkpoints, thresholds=thresholds, golden_note=note, epochs=epochs,
                      ratings=latest_ratings(reports_dir),
                      epochs_refused=(record.epochs or {}).get("refused", []))


def write_index(records: list[RunRecord], reports_dir: Path) -> Path:
    """Write ``<reports_dir>/index.html``: every run's checkpoints, filters, side-by-side, per-setting means."""
    reports_dir = Path(reports_dir)
    for record in records:
        _check(record, reports_dir)
    rows = summarise_all(records)
    thresholds: dict[str, tuple[str, float]] = {}
    for record in sorted(records, key=lambda r: r.started_at):
        thresholds.update(thresholds_of(record))  # the latest run's thresholds are the ones drawn
    timeline = None
    if rows:
        timeline = "index_files/timeline.svg"
        charts.timeline_chart(reports_dir / timeline, [(r.started_at, r.verdict, r.means) for r in rows], thresholds)
    settings = setting_summary(rows)
    return write_page(
        reports_dir / "index.html", "index.html.j2", "index.js",
        rows=rows, run_count=len(records), options=filter_options(rows), columns=INDEX_COLUMNS,
        metrics=list(METRICS), metric_short=METRIC_SHORT, settings=settings,
        distinct=sum(g.checkpoints for g in settings[0][1]) if settings else 0,
        run_links={r.run_id: page_url(reports_dir / r.run_id / "index.html", reports_dir) for r in records},
        timeline=timeline, data=compare_data(records, rows, reports_dir, thresholds),
        attribution=attribution_section(records, reports_dir), caption_names=caption_names(records, reports_dir),
        ratings=ratings_section(records, reports_dir),
    )


def _check(record: RunRecord, reports_dir: Path) -> None:
    if not check_run_id(record.run_id):
        raise EvalkitError(reports_dir / "run.json", f"run id {record.run_id!r} is not a safe folder name")


def _golden_for(record: RunRecord, golden_dir: Path | None):
    """(GoldenSet or None, a note for the page when it is missing)."""
    if golden_dir is not None:
        return _load_golden(str(Path(golden_dir).resolve())), None
    path = Path(record.golden_path) if record.golden_path else None
    if path is None or not path.is_dir():
        return None, "not found: nearest golden punks and golden distributions left out"
    try:
        return _load_golden(str(path.resolve())), None
    except EvalkitError as exc:
        return None, f"unreadable ({exc.problem}): nearest golden punks and golden distributions left out"


@lru_cache(maxsize=4)
def _load_golden(path: str):
    """One golden set per folder per process: `evalkit report` writes many runs against the same one."""
    from evalkit.golden.load import load_golden

    return load_golden(path)
