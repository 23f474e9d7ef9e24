"""The sync queue (outbox) inside the score store: which runs the remote does not hold yet, and what failed.

A run is queued when `ScoreStore.add_run` stores it (or stores a changed
version) and leaves the queue only when every one of its rows was accepted.
A sync that dies half-way leaves it queued; the next one sends it again,
and the upserts make the second copy land on the first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from evalkit.store.store import ScoreStore, utc_now
from evalkit.store.tables import TABLES

PER_RUN_TABLES = [t.name for t in TABLES if "run_id" in t.key]


def pending(store: ScoreStore) -> list[str]:
    return [run_id for run_id, _ in pending_versions(store)]


def pending_versions(store: ScoreStore) -> list[tuple[str, str]]:
    """(run_id, enqueued_at) of every queued run, oldest run first."""
    with store.connect() as conn:
        return conn.execute(
            "SELECT q.run_id, q.enqueued_at FROM sync_queue q JOIN run_records r USING (run_id) "
            "WHERE q.synced_at IS NULL ORDER BY r.started_at, q.run_id").fetchall()


def mark_synced(store: ScoreStore, run_id: str, enqueued_at: str, target: str) -> None:
    """Done, unless the gate stored a new version of the run meanwhile (then it stays queued for that one)."""
    now = utc_now()
    with store.connect() as conn:
        conn.execute("UPDATE sync_queue SET synced_at = ?, synced_to = ?, last_error = NULL, last_attempt_at = ?, "
                     "attempts = attempts + 1 WHERE run_id = ? AND enqueued_at = ?",
                     (now, target, now, run_id, enqueued_at))
        _set_state(conn, last_success_at=now, last_target=target)


def mark_failed(store: ScoreStore, run_id: str | None, error: str, target: str) -> None:
    """Keep the run queued and remember the failure (the message is already free of secrets)."""
    now = utc_now()
    with store.connect() as conn:
        if run_id is not None:
            conn.execute("UPDATE sync_queue SET attempts = attempts + 1, last_attempt_at = ?, last_error = ? "
                         "WHERE run_id = ?", (now, error, run_id))
        _set_state(conn, last_failure_at=now, last_failure=error, last_target=target)


def _set_state(conn, **values: str) -> None:
    conn.executemany("INSERT INTO sync_state (key, value) VALUES (?, ?) "
                     "ON CONFLICT (key) DO UPDATE SET value = excluded.value", list(values.items()))


@dataclass
class QueuedRun:
    run_id: str
    started_at: str
    status: str
    rows: int
    attempts: int
    last_error: str | None


@dataclass
class QueueStatus:
    queued: list[QueuedRun] = field(default_factory=list)
    synced: int = 0
    state: dict[str, str] = field(default_factory=dict)


def queue_status(store: ScoreStore) -> QueueStatus:
    status = QueueStatus()
    with store.connect() as conn:
        for run_id, started_at, attempts, last_error, record_status in conn.execute(
            "SELECT q.run_id, r.started_at, q.attempts, q.last_error, "
            "(SELECT MAX(run_verdict) FROM evaluation_runs e WHERE e.run_id = q.run_id) "
            "FROM sync_queue q JOIN run_records r USING (run_id) WHERE q.synced_at IS NULL "
            "ORDER BY r.started_at, q.run_id"
        ):
            rows = sum(conn.execute(f"SELECT COUNT(*) FROM {t} WHERE run_id = ?", (run_id,)).fetchone()[0]
                       for t in PER_RUN_TABLES)
            status.queued.append(QueuedRun(run_id, started_at, record_status or "?", rows, attempts, last_error))
        status.synced = conn.execute("SELECT COUNT(*) FROM sync_queue WHERE synced_at IS NOT NULL").fetchone()[0]
        status.state = dict(conn.execute("SELECT key, value FROM sync_state"))
    return status
