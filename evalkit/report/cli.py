"""`evalkit report`: (re)write the HTML report from recorded runs, without rendering or scoring.

    evalkit report                           # every run in reports/, then reports/index.html
    evalkit report --run 20261125T101500Z-3f9a --reports-dir /data/reports

Runs come from the score store, with ``reports/<run_id>/run.json`` for runs
it does not hold. A run record that cannot be read is named on stderr and
skipped; the other pages are still written, and the exit status is 4.
"""

from __future__ import annotations

import sys
from pathlib import Path

from evalkit.errors import EvalkitError
from evalkit.paths import add_reports_dir_option
from evalkit.terminal_text import printable

EXIT_BAD_INPUT = 4


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "report",
        help="write the HTML report (per-run pages and the cross-run index) from recorded runs",
        description=(
            "Write reports/<run_id>/index.html for each recorded run and reports/index.html "
            "across runs: gallery, metrics, charts, filters and side-by-side comparison. Pure "
            "rendering of the run records; nothing is rendered or re-scored."
        ),
    )
    add_reports_dir_option(p)
    p.add_argument("--golden", default=None, metavar="DIR",
                   help="golden punks for the nearest-golden pictures and distributions "
                   "(default: each run's own golden folder)")
    p.add_argument("--run", action="append", default=[], metavar="RUN_ID",
                   help="write only this run's page (repeatable); the index always lists every run")
    p.set_defaults(func=run)


def run(args) -> int:
    from evalkit.report.api import write_index, write_run_report
    from evalkit.report.sources import load_runs

    reports_dir = Path(args.reports_dir)
    records, errors = load_runs(reports_dir)
    golden = Path(args.golden) if args.golden else None
    if golden is not None and not golden.is_dir():
        raise EvalkitError(golden, "golden folder does not exist")
    wanted = set(args.run) or {r.run_id for r in records}
    unknown = wanted - {r.run_id for r in records}
    for run_id in sorted(unknown):
        errors.append(EvalkitError(reports_dir, f"holds no run {run_id!r}"))
    for record in records:
        if record.run_id in wanted:
            print(printable(str(write_run_report(record, reports_dir, golden))))
    print(printable(str(write_index(records, reports_dir))))
    for exc in errors:
        print(f"evalkit report: error: {exc}", file=sys.stderr)
    return EXIT_BAD_INPUT if errors else 0
