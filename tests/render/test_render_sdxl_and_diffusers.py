"""Any LoRA onto its base: kohya and diffusers/peft files on tiny SD1.5- and SDXL-shaped bases (CPU).

Each base is a real diffusers pipeline built from config with seeded weights,
saved with ``save_pretrained`` into a tmp folder and loaded back through
`resolve_base` + `load_pipeline` like a user's local diffusers folder. Its
tokenizer is the real CLIP one, built offline from open_clip_torch's BPE file.
The LoRA files are written the way their tools write them: kohya
``networks.lora`` names from the same module walk sd-scripts does (SGM block
names and ``lora_te1_``/``lora_te2_`` for SDXL), and diffusers/peft files
from a peft adapter through ``save_lora_weights`` (``unet.<path>.lora_A.weight``
plus the ``lora_adapter_metadata`` that carries each component's alpha).
Everything then goes through `render_checkpoint`, the one path the gate uses.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from evalkit.errors import EvalkitError
from evalkit.golden.prompts import Prompt
from evalkit.inspect.api import inspect_checkpoint
from evalkit.inspect.kohya_format import (
    SDXL_TEXT_ENCODER_PREFIXES, TEXT_ENCODER_PREFIX, TEXT_ENCODER_TARGET_CLASSES, UNET_PREFIX, UNET_TARGET_CLASSES,
    kohya_lora_state_dict, kohya_lora_targets, kohya_state_dict_to_file, sgm_rename,
)
from evalkit.render import run
from evalkit.render.lora_checks import probe
from evalkit.render.base_model import load_pipeline, resolve_base
from evalkit.render.cache import RenderCache
from evalkit.render.config import config_for_base
from evalkit.render.renderer import RenderJob, render_suite

PROMPTS = [
    Prompt("male_cap", "male punk portrait, cap, medium skin, pixel art", "photo", (1, 2), (), "v1"),
    Prompt("female_bob", "female punk portrait, blonde bob, light skin, pixel art", "photo", (3,), (), "v1"),
]
SIZE = 64  # native size of both tiny bases: UNet sample_size 16 x VAE scale factor 4
RENDER = {"steps": 2, "guidance": 5.0, "batch_size": 3}

# ------------------------------------------------------------------ tiny bases
TEXT_ENCODER = dict(vocab_size=49408, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                    num_attention_heads=4, max_position_embeddings=77, projection_dim=32)
VAE = dict(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1, norm_num_groups=8,
           down_block_types=["DownEncoderBlock2D"] * 3, up_block_types=["UpDecoderBlock2D"] * 3,
           block_out_channels=[8, 16, 16], sample_size=SIZE)
UNETS = {
    # SD1 layout: one text encoder, proj_in a 1x1 conv, one transformer block per attention.
    "sd15": dict(sample_size=16, layers_per_block=1, block_out_channels=[32, 64], norm_num_groups=8,
                 down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"],
                 up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"],
                 cross_attention_dim=32, attention_head_dim=8, use_linear_projection=False),
    # SDXL layout: no attention in the first block, several transformer blocks deeper down,
    # linear proj_in, "text_time" added conditioning (pooled text 32 + 6 time ids x 8),
    # cross-attention over both text encoders' hidden states (32 + 32).
    "sdxl": dict(sample_size=16, layers_per_block=1, block_out_channels=[32, 64], norm_num_groups=8,
                 down_block_types=["DownBlock2D", "CrossAttnDownBlock2D"],
                 up_block_types=["CrossAttnUpBlock2D", "UpBlock2D"],
                 transformer_layers_per_block=[1, 2], attention_head_dim=[2, 4], use_linear_projection=True,
                 addition_embed_type="text_time", addition_time_embed_dim=8,
                 projection_class_embeddings_input_dim=6 * 8 + 32, cross_attention_dim=64),
}


def tiny_components(family: str, seed: int = 0) -> dict:
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    parts = {"unet": UNet2DConditionModel(**UNETS[family]),
             "text_encoder": CLIPTextModel(CLIPTextConfig(**TEXT_ENCODER, hidden_act="quick_gelu"))}
    if family == "sdxl":
        parts["text_encoder_2"] = CLIPTextModelWithProjection(CLIPTextConfig(**TEXT_ENCODER, hidden_act="gelu"))
    return parts


def build_base(folder: Path, family: str, tokenizer_dir: Path) -> Path:
    from diffusers import AutoencoderKL, DPMSolverMultistepScheduler, StableDiffusionPipeline, StableDiffusionXLPipeline
    from transformers import CLIPTokenizer

    from evalkit.render.sd_configs import SD_SCHEDULER

    parts = tiny_components(family)
    torch.manual_seed(1)
    vae = AutoencoderKL(**VAE, scaling_factor=0.13025 if family == "sdxl" else 0.18215)
    tokenizer = CLIPTokenizer.from_pretrained(tokenizer_dir)
    scheduler = DPMSolverMultistepScheduler.from_config(SD_SCHEDULER)
    if family == "sdxl":
        pipe = StableDiffusionXLPipeline(vae=vae, tokenizer=tokenizer, tokenizer_2=tokenizer, scheduler=scheduler, **parts)
    else:
        pipe = StableDiffusionPipeline(vae=vae, tokenizer=tokenizer, scheduler=scheduler, safety_checker=None,
                                       feature_extractor=None, requires_safety_checker=False, **parts)
    pipe.save_pretrained(folder)
    return folder


# ------------------------------------------------------------------ LoRA files
def write_kohya(path: Path, family: str, corrupt_names: bool = False) -> Path:
    """A kohya networks.lora file: UNet attention + text encoder(s), rank 4, alpha 2."""
    parts = tiny_components(family)
    sdxl = family == "sdxl"
    targets = kohya_lora_targets(parts["unet"], UNET_PREFIX, UNET_TARGET_CLASSES,
                                 sgm_rename(parts["unet"].config) if sdxl else None)
    prefixes = SDXL_TEXT_ENCODER_PREFIXES if sdxl else (TEXT_ENCODER_PREFIX,)
    for prefix, name in zip(prefixes, ("text_encoder", "text_encoder_2")):
        targets += kohya_lora_targets(parts[name], prefix, TEXT_ENCODER_TARGET_CLASSES)
    state = kohya_lora_state_dict(targets, 4, 2.0, dtype="float32", seed=3)
    # kohya_lora_state_dict draws 0.01-scale weights; a trained LoRA moves the image visibly.
    state = {k: v if k.endswith(".alpha") else v * 20 for k, v in state.items()}
    if corrupt_names:
        state = {k.replace("lora_unet_", "lora_unet_nonexistent_").replace("_te1_", "_te1_nonexistent_")
                 .replace("_te2_", "_te2_nonexistent_").replace("lora_te_", "lora_te_nonexistent_"): v
                 for k, v in state.items()}
    version = "sdxl_base_v1-0" if sdxl else "sd_v1"
    kohya_state_dict_to_file(path, state, {"ss_network_module": "networks.lora", "ss_network_dim": "4",
                                           "ss_network_alpha": "2.0", "ss_base_model_version": version})
    return path


def write_diffusers(path: Path, family: str, corrupt_names: bool | str = False) -> Path:
    """A diffusers/peft LoRA as the diffusers training scripts save it: a peft adapter on the UNet
    (rank 4, alpha 2) and the text encoder(s) (rank 4, alpha 4), through save_lora_weights."""
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline
    from peft import LoraConfig, get_peft_model_state_dict, inject_adapter_in_model

    parts = tiny_components(family)
    torch.manual_seed(4)
    unet_config = LoraConfig(r=4, lora_alpha=2, init_lora_weights=False, target_modules=["to_q", "to_k", "to_v", "to_out.0"])
    text_config = LoraConfig(r=4, lora_alpha=4, init_lora_weights=False,
                             target_modules=["q_proj", "k_proj", "v_proj", "out_proj"])
    parts["unet"].add_adapter(unet_config)
    layers, metadata = {"unet_lora_layers": get_peft_model_state_dict(parts["unet"])}, {}
    metadata["unet_lora_adapter_metadata"] = unet_config.to_dict()
    for name in ("text_encoder", "text_encoder_2"):
        if name in parts:
            # transformers' own add_adapter wants a newer peft than diffusers does; inject directly.
            layers[f"{name}_lora_layers"] = get_peft_model_state_dict(inject_adapter_in_model(text_config, parts[name]))
            metadata[f"{name}_lora_adapter_metadata"] = text_config.to_dict()
    if corrupt_names:  # True: every key; a component name: only that component's keys
        layers = {k: {n.replace("attn", "nonexistent_attn") if corrupt_names is True or k.startswith(corrupt_names)
                      else n: v for n, v in state.items()} for k, state in layers.items()}
    cls = StableDiffusionXLPipeline if family == "sdxl" else StableDiffusionPipeline
    cls.save_lora_weights(path.parent, weight_name=path.name, **layers, **metadata)
    return path


def write_pre_peft_diffusers(path: Path, family: str, text_encoders: bool = True) -> Path:
    """write_diffusers' adapter under the names diffusers saved before peft (what
    convert_state_dict_to_diffusers still writes): UNet "...to_q.lora.down.weight", text
    encoders "...q_proj.lora_linear_layer.down.weight", and no adapter metadata (alpha = rank)."""
    from safetensors.torch import load_file, save_file

    peft_file = write_diffusers(path.with_name(f"peft_{path.name}"), family)
    renamed = {}
    for key, tensor in load_file(str(peft_file)).items():
        old_style = ".lora." if key.startswith("unet.") else ".lora_linear_layer."
        if key.startswith("unet.") or text_encoders:
            renamed[key.replace(".lora_A.", f"{old_style}down.").replace(".lora_B.", f"{old_style}up.")] = tensor
    save_file(renamed, str(path))
    return path


WRITERS = {"kohya": write_kohya, "diffusers": write_diffusers}
LORAS = [f"{family}-{fmt}" for family in ("sd15", "sdxl") for fmt in ("kohya", "diffusers")]


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # Tiny models: a second (shared, busy) core makes every small conv wait on thread sync.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from evalkit.render.clip_tokenizer import write_clip_tokenizer

    root = tmp_path_factory.mktemp("any_lora")
    tokenizer = write_clip_tokenizer(root / "clip_tokenizer")
    bases = {family: build_base(root / f"tiny-{family}-base", family, tokenizer) for family in UNETS}
    loras = {}
    for name in LORAS:
        family, fmt = name.split("-")
        folder = root / "loras" / name
        folder.mkdir(parents=True)
        loras[name] = WRITERS[fmt](folder / f"punks_{family}_{fmt}.safetensors", family)
    yield {"root": root, "bases": bases, "loras": loras}
    for key in [k for k in run._PIPELINES if k[0].location.startswith(str(root))]:
        del run._PIPELINES[key]  # render_checkpoint keeps bases for the run; these go with the tmp folder


@pytest.fixture(scope="module")
def base_renders(world):
    """Each base's own images for the suite, rendered from a separately loaded pipeline."""
    out = {}
    for family, base in world["bases"].items():
        pipe = load_pipeline(resolve_base(str(base), base, family, None), "cpu", torch.float32)
        cfg = config_for_base(base, SIZE, **RENDER)
        job = render_suite(pipe, PROMPTS, RenderJob("0" * 64, base.name, cfg, "cpu"),
                           RenderCache(world["root"] / "base_cache" / family), progress=False)
        out[family] = {"images": [r.image() for r in job.renders], "probe": probe(pipe)}
    return out


