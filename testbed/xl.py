"""The SDXL-architecture testbed base: built from config, trained like the SD1 one.

Same data (the 9,000 training-split punks, v1 and v2 captions, 10% empty
captions for classifier-free guidance) and the same punk VAE, so the SDXL
runs differ from the SD1.5 runs by architecture alone: two text encoders
(the second with a projection whose pooled output and the size/crop ids
form the UNet's "text_time" added conditioning), cross-attention over both
encoders' penultimate hidden states, SDXL's block layout.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from testbed import configs
from testbed.text import CaptionEncoder


def build_xl_pipeline(vae, tokenizer_dir: Path):
    from diffusers import DPMSolverMultistepScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(tokenizer_dir)
    # SDXL's second tokenizer pads with "!" (id 0), not EOS: sd-scripts' pooled-output
    # workaround exists because of it, so the testbed keeps it.
    tokenizer_2 = CLIPTokenizer.from_pretrained(tokenizer_dir, pad_token="!")
    return StableDiffusionXLPipeline(
        vae=vae, text_encoder=CLIPTextModel(CLIPTextConfig(**configs.XL_TEXT_ENCODER)),
        text_encoder_2=CLIPTextModelWithProjection(CLIPTextConfig(**configs.XL_TEXT_ENCODER_2)),
        tokenizer=tokenizer, tokenizer_2=tokenizer_2, unet=UNet2DConditionModel(**configs.XL_UNET),
        scheduler=DPMSolverMultistepScheduler.from_config(configs.SCHEDULER), force_zeros_for_empty_prompt=False,
    )


def train_xl_base(punks, caps, vae, tokenizer_dir: Path, out: Path, device, steps, batch, seconds, log,
                  render_defaults: Path | None = None) -> None:
    from diffusers import DDPMScheduler

    from testbed.train import caption_batch, denoise_loss, encode, fit_with_ema

    pipe = build_xl_pipeline(vae, tokenizer_dir).to(device)
    latents = encode(vae, punks, device, vae.config.scaling_factor)
    text = CaptionEncoder(pipe, max_token_length=None)  # bases are trained at 77 tokens, as SDXL was
    ids = {v: text.tokenize(c).to(device) for v, c in caps.items()}
    ids["__empty__"] = text.tokenize([""]).to(device)
    vae.requires_grad_(False)
    sched = DDPMScheduler.from_config(configs.SCHEDULER)
    sched.alphas_cumprod = sched.alphas_cumprod.to(device)
    ema, step, loss, seconds_used = fit_with_ema(
        [pipe.unet, pipe.text_encoder, pipe.text_encoder_2],
        lambda idx: denoise_loss(pipe.unet, text, sched, latents[idx], caption_batch(caps, ids, idx, 0.1), device),
        len(latents), steps, batch, seconds, "xl base")
    pipe.unet, pipe.text_encoder, pipe.text_encoder_2 = ema
    save_xl_pipeline(pipe, out, render_defaults)
    log["xl_base"] = dict(steps=step, batch=batch, seconds=round(seconds_used, 1), final_loss=round(loss, 5),
                          n_images=len(punks), caption_versions=sorted(caps))
    print("xl_base", log["xl_base"], flush=True)


def save_xl_pipeline(pipe, out: Path, render_defaults: Path | None) -> None:
    # fp16 on disk keeps the base under 40 MB (two 49408-token embedding tables);
    # evalkit loads it in the dtype it renders with.
    pipe.to("cpu", torch.float16).save_pretrained(out)
    for sub in ("tokenizer", "tokenizer_2"):
        (out / sub / "tokenizer.json").unlink(missing_ok=True)  # derivable; keeps the base small
    if render_defaults is not None and render_defaults.is_file():  # the SD1 base's evalkit.json
        shutil.copyfile(render_defaults, out / "evalkit.json")
