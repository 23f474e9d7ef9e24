"""Fast checkpoint switching for kohya LoRAs: merge into the base weights in place, restore exactly.

peft's load -> fuse -> unfuse -> unload cycle costs about 1 s per checkpoint on
SD1.5 and 4.6 s on SDXL (bench/results/render_*_h100.json) and rebuilds the
module tree, so a torch.compile'd UNet would recompile for every checkpoint.
For kohya files, our users' format, evalkit computes each module's delta the
way sd-scripts' networks.lora and diffusers' fuse_lora do,

    W' = W + (up @ down) * alpha / rank * scale

and adds it to the weight in place. Switching copies the saved original
weights back, so no rounding drift accumulates over hundreds of checkpoints,
and the module tree never changes (a compiled UNet stays compiled).

The took-effect checks are those of the peft path (lora_checks.py): every module of the file
found in the base, each module's applied scale equal to alpha/rank x scale as
inspect read it, and the UNet's output on a probe input changed.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import torch

from evalkit.errors import EvalkitError
from evalkit.render.lora_checks import check_family, verify_effect
from evalkit.inspect.kohya_format import (
    SDXL_TEXT_ENCODER_PREFIXES, TEXT_ENCODER_PREFIX, TEXT_ENCODER_TARGET_CLASSES, UNET_CONV_TARGET_CLASSES,
    UNET_PREFIX, UNET_TARGET_CLASSES, kohya_lora_modules, sgm_rename,
)


def can_merge(info) -> bool:
    """Kohya-named LoRA/LoCon files take the merge path; diffusers-format files go through peft."""
    return info.format.naming == "kohya" and info.format.kind == "kohya_lora"


def merge_lora(pipe, lora_path: Path, info, scale: float = 1.0, *, modules: dict, originals: dict, merged: set,
               before: torch.Tensor) -> dict:
    """Merge the (inspected) kohya LoRA at `lora_path` into `pipe`; returns what was verified.

    The state is the caller's (`LoraSlot` owns it): `modules` from `kohya_modules`,
    `originals` where each module's weight is copied before its first merge, `merged`
    the names whose weight holds a delta (empty on entry: the base is clean), and
    `before` the base's probe output. On any failure the base is restored.
    """
    info.raise_if_unsupported()
    check_family(pipe, lora_path, info)
    state, alphas = load_lora_to_device(lora_path, pipe.unet.device)
    names = sorted({k.split(".", 1)[0] for k in state if k.endswith(".lora_down.weight")})
    unmatched = [n for n in names if n not in modules]
    if names and len(unmatched) == len(names):
        raise EvalkitError(lora_path, "matched no module of the base model (wrong base, or keys in an unknown naming)")
    if unmatched or not names:
        raise EvalkitError(lora_path, f"only {len(names) - len(unmatched)} of its {len(names)} modules matched the "
                           f"base model (first unmatched: {(unmatched or ['-'])[0]})")

    def undo(_pipe) -> None:
        restore(modules, originals, merged)

    applied = Counter()
    try:
        with torch.no_grad():
            for name in names:
                weight = modules[name].weight
                down = state[f"{name}.lora_down.weight"].to(weight.device, torch.float32)
                up = state[f"{name}.lora_up.weight"].to(weight.device, torch.float32)
                rank = down.shape[0]
                alpha = alphas.get(name, float(rank))  # no alpha: kohya's default, alpha = rank
                module_scale = alpha / rank * scale
                applied[round(module_scale, 5)] += 1
                if name not in originals:
                    originals[name] = weight.detach().clone()
                merged.add(name)
                # (out, r) @ (r, in*kh*kw) covers Linear, 1x1 and kxk (LoCon) convs alike.
                delta = (up.flatten(1) @ down.flatten(1)).reshape(weight.shape) * module_scale
                weight.add_(delta.to(weight.dtype))
    except (KeyError, RuntimeError) as exc:
        undo(pipe)
        raise EvalkitError(lora_path, f"could not merge module {name}: {str(exc).splitlines()[0][:160]}") from None
    scales, change = verify_effect(pipe, lora_path, info, scale, applied, before, undo=undo, done="merged")
    return {"modules_merged": len(names), "scales": scales, "probe_change": change}


def load_lora_to_device(lora_path: Path, device) -> tuple[dict, dict]:
    """(the file's tensors on `device`, {module: alpha} as Python floats).

    Everything is copied to the GPU before the first merge kernel is queued: a
    copy from pageable host memory waits for the stream, so copying inside the
    merge loop made each of SDXL's ~1000 modules wait for the last one's merge
    (0.5 s a switch on an H200). Alphas are read on the CPU so that reading one
    never waits for the GPU either.
    """
    from safetensors import safe_open

    tensors, alphas = {}, {}
    with safe_open(str(lora_path), framework="pt", device="cpu") as f:  # safetensors: no code can run; one read
        for key in f.keys():
            if key.endswith(".alpha"):
                alphas[key[: -len(".alpha")]] = float(f.get_tensor(key))
            else:
                tensors[key] = f.get_tensor(key).to(device)
    return tensors, alphas


def restore(modules: dict, originals: dict, merged: set) -> None:
    """Copy the original weights back into every merged module (exact, no drift); `merged` ends empty."""
    if not merged:
        return
    with torch.no_grad():
        for name in merged:
            modules[name].weight.copy_(originals[name])
    merged.clear()


def kohya_modules(pipe) -> dict:
    """{kohya module name: torch module} for this pipeline (walk it once and keep it: LoraSlot does)."""
    from evalkit.render.base_model import pipeline_family

    unet = getattr(pipe.unet, "_orig_mod", pipe.unet)  # the module under a torch.compile wrapper
    sdxl = pipeline_family(pipe) == "sdxl"
    rename = sgm_rename(unet.config) if sdxl else None
    found = kohya_lora_modules(unet, UNET_PREFIX, UNET_TARGET_CLASSES + UNET_CONV_TARGET_CLASSES, rename)
    encoders = [pipe.text_encoder, pipe.text_encoder_2] if sdxl else [pipe.text_encoder]
    prefixes = SDXL_TEXT_ENCODER_PREFIXES if sdxl else (TEXT_ENCODER_PREFIX,)
    for prefix, encoder in zip(prefixes, encoders):
        if encoder is not None:
            found.update(kohya_lora_modules(encoder, prefix, TEXT_ENCODER_TARGET_CLASSES))
    return found
