"""Which base model a LoRA was trained on, from its module names and shapes.

The naming gives the family: kohya SDXL LoRAs use SGM block names
(input_blocks/middle_block/output_blocks) and two text encoders
(lora_te1_/lora_te2_); SD1 and SD2 use diffusers block names and one text
encoder (lora_te_). Widths then name the full-size model exactly: the
cross-attention input (attn2.to_k) is 768 for SD1.5, 1024 for SD2 and 2048
for SDXL. Any other width is a custom-size model of that family (evalkit's
own tiny testbed is one), reported as such rather than refused.
The training metadata (ss_base_model_version, modelspec.architecture) is
compared with the inference and a disagreement becomes a warning.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

from evalkit.inspect.formats import LoraModuleTensors

CROSS_ATTENTION_DIMS = {"sd15": 768, "sd2": 1024, "sdxl": 2048}
TEXT_ENCODER_DIMS = {"sd15": {"te": 768}, "sd2": {"te": 1024}, "sdxl": {"te1": 768, "te2": 1280}}
SD2_TEXT_LAYERS = 23  # kohya drops the last of OpenCLIP-H's 24 layers

_LAYER = re.compile(r"encoder[._]layers[._](\d+)[._]")
_TRANSFORMER_BLOCK = re.compile(r"transformer_blocks[._](\d+)[._]")


@dataclass
class ArchitectureInfo:
    """The base model the LoRA fits, as inferred from keys and shapes."""

    family: str  # sd15 | sd2 | sdxl | unknown
    custom_size: bool = False  # the family's layout at non-standard widths (e.g. a tiny testbed model)
    cross_attention_dim: int | None = None
    text_encoder_dims: dict[str, int] = field(default_factory=dict)
    text_encoder_layers: dict[str, int] = field(default_factory=dict)
    linear_projection: bool | None = None  # proj_in is a Linear (SD2/SDXL) rather than a 1x1 conv (SD1)
    block_naming: str | None = None  # "diffusers" (down_blocks) or "sgm" (input_blocks)
    evidence: list[str] = field(default_factory=list)
    metadata_family: str | None = None
    metadata_source: str | None = None
    agrees_with_metadata: bool | None = None


def _flat(name: str) -> str:
    return name.replace(".", "_")


def _most_common(values: Iterable[int]) -> int | None:
    counts = Counter(values)
    return max(counts, key=lambda v: (counts[v], v)) if counts else None


def metadata_claims(metadata: dict[str, str]) -> list[tuple[str, str]]:
    """(family, "key=value") for every base-model field kohya and modelspec wrote, most specific first."""
    claims = []
    version = metadata.get("ss_base_model_version", "").strip()
    if version:
        family = next((f for p, f in (("sdxl", "sdxl"), ("sd_v2", "sd2"), ("sd_v1", "sd15")) if version.startswith(p)),
                      version)
        claims.append((family, f"ss_base_model_version={version}"))
    spec = metadata.get("modelspec.architecture", "").strip()
    if spec:
        family = next(
            (f for p, f in (("stable-diffusion-xl", "sdxl"), ("stable-diffusion-v2", "sd2"),
                            ("stable-diffusion-v1", "sd15")) if spec.startswith(p)),
            spec.split("/")[0],
        )
        claims.append((family, f"modelspec.architecture={spec}"))
    if not claims and metadata.get("ss_v2") == "True":
        claims.append(("sd2", "ss_v2=True"))
    return claims


def _measure(modules: list[LoraModuleTensors], info: ArchitectureInfo) -> None:
    info.cross_attention_dim = _most_common(
        m.in_features for m in modules if m.component == "unet" and re.search(r"attn2_to_[kv]$", _flat(m.name))
    )
    for component in sorted({m.component for m in modules} - {"unet"}):
        mine = [m for m in modules if m.component == component]
        width = _most_common(
            m.in_features for m in mine if re.search(r"(self_attn_[qkv]_proj|mlp_fc1)$", _flat(m.name))
        )
        if width:
            info.text_encoder_dims[component] = width
        layers = [int(match.group(1)) for m in mine if (match := _LAYER.search(_flat(m.name) + "_"))]
        if layers:
            info.text_encoder_layers[component] = max(layers) + 1
    proj_in = [m.kind for m in modules if m.component == "unet" and _flat(m.name).endswith("proj_in")]
    if proj_in:
        info.linear_projection = proj_in[0] == "linear"
    blocks = {m.block for m in modules if m.component == "unet"}
    if any(b.startswith(("input_blocks", "middle_block", "output_blocks")) for b in blocks):
        info.block_naming = "sgm"
    elif any(b.startswith(("down_blocks", "mid_block", "up_blocks")) for b in blocks):
        info.block_naming = "diffusers"


def _naming_group(modules: list[LoraModuleTensors], info: ArchitectureInfo) -> str:
    """'sdxl', 'sd1' (SD1.x or SD2: same names) or 'unknown', with the evidence."""
    components = {m.component for m in modules}
    names = [_flat(m.name) for m in modules if m.component == "unet"]
    if components & {"te1", "te2"}:
        info.evidence.append("two text encoders (te1/te2)")
        return "sdxl"
    if info.block_naming == "sgm":
        info.evidence.append("SGM block names (input_blocks/middle_block/output_blocks)")
        return "sdxl"
    if any(int(m.group(1)) > 0 for n in names if (m := _TRANSFORMER_BLOCK.search(n))):
        info.evidence.append("several transformer blocks per attention layer")
        return "sdxl"
    if info.block_naming == "diffusers" or "te" in components:
        if info.cross_attention_dim == CROSS_ATTENTION_DIMS["sdxl"]:
            info.evidence.append("diffusers block names with SDXL's cross-attention width")
            return "sdxl"
        info.evidence.append("SD1-style names (down_blocks/mid_block/up_blocks, one text encoder)")
        return "sd1"
    return "unknown"


def _pick_sd1_family(info: ArchitectureInfo, metadata_family: str | None) -> str:
    cross, te = info.cross_attention_dim, info.text_encoder_dims.get("te")
    for family in ("sd15", "sd2"):
        if cross == CROSS_ATTENTION_DIMS[family] or (cross is None and te == TEXT_ENCODER_DIMS[family]["te"]):
            return family
    if metadata_family in ("sd15", "sd2"):
        info.evidence.append(f"custom widths; metadata names {metadata_family}")
        return metadata_family
    if info.linear_projection is not None:
        info.evidence.append("proj_in is " + ("Linear (SD2-like)" if info.linear_projection else "a 1x1 conv (SD1-like)"))
        return "sd2" if info.linear_projection else "sd15"
    if info.text_encoder_layers.get("te") == SD2_TEXT_LAYERS:
        info.evidence.append(f"{SD2_TEXT_LAYERS} text-encoder layers")
        return "sd2"
    return "sd15"


def infer_architecture(
    modules: list[LoraModuleTensors], metadata: dict[str, str]
) -> tuple[ArchitectureInfo, list[str]]:
    """The base architecture and the warnings it raised."""
    info = ArchitectureInfo(family="unknown")
    warnings: list[str] = []
    claims = metadata_claims(metadata)
    if claims:
        info.metadata_family, info.metadata_source = claims[0]
    _measure(modules, info)
    group = _naming_group(modules, info)
    if group == "sd1":
        info.family = _pick_sd1_family(info, info.metadata_family)
    else:
        info.family = group
    if info.family == "unknown":
        warnings.append("could not infer the base architecture from the module names (not SD1.x/SD2/SDXL?)")
    else:
        if info.cross_attention_dim is not None:
            info.evidence.append(f"cross-attention width {info.cross_attention_dim}")
        standard_te = TEXT_ENCODER_DIMS[info.family]
        info.custom_size = (
            info.cross_attention_dim not in (None, CROSS_ATTENTION_DIMS[info.family])
            or any(standard_te.get(c) not in (None, w) for c, w in info.text_encoder_dims.items())
        )
    if claims:
        info.agrees_with_metadata = all(family == info.family for family, _ in claims)
    for family, source in claims:
        if family != info.family:
            warnings.append(
                f"metadata says {family} ({source}) but the keys and shapes say {info.family} "
                f"({'; '.join(info.evidence) or 'no evidence'})"
            )
    return info, warnings