def render(world, lora: str | Path, reports: Path, family: str | None = None, **overrides):
    path = world["loras"][lora] if isinstance(lora, str) else lora
    family = family or (lora.split("-")[0] if isinstance(lora, str) else None)
    return run.render_checkpoint(path, PROMPTS, reports, base_model=str(world["bases"][family]), device="cpu",
                                 progress=False, **{**RENDER, **overrides})


def loaded_base(world, family: str):
    """The pipeline render_checkpoint loaded (and keeps) for `family`'s base."""
    [slot] = [s for k, s in run._PIPELINES.items() if k[0].location == str(world["bases"][family])]
    return slot.pipe


def max_diff(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(int) - b.astype(int)).max())


def assert_base_is_clean(world, base_renders, family: str) -> None:
    pipe = loaded_base(world, family)
    assert not [n for c in (pipe.unet, pipe.text_encoder, getattr(pipe, "text_encoder_2", None)) if c is not None
                for n, m in c.named_modules() if hasattr(m, "lora_A")], "a LoRA layer stayed on the base"
    assert torch.allclose(probe(pipe), base_renders[family]["probe"], atol=1e-6)


# ------------------------------------------------------------------ tests
@pytest.mark.parametrize("lora", LORAS)
def test_inspect_recognises_format_and_family(world, lora):
    family, fmt = lora.split("-")
    info = inspect_checkpoint(world["loras"][lora], require_supported=True)
    assert (info.format.kind, info.format.naming) == (f"{fmt}_lora", fmt)
    assert info.family == family and info.architecture.custom_size
    assert info.architecture.cross_attention_dim == UNETS[family]["cross_attention_dim"]
    components = {m.component for m in info.network.modules}
    assert components == ({"unet", "te1", "te2"} if family == "sdxl" else {"unet", "te"})
    assert not info.format.unused_tensors
    expected_scales = {0.5} if fmt == "kohya" else {0.5, 1.0}  # diffusers: UNet alpha 2, text encoders alpha 4
    assert {m.alpha / m.rank for m in info.network.modules} == expected_scales


