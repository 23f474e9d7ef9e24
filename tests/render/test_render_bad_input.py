"""Bad input met while rendering: one line naming the file or value, never a traceback (issue 22)."""

from pathlib import Path

import pytest

from evalkit.errors import EvalkitError
from evalkit.golden.prompts import Prompt
from evalkit.render.run import render_checkpoint

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "checkpoints" / "tiny-punks-base"
PERFECT = ROOT / "checkpoints" / "tiny_punks_perfect.safetensors"
PROMPTS = [Prompt("male_cap", "male punk portrait, cap, pixel art", "photo", (1, 2), (), "v1"),
           Prompt("ape", "ape punk portrait, pixel art", "photo", (42,), (), "v1")]


def test_score_only_with_renders_missing_names_them(tmp_path):
    """Before: AttributeError: 'NoneType' object has no attribute 'config' (the nightly's --score-only step)."""
    with pytest.raises(EvalkitError) as error:
        render_checkpoint(PERFECT, PROMPTS, tmp_path, base_model=str(BASE), device="cpu", score_only=True,
                          progress=False)
    message = str(error.value)
    assert message.startswith(f"{PERFECT}: --score-only but 3 of 3 renders are not in the cache"), message
    assert "male_cap seed 1, male_cap seed 2, ape seed 42" in message and "\n" not in message
