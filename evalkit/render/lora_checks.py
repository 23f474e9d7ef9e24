"""What both LoRA paths (peft in attach.py, in-place merge in merge.py) check: the family, the scales, the effect.

Shared by the two paths so that neither imports the other; `lora_slot` picks
the path.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import torch

from evalkit.errors import EvalkitError


# The smallest probe change, relative to the probe output's largest value, that counts as "took effect".
MIN_RELATIVE_CHANGE = 1e-4


@torch.no_grad()
def probe(pipe) -> torch.Tensor:
    """The UNet's output on a fixed random input: it must change when a LoRA is on."""
    unet = getattr(pipe.unet, "_orig_mod", pipe.unet)  # eager: a batch-1 call must not recompile
    g = torch.Generator("cpu").manual_seed(0)
    # Every LoRA'd module runs at any latent size (the UNet is convolutional), so a
    # 32x32 latent proves the effect as well as the native one; at SDXL's 128x128 the
    # probe was a third of a checkpoint switch (bench/results/switch_sdxl_h200.json).
    size = min(unet.config.sample_size, 32)
    x = torch.randn(1, unet.config.in_channels, size, size, generator=g).to(unet.device, unet.dtype)
    ctx = torch.randn(1, 77, unet.config.cross_attention_dim, generator=g).to(unet.device, unet.dtype)
    kwargs = {}
    if unet.config.addition_embed_type == "text_time":  # SDXL needs pooled text + time ids
        # The add embedding takes pooled text + 6 time ids of addition_time_embed_dim each:
        # 2816 - 6 x 256 = 1280 for SDXL; read it from the config so other widths work too.
        text_dim = unet.config.projection_class_embeddings_input_dim - 6 * unet.config.addition_time_embed_dim
        kwargs["added_cond_kwargs"] = {
            "text_embeds": torch.randn(1, text_dim, generator=g).to(unet.device, unet.dtype),
            "time_ids": torch.zeros(1, 6).to(unet.device, unet.dtype),
        }
    return unet(x, torch.tensor([500], device=unet.device), ctx, **kwargs).sample.float()


def check_family(pipe, lora_path: Path, info) -> None:
    """An SDXL LoRA on an SD1.5 base (or the reverse) is an error naming both."""
    from evalkit.render.base_model import pipeline_family

    family = pipeline_family(pipe)
    lora_family = "sdxl" if info.family == "sdxl" else "sd15"
    cross = info.architecture.cross_attention_dim if info.architecture else None
    if lora_family != family or cross not in (None, pipe.unet.config.cross_attention_dim):
        raise EvalkitError(lora_path, f"is a {info.family} LoRA (cross-attention {cross}) "
                           f"but the base is {family} (cross-attention {pipe.unet.config.cross_attention_dim})")


def verify_effect(pipe, lora_path: Path, info, scale: float, applied: Counter, before: torch.Tensor, *,
                  undo, done: str) -> tuple[dict, float]:
    """The checks both LoRA paths (peft in attach.py, in-place merge in merge.py) end with.

    ``applied`` counts the scale each module got; it must be alpha/rank x scale
    as inspect read them, and the UNet's probe output must have moved from
    ``before``. On failure ``undo(pipe)`` takes the LoRA off again and the error
    names the file. Returns (the expected scale counts, the probe change).
    """
    want = Counter(round(float(m.alpha / m.rank) * scale, 5) for m in info.network.modules)
    if applied != want:
        undo(pipe)
        raise EvalkitError(lora_path, f"module scales {done} {dict(applied)} differ from alpha/rank x {scale} {dict(want)}")
    change = (probe(pipe) - before).abs().max().item()
    if scale != 0 and change == 0:
        undo(pipe)
        raise EvalkitError(lora_path, f"{done} but does not change the UNet's output (untrained or unmatched LoRA)")
    # Relative to the output's own size: weights near 1e-7 move it by ~1e-9 of itself, which an
    # exact-zero check passes and a render cannot show (the testbed's LoRAs move it by > 1e-2).
    relative = change / max(before.abs().max().item(), 1e-12)
    if scale != 0 and relative < MIN_RELATIVE_CHANGE:
        undo(pipe)
        raise EvalkitError(lora_path, f"{done} but changes the UNet's output by only {relative:.1e} of its size "
                                      f"(< {MIN_RELATIVE_CHANGE:g}): indistinguishable from the base model")
    return dict(want), change
