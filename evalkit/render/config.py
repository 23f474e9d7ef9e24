"""The render config: one place for everything that changes a rendered image.

Defaults match how our users generate: DPM-Solver++ 25 steps, CFG 7.5, the
base's native size (SD1.5 512x512, SDXL 1024x1024). A base folder may ship an
``evalkit.json`` with its own recommended settings, as the tiny testbed does.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

SAMPLERS = ("dpmsolver++", "euler_a", "ddim")


@dataclass(frozen=True)
class RenderConfig:
    sampler: str = "dpmsolver++"
    steps: int = 25
    guidance: float = 7.5
    width: int = 512
    height: int = 512
    dtype: str = "auto"  # fp16 on CUDA, fp32 on CPU
    clip_skip: int | None = None
    lora_scale: float = 1.0
    fuse_lora: bool = True  # merged weights render ~2x faster; numerics differ slightly, hence in the key
    batch_size: int = 8  # never changes an image: one generator per image
    compile: bool = False  # torch.compile the UNet (GPU; ~1 min once per run); fused kernels round differently, hence in the key

    def key(self) -> str:
        """Hash of the settings that change pixels (batch size does not)."""
        d = asdict(self)
        d.pop("batch_size")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        return asdict(self)


def config_for_base(base_dir: Path | None, native_size: int, **overrides) -> RenderConfig:
    cfg = RenderConfig(width=native_size, height=native_size)
    shipped = base_dir / "evalkit.json" if base_dir else None
    if shipped and shipped.is_file():
        known = {f.name for f in fields(RenderConfig)}
        cfg = replace(cfg, **{k: v for k, v in json.loads(shipped.read_text()).get("render", {}).items() if k in known})
    return replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
