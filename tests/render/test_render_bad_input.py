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


def test_nan_weights_are_named_and_nothing_is_rendered_or_cached(tmp_path):
    """Before: the renders came out black, scored 0.000 without a word about NaN, and were cached."""
    import torch
    from safetensors.torch import load_file, save_file

    state = load_file(str(PERFECT))
    up = next(k for k in state if k.endswith(".lora_up.weight"))
    state[up] = torch.full_like(state[up], float("nan"))
    bad = tmp_path / "diverged.safetensors"
    save_file(state, str(bad), metadata={"ss_network_module": "networks.lora"})
    for score_only in (False, True):
        with pytest.raises(EvalkitError) as error:
            render_checkpoint(bad, PROMPTS, tmp_path / "reports", base_model=str(BASE), device="cpu",
                              score_only=score_only, progress=False)
        message = str(error.value)
        assert message.startswith(f"{bad}: has {state[up].numel()} NaN and 0 Inf weights"), message
    assert not list(tmp_path.rglob("*.png"))


def test_a_non_finite_lora_scale_is_refused(tmp_path):
    with pytest.raises(EvalkitError, match="--lora-scale: is nan: must be a finite number"):
        render_checkpoint(PERFECT, PROMPTS, tmp_path, base_model=str(BASE), device="cpu", lora_scale=float("nan"),
                          progress=False)


def test_a_lora_that_does_almost_nothing_is_refused_as_indistinguishable_from_its_base(tmp_path):
    """Before: weights near 1e-7 passed the took-effect check (exact zeros only) and topped the leaderboard."""
    from safetensors.torch import load_file, save_file

    from evalkit.render.lora_checks import MIN_RELATIVE_CHANGE

    state = load_file(str(PERFECT))
    for k in state:
        if k.endswith(".lora_up.weight"):
            state[k] = state[k] * 1e-6
    faint = tmp_path / "faint.safetensors"
    save_file(state, str(faint), metadata={"ss_network_module": "networks.lora"})
    with pytest.raises(EvalkitError) as error:
        render_checkpoint(faint, PROMPTS, tmp_path / "reports", base_model=str(BASE), device="cpu", progress=False)
    message = str(error.value)
    assert message.startswith(f"{faint}: merged but changes the UNet's output by only "), message
    assert f"(< {MIN_RELATIVE_CHANGE:g}): indistinguishable from the base model" in message
    assert not list(tmp_path.rglob("*.png"))


class NanOutputPipeline:
    """The real tiny pipeline whose images come back NaN, as an fp16 overflow on a GPU gives them.

    A stand-in (said so): fp32 on this CPU does not overflow. Every attribute is the real one's."""

    def __init__(self, pipe):
        self._pipe = pipe

    def __getattr__(self, name):
        return getattr(self._pipe, name)

    def __call__(self, **kwargs):
        out = self._pipe(**kwargs)
        out.images = out.images * float("nan")
        return out


def test_nan_pixels_from_the_pipeline_are_named_and_never_cached(tmp_path):
    import torch

    from evalkit.render.base_model import load_pipeline, resolve_base
    from evalkit.render.cache import RenderCache
    from evalkit.render.config import RenderConfig
    from evalkit.render.renderer import RenderJob, render_suite

    pipe = load_pipeline(resolve_base(str(BASE), PERFECT, "sd15", None), "cpu", torch.float32)
    cfg = RenderConfig(steps=2, guidance=5.0, width=64, height=64, batch_size=3)
    with pytest.raises(EvalkitError, match="^male_cap seed 1: the pipeline returned NaN/Inf pixels"):
        render_suite(NanOutputPipeline(pipe), PROMPTS, RenderJob("0" * 64, "tiny", cfg, "cpu"), RenderCache(tmp_path),
                     progress=False)
    assert not list(tmp_path.rglob("*.png"))


def test_loading_the_base_off_a_terminal_writes_no_cursor_codes(capfd):
    """Found by the attack (tests/attack): transformers' nested "Loading weights" bar wrote ESC[A (cursor
    up) into every piped `evalkit render` and gate log; off a terminal the loading bars are off."""
    import torch

    from evalkit.render.base_model import BaseRef, load_pipeline

    load_pipeline(BaseRef("dir", str(BASE)), "cpu", torch.float32)
    captured = capfd.readouterr()
    assert "\x1b" not in captured.err + captured.out, repr(captured.err[-300:])
