"""Render benchmark: the loop a user writes by hand vs evalkit's renderer, in one run.

    python bench/bench_render.py --arch sd15 --out bench/results/render_sd15.json     # on a GPU
    python bench/bench_render.py --arch tiny --device cpu --naive-images 2 --images 4  # smoke test

Full-size SD1.5 / SDXL are built from their real configs with random weights
(speed does not depend on weights) and two rank-32 kohya LoRAs are written
with sd-scripts' key names. Same prompts, 25 DPM-Solver++ steps, CFG 7.5:

* naive: pipeline call per image (batch 1), LoRA loaded per checkpoint, unfused;
* evalkit: `render_suite` (batched, one generator per image, kohya LoRA merged
  in place, took-effect check, PNG + sidecar written to the cache by writer
  threads), optionally with a torch.compile'd UNet.

Prints seconds per image for both and the ratio, the checkpoint-switch time
(restore + load + merge + verify; and through peft: load + verify + fuse + unfuse + unload) and achieved TFLOP/s against a bf16
matmul peak measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from evalkit.golden.prompts import load_prompts
from evalkit.inspect.api import inspect_checkpoint
from evalkit.inspect.kohya_format import kohya_lora_state_dict, kohya_state_dict_to_file, targets_for_configs
from evalkit.render import sd_configs
from evalkit.render.attach import attach_lora, detach_lora, fuse
from evalkit.render.lora_slot import LoraSlot
from evalkit.render.cache import RenderCache
from evalkit.render.config import RenderConfig
from evalkit.render.renderer import RenderJob, environment, render_suite
from evalkit.render.run import compile_unet

ROOT = Path(__file__).resolve().parents[1]
# TFLOP per image at 25 steps with CFG (../shared/reference/lora-checkpoints.md, measured on an H100).
TFLOP_PER_IMAGE = {"sd15": 42.7, "sdxl": 348.5}


def build_pipeline(arch: str, device: str, dtype):
    from diffusers import (AutoencoderKL, DPMSolverMultistepScheduler, StableDiffusionPipeline,
                           StableDiffusionXLPipeline, UNet2DConditionModel)
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    from evalkit.render.clip_tokenizer import write_clip_tokenizer

    if arch == "tiny":
        return StableDiffusionPipeline.from_pretrained(ROOT / "checkpoints" / "tiny-punks-base", torch_dtype=dtype).to(device)
    tok = CLIPTokenizer.from_pretrained(write_clip_tokenizer(Path(tempfile.mkdtemp()) / "tokenizer"))
    sched = DPMSolverMultistepScheduler.from_config(sd_configs.SD_SCHEDULER)
    unet_cfg, encoders, _ = sd_configs.MODELS[arch]
    with torch.device(device):  # random init directly on the device: seconds, not minutes
        unet = UNet2DConditionModel.from_config(unet_cfg).to(dtype)
        vae = AutoencoderKL.from_config(sd_configs.SDXL_VAE if arch == "sdxl" else sd_configs.SD_VAE).to(dtype)
        tes = [(CLIPTextModelWithProjection if proj else CLIPTextModel)(CLIPTextConfig(**cfg)).to(dtype)
               for _, cfg, proj in encoders]
    if arch == "sdxl":
        pipe = StableDiffusionXLPipeline(vae=vae, text_encoder=tes[0], text_encoder_2=tes[1], tokenizer=tok,
                                         tokenizer_2=tok, unet=unet, scheduler=sched)
    else:
        pipe = StableDiffusionPipeline(vae=vae, text_encoder=tes[0], tokenizer=tok, unet=unet, scheduler=sched,
                                       safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def write_loras(arch: str, folder: Path, n: int, rank: int, first_seed: int = 0) -> list[Path]:
    if arch == "tiny":
        return [ROOT / "checkpoints" / "tiny_punks_perfect.safetensors", ROOT / "checkpoints" / "tiny_punks_photoreal.safetensors"][:n]
    unet_cfg, encoders, sgm = sd_configs.MODELS[arch]
    targets = [t for ts in targets_for_configs(unet_cfg, encoders, sgm).values() for t in ts]
    base = {"sd15": "sd_v1", "sdxl": "sdxl_base_v1-0"}[arch]
    paths = []
    for i in range(first_seed, first_seed + n):
        path = folder / f"{arch}_rank{rank}_{i}.safetensors"
        state = kohya_lora_state_dict(targets, rank, rank / 2, seed=i)
        kohya_state_dict_to_file(path, state, {"ss_network_module": "networks.lora", "ss_network_dim": str(rank),
                                               "ss_network_alpha": str(rank / 2), "ss_base_model_version": base})
        paths.append(path)
    return paths


def uncompile_unet(pipe) -> None:
    """Undo compile_unet, so one run can compile and time several layouts."""
    import torch._dynamo as dynamo

    pipe.unet = getattr(pipe.unet, "_orig_mod", pipe.unet)
    pipe.vae.decoder = getattr(pipe.vae.decoder, "_orig_mod", pipe.vae.decoder)
    pipe.unet.to(memory_format=torch.contiguous_format)
    pipe.vae.to(memory_format=torch.contiguous_format)
    dynamo.reset()


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def matmul_peak_tflops(device: str) -> float | None:
    if not device.startswith("cuda"):
        return None
    a = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ a
    sync(device)
    t = time.perf_counter()
    for _ in range(10):
        a @ a
    sync(device)
    return 10 * 2 * 8192**3 / (time.perf_counter() - t) / 1e12


def naive_loop(pipe, loras, prompts, per_ckpt, cfg: RenderConfig, device):
    from safetensors.torch import load_file

    gen_device = "cpu" if device == "cpu" else device
    times = []
    for f in loras:
        pipe.load_lora_weights(load_file(str(f)), adapter_name="naive")
        for i in range(per_ckpt + 1):
            p, seed = prompts[i % len(prompts)], 1000 + i
            sync(device)
            t = time.perf_counter()
            pipe(p.text, negative_prompt=p.negative, num_inference_steps=cfg.steps, guidance_scale=cfg.guidance,
                 height=cfg.height, width=cfg.width, generator=torch.Generator(gen_device).manual_seed(seed), output_type="np")
            sync(device)
            if i:  # the first image of each checkpoint warms up kernels
                times.append(time.perf_counter() - t)
        pipe.delete_adapters("naive")
    return sum(times) / len(times)


def timed_switch(slot: LoraSlot, f, info, device) -> float:
    """Seconds for evalkit's checkpoint switch: take off + put on (merge) + took-effect check."""
    sync(device)
    t = time.perf_counter()
    slot.take_off()
    slot.put_on(f, info, scale=1.0, fused=True)
    sync(device)
    return time.perf_counter() - t


