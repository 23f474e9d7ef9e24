"""`pytest evalkit --report --sync` as a user runs it: the run lands in the store, the pages and Supabase.

Real renders of the shipped perfect LoRA (2 prompts x 3 seeds, CPU), the
local Supabase stand-in over a real PostgreSQL (see fake_supabase.py for why
it is a stand-in), and the gate run in a subprocess through pytester.
"""

import sys
from pathlib import Path

import psycopg

from evalkit.sync.outbox import pending
from evalkit.sync.settings import URL_VAR
from evalkit.store.store import ScoreStore

ROOT = Path(__file__).resolve().parents[2]
PROMPTS = ROOT / "tests" / "distributed" / "prompts_tiny.toml"
PERFECT = ROOT / "checkpoints" / "tiny_punks_perfect.safetensors"

pytest_plugins = ["pytester"]


def gate(pytester, reports, *args):
    return pytester.runpytest_subprocess(
        str(ROOT / "evalkit"), f"--rootdir={ROOT}", "--checkpoint", str(PERFECT), "--prompts", str(PROMPTS), "--no-base-compare",
        "--reports-dir", str(reports), "-p", "no:cacheprovider", *args,
    )


def remote_runs(dsn) -> list[str]:
    with psycopg.connect(dsn) as conn:
        return [r[0] for r in conn.execute("SELECT run_id FROM evaluation_runs ORDER BY run_id")]


def test_report_and_sync_after_the_run_and_an_unreachable_supabase_keeps_the_run_queued(
        pytester, tmp_path, supabase, db, monkeypatch):
    reports = tmp_path / "reports"
    first = gate(pytester, reports, "--report", "--sync")
    assert first.ret == 0
    out = first.stdout.str()
    store = ScoreStore.default(reports)
    [run_id] = store.run_ids()
    assert f"score store: {store.path} (run {run_id})" in out
    assert (reports / run_id / "index.html").is_file() and (reports / "index.html").is_file()
    assert f"report: {reports / run_id / 'index.html'}" in out
    assert "sync: 1 run(s)" in out and remote_runs(db) == [run_id]
    assert not pending(store)

    # Supabase down: the verdict is untouched (exit 0), the new run stays queued, nothing is lost.
    monkeypatch.setenv(URL_VAR, "http://127.0.0.1:9")
    second = gate(pytester, reports, "--sync", "--score-only")
    assert second.ret == 0
    assert "stay queued" in second.stdout.str() or "stays queued" in second.stdout.str()
    assert len(store.run_ids()) == 2 and len(pending(store)) == 1
    assert remote_runs(db) == [run_id]
    assert supabase.service_key not in second.stdout.str() + second.stderr.str()

    # Back up: `evalkit sync` sends what stayed queued, exactly once.
    monkeypatch.setenv(URL_VAR, supabase.url)
    result = pytester.run(sys.executable, "-m", "evalkit.cli", "sync", "--reports-dir", str(reports))
    assert result.ret == 0
    assert remote_runs(db) == sorted(store.run_ids()) and not pending(store)
