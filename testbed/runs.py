"""LoRAs mirroring our users' six runs (and the planned seventh, and an over-fitted one).

`configs.USER_RUNS` has one row per run of ../shared/reference/users-runs.md:
base family, network_dim/alpha, caption version and start time are our
users'. What went wrong in each run is induced by its training data (photo
drift, hue shift, too few steps, 8 images), because a tiny model cannot show
that dim or caption length *cause* anything: the testbed simulates the
matrix our users ran so evalkit's attribution can be checked on it, no more.

Every run is encoded as sd-scripts encodes with ``--max_token_length=225``
(`testbed.text`), and writes the ``ss_*`` metadata sd-scripts writes, so
evalkit detects caption version, dim and family from the files alone.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from testbed import configs, data
from testbed.lora import apply_lora, kohya_state_dict
from testbed.text import CaptionEncoder

MAX_TOKEN_LENGTH = 225
LEARNING_RATE = 5e-4


def run_dataset(kind: str, punks, vae, device, seed: int) -> tuple[torch.Tensor, np.ndarray]:
    """(latents, indices of the punks whose captions go with them) for a run's training data."""
    from testbed.train import encode, lora_dataset

    if kind == "overfit":
        idx = np.random.default_rng(seed).choice(len(punks), configs.OVERFIT_PUNKS, replace=False)
        return lora_dataset("punks", punks[idx], vae, device), idx
    if kind == "photoreal_mild":  # half the images drifted: the partial success of run 3
        lat = lora_dataset("punks", punks, vae, device)
        half = np.arange(0, len(punks), 2)
        lat[half] = lora_dataset("photoreal", punks[half], vae, device)
        return lat, np.arange(len(punks))
    return lora_dataset(kind, punks, vae, device), np.arange(len(punks))


def lora_step(pipe, text, sched, latents, ids, opt, batch: int, device):
    """One optimiser step of a run's LoRA on a random batch (5% empty captions, for guidance); the loss."""
    from testbed.train import caption_batch, denoise_loss

    rows = np.random.randint(0, len(latents), batch)
    loss = denoise_loss(pipe.unet, text, sched, latents[rows], caption_batch(None, ids, rows, 0.05), device)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss


def load_base(base_dir: Path, device):
    from diffusers import DiffusionPipeline

    return DiffusionPipeline.from_pretrained(base_dir, torch_dtype=torch.float32).to(device)


def train_user_runs(punks, caps, out: Path, device, steps, batch, seconds, log, seed, only=None,
                    runs=None, export: Path | None = None) -> list[Path]:
    from diffusers import DDPMScheduler

    from testbed.train import BASE_NAME, Budget, seed_everything, write_kohya

    written = []
    runs = runs or configs.USER_RUNS + [configs.OVERFIT_RUN]
    if only:  # in the order asked for, so a time-limited call trains the most needed first
        runs = [r for name in only for r in runs if r[0] == name]
    for run in runs:
        name, family, dim, alpha, version, kind, share, started_at, folder = run
        seed_everything(seed)
        base_dir = out / (configs.XL_BASE_NAME if family == "sdxl" else BASE_NAME)
        pipe = load_base(base_dir, device)
        for m in pipe.components.values():
            if isinstance(m, torch.nn.Module):
                m.requires_grad_(False)
        latents, idx = run_dataset(kind, punks, pipe.vae, device, seed)
        captions = [caps[version][i] for i in idx]
        text = CaptionEncoder(pipe, MAX_TOKEN_LENGTH)
        ids = {version: text.tokenize(captions).to(device), "__empty__": text.tokenize([""]).to(device)}
        modules = apply_lora(pipe.unet, text.encoders if text.sdxl else text.encoders[0], dim, alpha)
        opt = torch.optim.AdamW(modules.parameters(), lr=LEARNING_RATE)
        sched = DDPMScheduler.from_config(pipe.scheduler.config)
        sched.alphas_cumprod = sched.alphas_cumprod.to(device)
        budget, step = Budget(max(1, round(steps * share)), seconds * share), 0
        while not budget.done(step):
            loss = lora_step(pipe, text, sched, latents, ids, opt, batch, device)
            step += 1
        meta = run_metadata(run, captions, step, batch, seed, base_dir)
        dest = out / folder / f"{name}.safetensors"
        dest.parent.mkdir(parents=True, exist_ok=True)
        write_kohya(dest, kohya_state_dict(modules), meta)
        written.append(dest)
        log[name] = dict(family=family, network_dim=dim, network_alpha=alpha, captions=version, dataset=kind,
                         steps=step, batch=batch, seconds=round(budget.elapsed, 1), final_loss=round(loss.item(), 5),
                         modules=len(modules))
        print(name, log[name], flush=True)
        if export is not None:
            export.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(dest, export / dest.name)
            (export / "testbed_log.json").write_text(json.dumps(log, indent=1))
    return written


def run_metadata(run, captions, steps, batch, seed, base_dir: Path) -> dict[str, str]:
    """sd-scripts' ss_* keys for one run; start time is our users' (the testbed trains in seconds)."""
    from testbed.train import kohya_metadata, tag_frequency

    name, family, dim, alpha, version, kind, share, started_at, folder = run
    meta = kohya_metadata(name, dim, alpha, captions, steps, batch, seed, time.time(), base_dir)
    started = datetime.fromisoformat(started_at).replace(tzinfo=timezone.utc).timestamp()
    epochs = max(1, math.ceil(steps * batch / len(captions)))
    # A kohya dataset folder per caption version, as a user keeps old and new captions apart.
    dataset_dir = f"1_punks_{version}"
    meta.update({
        "ss_training_started_at": str(started),
        "ss_training_finished_at": str(started + 3600),
        "ss_dataset_dirs": json.dumps({dataset_dir: {"n_repeats": 1, "img_count": len(captions)}}),
        "ss_tag_frequency": json.dumps({dataset_dir: tag_frequency(captions)}),
        "ss_max_token_length": str(MAX_TOKEN_LENGTH),
        "ss_num_epochs": str(epochs),
        "ss_epoch": str(epochs),
        "ss_learning_rate": str(LEARNING_RATE), "ss_unet_lr": str(LEARNING_RATE),
        "ss_text_encoder_lr": str(LEARNING_RATE),
        "ss_training_comment": f"evalkit testbed: mirrors our users' run {name} (failure induced by data: {kind})",
        "modelspec.title": name,
        "modelspec.date": datetime.fromtimestamp(started + 3600, timezone.utc).isoformat(timespec="seconds"),
    })
    if family == "sdxl":
        meta.update({"ss_base_model_version": "sdxl_base_v1-0", "modelspec.architecture": "stable-diffusion-xl-v1-base/lora"})
    return meta
