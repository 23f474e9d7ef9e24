"""The supabase-client backend against the local PostgREST/Storage stand-in (fake_supabase.py) over real PostgreSQL.

No PostgREST binary can be installed here, hence the stand-in; the client,
the SQL and the database are real.
"""

import os
import subprocess
import sys

import psycopg
import pytest
from fake_supabase import service_key
from pg_cluster import wait_for
from sync_records import ROOT, make_record

from evalkit.cli import main as evalkit_main
from evalkit.errors import EvalkitError
from evalkit.sync.api import make_backend, run_sync, sync_pending
from evalkit.sync.engine import sync_store
from evalkit.sync.migrations import MIGRATIONS, apply_migrations
from evalkit.sync.outbox import pending
from evalkit.sync.settings import KEY_VAR, URL_VAR, load_settings
from evalkit.store.store import ScoreStore
from evalkit.store.tables import TABLES

RUNS = ("20261124T090000Z-aaaa", "20261125T100000Z-bbbb")


def make_store(reports):
    store = ScoreStore.default(reports)
    store.add_run(make_record(reports, RUNS[0], started_at="2026-11-24T09:00:00+00:00"))
    store.add_run(make_record(reports, RUNS[1]))
    return store


def remote(dsn):
    """Every remote table's rows, keyed as the unique key, and the raw count (duplicates would show there)."""
    found = {}
    with psycopg.connect(dsn) as conn:
        for t in TABLES:
            rows = conn.execute(f"SELECT {', '.join(t.key)} FROM {t.name}").fetchall()
            found[t.name] = (len(rows), set(rows))
    return found


def assert_exactly_once(store, dsn):
    for table in TABLES:
        local = {table.key_of(r) for r in store.rows(table.name)}
        count, keys = remote(dsn)[table.name]
        assert count == len(local) and keys == local, table.name


def test_sync_with_images_is_idempotent(supabase, db, tmp_path):
    reports = tmp_path / "reports"
    store = make_store(reports)
    report = run_sync(reports, backend="supabase", upload_images=True)
    assert report.synced == list(RUNS) and report.images == 2 * 2 * 3 * 2
    assert_exactly_once(store, db)
    score = store.rows("scores", RUNS[1])[0]
    stored = tmp_path / "storage" / score["render_storage_path"]
    assert stored.read_bytes() == (reports / score["render_path"]).read_bytes()
    assert (tmp_path / "storage" / score["grid24_storage_path"]).stat().st_size > 0
    with psycopg.connect(db) as conn:
        paths = conn.execute("SELECT count(*) FROM scores WHERE render_storage_path LIKE 'test-outputs/%%' "
                             "AND grid24_storage_path LIKE '%%-24x24.png'").fetchone()[0]
    assert paths == len(store.rows("scores"))
    writes = supabase.writes
    assert run_sync(reports).synced == [] and supabase.writes == writes  # nothing queued, nothing sent
    # The gate stores a new version of a run: it is sent again, its uploads are kept and not repeated.
    record = store.run(RUNS[1])
    record.checkpoints[0].quality = 9.99
    store.add_run(record)
    again = run_sync(reports, upload_images=True)
    assert again.synced == [RUNS[1]] and again.images == 0
    assert all(r["render_storage_path"] for r in store.rows("scores"))
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT quality FROM evaluation_runs WHERE run_id = %s AND checkpoint_name = %s",
                            (RUNS[1], record.checkpoints[0].name)).fetchone() == (9.99,)


