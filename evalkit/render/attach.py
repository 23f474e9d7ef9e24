"""The peft path: put a LoRA on a loaded pipeline through diffusers/peft, and prove it took.

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
from evalkit.render.lora_checks import check_family, probe, verify_effect

ADAPTER = "evalkit"


def _wrapped(module_root, adapter: str) -> list:
    return [m for _, m in module_root.named_modules() if hasattr(m, "lora_A") and adapter in getattr(m, "lora_A", {})]


def _components(pipe):
    return [c for c in (pipe.unet, getattr(pipe, "text_encoder", None), getattr(pipe, "text_encoder_2", None)) if c is not None]


def _unload(pipe) -> None:
    # attach_lora's own undo, before anything is fused: whatever the failed load left
    pipe.unload_lora_weights()


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
        _unload(pipe)  # a component may already be wrapped (the UNet loads first): undo it
        raise EvalkitError(lora_path, f"diffusers could not load this LoRA: {str(exc).splitlines()[0][:200]}") from None
    pipe.set_adapters([ADAPTER], adapter_weights=[scale])
    wrapped = [m for c in _components(pipe) for m in _wrapped(c, ADAPTER)]
    expected = len(info.network.modules) if info.network else 0
    if not wrapped:
        _unload(pipe)
        raise EvalkitError(lora_path, "matched no module of the base model (wrong base, or keys in an unknown naming)")
    if len(wrapped) != expected:
        _unload(pipe)
        raise EvalkitError(lora_path, f"only {len(wrapped)} of its {expected} modules matched the base model")
    # A count match is not enough: transformers wraps a text encoder's modules by the peft
    # config's target names (q_proj, ...) and, where the file's keys match nothing there,
    # fills lora_A/lora_B with fresh random weights: random text-encoder noise that passes
    # every other check. So each of the file's up weights must be found on the base.
    missing = _weights_not_loaded(lora_path, [m.lora_B[ADAPTER].weight for m in wrapped])
    if missing:
        _unload(pipe)
        raise EvalkitError(lora_path, f"{missing} of its {expected} modules matched no module of the base model "
                           "(diffusers filled them with random weights; wrong base, or keys in an unknown naming)")
    got = Counter(round(float(m.scaling[ADAPTER]), 5) for m in wrapped)
    scales, change = verify_effect(pipe, lora_path, info, scale, got, before, undo=_unload, done="loaded")
    return {"modules_wrapped": len(wrapped), "scales": scales, "probe_change": change}


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


def unfuse(pipe) -> None:
    pipe.unfuse_lora()


def detach_lora(pipe) -> None:
    """Take off what attach_lora put on, fused or not, leaving the base as loaded.

    Whether it is fused is read from peft's own layers (`merged`), the record
    diffusers' unfuse_lora reads too: no flag of ours on the pipeline.
    """
    layers = [m for c in _components(pipe) for _, m in c.named_modules() if hasattr(m, "lora_A")]
    if any(getattr(m, "merged", False) for m in layers):
        unfuse(pipe)
    if layers:
        pipe.unload_lora_weights()
