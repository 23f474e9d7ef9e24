"""`evalkit rate`: ratings in the score store with who and when, synced to real PostgreSQL, joined in rated_quality."""

from pathlib import Path

import psycopg
import pytest
from sync_records import make_record

from evalkit.cli import main
from evalkit.store.ratings import RatingBook, file_sha256
from evalkit.store.store import ScoreStore
from evalkit.sync.api import run_sync

ROOT = Path(__file__).resolve().parents[2]
PERFECT = ROOT / "checkpoints" / "tiny_punks_perfect.safetensors"


@pytest.fixture
def reports(tmp_path):
    reports = tmp_path / "reports"
    ScoreStore.default(reports).add_run(make_record(reports, "20261125T100000Z-bbbb"))
    return reports


def rate(capsys, reports, *argv):
    rc = main(["rate", *map(str, argv), "--reports-dir", str(reports)])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_a_rating_is_kept_with_who_and_when(capsys, reports, monkeypatch):
    monkeypatch.setenv("EVALKIT_USER", "ana")
    rc, out, err = rate(capsys, reports, "tiny_punks_perfect", "9", "--note", "crisp punks: the one we ship")
    assert rc == 0, err
    assert out.startswith("rated tiny_punks_perfect (") and "9/10 by ana at 20" in out
    rc, _, _ = rate(capsys, reports, PERFECT, "8.5", "--by", "ben")  # the file itself: its sha256
    assert rc == 0
    book = RatingBook(ScoreStore.default(reports))
    ratings = book.all()
    assert [(r.name, r.score, r.rated_by) for r in ratings] == [("tiny_punks_perfect", 9.0, "ana"),
                                                                ("tiny_punks_perfect", 8.5, "ben")]
    assert ratings[1].checkpoint_sha256 == file_sha256(PERFECT)
    assert ratings[0].note == "crisp punks: the one we ship" and ratings[0].rated_at <= ratings[1].rated_at


@pytest.mark.parametrize("target, score, message", [
    ("tiny_punks_perfect", "11", "'11' is outside 0-10"),
    ("tiny_punks_perfect", "-1", "'-1' is outside 0-10"),
    ("tiny_punks_perfect", "nan", "'nan' is outside 0-10"),
    ("tiny_punks_perfect", "good", "'good' is not a number"),
    ("no_such_run", "5", "no_such_run: is neither a checkpoint file nor a checkpoint or run evaluated in"),
])
def test_bad_ratings_are_one_line_and_store_nothing(capsys, reports, target, score, message):
    rc, out, err = rate(capsys, reports, target, score)
    assert rc == 4 and message in err and len(err.strip().splitlines()) == 1
    assert RatingBook(ScoreStore.default(reports)).all() == []


def test_ratings_sync_and_the_view_joins_quality(capsys, reports, db, monkeypatch):
    monkeypatch.setenv("EVALKIT_USER", "ana")
    assert rate(capsys, reports, "tiny_punks_perfect", "9")[0] == 0
    assert rate(capsys, reports, "tiny_punks_photoreal", "2", "--note", "photos")[0] == 0
    assert rate(capsys, reports, "tiny_punks_photoreal", "0", "--note", "babies")[0] == 0  # the newest counts
    report = run_sync(reports, backend="postgres", dsn=db)
    assert not report.rejected
    store = ScoreStore.default(reports)
    assert RatingBook(store).pending() == []
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM ratings").fetchone()[0] == 3
        view = {r[0]: r[1:] for r in conn.execute("SELECT name, rating, note, ratings, quality, rated_by FROM rated_quality")}
    quality = {r["checkpoint_name"]: r["quality"] for r in store.rows("evaluation_runs")}
    assert view["tiny_punks_perfect"] == (9.0, None, 1, pytest.approx(quality["tiny_punks_perfect"]), "ana")
    assert view["tiny_punks_photoreal"] == (0.0, "babies", 2, pytest.approx(quality["tiny_punks_photoreal"]), "ana")
    # a second sync sends nothing again
    assert rate(capsys, reports, "tiny_punks_perfect", "10")[0] == 0
    run_sync(reports, backend="postgres", dsn=db)
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM ratings").fetchone()[0] == 4
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("INSERT INTO ratings (rating_id, checkpoint_sha256, score, rated_at) VALUES ('x', 'y', 11, now())")
