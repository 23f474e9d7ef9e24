"""What kind of file is this, and which LoRA modules does it hold?

Decided from tensor names and shapes only. Two families are supported:
kohya `networks.lora` files (`lora_unet_...lora_down.weight`, LoCon conv
modules included) and diffusers/peft LoRAs (`unet....lora_A.weight`). LyCORIS
LoHa/LoKr, CP-decomposed LoCon and DoRA are recognised and reported as
unsupported, because diffusers either refuses them or silently renders wrong
images. Base-model checkpoints and textual-inversion embeddings are refused
with a message that says what they are.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field

from evalkit.errors import EvalkitError
from evalkit.inspect.safetensors_header import FLOAT_DTYPES, SafetensorsHeader, TensorEntry, brief

KOHYA_PREFIXES = {"lora_unet_": "unet", "lora_te1_": "te1", "lora_te2_": "te2", "lora_te_": "te"}
KOHYA_SUFFIXES = {".lora_down.weight": "down", ".lora_up.weight": "up", ".alpha": "alpha"}
DIFFUSERS_SUFFIXES = {
    ".lora_A.weight": "down", ".lora_B.weight": "up",
    ".lora.down.weight": "down", ".lora.up.weight": "up",
    "_lora.down.weight": "down", "_lora.up.weight": "up",
    # Text-encoder keys of diffusers files saved before peft (LoRAAttnProcessor days, or
    # convert_state_dict_to_diffusers): "...q_proj.lora_linear_layer.down.weight".
    ".lora_linear_layer.down.weight": "down", ".lora_linear_layer.up.weight": "up",
    ".alpha": "alpha",
}
DIFFUSERS_COMPONENTS = {"unet": "unet", "text_encoder": "te", "text_encoder_2": "te2"}
# Where diffusers keeps the peft config (r, lora_alpha, alpha_pattern) of a saved LoRA.
DIFFUSERS_ADAPTER_METADATA = "lora_adapter_metadata"

# (kind, marker in a tensor name, label, why it is not supported)
UNSUPPORTED_FAMILIES = [
    ("dora", ".dora_scale", "DoRA (dora_scale)",
     "diffusers drops dora_scale with only a warning, so renders would not show what was trained"),
    ("dora", ".lora_magnitude_vector", "DoRA (peft lora_magnitude_vector)",
     "evalkit evaluates plain LoRA/LoCon only; merge the DoRA magnitudes or retrain without DoRA"),
    ("lycoris_loha", ".hada_w1_a", "LyCORIS LoHa",
     "diffusers cannot load LoHa; train a LoRA/LoCon (networks.lora) instead"),
    ("lycoris_lokr", ".lokr_w1", "LyCORIS LoKr",
     "diffusers cannot load LoKr; train a LoRA/LoCon (networks.lora) instead"),
    ("lycoris_cp", ".lora_mid.weight", "LyCORIS LoCon with CP/Tucker decomposition (lora_mid)",
     "diffusers has no lora_mid; train LoCon without use_tucker/use_cp"),
]

BASE_MODEL_MARKERS = [
    ("model.diffusion_model.", "Stable Diffusion (LDM/SGM layout)"),
    ("first_stage_model.", "Stable Diffusion (LDM layout)"),
    ("cond_stage_model.", "Stable Diffusion (LDM layout)"),
    ("conditioner.embedders.", "SDXL (SGM layout)"),
    ("down_blocks.0.resnets.0.conv1.weight", "diffusers UNet"),
    ("text_model.embeddings.token_embedding.weight", "CLIP text encoder"),
    ("encoder.conv_in.weight", "VAE"),
]
TEXTUAL_INVERSION_KEYS = {"emb_params", "clip_l", "clip_g", "string_to_token"}

_UNET_BLOCK = re.compile(r"^(down_blocks[._]\d+|mid_block|up_blocks[._]\d+|input_blocks[._]\d+|middle_block|output_blocks[._]\d+)")
_FLOAT_WEIGHT_DTYPES = FLOAT_DTYPES | {"F8_E4M3", "F8_E5M2"}


@dataclass
class FormatInfo:
    """The file's format as evalkit sees it."""

    kind: str  # kohya_lora | diffusers_lora | dora | lycoris_loha | lycoris_lokr | lycoris_cp
    label: str
    supported: bool
    note: str | None = None
    naming: str | None = None  # "kohya" (lora_unet_...) or "diffusers" (unet.down_blocks...)
    locon: bool = False  # has LoRA on k x k convolutions (kohya conv_dim / LoCon)
    tensor_count: int = 0
    dtypes: dict[str, int] = field(default_factory=dict)
    unused_tensors: list[str] = field(default_factory=list)