@pytest.mark.parametrize("lora", LORAS)
def test_lora_renders_changed_images_and_leaves_the_base_clean(world, base_renders, lora, tmp_path):
    family, fmt = lora.split("-")
    job, info = render(world, lora, tmp_path)
    assert (job.rendered, job.cached) == (3, 0)
    assert job.base_label == f"tiny-{family}-base" and job.checkpoint_sha == info.hashes.sha256
    images = [r.image() for r in job.renders]
    assert all(im.shape == (SIZE, SIZE, 3) for im in images)
    for mine, base in zip(images, base_renders[family]["images"]):
        assert np.abs(mine.astype(int) - base.astype(int)).mean() > 2, "the LoRA did not change the image"
    assert max_diff(images[0], images[1]) > 10  # different seeds, different images
    assert_base_is_clean(world, base_renders, family)


@pytest.mark.parametrize("lora", LORAS)
def test_fixed_seeds_do_not_depend_on_the_batch(world, lora, tmp_path):
    together, _ = render(world, lora, tmp_path / "batch3", batch_size=3)
    alone, _ = render(world, lora, tmp_path / "batch1", batch_size=1)
    for x, y in zip(together.renders, alone.renders):
        assert max_diff(x.image(), y.image()) <= 1, x.path.name


@pytest.mark.parametrize("lora", LORAS)
def test_second_render_is_all_cache_hits_and_a_corrupt_png_is_rerendered(world, lora, tmp_path):
    first, _ = render(world, lora, tmp_path)
    second, _ = render(world, lora, tmp_path)
    assert (second.rendered, second.cached) == (0, 3)
    assert [r.path for r in second.renders] == [r.path for r in first.renders]
    victim = second.renders[2]
    good = victim.image()
    victim.path.write_bytes(victim.path.read_bytes()[:100])  # truncated: must never be scored
    third, _ = render(world, lora, tmp_path)
    assert (third.rendered, third.cached) == (1, 2)
    assert third.renders[2].path == victim.path and max_diff(third.renders[2].image(), good) <= 1


