import pytest
from fake_supabase import FakeSupabase, service_key
from pg_cluster import PgCluster

from evalkit.sync.migrations import apply_migrations
from evalkit.sync.settings import BUCKET_VAR, DSN_VAR, KEY_VAR, URL_VAR


@pytest.fixture(scope="session")
def pg():
    """One real PostgreSQL server for the whole session; failing to start it fails the tests (never skips)."""
    try:
        cluster = PgCluster().start()
    except Exception as exc:
        pytest.fail(f"could not start a PostgreSQL server for the sync tests: {exc}", pytrace=False)
    yield cluster
    cluster.stop()


@pytest.fixture
def db(pg):
    """DSN of a fresh database with every migration applied."""
    dsn = pg.new_database()
    apply_migrations(dsn)
    return dsn


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No settings leak in from the developer's shell or a ./.env; retries wait milliseconds, not seconds."""
    for name in (URL_VAR, KEY_VAR, DSN_VAR, BUCKET_VAR):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EVALKIT_SYNC_BACKOFF", "0.01")
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def supabase(db, tmp_path, monkeypatch):
    """The local Supabase stand-in over `db`, with SUPABASE_URL / SUPABASE_SERVICE_ROLE_KEY set for it."""
    key = service_key()
    with FakeSupabase(db, key, tmp_path / "storage") as server:
        monkeypatch.setenv(URL_VAR, server.url)
        monkeypatch.setenv(KEY_VAR, key)
        yield server
