"""Writing kohya `networks.lora` files, shared by evalkit's testbed trainer and the tests.

- `kohya_lora_targets` walks a model the way sd-scripts' LoRANetwork does
  and names each wrapped Linear/Conv2d as kohya would
  (`lora_unet_down_blocks_0_attentions_0_..._to_q`). For SDXL pass
  `rename=sgm_module_path`: kohya's SDXL UNet uses SGM block names.
- `kohya_lora_state_dict` builds lora_down/lora_up/alpha tensors for them.
- `kohya_state_dict_to_file` saves like LoRANetwork.save_weights, stamping
  `sshs_model_hash`/`sshs_legacy_hash` computed over a serialisation with
  only the ss_* metadata, exactly as sd-scripts does.

torch is imported only when writing, so reading checkpoints never needs it.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from evalkit.inspect.hashes import LEGACY_HASH_KEY, MODEL_HASH_KEY, legacy_hash, tensor_bytes_hash

UNET_PREFIX, TEXT_ENCODER_PREFIX = "lora_unet", "lora_te"
SDXL_TEXT_ENCODER_PREFIXES = ("lora_te1", "lora_te2")
# The module classes whose Linear/Conv2d children sd-scripts wraps.
UNET_TARGET_CLASSES = ("Transformer2DModel",)
UNET_CONV_TARGET_CLASSES = ("ResnetBlock2D", "Downsample2D", "Upsample2D")  # only with conv_dim (LoCon)
TEXT_ENCODER_TARGET_CLASSES = ("CLIPAttention", "CLIPSdpaAttention", "CLIPFlashAttention2", "CLIPMLP")
_LINEAR_CLASSES = ("Linear", "LoRACompatibleLinear")
_CONV_CLASSES = ("Conv2d", "LoRACompatibleConv")


@dataclass(frozen=True)
class LoraTarget:
    """A module a kohya LoRA wraps: its kohya name and the shape of the wrapped layer."""

    name: str  # kohya name: prefix + path with dots as underscores
    path: str  # the module path in the walked model (after `rename`)
    in_features: int
    out_features: int
    kernel_size: tuple[int, int] | None = None  # None for Linear

    @property
    def is_conv3x3(self) -> bool:
        """kohya gives k x k convs (k > 1) conv_dim; Linear and 1x1 convs get network_dim."""
        return self.kernel_size is not None and self.kernel_size != (1, 1)


def kohya_lora_targets(
    model: Any, prefix: str, target_classes: Iterable[str], rename: Callable[[str], str] | None = None
) -> list[LoraTarget]:
    """The modules sd-scripts would wrap in `model` (any torch module, a meta-device one is fine)."""
    targets: dict[str, LoraTarget] = {}
    for lora_name, path, child in _walk_targets(model, prefix, target_classes, rename):
        if type(child).__name__ in _LINEAR_CLASSES:
            shape = (child.in_features, child.out_features, None)
        else:
            shape = (child.in_channels, child.out_channels, tuple(child.kernel_size))
        targets.setdefault(lora_name, LoraTarget(lora_name, path, *shape))
    return list(targets.values())


def kohya_lora_modules(
    model: Any, prefix: str, target_classes: Iterable[str], rename: Callable[[str], str] | None = None
) -> dict[str, Any]:
    """{kohya name: the Linear/Conv2d module itself} for the same walk as `kohya_lora_targets`."""
    found: dict[str, Any] = {}
    for lora_name, _, child in _walk_targets(model, prefix, target_classes, rename):
        found.setdefault(lora_name, child)
    return found


def _walk_targets(model, prefix, target_classes, rename):
    classes = tuple(target_classes)
    # transformers 5 dropped CLIPTextModel's `text_model` wrapper; sd-scripts' names
    # (lora_te_text_model_encoder_...) come from the older layout, so put it back.
    root = "text_model." if type(model).__name__ == "CLIPTextModel" and not hasattr(model, "text_model") else ""
    for name, module in model.named_modules():
        if type(module).__name__ not in classes:
            continue
        for child_name, child in module.named_modules():
            if type(child).__name__ not in _LINEAR_CLASSES + _CONV_CLASSES:
                continue
            path = root + (f"{name}.{child_name}" if name else child_name)
            if rename:
                path = rename(path)
            yield f"{prefix}.{path}".replace(".", "_"), path, child


_RESNET_RENAMES = {"conv1": "in_layers.2", "time_emb_proj": "emb_layers.1", "conv2": "out_layers.3",
                   "conv_shortcut": "skip_connection"}


def sgm_module_path(
    path: str, layers_per_block: int = 2, up_blocks_with_attention: Sequence[bool] = (True, True, False)
) -> str:
    """A diffusers UNet module path as kohya's SDXL UNet (SGM layout) names it.

    down_blocks.1.attentions.0.X -> input_blocks.4.1.X, mid_block.attentions.0.X -> middle_block.1.X,
    up_blocks.0.resnets.2.conv1 -> output_blocks.2.0.in_layers.2. Defaults are SDXL's.
    """
    per_block = layers_per_block + 1

    def resnet_inner(rest: str) -> str:
        head, dot, tail = rest.partition(".")
        return _RESNET_RENAMES.get(head, head) + dot + tail

    if m := re.fullmatch(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", path):
        block, kind, layer, rest = int(m[1]), m[2], int(m[3]), m[4]
        inner = "0." + resnet_inner(rest) if kind == "resnets" else "1." + rest
        return f"input_blocks.{block * per_block + layer + 1}.{inner}"
    if m := re.fullmatch(r"down_blocks\.(\d+)\.downsamplers\.0\.conv", path):
        return f"input_blocks.{(int(m[1]) + 1) * per_block}.0.op"
    if m := re.fullmatch(r"mid_block\.(resnets|attentions)\.(\d+)\.(.+)", path):
        index = 1 if m[1] == "attentions" else 2 * int(m[2])
        rest = resnet_inner(m[3]) if m[1] == "resnets" else m[3]
        return f"middle_block.{index}.{rest}"
    if m := re.fullmatch(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", path):
        block, kind, layer, rest = int(m[1]), m[2], int(m[3]), m[4]
        inner = "0." + resnet_inner(rest) if kind == "resnets" else "1." + rest
        return f"output_blocks.{block * per_block + layer}.{inner}"
    if m := re.fullmatch(r"up_blocks\.(\d+)\.upsamplers\.0\.conv", path):
        block = int(m[1])
        slot = 2 if up_blocks_with_attention[block] else 1
        return f"output_blocks.{block * per_block + layers_per_block}.{slot}.conv"
    return path


def kohya_lora_state_dict(
    targets: Iterable[LoraTarget],
    rank: int | Mapping[str, int],
    alpha: float | Mapping[str, float] | None,
    *,
    conv_rank: int | None = None,
    conv_alpha: float | None = None,
    dtype: Any = "float16",
    trained: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """lora_down/lora_up/alpha torch tensors for `targets`, as sd-scripts' state_dict() has them.

    `rank`/`alpha` may map module names to values (a resized, mixed-rank file);
    `alpha=None` writes no .alpha tensors (old files). `trained=False` leaves
    lora_up at zeros, kohya's initialisation.
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    torch_dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    state: dict[str, Any] = {}
    for t in targets:
        if isinstance(rank, Mapping):
            r = rank[t.name]
        else:
            r = conv_rank if (t.is_conv3x3 and conv_rank) else rank
        a = alpha[t.name] if isinstance(alpha, Mapping) else (conv_alpha if t.is_conv3x3 and conv_alpha else alpha)
        if t.kernel_size is None:
            down_shape, up_shape = (r, t.in_features), (t.out_features, r)
        else:
            down_shape, up_shape = (r, t.in_features, *t.kernel_size), (t.out_features, r, 1, 1)
        down = torch.randn(down_shape, generator=generator) * 0.01
        up = torch.randn(up_shape, generator=generator) * 0.01 if trained else torch.zeros(up_shape)
        state[f"{t.name}.lora_down.weight"] = down.to(torch_dtype)
        state[f"{t.name}.lora_up.weight"] = up.to(torch_dtype)
        if a is not None:
            state[f"{t.name}.alpha"] = torch.tensor(float(a)).to(torch_dtype)
    return state