@dataclass
class LoraModuleTensors:
    """One LoRA module's tensors, shape-checked."""

    name: str  # as the file names it
    component: str  # unet | te | te1 | te2
    block: str  # down_blocks_0, input_blocks_4, mid_block, ... or the text-encoder component
    down: TensorEntry
    up: TensorEntry
    alpha: TensorEntry | None = None
    alpha_from_metadata: float | None = None  # diffusers adapter metadata

    @property
    def rank(self) -> int:
        return self.down.shape[0]

    @property
    def in_features(self) -> int:
        return self.down.shape[1]

    @property
    def out_features(self) -> int:
        return self.up.shape[0]

    @property
    def kernel_size(self) -> int:
        return self.down.shape[2] if len(self.down.shape) == 4 else 0

    @property
    def kind(self) -> str:
        if len(self.down.shape) == 2:
            return "linear"
        return "conv1x1" if self.down.shape[2:] == (1, 1) else "conv"


@dataclass
class DetectedFormat:
    info: FormatInfo
    modules: list[LoraModuleTensors]
    warnings: list[str] = field(default_factory=list)


def _unet_block(rest: str) -> str:
    match = _UNET_BLOCK.match(rest)
    return match.group(1).replace(".", "_") if match else "other"


def _split_suffix(key: str, suffixes: dict[str, str]) -> tuple[str, str] | None:
    for suffix, role in suffixes.items():
        if key.endswith(suffix) and len(key) > len(suffix):
            return key[: -len(suffix)], role
    return None


def _kohya_component(module: str) -> tuple[str, str] | None:
    for prefix, component in KOHYA_PREFIXES.items():
        if module.startswith(prefix):
            rest = module[len(prefix):]
            return component, _unet_block(rest) if component == "unet" else component
    return None


def _diffusers_component(module: str, has_te2: bool) -> tuple[str, str, str, str] | None:
    """(component, block, module name, path inside the component) for a diffusers/peft name."""
    module = module.replace(".processor.", ".")
    if module.startswith("base_model.model."):
        module = module[len("base_model.model."):]
    head, _, rest = module.partition(".")
    if head in DIFFUSERS_COMPONENTS and rest:
        component = DIFFUSERS_COMPONENTS[head]
        if component == "te" and has_te2:
            component = "te1"
    elif _UNET_BLOCK.match(module) or head in ("conv_in", "conv_out", "time_embedding"):
        component, rest = "unet", module
    elif head == "text_model":
        component, rest = "te", module
    else:
        return None
    return component, _unet_block(rest) if component == "unet" else component, module, rest


def _diffusers_alphas(metadata: dict[str, str], warnings: list[str]) -> dict[str, dict]:
    """peft configs per component from diffusers' lora_adapter_metadata, if the file has it."""
    raw = metadata.get(DIFFUSERS_ADAPTER_METADATA)
    if not raw:
        return {}
    try:
        flat = json.loads(raw)
    except (ValueError, RecursionError):
        flat = None
    if not isinstance(flat, dict):
        warnings.append(f"metadata {DIFFUSERS_ADAPTER_METADATA} is not a JSON object; alpha = rank assumed")
        return {}
    configs: dict[str, dict] = {}
    for key, value in flat.items():
        head, _, name = key.partition(".")
        if head in DIFFUSERS_COMPONENTS:
            configs.setdefault(DIFFUSERS_COMPONENTS[head], {})[name] = value
    return configs


def _finite_number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _alpha_from_peft_config(config: dict, path: str) -> float | None:
    """lora_alpha for one module, honouring peft's alpha_pattern (matched on the name's end)."""
    patterns = config.get("alpha_pattern")
    if isinstance(patterns, dict):
        for pattern, alpha in patterns.items():
            if (path == pattern or path.endswith("." + pattern)) and _finite_number(alpha) is not None:
                return _finite_number(alpha)
    return _finite_number(config.get("lora_alpha"))


def _check_module(where: str, module: LoraModuleTensors) -> None:
    down, up = module.down, module.up
    for role, entry in (("lora_down", down), ("lora_up", up)):
        if entry.dtype not in _FLOAT_WEIGHT_DTYPES:
            raise EvalkitError(where, f"module {brief(module.name)}: {role} has dtype {entry.dtype}, expected a float type")
    if len(down.shape) not in (2, 4) or len(up.shape) != len(down.shape):
        raise EvalkitError(
            where,
            f"module {brief(module.name)}: lora_down {list(down.shape)} and lora_up {list(up.shape)} are not both "
            "2-D (Linear) or both 4-D (Conv2d)",
        )
    if down.shape[0] == 0:
        raise EvalkitError(where, f"module {brief(module.name)} has rank 0 (lora_down shape {list(down.shape)})")
    if up.shape[1] != down.shape[0]:
        raise EvalkitError(
            where,
            f"module {brief(module.name)}: lora_down {list(down.shape)} and lora_up {list(up.shape)} disagree "
            f"on the rank ({down.shape[0]} vs {up.shape[1]})",
        )
    if len(up.shape) == 4 and up.shape[2:] != (1, 1):
        raise EvalkitError(where, f"module {brief(module.name)}: lora_up {list(up.shape)} is not a 1x1 convolution")
    if down.shape[1] == 0 or up.shape[0] == 0 or (len(down.shape) == 4 and 0 in down.shape[2:]):
        raise EvalkitError(where, f"module {brief(module.name)}: a lora_down/lora_up dimension is 0")
    if module.alpha is not None and (module.alpha.numel != 1 or module.alpha.dtype not in FLOAT_DTYPES):
        raise EvalkitError(
            where,
            f"module {brief(module.name)}: alpha must be one float number, got {module.alpha.dtype} "
            f"{list(module.alpha.shape)}",
        )


