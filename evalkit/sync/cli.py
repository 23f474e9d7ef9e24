"""`evalkit sync [--reports-dir DIR] [--backend supabase|postgres] [--dsn DSN] [--upload-images] [--status]`."""

from __future__ import annotations

import argparse

from evalkit.errors import EXIT_FAILED, EXIT_OK
from evalkit.paths import add_reports_dir_option
from evalkit.sync.api import BACKENDS, existing_store, run_sync
from evalkit.sync.outbox import QueueStatus, queue_status
from evalkit.terminal_text import printable

STATUS_LISTED = 10  # queued runs listed by name; the rest are counted, so --status fits one screen
ERROR_CHARS = 160


def _short(text: str | None) -> str:
    text = text or "?"
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 3] + "..."


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sync",
        help="Mirror the local score store (reports/evalkit.sqlite) to Supabase or a Postgres database.",
        description=(
            "Send every queued evaluation run from the score store to Supabase (the official client, with "
            "SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY from the environment or .env) or straight to Postgres "
            "(--dsn or SUPABASE_DB_URL). Writes are idempotent upserts in batches with retries; a run leaves "
            "the queue only once the remote holds all of it. The remote needs supabase/migrations/*.sql applied."
        ),
    )
    add_reports_dir_option(parser)
    parser.add_argument("--backend", choices=BACKENDS,
                        help="Where to write (default: postgres when a connection string is given, else supabase).")
    parser.add_argument("--dsn", metavar="DSN",
                        help="Postgres connection string (prefer SUPABASE_DB_URL: a command line is visible to others).")
    parser.add_argument("--env-file", metavar="FILE", help="dotenv file to read settings from (default: ./.env if present).")
    parser.add_argument("--upload-images", action="store_true",
                        help="Also upload renders and 24x24 results to the Storage bucket (EVALKIT_STORAGE_BUCKET, "
                             "default test-outputs) and record their paths on the score rows.")
    parser.add_argument("--status", action="store_true", help="Show what is queued and what failed last; send nothing.")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.status:
        store = existing_store(args.reports_dir)
        print("\n".join(map(printable, format_status(queue_status(store), store.path))))
        return EXIT_OK
    report = run_sync(args.reports_dir, backend=args.backend, dsn=args.dsn, env_file=args.env_file,
                      upload_images=args.upload_images)
    print("\n".join(map(printable, report.lines())))
    return EXIT_FAILED if report.rejected else EXIT_OK


def format_status(status: QueueStatus, store_path) -> list[str]:
    state = status.state
    rows = sum(run.rows for run in status.queued)
    lines = [f"score store: {store_path}",
             f"queued: {len(status.queued)} run(s), {rows} rows; synced: {status.synced} run(s)"]
    for run in status.queued[:STATUS_LISTED]:
        tried = f", {run.attempts} failed attempt(s): {_short(run.last_error)}" if run.attempts else ""
        lines.append(f"  {run.run_id}  {run.started_at}  {run.status}  {run.rows} rows{tried}")
    if len(status.queued) > STATUS_LISTED:
        lines.append(f"  ... and {len(status.queued) - STATUS_LISTED} more")
    if "last_success_at" in state:
        lines.append(f"last sync: {state['last_success_at']} to {state.get('last_target', '?')}")
    if "last_failure_at" in state and state["last_failure_at"] >= state.get("last_success_at", ""):
        lines.append(f"last failure: {state['last_failure_at']}: {_short(state.get('last_failure'))}")
    elif "last_failure_at" in state:
        lines.append(f"last failure (since recovered): {state['last_failure_at']}: {_short(state.get('last_failure'))}")
    return lines
