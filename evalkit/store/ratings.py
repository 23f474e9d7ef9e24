"""People's 0-10 ratings of checkpoints (our users' "Quality" column), kept beside the computed scores.

    evalkit rate SD15_PERFECT_Nov9 9 --note "crisp punks: the one we ship"

A rating names a checkpoint: a ``.safetensors`` file (its sha256 is read),
or a checkpoint / training-run name the score store already evaluated (one
checkpoint only: a name that several files share is refused, naming them).
Every rating is kept with who gave it and when (a later one does not
overwrite an earlier: ``latest()`` picks the newest per checkpoint). The
table lives in the score store's SQLite file; the sync sends it to the
``ratings`` table of ``supabase/migrations/20261202000200_evalkit_ratings.sql``.
"""

from __future__ import annotations

import getpass
import hashlib
import math
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from evalkit.errors import EvalkitError
from evalkit.store.store import ScoreStore, utc_now
from evalkit.store.tables import REAL, TEXT, TIME, Table

LOW, HIGH = 0.0, 10.0
RATINGS = Table(
    "ratings",
    key=("rating_id",),
    columns=(
        ("rating_id", TEXT),
        ("checkpoint_sha256", TEXT),
        ("name", TEXT),  # the checkpoint's (or its training run's) name, as rated
        ("score", REAL),  # 0-10
        ("note", TEXT),
        ("rated_by", TEXT),
        ("rated_at", TIME),
    ),
)
_DDL = ("CREATE TABLE IF NOT EXISTS ratings (rating_id TEXT PRIMARY KEY, checkpoint_sha256 TEXT NOT NULL, name TEXT, "
        "score REAL NOT NULL, note TEXT, rated_by TEXT, rated_at TEXT NOT NULL, synced_at TEXT)")


@dataclass(frozen=True)
class Rating:
    rating_id: str
    checkpoint_sha256: str
    name: str
    score: float
    note: str | None
    rated_by: str
    rated_at: str


def check_score(text) -> float:
    """A rating as our users give it: a number from 0 to 10."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise EvalkitError("SCORE", f"{text!r} is not a number (a rating is 0-10)") from None
    if not math.isfinite(value) or not LOW <= value <= HIGH:
        raise EvalkitError("SCORE", f"{text!r} is outside 0-10")
    return value


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class RatingBook:
    """The ratings table of one score store: add, list, latest per checkpoint, sync bookkeeping."""

    def __init__(self, store: ScoreStore):
        self.store = store
        with store.connect() as conn:
            conn.execute(_DDL)

    def resolve(self, target: str) -> tuple[str, str]:
        """(checkpoint sha256, name) of what RUN_OR_CHECKPOINT names; a one-line error when it names nothing or several."""
        path = Path(target)
        if path.is_file():
            return file_sha256(path), path.stem
        with self.store.connect() as conn:
            found = conn.execute(
                "SELECT DISTINCT e.checkpoint_sha256 FROM evaluation_runs e LEFT JOIN training_runs t "
                "ON t.checkpoint_sha256 = e.checkpoint_sha256 WHERE e.checkpoint_sha256 IS NOT NULL "
                "AND (e.checkpoint_name = ? OR t.name = ?)", (target, target)).fetchall()
        if not found:
            raise EvalkitError(target, f"is neither a checkpoint file nor a checkpoint or run evaluated in {self.store.path}")
        if len(found) > 1:
            shas = ", ".join(sorted(s[:12] for (s,) in found))
            raise EvalkitError(target, f"names {len(found)} different checkpoints in the store ({shas}); rate the file instead")
        return found[0][0], target

    def add(self, target: str, score, note: str | None = None, rated_by: str | None = None) -> Rating:
        value = check_score(score)
        sha, name = self.resolve(target)
        r = Rating(uuid.uuid4().hex, sha, name, value, note or None, rated_by or _who(), utc_now("microseconds"))  # orders ratings of one second
        with self.store.connect() as conn:
            conn.execute("INSERT INTO ratings (rating_id, checkpoint_sha256, name, score, note, rated_by, rated_at) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (r.rating_id, r.checkpoint_sha256, r.name, r.score, r.note, r.rated_by, r.rated_at))
        return r

    def all(self) -> list[Rating]:
        with self.store.connect() as conn:
            rows = conn.execute("SELECT rating_id, checkpoint_sha256, name, score, note, rated_by, rated_at "
                                "FROM ratings ORDER BY rated_at, rowid").fetchall()
        return [Rating(*row) for row in rows]

    def latest(self) -> dict[str, Rating]:
        """checkpoint sha256 -> its newest rating."""
        return {r.checkpoint_sha256: r for r in self.all()}

    def pending(self) -> list[dict]:
        """Rows the sync has not sent yet, as `RATINGS` rows."""
        with self.store.connect() as conn:
            rows = conn.execute("SELECT rating_id, checkpoint_sha256, name, score, note, rated_by, rated_at "
                                "FROM ratings WHERE synced_at IS NULL ORDER BY rated_at, rowid").fetchall()
        return [dict(zip(RATINGS.column_names, row)) for row in rows]

    def mark_synced(self, rating_ids: list[str]) -> None:
        with self.store.connect() as conn:
            conn.executemany("UPDATE ratings SET synced_at = ? WHERE rating_id = ?", [(utc_now(), i) for i in rating_ids])


def _who() -> str:
    try:
        return os.environ.get("EVALKIT_USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
