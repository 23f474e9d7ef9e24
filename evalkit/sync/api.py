"""Python entry points of the sync: `run_sync` (raises) for the CLI, `sync_pending` (never raises) for the gate."""

from __future__ import annotations

from pathlib import Path

from evalkit.errors import EvalkitError
from evalkit.sync.engine import Backend, SyncReport, sync_store
from evalkit.sync.outbox import pending
from evalkit.sync.settings import DSN_VAR, KEY_VAR, URL_VAR, SyncSettings, load_settings
from evalkit.store.store import STORE_FILE, ScoreStore

BACKENDS = ("supabase", "postgres")
# What the `sync` extra (pyproject.toml) installs, as imported: a missing one names the extra.
SYNC_EXTRA_MODULES = {"supabase", "httpx", "postgrest", "storage3", "gotrue", "supabase_auth", "psycopg", "dotenv"}


def make_backend(settings: SyncSettings, name: str | None = None) -> Backend:
    """The named backend, or the one the settings point at: a connection string, else the Supabase API."""
    if name is None:
        name = "supabase" if settings.url and not settings.dsn else "postgres" if settings.dsn else None
    if name == "supabase":
        from evalkit.sync.backend_supabase import SupabaseBackend

        return SupabaseBackend(settings)
    if name == "postgres":
        from evalkit.sync.backend_postgres import PostgresBackend

        return PostgresBackend(settings)
    if name is None:
        raise EvalkitError(URL_VAR, f"sync is not configured: set {URL_VAR} and {KEY_VAR} (or {DSN_VAR}) "
                                    "in the environment or a .env file")
    raise EvalkitError("--backend", f"unknown backend {name!r} (choose from {', '.join(BACKENDS)})")


def existing_store(reports_dir: str | Path) -> ScoreStore:
    """The store of a reports folder; an error rather than a new empty store when there is none."""
    path = Path(reports_dir) / STORE_FILE
    if not path.is_file():
        raise EvalkitError(path, "no score store here yet: run the gate (pytest evalkit ...) or pass --reports-dir")
    return ScoreStore(path)


def run_sync(
    reports_dir: str | Path,
    *,
    backend: str | None = None,
    dsn: str | None = None,
    env_file: str | Path | None = None,
    upload_images: bool = False,
) -> SyncReport:
    """Send every queued run of ``<reports_dir>/evalkit.sqlite``; raises `EvalkitError` when the sync cannot go on."""
    store = existing_store(reports_dir)
    try:
        settings = load_settings(env_file, dsn=dsn)
        return sync_store(store, make_backend(settings, backend), Path(reports_dir), upload_images=upload_images)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in SYNC_EXTRA_MODULES:
            raise
        raise EvalkitError("evalkit sync", f"needs the `sync` extra (missing module {exc.name}): "
                                           "pip install 'evalkit[sync]'") from None


def sync_pending(reports_dir: str | Path, **options) -> list[str]:
    """For the gate's `after_run`: sync what is queued and return summary lines.

    Never raises for a sync problem (the scores are safe in the store either
    way): the failure becomes a line, and the runs stay queued for the next
    `evalkit sync`.
    """
    try:
        return run_sync(reports_dir, **options).lines()
    except EvalkitError as exc:
        try:
            queued = len(pending(ScoreStore.default(reports_dir)))
        except EvalkitError:
            queued = "?"
        return [f"sync failed: {exc}", f"sync: {queued} run(s) stay queued; `evalkit sync` sends them later"]
