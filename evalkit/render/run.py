"""Render one checkpoint's prompt suite: inspect -> base -> attach -> cached renders.

The gate, `evalkit render` and the testbed tests all call `render_checkpoint`,
so there is one way a checkpoint becomes images. The base pipeline is loaded
once per base and reused across checkpoints (LoRAs are taken off in between):
a `PipelineCache` the caller holds (the gate session holds one per run; other
callers share `_PIPELINES`), with one `LoraSlot` per pipeline that owns what
is on it.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from evalkit.inspect.cache import inspect_cached
from evalkit.render.base_identity import base_fingerprint
from evalkit.render.base_model import load_pipeline, native_size, resolve_base
from evalkit.render.cache import RenderCache
from evalkit.render.config import config_for_base, lora_render_defaults
from evalkit.render.renderer import RenderJob, cache_slot, default_device, render_suite, torch_dtype

# torch, diffusers and the LoRA loaders (lora_slot) are imported only once something must render:
# a fully cached re-run never pays for them.

class PipelineCache(dict):
    """Loaded base pipelines, (base ref, device, dtype, compiled) -> the pipeline's LoraSlot (`.pipe`):
    each loads once per holder, and its slot is the one owner of what is on it. ``clock`` (the gate's
    `evalkit.timing.StageClock`) is charged for base loads, LoRA swaps and renders."""

    def __init__(self, clock=None):
        from evalkit.timing import NO_CLOCK

        super().__init__()
        self.clock = clock or NO_CLOCK

    def slot(self, ref, device, lora_scale, overrides):
        """The `LoraSlot` of ``ref``'s pipeline on ``device``, loading it the first time."""
        with self.clock.stage("load base"):  # the first imports of torch and the LoRA loaders land here too
            from evalkit.render.config import RenderConfig
            from evalkit.render.lora_slot import LoraSlot

            dtype = torch_dtype(RenderConfig(dtype=overrides.get("dtype") or "auto"), device)
            compiled = bool(overrides.get("compile"))
            key = (ref, device, str(dtype), compiled)
            if key not in self:
                pipe = load_pipeline(ref, device, dtype)
                if compiled:
                    compile_unet(pipe)
                self[key] = LoraSlot(pipe)
        return self[key]


_PIPELINES = PipelineCache()
# The cache folder of renders made with no LoRA on (in place of a checkpoint's sha256).
BASE_ALONE = "base-alone"  # for callers that hold none (`evalkit render`, the tests)


def render_checkpoint(checkpoint: Path, prompts, reports_dir: Path, *, base_model: str | None = None,
                      base_config: str | None = None, device: str | None = None, lora_scale: float = 1.0,
                      score_only: bool = False, progress: bool = True, pipelines: PipelineCache | None = None,
                      with_lora: bool = True, **config_overrides) -> tuple[RenderJob, object]:
    """Returns (job with .renders in prompt/seed order, CheckpointInfo).

    ``with_lora=False`` renders the checkpoint's base alone, at the checkpoint's own render
    config (its metadata's clip skip and token length), so each of its renders has a twin
    that differs only by the LoRA (gate/base_compare.py); cached under `BASE_ALONE`.
    """
    pipelines = _PIPELINES if pipelines is None else pipelines
    with loaded_checkpoint(checkpoint, reports_dir, base_model=base_model, base_config=base_config, device=device,
                           lora_scale=lora_scale, score_only=score_only, prompts=prompts, pipelines=pipelines,
                           with_lora=with_lora, **config_overrides) as (pipe, job, cache, info):
        with pipelines.clock.stage("render"):
            return render_suite(pipe, prompts, job, cache, progress), info


def all_cached(job: RenderJob, cache: RenderCache, prompts) -> bool:
    return all(cache.get(*cache_slot(cache, job, p, seed)) for p in prompts for seed in p.seeds)


@contextmanager
def loaded_checkpoint(checkpoint: Path, reports_dir: Path, *, base_model: str | None = None,
                      base_config: str | None = None, device: str | None = None, lora_scale: float = 1.0,
                      score_only: bool = False, prompts=None, pipelines: PipelineCache | None = None,
                      with_lora: bool = True, **config_overrides):
    """(pipeline with the LoRA on, empty job, cache, CheckpointInfo); the LoRA comes off on exit.

    Under ``score_only`` the pipeline is a stand-in that refuses to render, and
    no weights are loaded when the base folder tells its native size. So it is
    when ``prompts`` are given and every one of their renders is already cached
    (a re-run with new thresholds).
    """
    checkpoint = Path(checkpoint)
    pipelines = _PIPELINES if pipelines is None else pipelines
    clock = pipelines.clock
    with clock.stage("inspect"):  # hashes the file; its tensors are decoded (NaN/Inf check) once per content
        info = inspect_cached(checkpoint, Path(reports_dir) / "cache", require_supported=True)
    refuse_non_finite(checkpoint, info, lora_scale)
    ref = resolve_base(base_model, checkpoint, info.family, info.metadata.get("ss_sd_model_name"), base_config)
    # The folder that describes the base: its own, or a single file's --base-config folder
    # (native size, and an evalkit.json with the model's recommended render settings).
    base_dir = Path(ref.location) if ref.kind == "dir" else Path(ref.config_dir) if ref.config_dir else None
    cache = RenderCache(Path(reports_dir) / "cache")
    # The config needs the base's native size; read it from the folder when we can
    # so a score-only run never loads weights.
    size = _native_size_from_folder(base_dir)
    slot = None
    if size is None:
        device = device or default_device()
        slot = pipelines.slot(ref, device, lora_scale, config_overrides)
        size = native_size(slot.pipe)
    cfg = config_for_base(base_dir, size, lora_render_defaults(info), lora_scale=lora_scale, **config_overrides)
    # The device is only asked of torch when something renders (below); a cached job names none.
    job = RenderJob(info.hashes.sha256 if with_lora else BASE_ALONE, ref.label, cfg, device or "",
                    base_fingerprint=base_fingerprint(ref.kind, ref.location))
    if with_lora and info.network is not None and info.network.trains_text_encoder:
        job.text_encoder_key = f"{info.hashes.sha256}@{lora_scale}"
    if score_only or (prompts is not None and all_cached(job, cache, prompts)):
        yield _NoPipeline(checkpoint), job, cache, info
        return
    job.device = device = device or default_device()
    slot = slot or pipelines.slot(ref, device, lora_scale, config_overrides)
    if not with_lora:
        with clock.stage("swap LoRA"):
            slot.take_off()  # nothing on: the base alone
        yield slot.pipe, job, cache, info
        return
    with clock.stage("swap LoRA"):
        slot.put_on(checkpoint, info, scale=lora_scale, fused=cfg.fuse_lora)
    try:
        yield slot.pipe, job, cache, info
    finally:
        with clock.stage("swap LoRA"):
            slot.take_off()


