"""Migrations, views and the Postgres-connection backend on a real PostgreSQL server."""

import psycopg
import pytest

from evalkit.score.metrics import METRICS
from sync_records import make_record

from evalkit.errors import EvalkitError
from evalkit.sync.api import run_sync
from evalkit.sync.migrations import MIGRATIONS, apply_migrations, migration_files
from evalkit.sync.outbox import pending
from evalkit.store.rows import record_rows
from evalkit.store.store import ScoreStore
from evalkit.store.tables import TABLES


def remote_rows(dsn, table):
    with psycopg.connect(dsn) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def two_runs(reports):
    """An older run where photoreal was evaluated alone, then a newer one with both checkpoints."""
    store = ScoreStore.default(reports)
    store.add_run(make_record(reports, "20261124T090000Z-aaaa", started_at="2026-11-24T09:00:00+00:00",
                              checkpoints=(("tiny_punks_photoreal", 0.6),)))
    store.add_run(make_record(reports, "20261125T100000Z-bbbb"))
    return store


def test_migrations_apply_twice_and_match_the_table_specs(pg):
    dsn = pg.new_database()
    assert [p.stem for p in migration_files()] == list(MIGRATIONS)
    apply_migrations(dsn)
    apply_migrations(dsn)  # idempotent
    with psycopg.connect(dsn) as conn:
        for table in TABLES:
            columns = [c for (c,) in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
                (table.name,))]
            assert columns == table.column_names, table.name
        no_rls = conn.execute("SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace "
                              "AND relkind = 'r' AND NOT relrowsecurity").fetchall()
        assert no_rls == []
        versions = conn.execute("SELECT count(*) FROM evalkit_schema_migrations").fetchone()[0]
        assert versions == len(MIGRATIONS)


def test_unique_keys_reject_duplicates(db, tmp_path):
    rows = record_rows(make_record(tmp_path, "r1", checkpoints=(("tiny_punks_perfect", 0.9),), prompts=1, seeds=1))
    with psycopg.connect(db, autocommit=True) as conn:
        for table in TABLES:
            row = rows[table.name][0]
            names = list(row)
            values = [psycopg.types.json.Jsonb(row[n]) if n in table.json_columns else row[n] for n in names]
            insert = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))})"
            conn.execute(insert, values)
            with pytest.raises(psycopg.errors.UniqueViolation):
                conn.execute(insert, values)


def test_postgres_backend_syncs_once_and_views_answer(db, tmp_path):
    reports = tmp_path / "reports"
    store = two_runs(reports)
    report = run_sync(reports, backend="postgres", dsn=db)
    assert report.synced == ["20261124T090000Z-aaaa", "20261125T100000Z-bbbb"] and not report.rejected
    assert pending(store) == []
    expected = {t.name: len(store.rows(t.name)) for t in TABLES}
    assert expected["scores"] == (1 + 2) * 3 * 2 * len(METRICS)
    assert {t: remote_rows(db, t) for t in expected} == expected
    # Running again sends nothing; sending everything again changes nothing.
    again = run_sync(reports, dsn=db)
    assert again.synced == [] and again.lines()[0].startswith("sync: nothing queued; postgres 127.0.0.1:")
    with store.connect() as conn:
        conn.execute("UPDATE sync_queue SET synced_at = NULL")
    run_sync(reports, dsn=db)
    assert {t: remote_rows(db, t) for t in expected} == expected

    with psycopg.connect(db) as conn:
        summary = {r[0]: r[1:] for r in conn.execute(
            "SELECT name, evaluations, latest_run_id, latest_verdict, network_dim, mean_photorealism FROM training_summary")}
        assert summary["tiny_punks_photoreal"][:4] == (2, "20261125T100000Z-bbbb", "fail", 64)
        assert summary["tiny_punks_perfect"][:4] == (1, "20261125T100000Z-bbbb", "pass", 32)
        by_dim = {r[0]: r[1:] for r in conn.execute(
            "SELECT network_dim, trainings, passing, pass_rate FROM network_dim_effectiveness")}
        assert by_dim == {32: (1, 1, 1), 64: (1, 0, 0)}
        (caption,) = conn.execute("SELECT caption_version, trainings, evaluated FROM caption_version_effectiveness").fetchall()
        assert caption[0].startswith("tags-") and caption[1:] == (2, 2)  # both LoRAs used the v1 captions
        detailed = conn.execute("SELECT caption_version, trainings, distinct_tags, trainings_named "
                                "FROM caption_versions_detailed").fetchall()
        assert detailed == [(caption[0], 2, 117, ["tiny_punks_perfect", "tiny_punks_photoreal"])]


def test_schema_behind_the_migrations_is_named_and_the_queue_kept(pg, tmp_path):
    reports = tmp_path / "reports"
    store = two_runs(reports)
    empty = pg.new_database()
    with pytest.raises(EvalkitError, match="has no evalkit schema .* apply supabase/migrations"):
        run_sync(reports, dsn=empty)
    apply_migrations(empty, upto=MIGRATIONS[0])
    with pytest.raises(EvalkitError) as caught:
        run_sync(reports, dsn=empty)
    assert f"schema is behind the migrations: {MIGRATIONS[1]}.sql is not applied" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert len(pending(store)) == 2 and remote_rows(empty, "scores") == 0


def test_unreachable_database_is_one_line_without_the_password(tmp_path):
    reports = tmp_path / "reports"
    store = two_runs(reports)
    with pytest.raises(EvalkitError) as caught:
        run_sync(reports, dsn="postgresql://evalkit:s3cr3t-pw@127.0.0.1:9/nodb")
    message = str(caught.value)
    assert "s3cr3t-pw" not in message and "\n" not in message
    assert "127.0.0.1:9/nodb" in message and "failed after 4 tries" in message
    assert len(pending(store)) == 2


def test_a_hand_made_caption_versions_detailed_table_is_left_alone(pg):
    dsn = pg.new_database()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE caption_versions_detailed (version text, notes text)")
        conn.execute("INSERT INTO caption_versions_detailed VALUES ('NEW', 'hex codes added')")
    apply_migrations(dsn)
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT * FROM caption_versions_detailed").fetchall() == [("NEW", "hex codes added")]
        assert conn.execute("SELECT count(*) FROM training_summary").fetchone() == (0,)
