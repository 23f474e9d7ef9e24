"""The local score store: exact round-trip, idempotent upsert by run_id, normalised rows, outbox."""

import json
import sqlite3

import pytest

from evalkit.score.metrics import METRICS
from sync_records import make_record

from evalkit.errors import EvalkitError
from evalkit.store.rows import record_rows
from evalkit.store.store import STORE_FILE, ScoreStore, UnknownRun


def test_runs_round_trip_exactly_oldest_first(tmp_path):
    store = ScoreStore.default(tmp_path)
    assert store.path == tmp_path / STORE_FILE
    late = make_record(tmp_path, "20261125T110000Z-bbbb", started_at="2026-11-25T11:00:00+00:00")
    early = make_record(tmp_path, "20261125T100000Z-aaaa")
    store.add_run(late)
    store.add_run(early)
    runs = ScoreStore(store.path).runs()  # a fresh handle reads what another wrote
    assert [r.run_id for r in runs] == [early.run_id, late.run_id]
    assert runs[0] == early and runs[1] == late
    assert json.dumps(runs[1].to_dict(), sort_keys=True) == json.dumps(late.to_dict(), sort_keys=True)
    assert store.run(late.run_id) == late


def test_add_run_is_an_upsert_by_run_id(tmp_path):
    store = ScoreStore.default(tmp_path)
    record = make_record(tmp_path, "r1")
    store.add_run(record)
    store.add_run(record)
    assert len(store.runs()) == 1
    assert len(store.rows("scores")) == len(record_rows(record)["scores"]) == 2 * 3 * 2 * len(METRICS)
    # A changed run replaces the old one, rows it no longer has included.
    record.checkpoints = record.checkpoints[:1]
    record.checkpoints[0].images = record.checkpoints[0].images[:1]
    store.add_run(record)
    assert store.runs() == [record]
    assert len(store.rows("scores", "r1")) == len(METRICS)
    assert [r["checkpoint_name"] for r in store.rows("evaluation_runs")] == ["tiny_punks_perfect"]


def test_normalised_rows_carry_the_training_run(tmp_path):
    store = ScoreStore.default(tmp_path)
    record = make_record(tmp_path, "r1")
    store.add_run(record)
    (perfect,) = [t for t in store.rows("training_runs") if t["name"] == "tiny_punks_perfect"]
    assert perfect["checkpoint_sha256"] == record.checkpoints[0].sha256
    assert perfect["network_dim"] == 32 and perfect["network_alpha"] == 16.0
    assert perfect["caption_version"].startswith("tags-") and len(perfect["caption_fingerprint"]) == 64
    assert perfect["base_model"] == "tiny-punks-base" and perfect["settings"]["optimizer"].endswith("AdamW")
    evals = store.rows("evaluation_runs", "r1")
    assert {e["verdict"] for e in evals} == {"pass", "fail"} and all(e["run_verdict"] == "fail" for e in evals)
    score = store.rows("scores", "r1")[0]
    assert isinstance(score["passed"], bool) and score["threshold"] is not None


def test_unknown_run_and_damaged_store_are_one_line_errors(tmp_path):
    store = ScoreStore.default(tmp_path)
    with pytest.raises(UnknownRun, match="holds no run 'nope'"):
        store.run("nope")
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(EvalkitError, match="bad.sqlite: is not a usable evalkit score store"):
        ScoreStore(bad)


def test_newer_store_is_refused(tmp_path):
    path = tmp_path / STORE_FILE
    ScoreStore(path)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(EvalkitError, match="schema version 99, newer"):
        ScoreStore(path)


def test_outbox_keeps_a_run_that_changed_while_it_was_sent(tmp_path):
    from evalkit.sync.outbox import mark_synced, pending, pending_versions

    store = ScoreStore.default(tmp_path)
    record = make_record(tmp_path, "r1", checkpoints=(("tiny_punks_perfect", 0.9),), prompts=1, seeds=1)
    store.add_run(record)
    [(run_id, version)] = pending_versions(store)
    record.checkpoints[0].quality = 1.0  # the gate stores a new version of the run mid-sync
    store.add_run(record)
    mark_synced(store, run_id, version, "test")
    assert pending(store) == ["r1"]
    [(_, newer)] = pending_versions(store)
    mark_synced(store, run_id, newer, "test")
    assert pending(store) == []
    store.add_run(record)  # unchanged: stays synced
    assert pending(store) == []
