"""A local stand-in for a Supabase project's HTTP API, over a real PostgreSQL database.

This is a mock by necessity: no PostgREST (or Supabase Storage) binary can
be installed here (not on PyPI, Debian or npm, and nothing else can be
downloaded). It speaks the subset of PostgREST and Storage that the
official `supabase` Python client uses for `evalkit sync`, and every row
really goes into PostgreSQL with the SQL PostgREST itself generates:

- ``GET /rest/v1/<table>?select=a,b[&col=eq.value]``
- ``POST /rest/v1/<table>?on_conflict=a,b&columns="a","b"`` with
  ``Prefer: resolution=merge-duplicates|ignore-duplicates, return=minimal|representation``:
  ``INSERT ... SELECT ... FROM json_populate_recordset(...) ON CONFLICT ... DO UPDATE``,
  one transaction per request, as PostgREST does
- ``POST /storage/v1/object/<bucket>/<path>`` (multipart ``file``, ``x-upsert``)
- the ``apikey`` header checked against the service-role key (401 otherwise);
  PostgREST's error JSON (``code``, ``message``, ``details``, ``hint``)

Failures are injected by the ordinal of the write request (`faults`):
``"503"`` answers 503 before writing; ``"drop"`` commits the batch and then
closes the connection without an answer (the client cannot tell it landed);
``"stall"`` commits, signals `stalled` and hangs until `release` is set (a
test kills the syncing process meanwhile); ``"reject"`` answers 400.
"""

from __future__ import annotations

import json
import threading
import uuid
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import psycopg
from psycopg import sql

INVALID_KEY = {"message": "Invalid API key", "hint": "Double check your Supabase `anon` or `service_role` API key."}


class FakeSupabase:
    def __init__(self, dsn: str, service_key: str, storage_root: Path, buckets=("test-outputs",)):
        self.dsn = dsn
        self.service_key = service_key
        self.storage_root = Path(storage_root)
        self.buckets = set(buckets)
        self.faults: dict[int, str] = {}
        self.writes = 0  # POSTs to /rest/v1 seen, faulty ones included
        self.requests: list[tuple[str, str, int | None]] = []
        self.stalled = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def __enter__(self) -> "FakeSupabase":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self._http.shutdown()
        self._http.server_close()

    def next_write(self) -> str | None:
        with self._lock:
            self.writes += 1
            return self.faults.get(self.writes)


def _handler_for(server: FakeSupabase):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output clean
            pass

        # --- plumbing -----------------------------------------------------------
        def _send(self, status: int, body=None) -> None:
            data = b"" if body is None else json.dumps(body, default=str).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            server.requests.append((self.command, self.path, status))

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _authorised(self) -> bool:
            if self.headers.get("apikey") == server.service_key:
                return True
            self._send(401, INVALID_KEY)
            return False

        def do_GET(self) -> None:
            if not self._authorised():
                return
            parts = urlsplit(self.path)
            table = parts.path.removeprefix("/rest/v1/")
            if not parts.path.startswith("/rest/v1/") or "/" in table:
                return self._send(404, {"message": "no route"})
            self._postgrest(lambda conn: _select(conn, table, parse_qsl(parts.query)))

        def do_POST(self) -> None:
            if not self._authorised():
                return
            parts = urlsplit(self.path)
            if parts.path.startswith("/storage/v1/object/"):
                return self._storage_upload(unquote(parts.path.removeprefix("/storage/v1/object/")))
            table = parts.path.removeprefix("/rest/v1/")
            if not parts.path.startswith("/rest/v1/") or "/" in table:
                return self._send(404, {"message": "no route"})
            body = json.loads(self._body() or b"null")
            fault = server.next_write()
            if fault == "503":
                return self._send(503, {"code": "PGRST001", "message": "Database client error. Retrying the connection."})
            if fault == "reject":
                return self._send(400, {"code": "22P02", "message": "invalid input syntax (injected)"})
            prefer = {p.strip() for p in (self.headers.get("Prefer") or "").split(",")}
            query = dict(parse_qsl(parts.query))
            answered = self._postgrest(lambda conn: _upsert(conn, table, body, query, prefer), status=201,
                                       respond=fault is None)
            if fault in ("drop", "stall") and answered:
                if fault == "stall":
                    server.stalled.set()
                    server.release.wait(60)
                self.close_connection = True  # the rows landed; the answer never leaves

        def _postgrest(self, action, status: int = 200, respond: bool = True) -> bool:
            """Run `action(conn)` in one transaction; answer its result or PostgREST's error JSON."""
            try:
                with psycopg.connect(server.dsn) as conn:
                    result = action(conn)
            except _NotFound as exc:
                self._send(404, {"code": "PGRST205", "details": None, "hint": None,
                                 "message": f"Could not find the table 'public.{exc}' in the schema cache"})
                return False
            except _BadRequest as exc:
                self._send(400, {"code": exc.code, "message": str(exc), "details": None, "hint": None})
                return False
            except psycopg.Error as exc:
                diag = exc.diag
                code = exc.sqlstate or ""
                self._send(409 if code == "23505" else 400, {"code": code, "message": diag.message_primary,
                                                            "details": diag.message_detail, "hint": diag.message_hint})
                return False
            if respond:
                self._send(status, result)
            return True

        def _storage_upload(self, object_path: str) -> None:
            bucket, _, key = object_path.partition("/")
            if bucket not in server.buckets:
                return self._send(404, {"statusCode": "404", "error": "Bucket not found", "message": "Bucket not found"})
            message = BytesParser(policy=HTTP).parsebytes(
                f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + self._body())
            files = [p for p in message.iter_parts() if p.get_param("name", header="content-disposition") == "file"]
            target = server.storage_root / bucket / key
            if target.exists() and self.headers.get("x-upsert") != "true":
                return self._send(400, {"statusCode": "409", "error": "Duplicate", "message": "The resource already exists"})
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(files[0].get_payload(decode=True))
            self._send(200, {"Key": f"{bucket}/{key}", "Id": str(uuid.uuid4())})

    return Handler


