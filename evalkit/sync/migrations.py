"""The Postgres schema the sync writes to: ``supabase/migrations/*.sql`` and the check that a database has it.

Each migration file records its version in ``evalkit_schema_migrations``;
`check_schema` compares what a database recorded with `MIGRATIONS`, the
versions this evalkit writes for, and names the first one missing. The list
is spelled out here (not read from disk) so an installed evalkit knows it;
a test keeps it equal to the files.
"""

from __future__ import annotations

from pathlib import Path

from evalkit.errors import EvalkitError
from evalkit.paths import MIGRATIONS_DIR

MIGRATIONS = (
    "20261125000100_evalkit_core",
    "20261125000200_evalkit_views",
    "20261202000100_evalkit_prompt_adherence",
    "20261202000200_evalkit_ratings",  # issue 20: ratings + rated_quality
)
VERSION_TABLE = "evalkit_schema_migrations"


def version_of(migration: str) -> str:
    return migration.split("_", 1)[0]


def migration_files(folder: Path = MIGRATIONS_DIR) -> list[Path]:
    if not folder.is_dir():
        raise EvalkitError(folder, "migrations folder not found (it ships in the evalkit repository's supabase/)")
    return sorted(folder.glob("*.sql"))


def check_schema(applied: set[str] | None, where: str) -> None:
    """Raise a one-line error naming the first migration the database lacks.

    `applied` holds the versions in ``evalkit_schema_migrations``, or None when
    that table does not exist (no evalkit migration was ever applied).
    """
    if applied is None:
        raise EvalkitError(
            where, f"has no evalkit schema (no {VERSION_TABLE} table): apply supabase/migrations/*.sql first"
        )
    missing = [m for m in MIGRATIONS if version_of(m) not in applied]
    if missing:
        raise EvalkitError(
            where,
            f"database schema is behind the migrations: {missing[0]}.sql is not applied "
            f"({len(missing)} of {len(MIGRATIONS)} missing); apply supabase/migrations/*.sql in order",
        )


def apply_migrations(dsn: str, folder: Path = MIGRATIONS_DIR, *, upto: str | None = None) -> list[str]:
    """Apply the migration files in order (each in one transaction); returns their names.

    A migration the database already records in `VERSION_TABLE` is skipped,
    as the Supabase CLI does: a later migration may replace a view an earlier
    one made (adding a column), and replaying the earlier file would try to
    drop it again. Each file is also idempotent on its own. `upto` stops after
    that migration (tests use it to make a database that is behind).
    """
    import psycopg

    applied = []
    with psycopg.connect(dsn, autocommit=True, prepare_threshold=None) as conn:
        done = _recorded(conn)
        for path in migration_files(folder):
            if version_of(path.stem) in done:
                applied.append(path.stem)
                if path.stem == upto:
                    break
                continue
            with conn.transaction():
                conn.execute(path.read_text(encoding="utf-8"))
            applied.append(path.stem)
            if path.stem == upto:
                break
    return applied


def _recorded(conn) -> set[str]:
    """Versions in `VERSION_TABLE`; empty when the table does not exist yet."""
    exists = conn.execute("SELECT to_regclass(%s)", (VERSION_TABLE,)).fetchone()[0]
    if exists is None:
        return set()
    return {v for (v,) in conn.execute(f"SELECT version FROM {VERSION_TABLE}")}