def evalkit_loop(slot: LoraSlot, loras, prompts, cfg: RenderConfig, device, cache_dir: Path):
    """Steady-state seconds per image and checkpoint-switch seconds (take off + put on + verify)."""
    pipe = slot.pipe
    per_image, switches = [], []
    infos = [inspect_checkpoint(f, tensor_health=False) for f in loras]
    for k, (f, info) in enumerate(zip(loras, infos)):
        switches.append(timed_switch(slot, f, info, device))
        # a warm-up batch (not timed), then the suite
        warm = RenderJob(f"warm{k}".ljust(64, "0"), "bench", cfg, device)
        render_suite(pipe, prompts[:1], warm, RenderCache(cache_dir / "warm"), progress=False)
        job = RenderJob(f"ck{k}".ljust(64, "0"), "bench", cfg, device)
        sync(device)
        t = time.perf_counter()
        render_suite(pipe, prompts, job, RenderCache(cache_dir), progress=False)
        sync(device)
        per_image.append((time.perf_counter() - t) / job.rendered)
    slot.take_off()
    return sum(per_image) / len(per_image), sum(switches[1:] or switches) / len(switches[1:] or switches)


def merge_switch(slot: LoraSlot, loras, device) -> dict:
    """The evalkit switch alone (take off + put on + verify), and the probe forward inside it."""
    from evalkit.render.lora_checks import probe
    from evalkit.render.merge import load_lora_to_device

    infos = [inspect_checkpoint(f, tensor_health=False) for f in loras]
    times = [timed_switch(slot, f, info, device) for f, info in list(zip(loras, infos)) * 3]
    slot.take_off()
    pipe = slot.pipe
    sync(device)
    t = time.perf_counter()
    for _ in range(3):
        probe(pipe)
    sync(device)
    probe_s = (time.perf_counter() - t) / 3

    t = time.perf_counter()
    for f in loras * 2:
        load_lora_to_device(f, pipe.unet.device)
        sync(device)
    load_s = (time.perf_counter() - t) / (2 * len(loras))
    return {"checkpoint_switch_s": round(sum(times[1:]) / len(times[1:]), 3), "probe_forward_s": round(probe_s, 3),
            "file_to_device_s": round(load_s, 3), "lora_file_mb": round(loras[0].stat().st_size / 2**20, 1)}


