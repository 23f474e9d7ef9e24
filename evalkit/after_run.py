"""What happens after a gate run: store the record, write the report, sync to Supabase.

The gate calls `after_run` once per pytest session with the finished
`RunRecord` (already written to ``reports/<run_id>/run.json``). Each step is
isolated: a failing report or sync never loses the scores, which are already
on disk and in the store.
"""

from __future__ import annotations

from pathlib import Path

from evalkit.gate.record import RunRecord


def after_run(record: RunRecord, reports_dir: Path, *, report: bool, sync: bool) -> list[str]:
    """Store the run (always), then write the report / sync when asked; returns terminal-summary lines.

    A store or report problem raises `EvalkitError` (the caller turns it into a
    usage error; run.json is already on disk). A sync problem never raises:
    the run stays queued and a line says so.
    """
    from evalkit.store.store import ScoreStore

    reports_dir = Path(reports_dir)
    store = ScoreStore.default(reports_dir)
    store.add_run(record)
    lines = [f"score store: {store.path} (run {record.run_id})"]
    from evalkit.compare.api import summary_after_run

    lines += summary_after_run(record, reports_dir)  # which setting made which difference (2+ checkpoints)
    if report:
        from evalkit.report.api import write_index, write_run_report
        from evalkit.report.sources import load_runs

        lines.append(f"report: {write_run_report(record, reports_dir)}")
        records, errors = load_runs(reports_dir)
        lines.append(f"report index: {write_index(records, reports_dir)}")
        lines += [f"report: skipped an unreadable run: {exc}" for exc in errors]
    if sync:
        from evalkit.sync.api import sync_pending

        lines += sync_pending(reports_dir)
    return lines
