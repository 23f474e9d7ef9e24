"""Sync backend that writes through a Postgres connection string (psycopg 3).

For Supabase's direct connection or its pooler (Supavisor/pgbouncer in
transaction mode, which cannot keep prepared statements: they are off).
Each batch is one transaction of ``INSERT ... ON CONFLICT (key) DO UPDATE``.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from evalkit.errors import EvalkitError
from evalkit.sync.migrations import VERSION_TABLE
from evalkit.sync.retry import BatchRejected, Transient
from evalkit.sync.settings import SyncSettings, describe_dsn
from evalkit.store.tables import Table

# Failures of the server or the network, worth another try; anything else is about our input.
_TRANSIENT_SQLSTATE_CLASSES = ("08", "40", "53", "57", "58")
_PERMANENT_CONNECT_ERRORS = ("password authentication failed", "does not exist", "no pg_hba.conf entry",
                             "invalid dsn", "invalid connection option", "invalid integer value")


class PostgresBackend:
    name = "postgres"
    uploads = False  # a plain Postgres has no Storage bucket

    def __init__(self, settings: SyncSettings, *, connect_timeout: int = 10):
        if not settings.dsn:
            raise EvalkitError("--dsn", "no connection string: pass --dsn or set SUPABASE_DB_URL (environment or .env)")
        self.settings = settings
        self.target = describe_dsn(settings.dsn)
        self.connect_timeout = connect_timeout
        self._conn = None

    # --- connection ----------------------------------------------------------
    def _connection(self):
        import psycopg

        if self._conn is not None and not self._conn.closed:
            return self._conn
        try:
            self._conn = psycopg.connect(self.settings.dsn, connect_timeout=self.connect_timeout,
                                         prepare_threshold=None, autocommit=True,
                                         application_name="evalkit-sync")
        except psycopg.OperationalError as exc:
            problem = self._one_line(exc)
            if any(marker in problem for marker in _PERMANENT_CONNECT_ERRORS):
                raise EvalkitError(self.target, f"connection refused by the server: {problem}") from None
            raise Transient(f"cannot connect: {problem}") from None
        except psycopg.ProgrammingError as exc:  # a malformed connection string
            raise EvalkitError("--dsn", f"is not a valid Postgres connection string ({self._one_line(exc)})") from None
        return self._conn

    def _one_line(self, exc: Exception) -> str:
        text = str(exc).strip().splitlines()
        return self.settings.redact(" ".join(line.strip() for line in text[:2]) or type(exc).__name__)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # --- the backend interface -----------------------------------------------
    def applied_migrations(self) -> set[str] | None:
        """Versions recorded in the migrations table; None when the table does not exist."""
        conn = self._connection()
        with self._errors("reading the schema version"), conn.transaction():
            if conn.execute("SELECT to_regclass(%s)", (f"public.{VERSION_TABLE}",)).fetchone()[0] is None:
                return None
            return {v for (v,) in conn.execute(f"SELECT version FROM {VERSION_TABLE}")}

    def upsert(self, table: Table, rows: list[dict[str, Any]]) -> None:
        from psycopg.types.json import Jsonb

        names = table.column_names
        updates = ", ".join(f"{n} = excluded.{n}" for n in names if n not in table.key) or None
        sql = (
            f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))}) "
            f"ON CONFLICT ({', '.join(table.key)}) " + (f"DO UPDATE SET {updates}" if updates else "DO NOTHING")
        )
        json_columns = table.json_columns
        params = [[Jsonb(r[n]) if n in json_columns and r[n] is not None else r[n] for n in names] for r in rows]
        conn = self._connection()
        with self._errors(f"writing {len(rows)} rows to {table.name}"), conn.transaction():
            with conn.cursor() as cur:
                cur.executemany(sql, params)

    def upload(self, object_path: str, data: bytes) -> str:
        raise EvalkitError("--upload-images", "needs the supabase backend (a Postgres connection has no Storage)")

    # --- error mapping ---------------------------------------------------------
    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        import psycopg

        try:
            yield
        except psycopg.Error as exc:
            state = getattr(exc, "sqlstate", None) or ""
            problem = self._one_line(exc)
            if (isinstance(exc, psycopg.OperationalError) and not state) or state[:2] in _TRANSIENT_SQLSTATE_CLASSES:
                self.close()  # the connection may be broken; the retry opens a new one
                raise Transient(f"{what}: {problem}") from None
            if state in ("42P01", "42703"):  # undefined table / column
                raise EvalkitError(self.target, f"{what}: {problem} (schema behind the migrations?)") from None
            raise BatchRejected(self.target, f"{what} was rejected: {problem}") from None