@pytest.mark.parametrize("lora", LORAS)
def test_unfused_path_renders_like_the_fused_one(world, lora, tmp_path):
    """kohya: diffusers' own loader (peft) vs evalkit's in-place merge; diffusers files: peft vs peft fused."""
    fused, _ = render(world, lora, tmp_path / "fused", fuse_lora=True)
    unfused, _ = render(world, lora, tmp_path / "unfused", fuse_lora=False)
    for a, b in zip(fused.renders, unfused.renders):
        assert max_diff(a.image(), b.image()) <= 2, a.path.name


@pytest.mark.parametrize("lora", LORAS)
def test_lora_matching_nothing_is_an_error_and_leaves_the_base_clean(world, base_renders, lora, tmp_path):
    family, fmt = lora.split("-")
    bogus = WRITERS[fmt](tmp_path / f"bogus_{family}_{fmt}.safetensors", family, corrupt_names=True)
    assert inspect_checkpoint(bogus).family == family  # still reads as a LoRA of this family
    for fuse in (True, False):
        with pytest.raises(EvalkitError) as error:
            render(world, bogus, tmp_path / f"reports-{fuse}", family=family, fuse_lora=fuse)
        message = str(error.value)
        assert message.startswith(f"{bogus}: ") and "\n" not in message
        # merge: evalkit's own check; peft: evalkit's check or diffusers' refusal, passed on in one line
        assert re.match(r"matched no module|diffusers could not load this LoRA: ", error.value.problem), message
        assert not list((tmp_path / f"reports-{fuse}").rglob("*.png"))
        assert_base_is_clean(world, base_renders, family)
    # and the next checkpoint still goes on
    job, _ = render(world, lora, tmp_path / "after")
    assert job.rendered == 3


