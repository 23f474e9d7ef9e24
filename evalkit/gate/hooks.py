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
    """Returns lines for the terminal summary (where the report went, what was synced)."""
    lines: list[str] = []
    # Wired by the store (issue 9), report (issue 8) and sync (issue 9) work.
    return lines
