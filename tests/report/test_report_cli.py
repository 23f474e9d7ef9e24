"""`evalkit report`: runs from the score store first, run.json files for the rest; bad records named, not fatal."""

from __future__ import annotations

import re
import shutil

import pytest
from report_records import CHECKPOINTS, checkpoint_result, run_record

from evalkit.cli import main
from evalkit.store.store import ScoreStore


@pytest.fixture(scope="module")
def folder(reports, reference, tmp_path_factory):
    """A reports folder with: a run only in run.json, a run only in the store, a run in both, a corrupt run.json."""
    path = tmp_path_factory.mktemp("cli_reports")
    shutil.copytree(reports / "golden_scores", path / "golden_scores")
    perfect = checkpoint_result(CHECKPOINTS / "tiny_punks_perfect.safetensors", path, reference)
    wrong = checkpoint_result(CHECKPOINTS / "tiny_punks_wrong_colors.safetensors", path, reference)
    json_only = run_record("20261101T090000Z-json", "2026-11-01T09:00:00+00:00", [perfect])
    store_only = run_record("20261102T090000Z-stor", "2026-11-02T09:00:00+00:00", [wrong])
    both = run_record("20261103T090000Z-both", "2026-11-03T09:00:00+00:00", [perfect])
    json_only.write(path)
    store = ScoreStore.default(path)
    store.add_run(store_only)
    store.add_run(both)
    stale = run_record(both.run_id, both.started_at, [wrong])  # an out-of-date run.json: the store wins
    stale.write(path)
    bad = path / "20261104T090000Z-bad0" / "run.json"
    bad.parent.mkdir()
    bad.write_text("{ not json", encoding="utf-8")
    return path, {"json": json_only, "store": store_only, "both": both}, bad


def test_writes_every_readable_run_and_names_the_bad_one(folder, capsys):
    path, runs, bad = folder
    assert main(["report", "--reports-dir", str(path)]) == 4
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and str(bad) in err and "not a readable evalkit run record" in err
    written = out.split()
    assert str(path / "index.html") in written
    for run in runs.values():
        assert str(path / run.run_id / "index.html") in written
    index = (path / "index.html").read_text()
    assert sorted(re.findall(r'<tr data-key="([^"]+)"', index)) == sorted(f"{r.run_id}/0" for r in runs.values())
    both_page = (path / runs["both"].run_id / "index.html").read_text()
    assert 'data-name="tiny_punks_perfect"' in both_page and "tiny_punks_wrong_colors" not in both_page


def test_one_run_only(folder, capsys):
    path, runs, _ = folder
    page = path / runs["json"].run_id / "index.html"
    page.unlink()
    main(["report", "--reports-dir", str(path), "--run", runs["json"].run_id])
    out, _ = capsys.readouterr()
    assert out.split() == [str(page), str(path / "index.html")]


def test_unknown_run_and_missing_folder_are_one_line_errors(folder, tmp_path, capsys):
    path, _, _ = folder
    assert main(["report", "--reports-dir", str(path), "--run", "20990101T000000Z-none"]) == 4
    assert "holds no run '20990101T000000Z-none'" in capsys.readouterr().err
    missing = tmp_path / "nowhere"
    assert main(["report", "--reports-dir", str(missing)]) == 4
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(missing) in err and "does not exist" in err
    assert not missing.exists()


def test_a_truncated_record_in_the_store_is_named_and_skipped(folder, tmp_path, capsys):
    """Before: `evalkit report` died with JSONDecodeError when one stored record_json was cut short."""
    import sqlite3

    path, runs, bad = folder
    copy = tmp_path / "reports"
    shutil.copytree(path, copy)
    victim = runs["store"].run_id
    with sqlite3.connect(copy / "evalkit.sqlite") as conn:
        conn.execute("UPDATE run_records SET record_json = substr(record_json, 1, 200) WHERE run_id = ?", (victim,))
    assert main(["report", "--reports-dir", str(copy)]) == 4
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert len(lines) == 2 and "Traceback" not in err  # the truncated stored run and the corrupt run.json
    assert any(f"run '{victim}': its stored record is unreadable (JSONDecodeError" in line for line in lines), err
    written = out.split()
    assert str(copy / "index.html") in written
    assert str(copy / runs["both"].run_id / "index.html") in written and str(copy / runs["json"].run_id / "index.html") in written


def test_an_index_that_cannot_be_written_is_one_line_and_exit_4(folder, tmp_path, capsys):
    """Found by the attack (tests/attack): an index.html that is a folder ended `evalkit report` (and the
    gate's --report) in an IsADirectoryError traceback, exit 1."""
    path, _, _ = folder
    copy = tmp_path / "reports"
    shutil.copytree(path, copy)
    (copy / "index.html").unlink(missing_ok=True)
    (copy / "index.html").mkdir()
    assert main(["report", "--reports-dir", str(copy)]) == 4
    err = capsys.readouterr().err
    assert err.startswith(f"evalkit report: error: {copy / 'index.html'}: cannot be written: ") and err.count("\n") == 1


def test_a_store_that_is_a_folder_is_named_not_ignored(folder, tmp_path, capsys):
    """Found by the attack: `evalkit.sqlite` being a folder was skipped without a word, exit 0."""
    path, _, _ = folder
    copy = tmp_path / "reports"
    shutil.copytree(path, copy)
    (copy / "evalkit.sqlite").unlink()
    (copy / "evalkit.sqlite").mkdir()
    assert main(["report", "--reports-dir", str(copy)]) == 4
    err = capsys.readouterr().err
    assert f"{copy / 'evalkit.sqlite'}: is not a score store (a folder)" in err and "Traceback" not in err


def test_written_paths_are_printed_escaped(folder, tmp_path, capsys):
    """Found by the attack: a reports folder named with ESC and a newline was echoed raw."""
    path, _, _ = folder
    copy = tmp_path / "rep\x1b[2J\nx"
    shutil.copytree(path, copy)
    main(["report", "--reports-dir", str(copy)])
    out = capsys.readouterr().out
    assert "\x1b" not in out and "rep\\x1b[2J\\nx" in out
