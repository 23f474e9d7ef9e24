"""Run one attack case as a real subprocess and classify what came out.

A case is judged on what a user would see and keep: a Python traceback, a raw control
character reaching the terminal, an exit status outside the README's contract ("### Exit
codes"), a score recorded under a (prompt, seed) the suite lacks or that is not its render's,
work already done missing afterwards, a pickle payload that ran, and an error that does not
name the file or value it is about.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
CHECKPOINTS = ROOT / "checkpoints"
BASE_MODEL = CHECKPOINTS / "tiny-punks-base"
PERFECT = CHECKPOINTS / "tiny_punks_perfect.safetensors"
GOLDEN = ROOT / "golden"
GOLDEN_PUNKS = GOLDEN / "v1" / "1_punks"

# Small renders: what a case needs is the code path, not a good image (64 px, 2 steps, one core).
RENDER_OPTS = ["--steps", "2", "--width", "64", "--height", "64", "--device", "cpu"]
APE = ("ape punk portrait, cap forward, brown ape skin, blue gray background, pixel art, 24x24, flat colors, "
       "sharp pixels, #856F56 skin, #638596 background")
MOHAWK = ("male punk portrait, mohawk, albino skin, blue gray background, pixel art, 24x24, flat colors, "
          "sharp pixels, #EAD9D9 skin, #638596 background")
SUITE_1 = f'[defaults]\nseeds = [42]\n\n[[prompts]]\nid = "ape"\ncaption_style = "v1"\ntext = "{APE}"\n' \
          f'golden = ["0372", "1021", "2140"]\n'
SUITE_4 = SUITE_1.replace("seeds = [42]", "seeds = [42, 43]") + \
    f'\n[[prompts]]\nid = "male_mohawk"\ncaption_style = "v1"\ntext = "{MOHAWK}"\ngolden = ["0113", "0001"]\n'
# 2 prompts x 24 seeds: long enough (about 4 s at one image a call) for a signal to land mid-render.
SUITE_48 = SUITE_4.replace("seeds = [42, 43]", f"seeds = {list(range(42, 66))}")

TRACEBACK = "Traceback (most recent call last)"
# C0 controls but \t \n \r (tqdm's \r rewrites a line; harmless), DEL, C1, and the bidi/line-separator
# characters README's "Bad input" promises to escape.
RAW_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x80-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
KINDS = ("traceback", "raw_escape", "exit", "timeout", "mislabelled", "lost", "pickle", "unnamed")


def evalkit_cmd(*args) -> list[str]:
    """`evalkit ARGS`: the console script beside this interpreter, as a user runs it."""
    script = Path(PY).with_name("evalkit")
    head = [str(script)] if script.exists() else [PY, "-m", "evalkit.cli"]
    return [*head, *map(str, args)]


def gate_cmd(*args) -> list[str]:
    """`python -m pytest evalkit ...` against this checkout, on the small render settings."""
    return [PY, "-m", "pytest", str(ROOT / "evalkit"), f"--rootdir={ROOT}", "-p", "no:cacheprovider", "-q",
            *RENDER_OPTS, *map(str, args)]


def subprocess_env(extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "EVALKIT_"))}
    env.update(PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1", EVALKIT_SYNC_BACKOFF="0.01", PYTHONDONTWRITEBYTECODE="1")
    env.update(extra or {})
    return env


@dataclass
class Outcome:
    """One finished subprocess."""

    argv: list[str]
    rc: int | None  # None: killed by us at the timeout
    output: str  # stdout then stderr, decoded with undecodable bytes shown as \\x..
    seconds: float


def run_process(argv, cwd: Path, env: dict | None = None, timeout: float = 120, stdin: bytes | None = None) -> Outcome:
    start = time.monotonic()
    try:
        done = subprocess.run(argv, cwd=cwd, env=subprocess_env(env), input=stdin, capture_output=True,
                              timeout=timeout)
        rc, out, err = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as exc:
        rc, out, err = None, exc.stdout or b"", exc.stderr or b""
    text = out.decode("utf-8", "backslashreplace") + "\n" + err.decode("utf-8", "backslashreplace")
    return Outcome(list(map(str, argv)), rc, text, time.monotonic() - start)


def start_process(argv, cwd: Path, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(argv, cwd=cwd, env=subprocess_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish_process(proc: subprocess.Popen, timeout: float, start: float) -> Outcome:
    try:
        out, err = proc.communicate(timeout=timeout)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        rc = None
    text = out.decode("utf-8", "backslashreplace") + "\n" + err.decode("utf-8", "backslashreplace")
    return Outcome(list(map(str, proc.args)), rc, text, time.monotonic() - start)


Check = Callable[[], list[tuple[str, str]]]  # after the run: [(kind, detail)] of what went wrong


@dataclass
class Plan:
    """What to run for a case and what the README promises about it."""

    argv: list[str] | None
    expect: set[int]  # allowed exit statuses
    says: str | None = None  # text the output must hold (the file or value the error is about)
    env: dict = field(default_factory=dict)
    timeout: float = 120
    stdin: bytes | None = None
    execute: Callable[[Path], list[Outcome]] | None = None  # several processes (concurrent, killed runs)
    checks: list[Check] = field(default_factory=list)
    reports: Path | None = None  # a reports folder whose run records and store must be labelled right
    suite: Path | None = None  # the suite those scores belong to


@dataclass
class Case:
    category: str
    name: str
    build: Callable[["Workspace", Path], Plan]
    finding: str = ""  # the numbered finding of issue 22 it re-runs, if any
    needs_base: bool = False


class Workspace:
    """A temp folder for every case, and the shared base renders (built once, on first need)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.marker = self.root / "PICKLE_PAYLOAD_RAN"
        self.suite1 = self.root / "suite1.toml"
        self.suite1.write_text(SUITE_1)
        self.suite4 = self.root / "suite4.toml"
        self.suite4.write_text(SUITE_4)
        self.suite48 = self.root / "suite48.toml"
        self.suite48.write_text(SUITE_48)
        self._base: Path | None = None
        self.base_seconds = 0.0

    def case_dir(self, case: Case) -> Path:
        path = self.root / "cases" / case.category / case.name
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        return path

    def base(self) -> Path:
        """reports/ with the perfect LoRA's render of suite1 in the cache, one gate run in the store
        (queued for sync) and the golden distribution computed: what most cache and sync cases start from."""
        if self._base is None:
            start = time.monotonic()
            reports = self.root / "base" / "reports"
            shutil.rmtree(reports.parent, ignore_errors=True)
            reports.parent.mkdir(parents=True)
            render = run_process(evalkit_cmd("render", "--checkpoint", PERFECT, "--prompts", self.suite1,
                                             "--reports-dir", reports, *RENDER_OPTS), reports.parent, timeout=300)
            gate = run_process(gate_cmd("--checkpoint", PERFECT, "--prompts", self.suite1, "--reports-dir", reports,
                                        "--score-only"), reports.parent, timeout=300)
            if render.rc != 0 or gate.rc not in (0, 1) or not list(reports.glob("*/run.json")):
                raise RuntimeError(f"the shared base did not build:\n{render.output[-2000:]}\n{gate.output[-3000:]}")
            self._base = reports
            self.base_seconds = time.monotonic() - start
        return self._base

    def copy_base(self, dest: Path) -> Path:
        shutil.copytree(self.base(), dest, symlinks=True)
        return dest


