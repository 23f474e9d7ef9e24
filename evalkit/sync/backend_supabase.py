"""Sync backend through the official `supabase` Python client (PostgREST for rows, Storage for images).

Rows go as bulk upserts (``on_conflict`` = the table's unique key,
``return=minimal``); the client's own retry (GET only) is off because the
sync retries every write itself. We hand the client our own httpx client to
see each answer's HTTP status, which the client's errors do not carry.
"""

from __future__ import annotations

from typing import Any

from evalkit.errors import EvalkitError
from evalkit.sync.migrations import VERSION_TABLE
from evalkit.sync.retry import BatchRejected, Transient
from evalkit.sync.settings import BUCKET_VAR, KEY_VAR, URL_VAR, SyncSettings, describe_url, key_role
from evalkit.store.tables import Table

TIMEOUT_S = 30.0
# PostgREST error codes meaning "the database is not reachable from the API right now".
_TRANSIENT_CODES = {"PGRST000", "PGRST001", "PGRST002", "PGRST003"}
_MISSING_TABLE_CODES = {"PGRST205", "42P01", "PGRST204", "42703"}


class SupabaseBackend:
    name = "supabase"
    uploads = True

    def __init__(self, settings: SyncSettings):
        where = settings.env_file or "environment"
        if not settings.url:
            raise EvalkitError(URL_VAR, f"is not set (environment or {where}); it is your project's API URL")
        if not settings.key:
            raise EvalkitError(KEY_VAR, f"is not set (environment or {where}); evalkit sync writes with the service-role key")
        if key_role(settings.key) not in (None, "service_role"):
            raise EvalkitError(KEY_VAR, f"is a {key_role(settings.key)!r} key, not the service-role key "
                                        "(row-level security would hide and refuse every row)")
        self.settings = settings
        self.target = f"supabase {describe_url(settings.url)}"
        self.bucket = settings.bucket
        self._client = None
        self._http = None
        self._last_status: int | None = None

    def _connect(self):
        if self._client is not None:
            return self._client
        import httpx
        from supabase import ClientOptions, SupabaseException, create_client

        def remember_status(response: httpx.Response) -> None:
            self._last_status = response.status_code

        self._http = httpx.Client(timeout=TIMEOUT_S, event_hooks={"response": [remember_status]})
        options = ClientOptions(postgrest_client_retry=False, auto_refresh_token=False, persist_session=False,
                                httpx_client=self._http)
        try:
            self._client = create_client(self.settings.url, self.settings.key, options=options)
        except SupabaseException as exc:
            raise EvalkitError(URL_VAR, f"is not usable: {self.settings.redact(str(exc))}") from None
        return self._client

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
        self._client = self._http = None

    # --- the backend interface ---------------------------------------------------
    def applied_migrations(self) -> set[str] | None:
        client = self._connect()
        try:
            answer = self._call("reading the schema version",
                                lambda: client.table(VERSION_TABLE).select("version").execute())
        except _MissingTable:
            return None
        rows = answer.data
        if not isinstance(rows, list) or not all(isinstance(r, dict) and "version" in r for r in rows):
            raise self._not_supabase("reading the schema version")  # e.g. a proxy's HTML login page
        return {row["version"] for row in rows}

    def upsert(self, table: Table, rows: list[dict[str, Any]]) -> None:
        from postgrest.types import ReturnMethod

        client = self._connect()
        try:
            self._call(
                f"writing {len(rows)} rows to {table.name}",
                lambda: client.table(table.name)
                .upsert(rows, on_conflict=",".join(table.key), returning=ReturnMethod.minimal)
                .execute(),
            )
        except _MissingTable as exc:
            raise EvalkitError(self.target, f"{exc} (schema behind the migrations?)") from None

    def upload(self, object_path: str, data: bytes) -> str:
        client = self._connect()
        self._call(
            f"uploading {object_path} to bucket {self.bucket}",
            lambda: client.storage.from_(self.bucket).upload(
                object_path, data, {"content-type": "image/png", "upsert": "true"}),
        )
        return f"{self.bucket}/{object_path}"

    # --- error mapping -------------------------------------------------------------
    def _call(self, what: str, action):
        import httpx
        from postgrest.exceptions import APIError
        from storage3.exceptions import StorageApiError

        self._last_status = None
        try:
            return action()
        except (ValueError, TypeError, KeyError, AttributeError):  # an answer that is not PostgREST's JSON
            raise self._not_supabase(what) from None
        except httpx.TransportError as exc:  # refused, reset, timed out, lost answer
            raise Transient(f"{what}: cannot reach {describe_url(self.settings.url)} "
                            f"({type(exc).__name__}: {self._clean(exc)})") from None
        except (APIError, StorageApiError) as exc:
            status = self._last_status
            code = str(getattr(exc, "code", "") or "")
            message = self._clean(getattr(exc, "message", None) or exc)
            if status in (401, 403) or code.startswith("PGRST30"):
                raise EvalkitError(KEY_VAR, f"was refused by {describe_url(self.settings.url)} "
                                            f"({status}: {message})") from None
            if isinstance(exc, StorageApiError) and str(exc.status) == "404":
                raise EvalkitError(BUCKET_VAR, f"Storage bucket {self.bucket!r} not found ({message}): "
                                               "create it in the Supabase dashboard") from None
            if code in _MISSING_TABLE_CODES:
                raise _MissingTable(f"{what}: {message}") from None
            if status is None or status >= 500 or status in (408, 425, 429) or code in _TRANSIENT_CODES:
                raise Transient(f"{what}: {status or ''} {message}".strip()) from None
            if status == 404:  # the URL answers, but not as a Supabase project does
                raise EvalkitError(URL_VAR, f"{describe_url(self.settings.url)} does not answer like a "
                                            f"Supabase project (404 on {what})") from None
            raise BatchRejected(self.target, f"{what} was rejected ({status} {code}: {message})") from None

    def _not_supabase(self, what: str) -> EvalkitError:
        return EvalkitError(URL_VAR, f"{describe_url(self.settings.url)} does not answer like a Supabase project "
                                     f"(no PostgREST JSON when {what}; status {self._last_status})")

    def _clean(self, exc: object) -> str:
        return self.settings.redact(" ".join(str(exc).split()))[:300]


class _MissingTable(Exception):
    pass
