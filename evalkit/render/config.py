"""The render config: one place for everything that changes a rendered image.

Defaults match how our users generate: DPM-Solver++ 25 steps, CFG 7.5, the
base's native size (SD1.5 512x512, SDXL 1024x1024). Layered, later wins: the
family's defaults, then what the LoRA's kohya metadata says it was trained
with (``ss_clip_skip``, ``ss_max_token_length``), then the base folder's
``evalkit.json`` (its recommended settings, as the tiny testbed ships), then
the command line, then a prompt's own settings (a kohya sample-prompt line's
``--w``/``--h``/``--s``/``--l``/``--ss``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from evalkit.errors import EvalkitError

from evalkit.golden.kohya_samplers import SAMPLERS, check_sampler  # noqa: F401 (re-exported)


@dataclass(frozen=True)
class RenderConfig:
    sampler: str = "dpmsolver++"
    steps: int = 25
    guidance: float = 7.5
    width: int = 512
    height: int = 512
    dtype: str = "auto"  # fp16 on CUDA, fp32 on CPU
    clip_skip: int | None = None  # kohya's meaning: 2 = penultimate layer (diffusers' clip_skip + 1); None = last
    max_token_length: int | None = None  # 150/225: prompts in 75-token windows as sd-scripts trains; None = 77
    lora_scale: float = 1.0
    fuse_lora: bool = True  # merged weights render ~2x faster; numerics differ slightly, hence in the key
    batch_size: int = 8  # never changes an image: one generator per image
    compile: bool = False  # torch.compile the UNet (GPU; ~1 min once per run); fused kernels round differently, hence in the key

    def key(self) -> str:
        """Hash of the settings that change pixels (batch size does not)."""
        d = asdict(self)
        d.pop("batch_size")
        if d["max_token_length"] is None:  # keys of renders made before the option existed stay valid
            d.pop("max_token_length")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        return asdict(self)


def config_for_base(base_dir: Path | None, native_size: int, lora_defaults: dict | None = None,
                    **overrides) -> RenderConfig:
    cfg = RenderConfig(width=native_size, height=native_size)
    cfg = replace(cfg, **{k: v for k, v in (lora_defaults or {}).items() if v is not None})
    shipped = base_dir / "evalkit.json" if base_dir else None
    if shipped and shipped.is_file():
        known = {f.name for f in fields(RenderConfig)}
        cfg = replace(cfg, **{k: v for k, v in json.loads(shipped.read_text()).get("render", {}).items() if k in known})
    return checked(replace(cfg, **{k: v for k, v in overrides.items() if v is not None}))


def lora_render_defaults(info) -> dict:
    """What a kohya LoRA's metadata says about how it was trained to be prompted."""
    prov = getattr(info, "provenance", None)
    if prov is None:
        return {}
    # sd-scripts encodes SDXL at fixed layers and ignores clip skip there.
    clip_skip = None if getattr(info, "family", "") == "sdxl" else prov.clip_skip
    return {"clip_skip": clip_skip, "max_token_length": prov.max_token_length}


def checked(cfg: RenderConfig, where: str | None = None) -> RenderConfig:
    """The config with equivalent settings made equal (so their renders share a key), or a one-line error."""
    from evalkit.render.prompt_encoding import CHUNK, validate_max_token_length

    check_sampler(cfg.sampler, where)
    max_len = validate_max_token_length(cfg.max_token_length, where or "max token length")
    clip_skip = cfg.clip_skip
    if clip_skip is not None and (not isinstance(clip_skip, int) or isinstance(clip_skip, bool) or clip_skip < 1):
        raise EvalkitError(where or "clip skip", f"{clip_skip!r} is not a clip skip (kohya's meaning: 1 = last layer, 2 = penultimate, ...)")
    if not isinstance(cfg.steps, int) or isinstance(cfg.steps, bool) or cfg.steps < 1:
        raise EvalkitError(where or "steps", f"{cfg.steps!r} is not a positive number of steps")
    for name in ("width", "height"):  # 0 is distributed.py's placeholder when only the batch size is wanted
        value = getattr(cfg, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value % 8:
            raise EvalkitError(where or name, f"{name} {value!r} is not a multiple of 8 pixels")
    return replace(cfg, max_token_length=None if max_len == CHUNK else max_len,
                   clip_skip=None if clip_skip == 1 else clip_skip)


def prompt_config(cfg: RenderConfig, prompt) -> RenderConfig:
    """The run's config with a prompt's own settings (a kohya sample-prompt line's flags) on top."""
    settings = dict(getattr(prompt, "settings", ()) or ())
    return replace(cfg, **settings) if settings else cfg