def cached_renders(reports: Path) -> list[Path]:
    return sorted((reports / "cache").glob("*/*/*-seed*.png")) if (reports / "cache").is_dir() else []


def suite_pairs(suite: Path) -> set[tuple[str, int]]:
    data = tomllib.loads(suite.read_text())
    seeds = data.get("defaults", {}).get("seeds", [])
    return {(p["id"], s) for p in data["prompts"] for s in p.get("seeds", seeds)}


def label_problems(reports: Path, suite: Path) -> list[tuple[str, str]]:
    """Scores under a (prompt, seed) the suite lacks, or under one that is not their render's own."""
    pairs, found = suite_pairs(suite), []
    for record in sorted(reports.glob("*/run.json")):
        try:
            data = json.loads(record.read_text())
        except (OSError, ValueError):
            continue  # a record a case damaged on purpose; the store check below still runs
        for ckpt in data.get("checkpoints", []):
            for image in ckpt.get("images", []):
                key = (image.get("prompt_id"), image.get("seed"))
                if key not in pairs:
                    found.append(("mislabelled", f"{record.parent.name}: scored {key}, not in the suite"))
                render = str(image.get("render", ""))
                if render and Path(render).name != f"{key[0]}-seed{key[1]}.png":
                    found.append(("mislabelled", f"{record.parent.name}: {key} scored from {render}"))
                sidecar = (reports / render).with_suffix(".json")
                if render and sidecar.is_file():
                    try:
                        meta = json.loads(sidecar.read_text())
                    except ValueError:
                        continue
                    if isinstance(meta, dict) and (meta.get("prompt_id"), meta.get("seed")) != key:
                        found.append(("mislabelled", f"{key} scored from a render whose sidecar says "
                                                     f"{(meta.get('prompt_id'), meta.get('seed'))}"))
    store = reports / "evalkit.sqlite"
    if store.is_file():
        try:
            with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as conn:
                rows = conn.execute("SELECT DISTINCT run_id, prompt_id, seed FROM scores").fetchall()
        except sqlite3.Error:
            rows = []
        found += [("mislabelled", f"store {run}: scores under {(p, s)}, not in the suite")
                  for run, p, s in rows if (p, s) not in pairs]
    return found