def _group_modules(
    header: SafetensorsHeader, where: str, naming: str, warnings: list[str]
) -> tuple[list[LoraModuleTensors], list[str]]:
    suffixes = KOHYA_SUFFIXES if naming == "kohya" else DIFFUSERS_SUFFIXES
    has_te2 = any(k.startswith("text_encoder_2.") for k in header.tensors)
    peft_configs = _diffusers_alphas(header.metadata, warnings) if naming == "diffusers" else {}
    parts: dict[str, dict[str, TensorEntry]] = {}
    placement: dict[str, tuple[str, str, str, str]] = {}
    unused: list[str] = []
    for key, entry in header.tensors.items():
        split = _split_suffix(key, suffixes)
        located = None
        if split and naming == "kohya":
            component_block = _kohya_component(split[0])
            located = (*component_block, split[0], split[0]) if component_block else None
        elif split:
            located = _diffusers_component(split[0], has_te2)
        if not located:
            unused.append(key)
            continue
        module_name = located[2]
        placement[module_name] = located
        roles = parts.setdefault(module_name, {})
        if split[1] in roles:
            raise EvalkitError(where, f"module {brief(module_name)} has two {split[1]} tensors")
        roles[split[1]] = entry

    modules = []
    for name, roles in parts.items():
        missing = [r for r in ("down", "up") if r not in roles]
        if missing:
            raise EvalkitError(where, f"module {brief(name)} has no lora_{missing[0]} weight")
        component, block, _, inner_path = placement[name]
        module = LoraModuleTensors(name, component, block, roles["down"], roles["up"], roles.get("alpha"))
        if module.alpha is None and component in peft_configs:
            module.alpha_from_metadata = _alpha_from_peft_config(peft_configs[component], inner_path)
        _check_module(where, module)
        modules.append(module)
    return modules, unused


def _not_a_lora(header: SafetensorsHeader, where: str) -> EvalkitError:
    names = list(header.tensors)
    if set(names) & TEXTUAL_INVERSION_KEYS or any(n.startswith("string_to_param") for n in names):
        return EvalkitError(where, "this is a textual-inversion embedding, not a LoRA")
    for marker, what in BASE_MODEL_MARKERS:
        hit = next((n for n in names if n.startswith(marker)), None)
        if hit:
            return EvalkitError(
                where,
                f"this is a base-model checkpoint ({what}, {len(names)} tensors such as {brief(hit)}), not a LoRA; "
                "inspect the LoRA file and pass the base model with --base-model",
            )
    return EvalkitError(
        where,
        f"not a LoRA: none of its {len(names)} tensors is a lora_down/lora_up (kohya) or lora_A/lora_B "
        f"(diffusers/peft) weight (first: {brief(names[0])})",
    )


def _naming(header: SafetensorsHeader) -> str | None:
    kohya = diffusers = 0
    for key in header.tensors:
        if _split_suffix(key, {".lora_down.weight": "", ".lora_up.weight": ""}):
            kohya += key.startswith("lora_")
        elif _split_suffix(key, DIFFUSERS_SUFFIXES) and not key.endswith(".alpha"):
            diffusers += 1
    if not kohya and not diffusers:
        return None
    return "kohya" if kohya >= diffusers else "diffusers"


def detect_format(header: SafetensorsHeader, where: str) -> DetectedFormat:
    """Classify the file and collect its LoRA modules; raises EvalkitError for a non-LoRA."""
    if not header.tensors:
        raise EvalkitError(where, "contains no tensors")
    dtypes = dict(Counter(e.dtype for e in header.tensors.values()).most_common())
    base = {"tensor_count": len(header.tensors), "dtypes": dtypes}
    for kind, marker, label, why in UNSUPPORTED_FAMILIES:
        if any(marker in key for key in header.tensors):
            return DetectedFormat(FormatInfo(kind, label, False, f"{label} is not supported: {why}", **base), [])
    naming = _naming(header)
    if naming is None:
        raise _not_a_lora(header, where)
    warnings: list[str] = []
    modules, unused = _group_modules(header, where, naming, warnings)
    if not modules:
        raise EvalkitError(
            where,
            f"its LoRA modules are not for a Stable Diffusion UNet or CLIP text encoder (e.g. {brief(unused[0])}): "
            "evalkit supports SD1.x, SD2 and SDXL LoRAs",
        )
    locon = any(m.kind == "conv" for m in modules)
    if naming == "kohya":
        label = "kohya networks.lora" + (" (LoCon: conv layers too)" if locon else "")
        kind = "kohya_lora"
    else:
        label = "diffusers/peft LoRA" + (" (with conv layers)" if locon else "")
        kind = "diffusers_lora"
    info = FormatInfo(kind, label, True, None, naming, locon, unused_tensors=unused, **base)
    return DetectedFormat(info, modules, warnings)
