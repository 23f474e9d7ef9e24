"""The gate's render line (issue 21): images done/total, img/s and ETA per checkpoint through pytest's terminal
reporter; live on a terminal (a pty here), absent from a log unless --progress asks, silent with -q.
Real renders of the perfect testbed LoRA, one prompt at two seeds, a fresh cache per run."""

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from evalkit.gate.progress import progress_text

ROOT = Path(__file__).resolve().parents[2]
PERFECT = ROOT / "checkpoints" / "tiny_punks_perfect.safetensors"
SUITE = '''[defaults]
seeds = [42, 43]
[[prompts]]
id = "male_mohawk"
text = "male punk portrait, mohawk, albino skin, blue gray background, pixel art, 24x24, #EAD9D9 skin, #638596 background"
'''
LINE = re.compile(r"render tiny_punks_perfect: (\d)/2 images")


def gate(tmp_path, *args, tty=False):
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "prompts.toml").write_text(SUITE)
    cmd = [sys.executable, "-m", "pytest", str(ROOT / "evalkit"), f"--rootdir={ROOT}", "-p", "no:cacheprovider",
           "--checkpoint", str(PERFECT), "--prompts", str(tmp_path / "prompts.toml"), "--batch-size", "1", "--no-base-compare",
           "--reports-dir", str(tmp_path / "reports"), "-k", "test_render", *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    if not tty:
        return subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600).stdout
    leader, follower = pty.openpty()
    proc = subprocess.Popen(cmd, stdout=follower, stderr=follower, cwd=tmp_path, env=env)
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    proc.wait(timeout=600)
    os.close(leader)
    return out.decode(errors="replace")


def test_progress_text_states_done_total_rate_and_eta():
    assert progress_text("a", 0, 12, 0.0) == "render a: 0/12 images"
    assert progress_text("a", 3, 12, 6.0) == "render a: 3/12 images, 0.50 img/s, ETA 18 s"
    assert progress_text("a", 12, 12, 24.0) == "render a: 12/12 images, 0.50 img/s, 24 s"
    assert progress_text("a\x1b[2J", 0, 1, 0) == "render a\\x1b[2J: 0/1 images"


@pytest.mark.slow
def test_on_a_terminal_the_line_is_rewritten_in_place_with_rate_and_eta(tmp_path):
    out = gate(tmp_path, tty=True)
    assert re.search(r"\rrender tiny_punks_perfect: 1/2 images, [\d.]+ img/s, ETA \d+ s", out), out
    assert re.search(r"\rrender tiny_punks_perfect: 2/2 images, [\d.]+ img/s, \d+ s", out), out


@pytest.mark.slow
def test_in_a_log_only_when_asked_and_never_with_q(tmp_path):
    assert not LINE.search(gate(tmp_path / "plain"))  # a CI log: no bar
    asked = gate(tmp_path / "asked", "--progress")
    assert [m.group(1) for m in LINE.finditer(asked)] == ["0", "1", "2"] and "\r" not in asked
    assert not LINE.search(gate(tmp_path / "quiet", "--progress", "-q"))
