"""evalkit installed beside another project's pytest suite (issue 21): the gate's options exist only in a run
that collects the evaluation, and never take a flag the project's own conftest declares.

The foreign project is a real pytest project in a pytester folder whose conftest declares ``--device``,
``--report`` and ``--baseline`` (common in ML repos); every run is a subprocess with this checkout first
on PYTHONPATH, so the entry point loads this evalkit.plugin.
"""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PERFECT = ROOT / "checkpoints" / "tiny_punks_perfect.safetensors"
PROMPTS = Path(__file__).with_name("prompts_small.toml")

pytest_plugins = ["pytester"]

FOREIGN_CONFTEST = '''
def pytest_addoption(parser):
    parser.addoption("--device", default="cpu", help="the project's own device option")
    parser.addoption("--report", action="store_true", help="the project's own report flag")
    parser.addoption("--baseline", default=None, help="the project's own baseline")
'''

FOREIGN_TESTS = '''
def test_own_options_keep_their_meaning(request):
    c = request.config
    assert (c.getoption("device"), c.getoption("report"), c.getoption("baseline")) == ("cuda:1", True, "b.json")

def test_second():
    assert 1 + 1 == 2
'''


@pytest.fixture
def foreign(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.makeconftest(FOREIGN_CONFTEST)
    pytester.makepyfile(test_own=FOREIGN_TESTS)
    return pytester


def test_a_foreign_suite_with_its_own_device_report_baseline_options_runs_untouched(foreign):
    result = foreign.runpytest_subprocess("-p", "no:cacheprovider", "--device", "cuda:1", "--report",
                                          "--baseline", "b.json")
    result.assert_outcomes(passed=2)
    assert result.ret == 0


def test_a_foreign_suite_sees_no_evalkit_option_or_marker(foreign):
    help_text = foreign.runpytest_subprocess("-p", "no:cacheprovider", "--help").stdout.str()
    assert "--device" in help_text and "--checkpoint" not in help_text and "--evalkit-" not in help_text
    markers = foreign.runpytest_subprocess("-p", "no:cacheprovider", "--markers").stdout.str()
    assert "@pytest.mark.palette" not in markers


def test_the_gate_run_from_the_foreign_project_spells_a_taken_flag_with_the_prefix(foreign):
    """`pytest --pyargs evalkit` there loads the project's conftest too: its --device stays its own, the
    gate's is --evalkit-device; the untaken names keep their short spelling."""
    result = foreign.runpytest_subprocess(
        "-p", "no:cacheprovider", "--pyargs", "evalkit", "--co", "-q", "--checkpoint", str(PERFECT),
        "--prompts", str(PROMPTS), "--evalkit-device", "cpu", "--evalkit-report", "--device", "cuda:1")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(["*test_render[[]tiny_punks_perfect[]]*", "*test_suite_mean[[]tiny_punks_perfect-*"])
    help_text = foreign.runpytest_subprocess("-p", "no:cacheprovider", "--pyargs", "evalkit", "--help").stdout.str()
    assert "--evalkit-device=DEV" in help_text and "--checkpoint=FILE, --evalkit-checkpoint=FILE" in help_text

