"""Hostile text from a checkpoint never reaches the terminal raw (issue 22, finding 5).

The real testbed LoRA, re-saved with an ``ss_optimizer`` that would clear the screen and
under a file name holding ESC and a newline.
"""

from pathlib import Path

from safetensors.torch import load_file, safe_open, save_file

from evalkit.cli import main
from evalkit.gate.quality import leaderboard
from evalkit.gate.record import CheckpointResult
from evalkit.terminal_text import printable

PERFECT = Path(__file__).resolve().parents[2] / "checkpoints" / "tiny_punks_perfect.safetensors"
CLEAR = "\x1b[2J\x1b[H"
RAW = ("\x1b", "\x9b", "\u202e", "\r")


def hostile_copy(tmp_path):
    with safe_open(str(PERFECT), "pt") as f:
        metadata = dict(f.metadata())
    metadata["ss_optimizer"] = f"{CLEAR}AdamW\u202eevil\r"
    metadata["ss_output_name"] = "line one\nline two"
    path = tmp_path / f"evil{CLEAR}\nname.safetensors"
    save_file(load_file(str(PERFECT)), str(path), metadata=metadata)
    return path


def test_printable_escapes_controls_and_keeps_plain_text():
    assert printable("tiny_punks_perfect é 中") == "tiny_punks_perfect é 中"
    assert printable("a\x1b[2Jb\nc\u202ed\x9b\x7f") == "a\\x1b[2Jb\\nc\\u202ed\\x9b\\x7f"


def test_inspect_prints_metadata_and_file_names_escaped(tmp_path, capsys):
    """Before the fix the ss_optimizer's ESC [2J reached stdout raw (a cleared screen)."""
    path = hostile_copy(tmp_path)
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert not any(ch in out for ch in RAW), repr(out[:300])
    assert "\\x1b[2J\\x1b[HAdamW\\u202eevil\\r" in out and "evil\\x1b[2J\\x1b[H\\nname.safetensors" in out


def test_inspect_errors_name_a_hostile_file_escaped(tmp_path, capsys):
    bad = tmp_path / f"bad{CLEAR}\n.safetensors"
    bad.write_bytes(b"\x00" * 4)
    assert main(["inspect", str(bad)]) == 4
    err = capsys.readouterr().err
    assert not any(ch in err for ch in RAW) and err.count("\n") == 1, repr(err)
    assert "bad\\x1b[2J\\x1b[H\\n.safetensors: " in err


def test_leaderboard_rows_stay_one_line_each_for_hostile_names():
    """Before the fix a newline in a file name broke the table into two rows."""
    rows = [CheckpointResult(name=f"evil{CLEAR}\nname", path="x", sha256=None, model_hash=None, info=None,
                             status="pass", quality=5.0),
            CheckpointResult(name="plain", path="y", sha256=None, model_hash=None, info=None, status="fail",
                             quality=1.0)]
    lines = leaderboard(rows)
    assert len(lines) == 2 + 2 + 1  # formula, header, two rows, best
    assert not any(ch in line for line in lines for ch in (*RAW, "\n"))
    assert lines[-1] == "best: evil\\x1b[2J\\x1b[H\\nname"