def _run_ids(reports: Path, sql: str) -> set[str]:
    """The run ids `sql` selects from the store, read-only (none when there is no readable store)."""
    try:
        with sqlite3.connect(f"file:{reports / 'evalkit.sqlite'}?mode=ro", uri=True) as conn:
            return {r[0] for r in conn.execute(sql)}
    except sqlite3.Error:
        return set()


def store_runs(reports: Path) -> set[str]:
    return _run_ids(reports, "SELECT run_id FROM run_records")


def queued_runs(reports: Path) -> set[str]:
    return _run_ids(reports, "SELECT run_id FROM sync_queue WHERE synced_at IS NULL")


def keeps_runs(reports: Path, runs: set[str] | None = None) -> Check:
    """Lost work: the store's runs (queued ones stay queued) must all be there after the case."""
    before = store_runs(reports) if runs is None else set(runs)
    queued = queued_runs(reports)

    def check():
        after, still = store_runs(reports), queued_runs(reports)
        return [("lost", f"store lost runs {sorted(before - after)}")] * bool(before - after) + \
               [("lost", f"sync queue lost {sorted(queued - still)}")] * bool(queued - still)
    return check


def keeps_files(paths: list[Path]) -> Check:
    """Lost work: files made before the case (renders, records) must still be there."""
    paths = list(paths)

    def check():
        gone = [p for p in paths if not p.exists()]
        return [("lost", f"{len(gone)} file(s) gone: {gone[0]}")] if gone else []
    return check


@dataclass
class Verdict:
    category: str
    name: str
    finding: str
    rc: list
    seconds: float
    problems: list  # [(kind, detail)]
    tail: str  # the output's last lines, for a failing case

    def to_dict(self) -> dict:
        return {"category": self.category, "name": self.name, "finding": self.finding, "rc": self.rc,
                "seconds": round(self.seconds, 1), "clean": not self.problems,
                "problems": [{"kind": k, "detail": d} for k, d in self.problems],
                **({"tail": self.tail} if self.problems else {})}


def classify(case: Case, plan: Plan, outcomes: list[Outcome], marker: Path) -> list[tuple[str, str]]:
    problems = []
    for out in outcomes:
        if TRACEBACK in out.output:
            line = next((ln for ln in reversed(out.output.splitlines()) if ln.strip() and not ln.startswith(" ")), "")
            problems.append(("traceback", line[:200]))
        raw = RAW_CONTROL.search(out.output)
        if raw:
            start = max(raw.start() - 40, 0)
            problems.append(("raw_escape", repr(out.output[start:raw.end() + 20])))
        if out.rc is None:
            problems.append(("timeout", " ".join(out.argv[-6:])))
        elif out.rc not in plan.expect:
            problems.append(("exit", f"exit {out.rc}, the contract says {sorted(plan.expect)}"))
    if plan.says and not any(plan.says in out.output for out in outcomes):
        problems.append(("unnamed", f"the output never names {plan.says!r}"))
    for check in plan.checks:
        problems += check()
    if plan.reports is not None and plan.suite is not None and plan.reports.is_dir():
        problems += label_problems(plan.reports, plan.suite)
    if marker.exists():
        problems.append(("pickle", f"the pickle payload ran: {marker} exists"))
        marker.unlink()
    return problems


def run_case(case: Case, ws: Workspace) -> Verdict:
    start = time.monotonic()
    workdir = ws.case_dir(case)
    try:
        plan = case.build(ws, workdir)
        if plan.execute is not None:
            outcomes = plan.execute(workdir)
        else:
            outcomes = [run_process(plan.argv, workdir, plan.env, plan.timeout, plan.stdin)]
        problems = classify(case, plan, outcomes, ws.marker)
    except Exception as exc:  # the harness's own failure is a finding about the harness: show it, go on
        import traceback

        outcomes, problems = [], [("harness", f"{type(exc).__name__}: {exc}")]
        traceback.print_exc()
    tail = "\n".join("\n".join(o.output.strip().splitlines()[-8:]) for o in outcomes)[-3000:]
    return Verdict(case.category, case.name, case.finding, [o.rc for o in outcomes], time.monotonic() - start,
                   problems, tail)
