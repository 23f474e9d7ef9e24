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
    "20261202000100_evalkit_ratings",  # issue 20: ratings + rated_quality
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

    The files are idempotent, so applying them to a database that has some
    or all of them is safe. `upto` stops after that migration (tests use it
    to make a database that is behind).
    """
    import psycopg

    applied = []
    with psycopg.connect(dsn, autocommit=True, prepare_threshold=None) as conn:
        for path in migration_files(folder):
            with conn.transaction():
                conn.execute(path.read_text(encoding="utf-8"))
            applied.append(path.stem)
            if path.stem == upto:
                break
    return applied