def test_failures_mid_batch_are_retried_without_duplicates(supabase, db, tmp_path):
    reports = tmp_path / "reports"
    store = make_store(reports)
    # 503 before a write, then a batch that lands but whose answer is lost, twice in a row.
    supabase.faults = {3: "503", 5: "drop", 6: "drop", 9: "503"}
    backend = make_backend(load_settings(), "supabase")
    report = sync_store(store, backend, reports, batch_rows=10)
    assert report.synced == list(RUNS)
    assert supabase.writes > sum(-(-len(store.rows(t.name, r)) // 10) for t in TABLES for r in RUNS)
    assert_exactly_once(store, db)


def test_persistent_failure_keeps_the_queue_and_the_next_sync_completes(supabase, db, tmp_path, capsys):
    reports = tmp_path / "reports"
    store = make_store(reports)
    supabase.faults = {n: "503" for n in range(6, 10)}  # the 6th write fails on all 4 tries
    with pytest.raises(EvalkitError, match="failed after 4 tries"):
        run_sync(reports)
    assert pending(store) == [RUNS[1]]  # the first run completed before the failure
    assert evalkit_main(["sync", "--status", "--reports-dir", str(reports)]) == 0
    status = capsys.readouterr().out
    assert "queued: 1 run(s)" in status and RUNS[1] in status and "1 failed attempt(s)" in status
    assert "last failure:" in status and "503" in status
    assert os.environ[KEY_VAR] not in status
    assert run_sync(reports).synced == [RUNS[1]]
    assert_exactly_once(store, db)


def test_sync_killed_mid_run_is_completed_by_the_next(supabase, db, tmp_path):
    reports = tmp_path / "reports"
    store = make_store(reports)
    supabase.faults = {8: "stall"}  # the second run's third table: its rows land, then the process dies
    proc = subprocess.Popen([sys.executable, "-m", "evalkit.cli", "sync", "--reports-dir", str(reports)],
                            cwd=ROOT, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for(supabase.stalled.is_set, timeout=60, what="the sync to reach the stalled batch")
    finally:
        proc.kill()
        proc.wait()
    supabase.release.set()
    landed = remote(db)
    assert landed["scores"][0] == len(store.rows("scores"))  # the stalled batch itself landed
    assert landed["verdicts"][0] < len(store.rows("verdicts"))  # the run's later tables did not
    assert pending(store) == [RUNS[1]]
    assert run_sync(reports).synced == [RUNS[1]]
    assert_exactly_once(store, db)


def test_wrong_key_or_url_is_one_line_and_keeps_the_queue(supabase, tmp_path, monkeypatch, capsys):
    reports = tmp_path / "reports"
    store = make_store(reports)
    wrong = service_key()
    monkeypatch.setenv(KEY_VAR, wrong)
    assert evalkit_main(["sync", "--reports-dir", str(reports)]) == 4
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{KEY_VAR}: was refused by {supabase.url} (401: Invalid API key)" in err
    assert wrong not in err and supabase.service_key not in err

    monkeypatch.setenv(KEY_VAR, service_key("anon"))
    with pytest.raises(EvalkitError, match="is a 'anon' key, not the service-role key"):
        run_sync(reports)

    monkeypatch.setenv(KEY_VAR, supabase.service_key)
    monkeypatch.setenv(URL_VAR, "http://127.0.0.1:9")
    with pytest.raises(EvalkitError, match=r"failed after 4 tries: .*cannot reach http://127.0.0.1:9"):
        run_sync(reports)
    monkeypatch.setenv(URL_VAR, "db.example.supabase.co")
    with pytest.raises(EvalkitError, match=f"{URL_VAR}: is not usable: Invalid URL"):
        run_sync(reports)
    assert pending(store) == list(RUNS)
    # The key is never written anywhere under reports/ (the store included).
    for path in reports.rglob("*"):
        if path.is_file():
            assert supabase.service_key.encode() not in path.read_bytes(), path


def test_schema_behind_is_detected_through_the_api(pg, tmp_path, monkeypatch):
    from fake_supabase import FakeSupabase

    reports = tmp_path / "reports"
    store = make_store(reports)
    behind = pg.new_database()
    apply_migrations(behind, upto=MIGRATIONS[0])
    key = service_key()
    with FakeSupabase(behind, key, tmp_path / "storage") as server:
        monkeypatch.setenv(URL_VAR, server.url)
        monkeypatch.setenv(KEY_VAR, key)
        with pytest.raises(EvalkitError, match=f"behind the migrations: {MIGRATIONS[1]}.sql is not applied"):
            run_sync(reports)
    assert pending(store) == list(RUNS)


def test_settings_from_a_dotenv_file_and_the_gate_entry_point(supabase, db, tmp_path, monkeypatch):
    reports = tmp_path / "reports"
    store = make_store(reports)
    (tmp_path / ".env").write_text(f"{URL_VAR}={supabase.url}\n{KEY_VAR}={supabase.service_key}\n")
    monkeypatch.delenv(URL_VAR)
    monkeypatch.delenv(KEY_VAR)
    lines = sync_pending(reports)
    assert lines == [f"sync: 2 run(s), {sum(len(store.rows(t.name, r)) for t in TABLES for r in RUNS)} rows -> supabase {supabase.url}"]
    assert_exactly_once(store, db)
    (tmp_path / ".env").unlink()
    store.add_run(make_record(reports, "20261126T100000Z-cccc", started_at="2026-11-26T10:00:00+00:00"))
    lines = sync_pending(reports)  # not configured: a line, no exception, the run stays queued
    assert lines[0].startswith(f"sync failed: {URL_VAR}: sync is not configured") and "1 run(s) stay queued" in lines[1]