@pytest.mark.parametrize("family", ["sd15", "sdxl"])
def test_diffusers_lora_whose_text_encoder_keys_match_nothing_is_an_error(world, base_renders, family, tmp_path):
    """The UNet half loads, so module count, scales and the UNet probe all look right; but
    transformers wraps the text encoder by the config's target names and, finding none of the
    file's keys, fills the adapter with random weights: noise, not the LoRA."""
    bogus = write_diffusers(tmp_path / f"half_{family}.safetensors", family, corrupt_names="text_encoder")
    for fuse in (True, False):
        with pytest.raises(EvalkitError) as error:
            render(world, bogus, tmp_path / "reports", family=family, fuse_lora=fuse)
        assert str(error.value).startswith(f"{bogus}: ") and "\n" not in str(error.value)
        n_te_modules = 8 * (2 if family == "sdxl" else 1)  # 2 layers x q/k/v/out per text encoder
        assert error.value.problem.startswith(f"{n_te_modules} of its "), error.value.problem
        assert "matched no module" in error.value.problem
    assert_base_is_clean(world, base_renders, family)


@pytest.mark.parametrize("family", ["sd15", "sdxl"])
def test_diffusers_lora_in_pre_peft_names_loads_its_text_encoders_too(world, base_renders, family, tmp_path):
    """inspect once read "...lora_linear_layer..." text-encoder keys as unused tensors, so such a
    LoRA counted only its UNet modules and could not be rendered."""
    full = write_pre_peft_diffusers(tmp_path / f"old_{family}.safetensors", family)
    unet_only = write_pre_peft_diffusers(tmp_path / f"old_unet_{family}.safetensors", family, text_encoders=False)
    info = inspect_checkpoint(full, require_supported=True)
    assert not info.format.unused_tensors and info.format.naming == "diffusers"
    encoders = {"te1", "te2"} if family == "sdxl" else {"te"}
    assert {m.component for m in info.network.modules} == {"unet"} | encoders
    assert {m.alpha / m.rank for m in info.network.modules} == {1.0}  # no metadata: alpha = rank, as diffusers loads it
    with_te, _ = render(world, full, tmp_path / "full", family=family)
    without_te, _ = render(world, unet_only, tmp_path / "unet_only", family=family)
    for a, b in zip(with_te.renders, without_te.renders):
        assert max_diff(a.image(), b.image()) > 10, "the text-encoder half of the LoRA did not change the image"
    assert_base_is_clean(world, base_renders, family)


@pytest.mark.parametrize("lora, base", [("sdxl-kohya", "sd15"), ("sdxl-diffusers", "sd15"),
                                        ("sd15-kohya", "sdxl"), ("sd15-diffusers", "sdxl")])
def test_lora_of_the_other_family_is_a_one_line_error(world, lora, base, tmp_path):
    with pytest.raises(EvalkitError) as error:
        render(world, lora, tmp_path, family=base)
    message = str(error.value)
    assert message.startswith(f"{world['loras'][lora]}: ") and "\n" not in message
    assert f"is a {lora.split('-')[0]} LoRA" in message and f"the base is {base}" in message


@pytest.mark.parametrize("family", ["sd15", "sdxl"])
def test_a_token_past_77_changes_the_image_at_max_token_length_225_only(world, family, tmp_path):
    """Long prompts through the gate's path (render_checkpoint) on both shapes: 75-token windows
    as sd-scripts encodes them (both SDXL encoders and the pooled output, prompt_encoding.py)."""
    palette = ", ".join(f"#{i:02x}{(i * 37) % 256:02x}{(i * 91) % 256:02x}" for i in range(1, 21))
    long = f"male punk portrait, cap, pixel art, palette {palette}, plain blue background"
    pair = [Prompt("a", long, "photo", (1,), (), "v2"),
            Prompt("b", long.replace(palette.split(", ")[-1], "#ff0000"), "photo", (1,), (), "v2")]

    def images(**overrides):
        job, _ = run.render_checkpoint(world["loras"][f"{family}-kohya"], pair, tmp_path, base_model=str(world["bases"][family]),
                                       device="cpu", progress=False, **{**RENDER, **overrides})
        return [r.image() for r in job.renders], job.renders[0].meta

    (a, b), meta77 = images()
    assert max_diff(a, b) == 0 and len(meta77["hex_codes_seen"]) < 20
    (a, b), meta225 = images(max_token_length=225)
    assert max_diff(a, b) > 0 and len(meta225["hex_codes_seen"]) == 20