def refuse_non_finite(checkpoint: Path, info, lora_scale: float) -> None:
    """NaN/Inf weights (a diverged training) or scale render black images that would score 0.000 and
    be cached as if real: say so, in one line, before anything renders."""
    import math

    from evalkit.errors import EvalkitError

    if not math.isfinite(lora_scale):
        raise EvalkitError("--lora-scale", f"is {lora_scale}: must be a finite number")
    h = info.health
    if h is not None and (h.nan_count or h.inf_count):
        raise EvalkitError(checkpoint, f"has {h.nan_count} NaN and {h.inf_count} Inf weights "
                                       f"(e.g. in {h.nonfinite_modules[0]}): the training diverged, its renders "
                                       "would be black; not rendered")


def compile_unet(pipe, channels_last: bool = False) -> None:
    """torch.compile the UNet and the VAE decoder once per run. Checkpoints switch by
    merging weights in place (merge.py), so the module tree never changes and
    nothing recompiles.

    Weights stay in the default (contiguous) layout: on an H200, eager SD1.5 and
    SDXL UNets ran 10% and 5% slower in channels-last, compiled SD1.5 the same
    within noise, and inductor picks conv layouts itself (bench/render_speed.md).
    """
    import torch

    persistent_compile_cache(pipe.device)
    if channels_last:
        pipe.unet.to(memory_format=torch.channels_last)
        pipe.vae.to(memory_format=torch.channels_last)
    pipe.unet = torch.compile(pipe.unet, fullgraph=True, dynamic=False)
    pipe.vae.decoder = torch.compile(pipe.vae.decoder, dynamic=False)


def persistent_compile_cache(device=None) -> Path | None:
    """Keep torch.compile's inductor caches (FX graph cache, AOTAutograd cache, generated kernels) in the
    user's cache dir instead of /tmp, so a machine that compiled once compiles from cache on the next run:
    ``$XDG_CACHE_HOME`` (else ``~/.cache``) ``/evalkit/inductor/torch-<version>-<gpu>``; inductor keys
    each graph by its shapes inside. A ``TORCHINDUCTOR_CACHE_DIR`` the user set wins; an unwritable
    home leaves torch's default. Returns the folder used, or None. (Not measured on a GPU yet.)"""
    import os
    import re

    import torch

    if os.environ.get("TORCHINDUCTOR_CACHE_DIR"):
        return None
    gpu = "cpu"
    if device is not None and torch.device(device).type == "cuda" and torch.cuda.is_available():
        gpu = re.sub(r"[^a-z0-9]+", "-", torch.cuda.get_device_name(torch.device(device)).lower()).strip("-")
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    folder = root / "evalkit" / "inductor" / re.sub(r"[^A-Za-z0-9.+-]+", "-", f"torch-{torch.__version__}-{gpu}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(folder)
    import torch._functorch.config as functorch_config
    import torch._inductor.config as inductor_config

    inductor_config.fx_graph_cache = True
    if hasattr(functorch_config, "enable_autograd_cache"):
        functorch_config.enable_autograd_cache = True
    return folder


def _native_size_from_folder(base_dir: Path | None) -> int | None:
    import json

    if base_dir is None:
        return None
    try:
        unet = json.loads((base_dir / "unet" / "config.json").read_text())
        vae = json.loads((base_dir / "vae" / "config.json").read_text())
        return int(unet["sample_size"]) * 2 ** (len(vae["block_out_channels"]) - 1)
    except (OSError, KeyError, ValueError):
        return None


class _NoPipeline:
    """Stands in for a pipeline under --score-only: any render that is not cached is an error."""

    def __init__(self, checkpoint):
        self.checkpoint = checkpoint

    def refuse_renders(self, missing: list[tuple[str, int]], total: int):
        from evalkit.errors import EvalkitError

        shown = ", ".join(f"{prompt_id} seed {seed}" for prompt_id, seed in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise EvalkitError(self.checkpoint, f"--score-only but {len(missing)} of {total} renders are not in the cache "
                                            f"({shown}{more}); render them first (`evalkit render`) or run without it")
