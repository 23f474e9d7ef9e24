"""`ScoreStore`: every gate run kept locally in SQLite (``<reports_dir>/evalkit.sqlite``).

The store keeps each `RunRecord` whole (its JSON, so `runs()` gives back
exactly what was added) and also as the normalised tables of tables.py,
which the report queries and the sync mirrors. Adding a run also queues it
in ``sync_queue`` (the outbox): the sync marks it done only after the remote
accepted every row, so nothing is lost when Supabase is unreachable.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from evalkit.errors import EvalkitError
from evalkit.gate.record import RunRecord
from evalkit.store.rows import Rows, record_rows
from evalkit.store.tables import BOOL, INT, JSON, REAL, SCORES, TABLES, TABLES_BY_NAME, Table

STORE_FILE = "evalkit.sqlite"
STORE_SCHEMA_VERSION = 1
# Filled by the sync after an upload, not by the record: re-adding a run keeps them.
SYNC_FILLED = {SCORES.name: ("render_storage_path", "grid24_storage_path")}
_AFFINITY = {INT: "INTEGER", REAL: "REAL", BOOL: "INTEGER"}


class UnknownRun(EvalkitError, KeyError):
    """`ScoreStore.run(run_id)` for a run the store does not hold."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def _table_ddl(table: Table) -> str:
    columns = ", ".join(f"{name} {_AFFINITY.get(kind, 'TEXT')}" for name, kind in table.columns)
    return f"CREATE TABLE IF NOT EXISTS {table.name} ({columns}, PRIMARY KEY ({', '.join(table.key)}))"


_DDL = [
    "CREATE TABLE IF NOT EXISTS run_records (run_id TEXT PRIMARY KEY, started_at TEXT, record_json TEXT NOT NULL)",
    # The outbox: one row per run; synced_at stays NULL until the remote holds every row of the run.
    "CREATE TABLE IF NOT EXISTS sync_queue (run_id TEXT PRIMARY KEY, enqueued_at TEXT NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0, last_attempt_at TEXT, last_error TEXT, synced_at TEXT, synced_to TEXT)",
    "CREATE TABLE IF NOT EXISTS sync_state (key TEXT PRIMARY KEY, value TEXT)",
    *(_table_ddl(t) for t in TABLES),
    "CREATE INDEX IF NOT EXISTS evaluation_runs_by_checkpoint ON evaluation_runs (checkpoint_sha256, started_at)",
]


def utc_now(timespec: str = "seconds") -> str:
    return datetime.now(timezone.utc).isoformat(timespec=timespec)


