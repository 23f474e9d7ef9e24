"""`evalkit render --check-loaders`: evalkit's merge vs diffusers/peft on the shipped tiny base and LoRA (CPU)."""

from pathlib import Path

import numpy as np
import pytest

from evalkit.cli import main
from evalkit.check_loaders import differing_cells

ROOT = Path(__file__).resolve().parents[2]
PERFECT = ROOT / "checkpoints" / "tiny_punks_perfect.safetensors"


def test_differing_cells_counts_cells_beyond_tolerance():
    a = np.zeros((24, 24, 3), np.uint8)
    b = a.copy()
    b[0, 0] = 10  # noise
    b[5, 5, 2] = 200  # a different colour
    assert differing_cells(a, b) == 1 and differing_cells(a, a) == 0


@pytest.mark.slow  # three 192 px renders on a CPU
def test_the_kohya_merge_and_diffusers_loader_agree_on_the_testbed_lora(tmp_path, capsys):
    prompts = tmp_path / "p.txt"
    prompts.write_text("male punk portrait, cap, medium skin, pixel art --d 3\n")
    rc = main(["render", "--checkpoint", str(PERFECT), "--prompts", str(prompts), "--reports-dir", str(tmp_path),
               "--device", "cpu", "--steps", "4", "--check-loaders", "1"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "evalkit merge and diffusers/peft loader agree on 1/1 recovered punks" in out