def peft_switch(pipe, loras, device) -> float:
    """The switch through diffusers/peft (load, verify, fuse ... unfuse, unload), for comparison."""
    times = []
    for f in loras * 2:
        info = inspect_checkpoint(f, tensor_health=False)
        sync(device)
        t = time.perf_counter()
        attach_lora(pipe, f, info, scale=1.0)
        fuse(pipe)
        detach_lora(pipe)
        sync(device)
        times.append(time.perf_counter() - t)
    return sum(times[1:]) / len(times[1:])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", choices=["sd15", "sdxl", "tiny"], default="sd15")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--batch", type=int, default=None, help="evalkit batch (default 16 for sd15, 4 for sdxl)")
    ap.add_argument("--images", type=int, default=32, help="images per checkpoint, evalkit path")
    ap.add_argument("--naive-images", type=int, default=6, help="timed images per checkpoint, naive loop")
    ap.add_argument("--compile", action="store_true", help="also time evalkit with a torch.compile'd UNet")
    ap.add_argument("--layouts", default="contiguous", help="weight layouts to compile and time, comma-separated: "
                    "contiguous (evalkit's default), channels_last")
    ap.add_argument("--switch-only", action="store_true", help="time checkpoint switching only (no renders)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    import transformers

    transformers.logging.set_verbosity_error()  # long hex prompts: CLIP truncation notices, not news
    dtype = torch.float16 if args.device.startswith("cuda") else torch.float32
    size = {"sd15": 512, "sdxl": 1024, "tiny": 192}[args.arch]
    batch = args.batch or {"sd15": 16, "sdxl": 4, "tiny": 4}[args.arch]
    cfg = RenderConfig(steps=args.steps, guidance=7.5, width=size, height=size, batch_size=batch)
    suite = load_prompts(ROOT / "golden" / "prompts.toml")
    seeds_needed = -(-args.images // len(suite))
    prompts = [type(p)(p.id, p.text, p.negative, tuple(range(42, 42 + seeds_needed)), p.golden, p.caption_style) for p in suite]
    prompts = prompts[: -(-args.images // seeds_needed)]
    t0 = time.perf_counter()
    pipe = build_pipeline(args.arch, args.device, dtype)
    build_s = time.perf_counter() - t0
    slot = LoraSlot(pipe)  # the one owner of what is on `pipe` (the peft loops below leave it clean)
    work = Path(tempfile.mkdtemp())
    loras = write_loras(args.arch, work, 2, 32)
    if args.switch_only:
        result = {"arch": args.arch, **environment(args.device), "dtype": str(dtype), "lora_rank": 32,
                  **merge_switch(slot, loras, args.device), "peft_fuse_switch_s": round(peft_switch(pipe, loras, args.device), 3)}
        print(json.dumps(result, indent=1))
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(result, indent=1) + "\n")
        return
    peak = matmul_peak_tflops(args.device)
    naive_s = naive_loop(pipe, loras, suite, args.naive_images, cfg, args.device)
    peft_s = peft_switch(pipe, loras, args.device)
    ek_s, switch_s = evalkit_loop(slot, loras, prompts, cfg, args.device, work / "cache")
    result = {"arch": args.arch, **environment(args.device), "steps": args.steps, "guidance": 7.5, "size": size,
              "sampler": "DPM-Solver++", "dtype": str(dtype), "batch": batch, "build_s": round(build_s, 2),
              "naive_s_per_image": round(naive_s, 4), "evalkit_s_per_image": round(ek_s, 4),
              "speedup_vs_naive": round(naive_s / ek_s, 2), "checkpoint_switch_s": round(switch_s, 3),
              "peft_fuse_switch_s": round(peft_s, 3),
              "matmul_peak_bf16_tflops": round(peak, 1) if peak else None}
    flop = TFLOP_PER_IMAGE.get(args.arch)

    def save():  # after every stage, so a run cut off by a time limit keeps what it measured
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(result, indent=1) + "\n")

    if flop:
        result["evalkit_tflops"] = round(flop / ek_s, 1)
        result["naive_tflops"] = round(flop / naive_s, 1)
    save()
    print(json.dumps(result), flush=True)
    if args.compile:
        best = None
        for layout in args.layouts.split(","):
            t = time.perf_counter()
            uncompile_unet(pipe)
            compile_unet(pipe, channels_last=layout == "channels_last")
            ccfg = RenderConfig(**{**cfg.to_dict(), "compile": True})
            ek_c, switch_c = evalkit_loop(slot, loras, prompts, ccfg, args.device, work / f"cache_{layout}")
            row = {"s_per_image": round(ek_c, 4), "speedup_vs_naive": round(naive_s / ek_c, 2),
                   "checkpoint_switch_s": round(switch_c, 3), "compile_total_s": round(time.perf_counter() - t, 1)}
            if flop:
                row["tflops"] = round(flop / ek_c, 1)
            result[f"compiled_{layout}"] = row
            print(layout, row, flush=True)
            save()
            if best is None or ek_c < best[1]["s_per_image"]:
                best = (layout, row)
        # The headline figures: the fastest layout
        result.update(compiled_layout=best[0], compiled_s_per_image=best[1]["s_per_image"],
                      compiled_speedup_vs_naive=best[1]["speedup_vs_naive"],
                      compiled_checkpoint_switch_s=best[1]["checkpoint_switch_s"])
        if flop:
            result["compiled_tflops"] = best[1]["tflops"]
    print(json.dumps(result, indent=1))
    save()


if __name__ == "__main__":
    main()
