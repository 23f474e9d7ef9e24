"""Rank, alpha and coverage of a LoRA: what the run table calls "network_dim".

Per module, rank is lora_down's first dimension and alpha the stored `.alpha`
(kohya's rule: a missing or zero alpha means alpha = rank). The summary gives
the common value and the full distribution, because resize_lora.py and
block-wise dims produce files whose modules disagree.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

from evalkit.inspect.formats import LoraModuleTensors

COMPONENT_ORDER = ("unet", "te", "te1", "te2")


@dataclass
class ModuleInfo:
    """One LoRA module, with the numbers the renderer needs to check its scale."""

    name: str
    component: str
    block: str
    kind: str  # linear | conv1x1 | conv
    in_features: int
    out_features: int
    kernel_size: int  # 0 for Linear
    rank: int
    alpha: float
    alpha_stored: bool
    scale: float  # alpha / rank
    dtype: str


@dataclass
class NetworkInfo:
    """Rank/alpha summary and which parts of the model the LoRA trains."""

    module_count: int
    rank: int  # most common rank of the Linear/1x1 modules (kohya's network_dim)
    alpha: float  # most common alpha of those modules (kohya's network_alpha)
    scale: float  # alpha / rank of the common values
    rank_distribution: dict[int, int]
    alpha_distribution: dict[float, int]
    mixed_ranks: bool
    conv_rank: int | None  # most common rank of k x k conv modules (kohya's conv_dim), if any
    conv_alpha: float | None
    alpha_stored: bool  # every module stores its alpha
    trained_parts: list[str]  # "unet", "te" / "te1", "te2"
    trains_unet: bool
    trains_text_encoder: bool
    module_counts: dict[str, int]  # per component
    block_counts: dict[str, int]  # per UNet block and text encoder
    modules: list[ModuleInfo] = field(default_factory=list)


def natural_key(text: str) -> tuple:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text))


def block_sort_key(block: str) -> tuple:
    order = {"down_blocks": 0, "input_blocks": 0, "mid_block": 1, "middle_block": 1, "up_blocks": 2,
             "output_blocks": 2, "other": 3}
    family = re.sub(r"_\d+$", "", block)
    if family in order:
        return (0, order[family], natural_key(block))
    component = COMPONENT_ORDER.index(block) if block in COMPONENT_ORDER else len(COMPONENT_ORDER)
    return (1, component, natural_key(block))


def _common(counts: Counter):
    return max(counts, key=lambda v: (counts[v], v)) if counts else None


def _parse_number(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def summarise_network(
    modules: list[LoraModuleTensors], stored_alphas: dict[str, float], metadata: dict[str, str]
) -> tuple[NetworkInfo, list[str]]:
    """`stored_alphas` maps module name to the alpha read from the file (or adapter metadata)."""
    warnings: list[str] = []
    infos: list[ModuleInfo] = []
    zero_alpha, bad_alpha = [], []
    for m in modules:
        stored = stored_alphas.get(m.name)
        if stored == 0:
            zero_alpha.append(m.name)
        elif stored is not None and not math.isfinite(stored):
            bad_alpha.append(m.name)
        alpha = float(m.rank) if stored is None or stored == 0 or not math.isfinite(stored) else stored
        infos.append(ModuleInfo(
            m.name, m.component, m.block, m.kind, m.in_features, m.out_features, m.kernel_size,
            m.rank, alpha, stored is not None, alpha / m.rank, m.down.dtype,
        ))
    if bad_alpha:
        warnings.append(f"{len(bad_alpha)} modules store a NaN/Inf alpha (e.g. {bad_alpha[0]}); read as alpha = rank")
    infos.sort(key=lambda i: (block_sort_key(i.block), natural_key(i.name)))
    if zero_alpha:
        warnings.append(
            f"{len(zero_alpha)} modules store alpha 0 (e.g. {zero_alpha[0]}): kohya reads that as alpha = rank, "
            "but diffusers applies scale 0, so the LoRA would do nothing there"
        )

    main = [i for i in infos if i.kind != "conv"] or infos
    convs = [i for i in infos if i.kind == "conv"]
    ranks = Counter(i.rank for i in main)
    alphas = Counter(i.alpha for i in main)
    rank, alpha = _common(ranks), _common(alphas)
    parts = [c for c in COMPONENT_ORDER if any(i.component == c for i in infos)]
    blocks = Counter(i.block for i in infos)
    info = NetworkInfo(
        module_count=len(infos),
        rank=rank,
        alpha=alpha,
        scale=alpha / rank,
        rank_distribution=dict(sorted(Counter(i.rank for i in infos).items())),
        alpha_distribution=dict(sorted(Counter(i.alpha for i in infos).items())),
        mixed_ranks=len({i.rank for i in infos}) > 1,
        conv_rank=_common(Counter(i.rank for i in convs)),
        conv_alpha=_common(Counter(i.alpha for i in convs)),
        alpha_stored=all(i.alpha_stored for i in infos),
        trained_parts=parts,
        trains_unet="unet" in parts,
        trains_text_encoder=any(p != "unet" for p in parts),
        module_counts={c: sum(i.component == c for i in infos) for c in parts},
        block_counts={b: blocks[b] for b in sorted(blocks, key=block_sort_key)},
        modules=infos,
    )
    warnings += _compare_with_metadata(info, metadata)
    return info, warnings


def _compare_with_metadata(info: NetworkInfo, metadata: dict[str, str]) -> list[str]:
    warnings = []
    for key, measured, what in (
        ("ss_network_dim", info.rank, "rank"), ("ss_network_alpha", info.alpha, "alpha"),
    ):
        raw = metadata.get(key)
        if raw is None or raw.strip() in ("", "None", "Dynamic"):
            continue
        claimed = _parse_number(raw)
        if claimed is None:
            warnings.append(f"{key}={raw!r} is not a number")
        elif not math.isclose(claimed, measured, rel_tol=1e-3, abs_tol=1e-6):
            warnings.append(f"{key}={raw} but the most common {what} in the tensors is {measured:g}")
    return warnings
