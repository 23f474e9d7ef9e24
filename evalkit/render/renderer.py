"""Render a prompt suite through one checkpoint: cached, batched, one generator per image.

torch is imported only where something renders: a fully cached run (every image in the cache)
goes through `render_suite` without it, saving its import (~1.5 s of a 3 s re-run on a CPU).
"""

from __future__ import annotations

import platform
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from evalkit.errors import EvalkitError
from evalkit.render.cache import Render, RenderCache
from evalkit.render.config import SAMPLERS, RenderConfig, prompt_config

SCHEDULERS = SAMPLERS  # sd-scripts' sampler names -> diffusers schedulers (config.py)


def environment(device: str) -> dict:
    import diffusers
    import torch

    gpu = torch.cuda.get_device_name() if device.startswith("cuda") and torch.cuda.is_available() else None
    return {"torch": torch.__version__, "diffusers": diffusers.__version__, "device": device, "gpu": gpu,
            "python": platform.python_version()}


def set_sampler(pipe, sampler: str) -> None:
    import diffusers

    name, extra = SCHEDULERS[sampler]
    pipe.scheduler = getattr(diffusers, name).from_config(pipe.scheduler.config, **extra)


@dataclass
class RenderJob:
    checkpoint_sha: str
    base_label: str
    config: RenderConfig
    device: str
    rendered: int = 0
    cached: int = 0
    seconds: float = 0.0
    renders: list[Render] = field(default_factory=list)
    # Which text encoder the LoRA leaves: "base" when it trains none, so text
    # embeddings are reused across checkpoints (text_cache.py).
    text_encoder_key: str = "base"
    base_fingerprint: str = ""  # content of a local base (base_identity.py): a base retrained in place misses the cache

    @property
    def base_key(self) -> str:
        """What the cache folder is keyed on: the base's name and, for a local base, its content."""
        return f"{self.base_label}@{self.base_fingerprint}" if self.base_fingerprint else self.base_label


def cache_slot(cache: RenderCache, job: RenderJob, prompt, seed: int) -> tuple[Path, str]:
    """(PNG path, digest) of one (prompt, seed): in the folder of the prompt's own config."""
    folder = cache.folder(job.checkpoint_sha, job.base_key, prompt_config(job.config, prompt).key())
    return cache.key(folder, prompt.id, prompt.text, prompt.negative, seed)


def render_suite(pipe, prompts, job: RenderJob, cache: RenderCache, progress: bool = True) -> RenderJob:
    todo, by_slot = [], {}
    for p in prompts:
        for seed in p.seeds:
            path, digest = cache_slot(cache, job, p, seed)
            hit = cache.get(path, digest)
            if hit:
                by_slot[(p.id, seed)] = hit
                job.cached += 1
            else:
                todo.append((p, seed, path, digest))
    refuse = getattr(pipe, "refuse_renders", None)  # --score-only's stand-in names what is missing
    if todo and refuse is not None:
        refuse([(p.id, seed) for p, seed, *_ in todo], len(todo) + job.cached)
    # Prompts with their own size/steps/sampler render in batches of their own config.
    groups: dict[str, tuple[RenderConfig, list]] = {}
    for item in todo:
        cfg = prompt_config(job.config, item[0])
        groups.setdefault(cfg.key(), (cfg, []))[1].append(item)
    for cfg, items in groups.values():
        _render_group(pipe, items, cfg, job, cache, by_slot, progress)
    job.renders = [by_slot[(p.id, s)] for p in prompts for s in p.seeds]
    return job


