"""Fixtures for the report tests: real golden punks, real testbed checkpoints, real headless Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_records import CHECKPOINTS, ROOT, checkpoint_result, run_record

from evalkit.report.golden_dist import golden_distribution

CHROMIUM = Path("/usr/bin/chromium")  # Debian's, installed by .ci/setup-system; browsers cannot be downloaded here
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
TESTBED = ["tiny_punks_perfect", "tiny_punks_photoreal", "tiny_punks_wrong_colors"]


@pytest.fixture(scope="session")
def reports(tmp_path_factory, golden, reference) -> Path:
    """One reports folder for the session, its golden score cache already filled."""
    path = tmp_path_factory.mktemp("reports")
    golden_distribution(golden, path, reference=reference)
    return path


@pytest.fixture(scope="session")
def testbed(reports, reference) -> dict:
    """name -> CheckpointResult for the three shipped LoRAs' stand-in renders."""
    return {name: checkpoint_result(CHECKPOINTS / f"{name}.safetensors", reports, reference) for name in TESTBED}


@pytest.fixture(scope="session")
def first_run(testbed):
    return run_record("20261120T100000Z-aaaa", "2026-11-20T10:00:00+00:00", list(testbed.values()))


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: run `bash .ci/setup-system` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh page; any console error (a CSP violation, a script error) fails the test."""
    pg = browser.new_page(viewport={"width": 1400, "height": 900})
    problems: list[str] = []
    pg.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: problems.append(str(e)))
    pg.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))  # alert() from injected text
    pg.problems = problems
    yield pg
    pg.close()
    assert problems == []
