"""Which runs the cross-run index shows.

The score store (`evalkit.store.store.ScoreStore`) is the source of truth;
``reports/<run_id>/run.json`` files fill in runs the store does not hold
(a store that was reset, a run copied in from elsewhere, or no store yet).
A run.json that cannot be read is reported, never fatal: the other runs
still get their pages.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from evalkit.errors import EvalkitError
from evalkit.gate.record import RunRecord
from evalkit.report.summary import check_run_id

STORE_MODULE = "evalkit.store.store"


def load_runs(reports_dir: Path) -> tuple[list[RunRecord], list[EvalkitError]]:
    """(runs oldest first, one error per run record that could not be used)."""
    reports_dir = Path(reports_dir)
    if not reports_dir.is_dir():
        raise EvalkitError(reports_dir, "reports folder does not exist (run `pytest evalkit --checkpoint ...` first)")
    errors: list[EvalkitError] = []
    runs: dict[str, RunRecord] = {}
    try:
        for record in _store_runs(reports_dir, errors):
            runs[record.run_id] = record
    except EvalkitError as exc:  # a broken store must not hide the runs on disk
        errors.append(exc)
    for path in sorted(reports_dir.glob("*/run.json")):
        if path.parent.name in runs:
            continue
        try:
            record = RunRecord.read(path)
        except EvalkitError as exc:
            errors.append(exc)
            continue
        runs[record.run_id] = record
    good = []
    for record in runs.values():
        if check_run_id(record.run_id):
            good.append(record)
        else:
            errors.append(EvalkitError(reports_dir, f"run id {record.run_id!r} is not a safe folder name; run skipped"))
    return sorted(good, key=lambda r: (r.started_at, r.run_id)), errors


def _store_runs(reports_dir: Path, errors: list[EvalkitError]) -> list[RunRecord]:
    """The store's runs; one unreadable run record is named in ``errors`` and skipped, the rest still load."""
    try:
        store = importlib.import_module(STORE_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name == STORE_MODULE:  # the store is not part of this install yet
            return []
        raise
    if not (reports_dir / store.STORE_FILE).is_file():
        if (reports_dir / store.STORE_FILE).exists():
            errors.append(EvalkitError(reports_dir / store.STORE_FILE, "is not a score store (a folder)"))
        return []  # opening the store would create an empty one in a folder that never had one
    scores = store.ScoreStore.default(reports_dir)
    good = []
    for run_id in scores.run_ids():
        try:
            good.append(scores.run(run_id))
        except EvalkitError as exc:
            errors.append(exc)
    return good