def kohya_state_dict_to_file(
    path: str | os.PathLike, tensors: Mapping[str, Any], metadata: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Save a kohya LoRA state dict (torch tensors or numpy arrays) as sd-scripts does.

    Returns the metadata written, including the stamped sshs_* hashes.
    """
    import torch
    from safetensors.torch import save, save_file

    state = {
        name: (torch.from_numpy(np.ascontiguousarray(value)) if isinstance(value, np.ndarray) else value)
        .detach().cpu().contiguous()
        for name, value in tensors.items()
    }
    metadata = dict(metadata or {})
    not_text = [k for k, v in metadata.items() if not isinstance(k, str) or not isinstance(v, str)]
    if not_text:
        raise TypeError(f"safetensors metadata must map str to str; not so for {not_text[:3]}")
    # Only the training keys go into the hashed serialisation, so user edits of
    # other metadata later do not change the hashes.
    serialized = save(state, {k: v for k, v in metadata.items() if k.startswith("ss_")})
    metadata[MODEL_HASH_KEY] = tensor_bytes_hash(serialized)
    metadata[LEGACY_HASH_KEY] = legacy_hash(serialized)
    save_file(state, os.fspath(path), metadata)
    return metadata


def sgm_rename(unet_config: Mapping[str, Any]) -> Callable[[str], str]:
    """`sgm_module_path` for a UNet config (kohya names SDXL UNet modules in the SGM layout)."""
    with_attention = tuple("CrossAttn" in t for t in unet_config["up_block_types"])
    return functools.partial(sgm_module_path, layers_per_block=unet_config["layers_per_block"],
                             up_blocks_with_attention=with_attention)


def targets_for_configs(
    unet_config: dict, encoders: list[tuple[str, dict, bool]], sgm: bool = False, locon: bool = False
) -> dict[str, tuple[LoraTarget, ...]]:
    """{kohya prefix: targets} sd-scripts creates for a UNet config and text-encoder configs.

    `encoders` is [(prefix, CLIPTextConfig dict, with_projection)]. The models are instantiated on the meta device: the module tree is real, no weights are allocated."""
    import torch
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    classes = UNET_TARGET_CLASSES + (UNET_CONV_TARGET_CLASSES if locon else ())
    rename = sgm_rename(unet_config) if sgm else None
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(unet_config)
        found = {UNET_PREFIX: tuple(kohya_lora_targets(unet, UNET_PREFIX, classes, rename))}
        for prefix, config, projection in encoders:
            model_class = CLIPTextModelWithProjection if projection else CLIPTextModel
            encoder = model_class(CLIPTextConfig(**config))
            found[prefix] = tuple(kohya_lora_targets(encoder, prefix, TEXT_ENCODER_TARGET_CLASSES))
    return found
