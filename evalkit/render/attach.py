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


def attach_lora(pipe, lora_path: Path, info, scale: float = 1.0) -> dict:
    """Load `lora_path` (already inspected as `info`) onto `pipe`; returns what was verified."""
    info.raise_if_unsupported()
    check_family(pipe, lora_path, info)
    before = probe(pipe)
    try:
        # By path, not as a loaded state dict: diffusers reads the peft config
        # (lora_alpha, alpha_pattern) of a diffusers-format file from its
        # `lora_adapter_metadata` header only when it opens the file itself; a
        # dict would load at alpha = rank. use_safetensors: never a pickle.
        pipe.load_lora_weights(str(lora_path), adapter_name=ADAPTER, use_safetensors=True, local_files_only=True)
    except (ValueError, KeyError, RuntimeError) as exc:
        pipe._evalkit_peft = True  # a component may already be wrapped (the UNet loads first): undo it
        detach_lora(pipe)
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
    # A count match is not enough: transformers wraps a text encoder's modules by the peft
    # config's target names (q_proj, ...) and, where the file's keys match nothing there,
    # fills lora_A/lora_B with fresh random weights: random text-encoder noise that passes
    # every other check. So each of the file's up weights must be found on the base.
    missing = _weights_not_loaded(lora_path, [m.lora_B[ADAPTER].weight for m in wrapped])
    if missing:
        detach_lora(pipe)
        raise EvalkitError(lora_path, f"{missing} of its {expected} modules matched no module of the base model "
                           "(diffusers filled them with random weights; wrong base, or keys in an unknown naming)")
    got = Counter(round(float(m.scaling[ADAPTER]), 5) for m in wrapped)
    scales, change = verify_effect(pipe, lora_path, info, scale, got, before, undo=detach_lora, done="loaded")
    return {"modules_wrapped": len(wrapped), "scales": scales, "probe_change": change}


def verify_effect(pipe, lora_path: Path, info, scale: float, applied: Counter, before: torch.Tensor, *,
                  undo, done: str) -> tuple[dict, float]:
    """The checks both LoRA paths (peft here, in-place merge in merge.py) end with.

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


def _weights_not_loaded(lora_path: Path, loaded_up: list) -> int:
    """How many of the file's lora_up/lora_B tensors are on no wrapped module.

    Name-free, so it holds for kohya and diffusers names alike: a loaded weight is the
    file's tensor cast to the adapter's dtype, so (shape, float64 sum, sum of squares)
    of that cast, computed on the CPU, matches exactly; a random init never does.
    """
    from safetensors import safe_open

    from evalkit.inspect.formats import DIFFUSERS_SUFFIXES, KOHYA_SUFFIXES

    def fingerprint(t: torch.Tensor) -> tuple:
        t = t.detach().to("cpu", torch.float64)
        return tuple(t.shape), t.sum().item(), t.square().sum().item()

    on_base = Counter(fingerprint(w) for w in loaded_up)
    dtypes = {w.dtype for w in loaded_up}
    up_suffixes = tuple(s for s, role in {**KOHYA_SUFFIXES, **DIFFUSERS_SUFFIXES}.items() if role == "up")
    missing = 0
    with safe_open(str(lora_path), framework="pt") as f:  # safetensors: no code can run
        for key in f.keys():
            if not key.endswith(up_suffixes):
                continue
            tensor = f.get_tensor(key)
            hit = next((fp for d in dtypes if on_base[fp := fingerprint(tensor.to(d))] > 0), None)
            if hit is None:
                missing += 1
            else:
                on_base[hit] -= 1
    return missing


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
