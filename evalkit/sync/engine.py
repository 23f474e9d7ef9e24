"""`sync_store`: send every queued run from the score store to a backend (Supabase or Postgres).

Per run: check the remote schema once, optionally upload the images, then
upsert its rows table by table (parents first) in batches, each retried
with backoff. Only when every batch of a run was accepted does the run leave
the queue. A batch the remote rejects for its content keeps that run queued
and the sync goes on; a wrong key, a missing schema or an unreachable
remote stops the sync with a one-line error, everything still queued.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from evalkit.errors import EvalkitError
from evalkit.sync.images import upload_run_images
from evalkit.sync.migrations import check_schema
from evalkit.sync.outbox import mark_failed, mark_synced, pending_versions
from evalkit.sync.retry import BatchRejected, RetryPolicy, with_retries
from evalkit.store.store import ScoreStore
from evalkit.store.tables import TABLES, Table

DEFAULT_BATCH_ROWS = 500


class Backend(Protocol):
    name: str
    target: str  # where the rows go, safe to print (no secrets)
    uploads: bool

    def applied_migrations(self) -> set[str] | None: ...
    def upsert(self, table: Table, rows: list[dict[str, Any]]) -> None: ...
    def upload(self, object_path: str, data: bytes) -> str: ...
    def close(self) -> None: ...


@dataclass
class SyncReport:
    target: str
    synced: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)  # run_id -> why
    rows: int = 0
    images: int = 0
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        if not self.synced and not self.rejected:
            return [f"sync: nothing queued; {self.target} is up to date"]
        lines = [f"sync: {len(self.synced)} run(s), {self.rows} rows"
                 + (f", {self.images} images" if self.images else "") + f" -> {self.target}"]
        lines += [f"sync: run {run_id} stays queued: {why}" for run_id, why in self.rejected.items()]
        return lines + self.notes


def _batches(rows: list[dict[str, Any]], size: int):
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def sync_store(
    store: ScoreStore,
    backend: Backend,
    reports_dir: Path,
    *,
    upload_images: bool = False,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    policy: RetryPolicy | None = None,
) -> SyncReport:
    policy = policy or RetryPolicy.from_env()
    report = SyncReport(backend.target)
    if upload_images and not backend.uploads:
        raise EvalkitError("--upload-images", f"needs the supabase backend ({backend.name} has no Storage)")
    current = None
    try:
        check_schema(with_retries(backend.applied_migrations, policy, backend.target),
                     backend.target)
        for current, version in pending_versions(store):
            try:
                report.rows += _sync_run(store, backend, reports_dir, current, report,
                                         upload_images=upload_images, batch_rows=batch_rows, policy=policy)
            except BatchRejected as exc:
                mark_failed(store, current, str(exc), backend.target)
                report.rejected[current] = str(exc)
                continue
            mark_synced(store, current, version, backend.target)
            report.synced.append(current)
        current = None
        report.rows += _sync_ratings(store, backend, batch_rows, policy)
    except EvalkitError as exc:
        mark_failed(store, current, str(exc), backend.target)
        raise
    finally:
        backend.close()
    return report


def _sync_ratings(store, backend, batch_rows, policy) -> int:
    """People's ratings (evalkit rate) not sent yet; marked sent once the remote took them."""
    from evalkit.store.ratings import RATINGS, RatingBook

    book = RatingBook(store)
    rows = book.pending()
    for batch in _batches(rows, batch_rows):
        with_retries(lambda: backend.upsert(RATINGS, batch), policy, backend.target)
        book.mark_synced([r["rating_id"] for r in batch])
    return len(rows)


def _sync_run(store, backend, reports_dir, run_id, report, *, upload_images, batch_rows, policy) -> int:
    if upload_images:
        def upload(path: str, data: bytes) -> str:
            return with_retries(lambda: backend.upload(path, data), policy, backend.target)

        count, missing = upload_run_images(store, upload, Path(reports_dir), run_id)
        report.images += count
        report.notes += [f"sync: {line}" for line in missing]
    sent = 0
    for table in TABLES:  # parents first: the foreign keys need them
        rows = store.rows(table.name, run_id)
        for batch in _batches(rows, batch_rows):
            with_retries(lambda: backend.upsert(table, batch), policy, backend.target)
        sent += len(rows)
    return sent
