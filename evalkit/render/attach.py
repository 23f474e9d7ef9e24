"""Put a LoRA on a loaded pipeline through diffusers/peft, and prove it took.

diffusers only *warns* when LoRA keys match nothing and may scale modules
whose alpha differs from the majority wrongly; our users would get base-model
images scored as their LoRA. So after loading we check (1) every module of the
file was wrapped, (2) each wrapped module's scaling is alpha/rank x scale, and
(3) the UNet's output on a probe input changes. Any failure is an error.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import torch

from evalkit.errors import EvalkitError

ADAPTER = "evalkit"


def _wrapped(module_root, adapter: str) -> list:
    return [m for _, m in module_root.named_modules() if hasattr(m, "lora_A") and adapter in getattr(m, "lora_A", {})]


def _components(pipe):
    return [c for c in (pipe.unet, getattr(pipe, "text_encoder", None), getattr(pipe, "text_encoder_2", None)) if c is not None]


@torch.no_grad()
def probe(pipe) -> torch.Tensor:
    """The UNet's output on a fixed random input: it must change when a LoRA is on."""
    unet = getattr(pipe.unet, "_orig_mod", pipe.unet)  # eager: a batch-1 call must not recompile
    g = torch.Generator("cpu").manual_seed(0)
    size = unet.config.sample_size
    x = torch.randn(1, unet.config.in_channels, size, size, generator=g).to(unet.device, unet.dtype)
    ctx = torch.randn(1, 77, unet.config.cross_attention_dim, generator=g).to(unet.device, unet.dtype)
    kwargs = {}
    if unet.config.addition_embed_type == "text_time":  # SDXL needs pooled text + time ids
        kwargs["added_cond_kwargs"] = {
            "text_embeds": torch.randn(1, 1280, generator=g).to(unet.device, unet.dtype),
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


def attach_lora(pipe, lora_path: Path, info, scale: float = 1.0) -> dict:
    """Load `lora_path` (already inspected as `info`) onto `pipe`; returns what was verified."""
    from safetensors.torch import load_file

    info.raise_if_unsupported()
    check_family(pipe, lora_path, info)
    before = probe(pipe)
    state = load_file(str(lora_path))  # safetensors: no code can run
    try:
        pipe.load_lora_weights(state, adapter_name=ADAPTER)
    except (ValueError, KeyError, RuntimeError) as exc:
        raise EvalkitError(lora_path, f"diffusers could not load this LoRA: {str(exc).splitlines()[0][:200]}") from None
    pipe.set_adapters([ADAPTER], adapter_weights=[scale])
    pipe._evalkit_peft = True
    wrapped = [m for c in _components(pipe) for m in _wrapped(c, ADAPTER)]
    expected = len(info.network.modules) if info.network else 0
    if not wrapped:
        detach_lora(pipe)
        raise EvalkitError(lora_path, "matched no module of the base model (wrong base, or keys in an unknown naming)")
    if len(wrapped) != expected:
        detach_lora(pipe)
        raise EvalkitError(lora_path, f"only {len(wrapped)} of its {expected} modules matched the base model")
    got = Counter(round(float(m.scaling[ADAPTER]), 5) for m in wrapped)
    want = Counter(round(float(mod.alpha / mod.rank) * scale, 5) for mod in info.network.modules)
    if got != want:
        detach_lora(pipe)
        raise EvalkitError(lora_path, f"module scales after loading {dict(got)} differ from alpha/rank x {scale} {dict(want)}")
    change = (probe(pipe) - before).abs().max().item()
    if scale != 0 and change == 0:
        detach_lora(pipe)
        raise EvalkitError(lora_path, "loaded but does not change the UNet's output (untrained or unmatched LoRA)")
    return {"modules_wrapped": len(wrapped), "scales": dict(want), "probe_change": change}


def fuse(pipe) -> None:
    """Merge the verified adapter into the base weights: one matmul per module instead of three.

    The adapter weight is already in each module's scaling (set_adapters), so
    fusing uses 1.0. `detach_lora` unfuses first, so no delta stays in the base.
    """
    pipe.fuse_lora(adapter_names=[ADAPTER], lora_scale=1.0)
    pipe._evalkit_fused = True


def detach_lora(pipe) -> None:
    if getattr(pipe, "_evalkit_fused", False):
        pipe.unfuse_lora()
        pipe._evalkit_fused = False
    if getattr(pipe, "_evalkit_peft", False):
        pipe.unload_lora_weights()
        pipe._evalkit_peft = False


def put_on(pipe, lora_path: Path, info, scale: float = 1.0, fused: bool = True) -> dict:
    """The one way a checkpoint goes onto the base: merged in place for kohya files when
    fused (fast switch, see merge.py), else through diffusers/peft (fused if asked)."""
    from evalkit.render.merge import can_merge, merge_lora

    take_off(pipe)
    if fused and can_merge(info):
        return dict(merge_lora(pipe, lora_path, info, scale), method="merge")
    verified = attach_lora(pipe, lora_path, info, scale)
    if fused:
        fuse(pipe)
    return dict(verified, method="peft-fused" if fused else "peft")


def take_off(pipe) -> None:
    """Leave the base exactly as loaded, whichever way the last checkpoint went on."""
    from evalkit.render.merge import unmerge_lora

    unmerge_lora(pipe)
    detach_lora(pipe)