class ScoreStore:
    """The local score store. Cheap to open; each call uses its own short transaction."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._init_schema()

    @classmethod
    def default(cls, reports_dir: str | Path) -> "ScoreStore":
        return cls(Path(reports_dir) / STORE_FILE)

    # --- connection ------------------------------------------------------------
    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """One transaction: committed on success, rolled back on any error."""
        try:
            conn = sqlite3.connect(self.path, timeout=30)
        except sqlite3.Error as exc:
            raise EvalkitError(self.path, f"cannot open the score store ({exc})") from None
        try:
            with conn:
                yield conn
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise EvalkitError(self.path, f"score store is busy ({exc}); try again") from None
            raise EvalkitError(self.path, f"is not a usable evalkit score store ({exc})") from None
        finally:
            conn.close()

    def _init_schema(self) -> None:
        with self.connect() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > STORE_SCHEMA_VERSION:
                raise EvalkitError(
                    self.path,
                    f"score store has schema version {version}, newer than this evalkit's "
                    f"{STORE_SCHEMA_VERSION}: upgrade evalkit",
                )
            # WAL lets the report read while a gate or a sync writes.
            conn.execute("PRAGMA journal_mode=WAL")
            for statement in _DDL:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {STORE_SCHEMA_VERSION}")

    # --- runs ------------------------------------------------------------------
    def add_run(self, record: RunRecord) -> None:
        """Insert or replace one run (by run_id) and queue it for sync when it changed."""
        record_json = json.dumps(record.to_dict(), sort_keys=True)
        rows = record_rows(record)
        with self.connect() as conn:
            old = conn.execute("SELECT record_json FROM run_records WHERE run_id = ?", (record.run_id,)).fetchone()
            if old and old[0] == record_json:
                return  # already stored, and queued or synced as it is
            conn.execute(
                "INSERT INTO run_records (run_id, started_at, record_json) VALUES (?, ?, ?) "
                "ON CONFLICT (run_id) DO UPDATE SET started_at = excluded.started_at, record_json = excluded.record_json",
                (record.run_id, record.started_at, record_json),
            )
            self._replace_rows(conn, record.run_id, rows)
            conn.execute(
                "INSERT INTO sync_queue (run_id, enqueued_at) VALUES (?, ?) ON CONFLICT (run_id) DO UPDATE SET "
                "synced_at = NULL, synced_to = NULL, attempts = 0, last_error = NULL, enqueued_at = excluded.enqueued_at",
                (record.run_id, utc_now("microseconds")),  # also tells versions of a run apart
            )

    def _replace_rows(self, conn: sqlite3.Connection, run_id: str, rows: Rows) -> None:
        for table in TABLES:
            kept = SYNC_FILLED.get(table.name, ())
            if "run_id" in table.key:
                # Rows the new version of the run no longer has must go; uploads already made are kept.
                saved = {}
                if kept:
                    key_sql = ", ".join(table.key)
                    for found in conn.execute(
                        f"SELECT {key_sql}, {', '.join(kept)} FROM {table.name} WHERE run_id = ?", (run_id,)
                    ):
                        saved[tuple(found[: len(table.key)])] = found[len(table.key):]
                conn.execute(f"DELETE FROM {table.name} WHERE run_id = ?", (run_id,))
                for row in rows[table.name]:
                    for name, value in zip(kept, saved.get(table.key_of(row), ())):
                        row[name] = row[name] if row[name] is not None else value
            self._upsert(conn, table, rows[table.name])

    @staticmethod
    def _upsert(conn: sqlite3.Connection, table: Table, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        names = table.column_names
        updates = ", ".join(f"{n} = excluded.{n}" for n in names if n not in table.key)
        sql = (
            f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))}) "
            f"ON CONFLICT ({', '.join(table.key)}) DO UPDATE SET {updates}"
        )
        json_columns = table.json_columns
        conn.executemany(
            sql,
            [
                tuple(json.dumps(row[n], sort_keys=True) if n in json_columns and row[n] is not None else row[n]
                      for n in names)
                for row in rows
            ],
        )

    def runs(self) -> list[RunRecord]:
        """Every stored run, oldest first, exactly as added."""
        with self.connect() as conn:
            found = conn.execute("SELECT run_id, record_json FROM run_records ORDER BY started_at, run_id").fetchall()
        return [self._decode(run_id, text) for run_id, text in found]

    def run(self, run_id: str) -> RunRecord:
        with self.connect() as conn:
            found = conn.execute("SELECT record_json FROM run_records WHERE run_id = ?", (run_id,)).fetchone()
        if found is None:
            raise UnknownRun(self.path, f"holds no run {run_id!r}")
        return self._decode(run_id, found[0])

    def _decode(self, run_id: str, text: str) -> RunRecord:
        """A stored record, or one line naming the store and the run (a truncated or edited record_json)."""
        try:
            return RunRecord.from_dict(json.loads(text))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise EvalkitError(self.path, f"run {run_id!r}: its stored record is unreadable "
                                          f"({type(exc).__name__}: {exc})") from None

    def run_ids(self) -> list[str]:
        with self.connect() as conn:
            return [r for (r,) in conn.execute("SELECT run_id FROM run_records ORDER BY started_at, run_id")]

    # --- normalised rows -------------------------------------------------------
    def rows(self, table_name: str, run_id: str | None = None) -> list[dict[str, Any]]:
        """Rows of one normalised table (of one run), with JSON and booleans decoded."""
        table = TABLES_BY_NAME[table_name]
        names = table.column_names
        sql = f"SELECT {', '.join(names)} FROM {table.name}"
        params: tuple = ()
        if run_id is not None:
            if "run_id" in names:
                sql += " WHERE run_id = ?"
            else:  # training runs belong to a run through its evaluations
                sql += " WHERE checkpoint_sha256 IN (SELECT checkpoint_sha256 FROM evaluation_runs WHERE run_id = ?)"
            params = (run_id,)
        sql += f" ORDER BY {', '.join(table.key)}"
        kinds = dict(table.columns)
        with self.connect() as conn:
            found = conn.execute(sql, params).fetchall()
        return [{n: _decode(kinds[n], v) for n, v in zip(names, values)} for values in found]

    def set_storage_paths(self, updates: list[dict[str, Any]]) -> None:
        """Record where an upload put one image's render and 24x24 PNG, on its score rows (every metric).

        Each update holds run_id, checkpoint_name, prompt_id, seed and the two storage paths.
        """
        with self.connect() as conn:
            conn.executemany(
                "UPDATE scores SET render_storage_path = :render_storage_path, "
                "grid24_storage_path = :grid24_storage_path WHERE run_id = :run_id AND "
                "checkpoint_name = :checkpoint_name AND prompt_id = :prompt_id AND seed = :seed",
                updates,
            )


def _decode(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == JSON:
        return json.loads(value)
    if kind == BOOL:
        return bool(value)
    return value
