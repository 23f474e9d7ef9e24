"""A gate run's end skips the heap-wide collections (issue 23), and a process going on after it collects as usual.

The run is a real gate run in a child process (an unloadable checkpoint: nothing renders, the record is
written), with a probe plugin that reads the garbage collector's frozen count where pytest's own
end-of-run collections happen, after ``pytest.main()`` returns, and in the last ``atexit`` callback.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROMPTS = Path(__file__).with_name("prompts_small.toml")

pytest_plugins = ["pytester"]

PROBE = '''
import gc

def pytest_unconfigure(config):
    print("frozen in unconfigure:", gc.get_freeze_count() > 0, flush=True)
'''

SCRIPT = '''
import atexit, gc, sys
atexit.register(lambda: print("frozen at exit:", gc.get_freeze_count() > 0, flush=True))  # runs last
import pytest
ret = pytest.main(sys.argv[1:])
print("frozen after main:", gc.get_freeze_count() > 0, flush=True)
garbage = [[]]
garbage[0].append(garbage)  # a cycle made after the run is collected again
del garbage
print("collected after main:", gc.collect() > 0, flush=True)
sys.exit(ret)
'''


def run(pytester, *gate_args):
    pytester.makepyfile(gate_probe=PROBE)
    script = pytester.makepyfile(run_gate=SCRIPT)
    return pytester.run(sys.executable, str(script), *gate_args, "-p", "gate_probe", "-p", "no:cacheprovider",
                        "--rootdir", str(ROOT))


def test_the_heap_is_frozen_for_pytests_last_collections_and_thawed_after(pytester, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(pytester.path))
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 4)  # unloadable: the run ends at once, its record still written
    result = run(pytester, str(ROOT / "evalkit"), "--checkpoint", str(bad), "--prompts", str(PROMPTS),
                 "--reports-dir", str(tmp_path / "reports"))
    assert result.ret == 1, result.stdout.str()[-2000:]
    assert list((tmp_path / "reports").rglob("run.json")), "the record is written before the freeze"
    result.stdout.fnmatch_lines(["frozen in unconfigure: True", "frozen after main: False",
                                 "collected after main: True", "frozen at exit: True"])


def test_a_run_that_is_not_a_gate_run_is_left_alone(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(pytester.path))
    pytester.makepyfile(test_plain="def test_one():\n    assert True\n")
    result = run(pytester, str(pytester.path / "test_plain.py"))
    assert result.ret == 0, result.stdout.str()[-2000:]
    result.stdout.fnmatch_lines(["frozen in unconfigure: False", "frozen after main: False",
                                 "frozen at exit: False"])
