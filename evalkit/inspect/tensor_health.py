"""Is the LoRA numerically sound? NaN/Inf counts, untrained modules, weight norms.

kohya initialises every lora_up to zeros, so a module whose up weight is
still all zero was never trained, and a file where all of them are zero does
nothing at all. The norm reported per module is the Frobenius norm of the
weight delta scale * up @ down, the quantity kohya's --scale_weight_norms
caps. It is computed from two rank x rank Gram matrices, so it costs almost
nothing even for SDXL-sized modules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from evalkit.inspect.formats import LoraModuleTensors
from evalkit.inspect.network import block_sort_key
from evalkit.inspect.safetensors_header import SafetensorsFile, can_decode

LISTED_MODULES = 20  # how many offending module names the record lists


@dataclass
class TensorHealth:
    """Numerical health of the LoRA weights."""

    checked_modules: int
    nan_count: int
    inf_count: int
    nonfinite_modules: list[str]  # first LISTED_MODULES modules holding NaN/Inf
    zero_up_modules: int  # modules whose lora_up is all zero (untrained)
    untrained: bool  # every lora_up is all zero: the LoRA changes nothing
    max_delta_norm: float | None  # largest ||scale * up @ down||_F over all modules
    max_delta_norm_module: str | None
    block_max_delta_norm: dict[str, float] = field(default_factory=dict)
    skipped_modules: list[str] = field(default_factory=list)  # dtypes numpy cannot decode (fp8)

    @property
    def ok(self) -> bool:
        return self.nan_count == 0 and self.inf_count == 0 and not self.untrained


def delta_norm(up: np.ndarray, down: np.ndarray) -> float:
    """||up @ down||_F without forming the product: trace((UᵀU)(DDᵀ))."""
    u = up.reshape(up.shape[0], -1).astype(np.float64)  # [out, r] (1x1 conv kernels flattened away)
    d = down.reshape(down.shape[0], -1).astype(np.float64)  # [r, in * k * k]
    return math.sqrt(max(float(np.sum((u.T @ u) * (d @ d.T))), 0.0))


def check_tensor_health(
    st: SafetensorsFile, modules: list[LoraModuleTensors], scales: dict[str, float]
) -> tuple[TensorHealth, list[str]]:
    """Read every module's weights once and summarise; `scales` maps module name to alpha/rank."""
    nan = inf = zero_up = checked = 0
    nonfinite: list[str] = []
    skipped: list[str] = []
    best: tuple[float, str] | None = None
    per_block: dict[str, float] = {}
    for module in modules:
        if not (can_decode(module.down.dtype) and can_decode(module.up.dtype)):
            skipped.append(module.name)
            continue
        down, up = st.read_array(module.down), st.read_array(module.up)
        checked += 1
        bad_nan = int(np.isnan(down).sum() + np.isnan(up).sum())
        bad_inf = int(np.isinf(down).sum() + np.isinf(up).sum())
        nan, inf = nan + bad_nan, inf + bad_inf
        if bad_nan or bad_inf:
            nonfinite.append(module.name)
            continue
        if not up.any():
            zero_up += 1
        with np.errstate(over="ignore", invalid="ignore"):
            norm = delta_norm(up, down) * abs(scales.get(module.name, 1.0))
        if not math.isfinite(norm):
            continue
        per_block[module.block] = max(per_block.get(module.block, 0.0), norm)
        if best is None or norm > best[0]:
            best = (norm, module.name)
    health = TensorHealth(
        checked_modules=checked,
        nan_count=nan,
        inf_count=inf,
        nonfinite_modules=nonfinite[:LISTED_MODULES],
        zero_up_modules=zero_up,
        untrained=checked > 0 and zero_up == checked,
        max_delta_norm=best[0] if best else None,
        max_delta_norm_module=best[1] if best else None,
        block_max_delta_norm={b: per_block[b] for b in sorted(per_block, key=block_sort_key)},
        skipped_modules=skipped[:LISTED_MODULES],
    )
    return health, _warnings(health)


def _warnings(health: TensorHealth) -> list[str]:
    warnings = []
    if health.nan_count or health.inf_count:
        warnings.append(
            f"{health.nan_count} NaN and {health.inf_count} Inf values in {len(health.nonfinite_modules)}"
            f"{'+' if len(health.nonfinite_modules) == LISTED_MODULES else ''} modules "
            f"(e.g. {health.nonfinite_modules[0]}): the training diverged"
        )
    if health.untrained:
        warnings.append("every lora_up weight is zero: this LoRA was never trained and changes nothing")
    elif health.zero_up_modules:
        warnings.append(f"{health.zero_up_modules} modules have an all-zero lora_up (untrained modules)")
    if health.skipped_modules:
        warnings.append(f"{len(health.skipped_modules)} modules use a dtype evalkit cannot decode; not checked")
    return warnings