class _NotFound(Exception):
    pass


class _BadRequest(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def _columns(conn, table: str) -> list[str]:
    if conn.execute("SELECT to_regclass(%s)", (f"public.{table}",)).fetchone()[0] is None:
        raise _NotFound(table)
    return [c for (c,) in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = %s "
        "ORDER BY ordinal_position", (table,))]


def _idents(names) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(n) for n in names)


def _select(conn, table: str, params: list[tuple[str, str]]):
    known = _columns(conn, table)
    wanted = [c.strip() for p, v in params if p == "select" for c in v.split(",")] or ["*"]
    columns = sql.SQL("*") if wanted == ["*"] else _idents(wanted)
    where, values = [], []
    for name, value in params:
        if name in known and value.startswith("eq."):
            where.append(sql.SQL("{} = %s").format(sql.Identifier(name)))
            values.append(value[3:])
    query = sql.SQL("SELECT coalesce(json_agg(t), '[]') FROM (SELECT {} FROM {} {}) t").format(
        columns, sql.Identifier(table), sql.SQL("WHERE ") + sql.SQL(" AND ").join(where) if where else sql.SQL(""))
    return conn.execute(query, values).fetchone()[0]


def _upsert(conn, table: str, body, query: dict[str, str], prefer: set[str]):
    rows = body if isinstance(body, list) else [body]
    known = _columns(conn, table)
    columns = [c.strip().strip('"') for c in query["columns"].split(",")] if "columns" in query else list(rows[0])
    conflict = [c for c in query.get("on_conflict", "").split(",") if c]
    unknown = [c for c in columns + conflict if c not in known]
    if unknown:
        raise _BadRequest("PGRST204", f"Could not find the '{unknown[0]}' column of '{table}' in the schema cache")
    statement = sql.SQL("INSERT INTO {t} ({c}) SELECT {c} FROM json_populate_recordset(NULL::{t}, %s)").format(
        t=sql.Identifier(table), c=_idents(columns))
    if conflict:
        updates = [c for c in columns if c not in conflict]
        if "resolution=ignore-duplicates" in prefer or not updates:
            action = sql.SQL("DO NOTHING")
        else:
            action = sql.SQL("DO UPDATE SET ") + sql.SQL(", ").join(
                sql.SQL("{0} = excluded.{0}").format(sql.Identifier(c)) for c in updates)
        statement += sql.SQL(" ON CONFLICT ({}) ").format(_idents(conflict)) + action
    if "return=representation" in prefer:
        statement = sql.SQL("WITH written AS ({} RETURNING *) SELECT coalesce(json_agg(written), '[]') FROM written").format(statement)
        return conn.execute(statement, (json.dumps(rows),)).fetchone()[0]
    conn.execute(statement, (json.dumps(rows),))
    return None


def service_key(role: str = "service_role") -> str:
    """A JWT-shaped key (header.payload.signature) with the given role, like Supabase's legacy keys."""
    import base64

    def part(obj) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part({'iss': 'supabase', 'role': role})}.{uuid.uuid4().hex}"

