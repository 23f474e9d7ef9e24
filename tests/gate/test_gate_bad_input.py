"""The gate and the CLIs against bad input found on the second attack pass (issue 22).

Each case is one line naming the file or value, a documented exit code, and nothing
already computed lost. Gate runs are pytester subprocesses, as a user runs them.
"""

from pathlib import Path

import pytest

from evalkit.cli import main

ROOT = Path(__file__).resolve().parents[2]
EVALKIT = ROOT / "evalkit"
PERFECT = ROOT / "checkpoints" / "tiny_punks_perfect.safetensors"
PROMPTS = Path(__file__).with_name("prompts_small.toml")

pytest_plugins = ["pytester"]


def gate(pytester, *args):
    return pytester.runpytest_subprocess(str(EVALKIT), f"--rootdir={ROOT}", "--prompts", str(PROMPTS),
                                         "-p", "no:cacheprovider", *args)


def unusable_dirs(tmp_path):
    (tmp_path / "a_file").write_text("not a folder")
    return [tmp_path / "a_file", tmp_path / "a_file" / "below", Path("/proc/evalkit-reports")]


def test_an_unusable_reports_dir_stops_the_gate_before_any_render(pytester, tmp_path):
    """Before: the gate rendered, then died in pytest_sessionfinish with a NotADirectoryError (exit 1)."""
    for bad in unusable_dirs(tmp_path):
        result = gate(pytester, "--checkpoint", str(PERFECT), "--reports-dir", str(bad))
        assert result.ret == 4, (bad, result.stdout.str()[-2000:])
        result.stderr.fnmatch_lines([f"*evalkit: {bad}: --reports-dir is not*"])
        assert "Traceback" not in result.stdout.str() + result.stderr.str()
        assert "test_render" not in result.stdout.str()  # nothing was collected, so nothing rendered


def test_an_unusable_reports_dir_stops_evalkit_render(tmp_path, capsys):
    for bad in unusable_dirs(tmp_path):
        assert main(["render", "--checkpoint", str(PERFECT), "--prompts", str(PROMPTS), "--device", "cpu",
                     "--reports-dir", str(bad)]) == 4
        err = capsys.readouterr().err
        assert err.startswith(f"evalkit render: error: {bad}: --reports-dir is not") and err.count("\n") == 1, err


def test_a_hostile_checkpoint_name_reaches_the_gate_output_escaped(pytester, tmp_path):
    """ESC and a newline in a file name: the error, the skips and the leaderboard print them escaped."""
    evil = tmp_path / "evil\x1b[2J\nname.safetensors"
    evil.write_bytes(b"\x00" * 4)  # unloadable: nothing renders, every line that names it still prints
    result = gate(pytester, "--checkpoint", str(evil), "--reports-dir", str(tmp_path / "reports"), "-rA")
    assert result.ret == 1
    out = result.stdout.str()
    assert "\x1b" not in out, [line for line in out.splitlines() if "\x1b" in line]
    result.stdout.fnmatch_lines(["*evil\\x1b[2J\\nname.safetensors: truncated: 4 bytes*",
                                 "*-  evil\\x1b[2J\\nname * error"])


def test_a_tie_for_best_names_the_tables_first_row():
    """Before: best() took the first of the tied in input order, the table sorted them by name."""
    from evalkit.gate.quality import leaderboard
    from evalkit.gate.record import CheckpointResult

    rows = [CheckpointResult(name=n, path=n, sha256=None, model_hash=None, info=None, status="pass", quality=7.0)
            for n in ("zeta", "alpha")]
    lines = leaderboard(rows)
    assert lines[2].split()[:2] == ["1", "alpha"] and lines[-1] == "best: alpha"


@pytest.mark.parametrize("command", ["inspect", "score"])
def test_a_symlink_loop_is_said_as_such(tmp_path, capsys, command):
    loop = tmp_path / "loop.safetensors" if command == "inspect" else tmp_path / "loop.png"
    loop.symlink_to(loop)
    assert main([command, str(loop)]) == 4
    err = capsys.readouterr().err
    assert err.strip().endswith(f"{loop}: is a symlink loop"), err


@pytest.mark.parametrize("command", [["rate", "tiny_punks_perfect", "7"], ["calibrate", "--dry-run"]])
def test_an_unusable_reports_dir_stops_rate_and_calibrate(tmp_path, capsys, command):
    """Found by the attack (tests/attack): `evalkit rate --reports-dir FILE` died in a FileExistsError traceback."""
    for bad in unusable_dirs(tmp_path):
        assert main([*command, "--reports-dir", str(bad)]) == 4
        err = capsys.readouterr().err
        assert f"error: {bad}: --reports-dir is not" in err and err.count("\n") == 1, err
