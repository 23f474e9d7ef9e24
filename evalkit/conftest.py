"""Loaded only when pytest collects the `evalkit` folder: the gate session around the items.

Reads the golden set, prompt suite and threshold overrides once per run and
resolves the checkpoints; bad input is a pytest usage error with one line
naming the file (exit code 4), before anything is rendered. At the end the
run's `RunRecord` is written, handed to the report/sync hooks, and the
leaderboard is printed in the terminal summary.
"""

from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path

import pytest

from evalkit.errors import EvalkitError
from evalkit.gate.epochs import summary_lines as epoch_summary
from evalkit.gate.exit_gc import freeze_heap, thaw_after_pytest
from evalkit.gate.quality import leaderboard
from evalkit.gate.progress import progress_factory
from evalkit.gate.project import gate_settings
from evalkit.gate.session import GateSession, Options, command_line, resolve_checkpoints
from evalkit.paths import DEFAULT_CHECKPOINT, DEFAULT_GOLDEN
from evalkit.plugin import GATE_REQUESTED, GATE_SESSION, SUMMARY_LINES, option
from evalkit.render.options import check_overrides, render_overrides
from evalkit.terminal_text import printable

# Options fields that are not a command-line option of the same name (evalkit/plugin.py declares those).
DERIVED = {"checkpoints", "rootdir", "command", "render", "require_baseline"}


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """A run that reaches this folder without asking for it (``pytest .`` in evalkit's checkout) has no
    gate options: the evaluation is left out rather than run on defaults nobody chose."""
    if collection_path.name == "test_punks.py" and not config.stash.get(GATE_REQUESTED, False):
        return True
    return None


def pytest_configure(config: pytest.Config) -> None:
    if not config.stash.get(GATE_REQUESTED, False):
        return
    from evalkit.timing import StageClock, process_age

    clock = StageClock(started_before=process_age())  # the interpreter, imports and pytest so far: "start"
    thaw_after_pytest(config)  # freeze_heap() at the end of the run; see evalkit/gate/exit_gc.py
    with clock.stage("setup"):
        _configure(config, clock)
    # The items report scores with record_property; pytest warns once per item that per-testcase
    # properties are outside the strict xunit2 schema (its default junit_family), which buried the
    # run's summary under ~140 identical warnings. The properties are written either way.
    config.addinivalue_line("filterwarnings", "ignore:record_property is incompatible with junit_family")


