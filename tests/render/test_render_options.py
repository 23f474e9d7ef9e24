"""Rendering as our users' tools render, on the shipped tiny base and LoRA (real diffusers pipeline, CPU).

Long prompts (max_token_length 225), kohya clip skip, kohya sample-prompt files
and the one set of render options shared by `evalkit render` and the gate.
Renders are 64x64 with 2 steps: the checks compare images, not their quality.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from evalkit.errors import EvalkitError
from evalkit.golden.prompts import Prompt, load_prompts
from evalkit.render.base_model import load_pipeline, resolve_base
from evalkit.render.cache import RenderCache
from evalkit.render.config import RenderConfig
from evalkit.render.renderer import RenderJob, render_suite
from evalkit.render.run import loaded_checkpoint, render_checkpoint

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "checkpoints" / "tiny-punks-base"
PERFECT = ROOT / "checkpoints" / "tiny_punks_perfect.safetensors"
PALETTE = ", ".join(f"#{i:02x}{(i * 37) % 256:02x}{(i * 91) % 256:02x}" for i in range(1, 21))
LONG = f"male punk portrait, cap, medium skin, pixel art, palette {PALETTE}, plain blue background"
OTHER = LONG.replace(PALETTE.split(", ")[-1], "#ff0000")  # differs ~170 tokens in
FAST = RenderConfig(steps=2, guidance=5.0, width=64, height=64, batch_size=2)


@pytest.fixture(scope="module")
def pipe():
    return load_pipeline(resolve_base(str(BASE), PERFECT, "sd15", None), "cpu", torch.float32)


def render(pipe, prompts, cfg, root):
    return render_suite(pipe, prompts, RenderJob("0" * 64, "tiny-punks-base", cfg, "cpu"), RenderCache(root), progress=False)


def prompts(*texts):
    return [Prompt(f"p{i}", t, "photo", (5,), (), "v2") for i, t in enumerate(texts)]


def diff(a, b) -> int:
    return int(np.abs(a.image().astype(int) - b.image().astype(int)).max())


def test_a_token_past_77_changes_the_image_at_225_only(pipe, tmp_path):
    at77 = render(pipe, prompts(LONG, OTHER), FAST, tmp_path / "77").renders
    assert diff(*at77) == 0
    long_cfg = RenderConfig(**{**FAST.to_dict(), "max_token_length": 225})
    at225 = render(pipe, prompts(LONG, OTHER), long_cfg, tmp_path / "225").renders
    assert diff(*at225) > 0
    assert long_cfg.key() != FAST.key()
    # the sidecar says which hex codes the encoder read: all 20 at 225, the first few at 77
    assert len(at225[0].meta["hex_codes_seen"]) == 20
    assert 0 < len(at77[0].meta["hex_codes_seen"]) < 12
    assert at77[0].meta["hex_codes_seen"] == [c.upper() for c in PALETTE.split(", ")][: len(at77[0].meta["hex_codes_seen"])]


def test_clip_skip_changes_the_image_and_the_key(pipe, tmp_path):
    skip2 = RenderConfig(**{**FAST.to_dict(), "clip_skip": 2})
    assert skip2.key() != FAST.key()
    a = render(pipe, prompts("male punk, cap, pixel art"), FAST, tmp_path).renders[0]
    b = render(pipe, prompts("male punk, cap, pixel art"), skip2, tmp_path).renders[0]
    assert a.path.parent != b.path.parent and diff(a, b) > 0
    assert b.meta["config"]["clip_skip"] == 2


def test_clip_skip_beyond_the_encoders_depth_is_an_error(pipe, tmp_path):
    with pytest.raises(EvalkitError, match="4 layers"):
        render(pipe, prompts("male punk"), RenderConfig(**{**FAST.to_dict(), "clip_skip": 5}), tmp_path)


def test_kohya_txt_prompt_file_renders_with_its_sizes_seeds_steps_and_cfg(pipe, tmp_path):
    f = tmp_path / "sample_prompts.txt"
    f.write_text("# sd-scripts sample prompts\n"
                 "male punk portrait, cap, pixel art --n photo, realistic --w 96 --h 128 --d 7 --l 3.5 --s 3 --ss euler_a\n"
                 "\n"
                 "female punk, blonde bob --w 64 --h 64\n")
    suite = load_prompts(f)
    job = render(pipe, suite, FAST, tmp_path / "cache")
    first, second = job.renders
    assert first.image().shape == (128, 96, 3) and second.image().shape == (64, 64, 3)
    cfg = first.meta["config"]
    assert (cfg["steps"], cfg["guidance"], cfg["sampler"], first.meta["seed"]) == (3, 3.5, "euler_a", 7)
    assert first.meta["negative"] == "photo, realistic"
    assert (second.meta["config"]["steps"], second.meta["config"]["guidance"]) == (FAST.steps, FAST.guidance)
    # the same settings as a plain config give the same pixels: the flags were what rendered
    plain = RenderConfig(**{**FAST.to_dict(), "width": 96, "height": 128, "steps": 3, "guidance": 3.5, "sampler": "euler_a"})
    again = render(pipe, [Prompt("x", suite[0].text, "photo, realistic", (7,), (), "")], plain, tmp_path / "plain")
    assert diff(first, again.renders[0]) == 0
    # no --d: a fixed seed from the text, the same on every load
    assert second.seed == load_prompts(f)[1].seeds[0]
    assert render(pipe, suite, FAST, tmp_path / "cache").cached == 2


@pytest.mark.parametrize("form", ["toml", "json"])
def test_kohya_toml_and_json_forms(tmp_path, form):
    if form == "toml":
        text = ('[prompt]\nwidth = 64\nheight = 64\nscale = 4.0\nsample_steps = 5\nnegative_prompt = "photo"\n'
                '[[prompt.subset]]\nprompt = "male punk"\nseed = 3\n[[prompt.subset]]\nprompt = "female punk"\nwidth = 128\n')
    else:
        text = json.dumps([{"prompt": "male punk", "seed": 3, "width": 64, "height": 64, "scale": 4.0,
                            "sample_steps": 5, "negative_prompt": "photo"},
                           "female punk --w 128 --h 64 --l 4 --s 5 --n photo"])
    f = tmp_path / f"prompts.{form}"
    f.write_text(text)
    a, b = load_prompts(f)
    assert (a.text, a.negative, a.seeds) == ("male punk", "photo", (3,))
    assert dict(a.settings) == {"width": 64, "height": 64, "guidance": 4.0, "steps": 5}
    assert dict(b.settings)["width"] == 128 and b.negative == "photo"


@pytest.mark.parametrize("line, message", [
    ("a punk --w abc", r"line 2: --w \(width\) must be a whole number"),
    ("a punk --ss nonsense", r"line 2: unknown sampler 'nonsense'; known: ddim, .*k_dpm_2_a"),
    ("a punk --zz 3", r"line 2: unknown flag --zz"),
    ("a punk --d", r"line 2: --d has no value"),
])
def test_bad_prompt_file_lines_are_one_line_errors(tmp_path, line, message):
    f = tmp_path / "p.txt"
    f.write_text(f"good punk\n{line}\n")
    with pytest.raises(EvalkitError, match=message) as err:
        load_prompts(f)
    assert str(err.value).startswith(str(f)) and "\n" not in str(err.value)


def lora_with(tmp_path, **metadata) -> Path:
    with safe_open(str(PERFECT), "pt") as f:
        meta = dict(f.metadata() or {})
    out = tmp_path / "perfect_meta.safetensors"
    save_file(load_file(str(PERFECT)), str(out), {**meta, **metadata})
    return out


def config_of(checkpoint, tmp_path, **overrides) -> RenderConfig:
    with loaded_checkpoint(checkpoint, tmp_path, device="cpu", score_only=True, **overrides) as (_, job, _c, _i):
        return job.config


def test_the_loras_metadata_sets_max_token_length_and_clip_skip_unless_overridden(tmp_path):
    lora = lora_with(tmp_path, ss_max_token_length="225", ss_clip_skip="2")
    cfg = config_of(lora, tmp_path)
    assert (cfg.max_token_length, cfg.clip_skip, cfg.steps) == (225, 2, 20)  # steps from the base's evalkit.json
    cfg = config_of(lora, tmp_path, max_token_length=75, clip_skip=1, steps=3)
    assert (cfg.max_token_length, cfg.clip_skip, cfg.steps) == (None, None, 3)  # 75 and 1 are the defaults' own
    plain = config_of(PERFECT, tmp_path)  # says nothing about either: 77 tokens, last layer
    assert (plain.max_token_length, plain.clip_skip) == (None, None)
    assert plain.key() == config_of(lora_with(tmp_path, ss_max_token_length="None"), tmp_path).key()


def test_render_then_score_only_with_non_default_steps_finds_its_renders(tmp_path):
    suite = prompts("male punk, cap, pixel art")
    opts = dict(device="cpu", progress=False, steps=3, width=64, height=64, max_token_length=225)
    job, _ = render_checkpoint(PERFECT, suite, tmp_path, **opts)
    assert job.rendered == 1
    again, _ = render_checkpoint(PERFECT, suite, tmp_path, score_only=True, **opts)
    assert (again.rendered, again.cached) == (0, 1) and again.renders[0].path == job.renders[0].path
    with pytest.raises(EvalkitError, match="score-only"):  # other steps: a different render, not in the cache
        render_checkpoint(PERFECT, suite, tmp_path, score_only=True, **{**opts, "steps": 4})


def test_evalkit_render_and_the_gate_take_the_same_render_options():
    from evalkit.cli import build_parser
    from evalkit.plugin import add_gate_options

    class Group:
        flags: list = []

        def getgroup(self, *a):
            return self

        def addoption(self, *flags, **kw):
            self.flags.extend(flags)

    gate = Group()
    add_gate_options(gate)
    render_parser = build_parser()._subparsers._group_actions[0].choices["render"]
    render_flags = {s for a in render_parser._actions for s in a.option_strings}
    shared = {"--steps", "--guidance", "--sampler", "--width", "--height", "--clip-skip", "--max-token-length",
              "--lora-scale"}
    assert shared <= set(gate.flags) and shared <= render_flags
    args = build_parser().parse_args(["render", "--checkpoint", "x", "--steps", "30", "--max-token-length", "225"])
    assert (args.steps, args.max_token_length, args.clip_skip) == (30, 225, None)


@pytest.mark.parametrize("overrides, message", [
    ({"max_token_length": 77}, r"--max-token-length: 77 is not a max token length sd-scripts accepts \(75, 150 or 225\)"),
    ({"sampler": "k_magic"}, r"--sampler: unknown sampler 'k_magic'; known: ddim"),
    ({"clip_skip": 0}, r"--clip-skip: 0 is not a clip skip"),
])
def test_bad_render_options_are_one_line_errors(overrides, message):
    from evalkit.render.options import check_overrides

    with pytest.raises(EvalkitError, match=message):
        check_overrides(overrides)


def test_compile_cache_persists_under_the_user_cache_dir_keyed_by_torch_and_device(tmp_path, monkeypatch):
    """Issue 23: --compile's inductor caches go to $XDG_CACHE_HOME/evalkit/inductor/torch-<version>-<gpu>,
    not /tmp; a TORCHINDUCTOR_CACHE_DIR the user set is left alone."""
    import torch

    from evalkit.render.run import persistent_compile_cache

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    folder = persistent_compile_cache("cpu")
    assert folder.is_dir() and folder.parent == tmp_path / "evalkit" / "inductor"
    assert torch.__version__.split("+")[0] in folder.name and folder.name.endswith("-cpu")
    import os

    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(folder)
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "mine"))
    assert persistent_compile_cache("cpu") is None and os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "mine")