def _render_group(pipe, todo, cfg: RenderConfig, job: RenderJob, cache: RenderCache, by_slot: dict, progress: bool) -> None:
    if not todo:
        return
    import torch

    set_sampler(pipe, cfg.sampler)
    env = environment(job.device)
    start = time.time()
    bar = _bar(len(todo), progress, job)
    batch = cfg.batch_size
    i = 0
    # PNG encoding (~20 ms per 512px image) runs in writer threads while the GPU
    # renders the next batch; zlib releases the GIL.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="evalkit-png") as writer:
        pending = []
        try:
            while i < len(todo):
                chunk = todo[i : i + batch]
                # A compiled UNet recompiles for every new batch shape (a minute each), so a
                # short last batch is padded with repeats whose images are dropped.
                padded = chunk + [chunk[-1]] * (batch - len(chunk)) if cfg.compile else chunk
                try:
                    images = render_batch(pipe, padded, cfg, job.device, job.text_encoder_key)[: len(chunk)]
                except torch.OutOfMemoryError:
                    torch.cuda.empty_cache()
                    if batch == 1:
                        raise EvalkitError(job.checkpoint_sha[:12], "out of GPU memory even at batch 1; "
                                           f"{job.rendered} images already rendered stay cached") from None
                    batch = max(1, batch // 2)
                    continue
                for (p, seed, path, digest), img in zip(chunk, images):
                    meta = {"prompt_id": p.id, "seed": seed, "prompt": p.text, "negative": p.negative,
                            "checkpoint_sha256": job.checkpoint_sha, "base": job.base_label,
                            "base_fingerprint": job.base_fingerprint,
                            "config": cfg.to_dict(), "config_key": cfg.key(), **env,
                            **_seen_codes(pipe, p.text, cfg.max_token_length)}
                    pending.append(((p.id, seed), writer.submit(cache.put, path, digest, img, meta)))
                    job.rendered += 1
                i += len(chunk)
                if bar:
                    bar.update(len(chunk))
                    bar.set_postfix(img_s=f"{job.rendered / max(time.time() - start, 1e-9):.2f}")
        finally:
            # Whatever happens, every image already rendered reaches the cache.
            for slot, future in pending:
                by_slot[slot] = future.result()
    if bar:
        bar.close()
    job.seconds += time.time() - start


def _seen_codes(pipe, text: str, max_token_length) -> dict:
    """{"hex_codes_seen": [...]}: the prompt's hex codes that fit in what the text encoder read."""
    from evalkit.render.prompt_encoding import hex_codes_seen

    tokenizer = getattr(pipe, "tokenizer", None)
    return {"hex_codes_seen": hex_codes_seen(tokenizer, text, max_token_length)} if tokenizer is not None else {}


def _bar(total, progress, job):
    if not progress or not total:
        return None
    if callable(progress):  # the gate's own line (evalkit/gate/progress.py): progress(total) -> a tqdm-like bar
        return progress(total)
    from tqdm import tqdm

    return tqdm(total=total, desc=f"render {job.checkpoint_sha[:8]}", unit="img", leave=False)


def render_batch(pipe, chunk, cfg: RenderConfig, device: str, text_encoder_key: str = "base") -> list[np.ndarray]:
    """Images (H, W, 3) uint8 for ``chunk``, a list of (prompt, seed, ...) tuples, in one pipeline call."""
    import torch

    with torch.no_grad():
        return _render_batch(pipe, chunk, cfg, device, text_encoder_key)


def _render_batch(pipe, chunk, cfg: RenderConfig, device: str, text_encoder_key: str) -> list[np.ndarray]:
    import torch

    from evalkit.render.text_cache import embeddings_for

    # One generator per image: an image depends on its own seed only, never on
    # what else shares its batch.
    gen_device = "cpu" if device == "cpu" else device
    generators = [torch.Generator(gen_device).manual_seed(seed) for _, seed, *_ in chunk]
    texts = [(p.text, p.negative) for p, *_ in chunk]
    cache = embeddings_for(pipe)
    if cache is not None:
        text = cache.call_kwargs(pipe, texts, cfg.clip_skip, cfg.guidance > 1, pipe.device, text_encoder_key,
                                 max_token_length=cfg.max_token_length)
    else:  # diffusers' clip_skip is kohya's minus one
        text = {"prompt": [t for t, _ in texts], "negative_prompt": [n for _, n in texts],
                "clip_skip": cfg.clip_skip - 1 if cfg.clip_skip else None}
    out = pipe(
        **text,
        num_inference_steps=cfg.steps,
        guidance_scale=cfg.guidance,
        height=cfg.height,
        width=cfg.width,
        generator=generators,
        output_type="pt",
    ).images
    if not bool(torch.isfinite(out).all()):  # e.g. fp16 overflow: a black image must never reach the cache
        raise EvalkitError(job_name(chunk), "the pipeline returned NaN/Inf pixels (fp16 overflow or non-finite "
                                            "weights); the images are not cached")
    # Quantise on the device: a uint8 copy is a quarter of a float one to move.
    out = (out.float() * 255).round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return list(out)


def job_name(chunk) -> str:
    p, seed, *_ = chunk[0]
    return f"{p.id} seed {seed}"


def torch_dtype(cfg: RenderConfig, device: str):
    import torch

    if cfg.dtype == "auto":
        return torch.float16 if device.startswith("cuda") else torch.float32
    return {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[cfg.dtype]


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