def _configure(config: pytest.Config, clock) -> None:
    given = {f.name: option(config, f.name) for f in fields(Options) if f.name not in DERIVED}
    try:
        # The command line, then the project's evalkit.toml [gate] (evalkit init), then evalkit's defaults.
        project = gate_settings(Path(config.rootpath))
        given["golden"] = given["golden"] or project.get("golden") or DEFAULT_GOLDEN
        given["prompts"] = given["prompts"] or project.get("prompts")
        opts = Options(
            **given,
            checkpoints=resolve_checkpoints(option(config, "checkpoint"), option(config, "checkpoint_dir"),
                                            None if option(config, "samples") else DEFAULT_CHECKPOINT),
            rootdir=Path(config.rootpath), command=command_line(config.invocation_params.args),
            render=check_overrides(render_overrides(lambda name: option(config, name))),
            require_baseline=option(config, "require_baseline") or os.environ.get("EVALKIT_REQUIRE_BASELINE") == "1",
        )
        if not opts.checkpoints and not opts.samples:  # an installed evalkit has no testbed to fall back on
            raise EvalkitError(None, "no checkpoint given: pass --checkpoint FILE or --checkpoint-dir DIR")
        config.stash[GATE_SESSION] = GateSession(opts, clock)
    except EvalkitError as exc:
        raise pytest.UsageError(f"evalkit: {exc}") from None
    config.stash[SUMMARY_LINES] = []


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """The render line needs the terminal reporter, which is registered after this conftest's pytest_configure."""
    gate: GateSession | None = session.config.stash.get(GATE_SESSION, None)
    if gate is not None:
        gate.progress = progress_factory(session.config, option(session.config, "progress"))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Hypothesis's pytest plugin imports hypothesis in its terminal summary even where no test used it,
    and pytest rewrites the asserts of all ~110 of its modules on that import (a ``pytest11`` plugin's
    distribution is marked for rewriting): 1-2 s of a cached gate re-run. Once collection is over and no
    collected module imported hypothesis, no item runs a hypothesis test and the plugin has nothing to
    report, so a gate run leaves it out."""
    import sys

    if "hypothesis" not in sys.modules:
        plugin = session.config.pluginmanager.get_plugin("hypothesispytest")
        if plugin is not None:
            session.config.pluginmanager.unregister(plugin)


@pytest.fixture(scope="session")
def evalkit_session(request) -> GateSession:
    return request.config.stash[GATE_SESSION]


@pytest.fixture
def evaluation(evalkit_session, case):
    """The checkpoint's evaluation; an unloadable checkpoint is an error on the first item that needs it."""
    ev = evalkit_session.evaluate(case.checkpoint)
    if case.kind != "render":
        evalkit_session.complete(ev)  # its scores, if worker processes computed them while later checkpoints rendered
    if ev.error is not None:
        if ev.error_shown:
            pytest.skip(f"{printable(case.checkpoint)}: not evaluated (see the error above)")
        ev.error_shown = True
        if isinstance(ev.error, EvalkitError):
            pytest.fail(str(ev.error), pytrace=False)
        raise ev.error  # a bug of ours, not bad input: the traceback is for us
    if evalkit_session.opts.render_only and case.kind != "render":
        pytest.skip("--render-only: rendered into the cache, not scored")
    return ev


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    """Any failed or erroring item marks its checkpoint failed in the record."""
    report = yield
    case = item.callspec.params.get("case") if hasattr(item, "callspec") else None
    if report.failed and case is not None:
        ev = item.config.stash[GATE_SESSION].evaluations.get(case.name)
        if ev is not None:
            ev.failed = True
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from evalkit.after_run import after_run

    config = session.config
    gate: GateSession | None = config.stash.get(GATE_SESSION, None)
    if gate is None:
        return
    record = gate.finish()
    if record is None:
        return
    try:
        with gate.clock.stage("store and report"):
            config.stash[SUMMARY_LINES] = after_run(record, gate.reports_dir, report=option(config, "report"),
                                                    sync=option(config, "sync"))
    except EvalkitError as exc:
        # The record is already on disk; a bad report/sync setting is a usage error, never a silent pass.
        config.stash[SUMMARY_LINES] = [f"evalkit: error: {exc}"]
        session.exitstatus = pytest.ExitCode.USAGE_ERROR
    freeze_heap()  # everything is written: pytest's end-of-run collections need not walk torch's heap


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    gate: GateSession | None = config.stash.get(GATE_SESSION, None)
    if gate is None or not gate.evaluations:
        return
    tr = terminalreporter
    tr.write_sep("=", "evalkit")
    for line in leaderboard([ev.result for ev in gate.evaluations.values()], gate.quality_formula):
        tr.write_line(printable(line))
    for line in epoch_summary(gate.epoch_runs, gate.epoch_problems) + gate.samples_lines():
        tr.write_line(printable(line))
    for ev in gate.evaluations.values():
        if ev.baseline_written:
            tr.write_line(printable(f"baseline written: {ev.baseline_written}"))
        if ev.obtained_written:
            tr.write_line(printable(f"obtained scores of {ev.name} (regressed): {ev.obtained_written}"))
    if gate.record_path:
        tr.write_line(printable(f"run record: {gate.record_path}"))
    for line in config.stash.get(SUMMARY_LINES, []):
        tr.write_line(printable(line))
    tr.write_line(gate.clock.line())  # where the wall time went (evalkit/timing.py); run.json keeps it
