"""Which UNet settings render fastest: one forward pass timed under each variant, in one run.

    python bench/bench_unet_variants.py --arch sd15 --out bench/results/unet_variants_sd15_h200.json   # on a GPU
    python bench/bench_unet_variants.py --arch tiny --device cpu --iters 1                             # smoke test

The renderer's time is almost all UNet forwards (SD1.5: 50 of the 42.7 TFLOP
per image), so this is where a setting shows. Full-size UNets are built from
their real configs with random weights on the device; the input is the CFG
batch the renderer sends (2 x --batch latents, 77-token context). Each
variant prints ms per forward, TFLOP/s and its ratio against the eager,
contiguous baseline measured in the same run; the VAE decode of --batch
latents is timed the same way. A torch profiler table of the eager
channels-last forward says where the time goes (convolution, matmul,
attention, norms). On CUDA the eager forward is also timed captured in a
CUDA graph, and the CPU time to issue it is recorded: whether the GPU ever
waits for Python's kernel launches at this batch.

Compiled variants each cost a compile (about a minute for SD1.5); those that
would start after --budget-s are skipped and say so.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from contextlib import nullcontext
from pathlib import Path

import torch

from evalkit.render import sd_configs

# TFLOP per UNet forward of one latent at the native size (../shared/reference/lora-checkpoints.md).
TFLOP_PER_FORWARD = {"sd15": 0.80, "sdxl": 348.5 / 50}


def build(arch: str, device: str, dtype):
    from diffusers import AutoencoderKL, UNet2DConditionModel

    if arch == "tiny":
        unet_cfg, vae_cfg = sd_configs.MODELS["sd15"][0], sd_configs.SD_VAE
        unet_cfg = {**unet_cfg, "block_out_channels": [32, 64, 64, 64], "cross_attention_dim": 32, "sample_size": 8,
                    "norm_num_groups": 8}
        vae_cfg = {**vae_cfg, "block_out_channels": [16, 16, 16, 16], "norm_num_groups": 8}
    else:
        unet_cfg = sd_configs.MODELS[arch][0]
        vae_cfg = sd_configs.SDXL_VAE if arch == "sdxl" else sd_configs.SD_VAE
    with torch.device(device):
        unet = UNet2DConditionModel.from_config(unet_cfg).to(dtype).eval()
        vae = AutoencoderKL.from_config(vae_cfg).to(dtype).eval()
    return unet, vae


def unet_inputs(unet, batch: int, device: str, dtype):
    cfg = unet.config
    n = 2 * batch  # classifier-free guidance doubles the batch
    g = torch.Generator(device).manual_seed(0)
    x = torch.randn(n, cfg.in_channels, cfg.sample_size, cfg.sample_size, device=device, generator=g).to(dtype)
    ctx = torch.randn(n, 77, cfg.cross_attention_dim, device=device, generator=g).to(dtype)
    kwargs = {}
    if cfg.addition_embed_type == "text_time":
        text_dim = cfg.projection_class_embeddings_input_dim - 6 * cfg.addition_time_embed_dim
        kwargs["added_cond_kwargs"] = {"text_embeds": torch.randn(n, text_dim, device=device, generator=g).to(dtype),
                                       "time_ids": torch.tensor([[1024.0, 1024, 0, 0, 1024, 1024]] * n,
                                                                device=device).to(dtype)}
    t = torch.full((n,), 500, device=device)
    return lambda: unet(x, t, ctx, **kwargs).sample


def timed(fn, iters: int, device: str) -> float:
    """Median milliseconds of `fn` over `iters` calls after two warm-ups."""
    with torch.no_grad():
        for _ in range(2):
            fn()
        times = []
        for _ in range(iters):
            if device.startswith("cuda"):
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                fn()
                end.record()
                torch.cuda.synchronize()
                times.append(start.elapsed_time(end))
            else:
                t = time.perf_counter()
                fn()
                times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def issue_ms(fn, iters: int) -> float:
    """Median milliseconds the CPU spends issuing one forward's kernels (synchronised before, not after).
    Below the forward's device time, the GPU never waits for a launch and a CUDA graph has nothing to save;
    an upper bound, since a full launch queue makes the CPU wait."""
    times = []
    with torch.no_grad():
        for _ in range(iters):
            torch.cuda.synchronize()
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1e3)
        torch.cuda.synchronize()
    return statistics.median(times)


def cuda_graphed(fn):
    """`fn` (fixed inputs and shapes, as the renderer's UNet loop has) captured once in a CUDA graph and
    replayed: every kernel launched by the driver, none from Python. Warmed up on a side stream first, as
    torch's CUDA-graph notes require."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.no_grad(), torch.cuda.stream(side):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.no_grad(), torch.cuda.graph(graph):
        out = fn()

    def replay():
        graph.replay()
        return out

    return replay


def sdpa_backend(name: str | None):
    if name is None:
        return nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([getattr(SDPBackend, name)])


def profile_table(fn, device: str, rows: int = 18) -> list[dict]:
    """Top operators by self device time for one forward."""
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.startswith("cuda") else [])
    with torch.no_grad():
        fn()
        with profile(activities=acts) as prof:
            fn()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
    attr = "self_device_time_total" if device.startswith("cuda") else "self_cpu_time_total"
    events = sorted(prof.key_averages(), key=lambda e: getattr(e, attr), reverse=True)
    total = sum(getattr(e, attr) for e in events) or 1
    return [{"op": e.key[:60], "ms": round(getattr(e, attr) / 1e3, 3), "share": round(getattr(e, attr) / total, 3),
             "calls": e.count} for e in events[:rows]]


def set_inductor_flags():
    """The inductor settings diffusers' speed-up guide uses for its UNets."""
    import torch._inductor.config as ic

    ic.conv_1x1_as_mm = True
    ic.coordinate_descent_tuning = True
    ic.epilogue_fusion = False
    ic.coordinate_descent_check_all_directions = True


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", choices=["sd15", "sdxl", "tiny"], default="sd15")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, default=None, help="images per batch (default 16 for sd15, 4 for sdxl)")
    ap.add_argument("--iters", type=int, default=8)
    ap.add_argument("--budget-s", type=float, default=420, help="start no compiled variant after this many seconds")
    ap.add_argument("--skip-compile", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    dtype = torch.float16 if args.device.startswith("cuda") else torch.float32
    batch = args.batch or {"sd15": 16, "sdxl": 4, "tiny": 2}[args.arch]
    unet, vae = build(args.arch, args.device, dtype)
    flop = TFLOP_PER_FORWARD.get(args.arch, 0) * 2 * batch
    result = {"arch": args.arch, "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
              "torch": torch.__version__, "batch_images": batch, "unet_batch": 2 * batch, "variants": {}}

    def record(name, ms, **extra):
        row = {"ms_per_forward": round(ms, 2), **extra}
        if flop:
            row["tflops"] = round(flop / ms * 1e3, 1)
        base = result["variants"].get("eager_contiguous")
        row["speedup_vs_eager_contiguous"] = round(base["ms_per_forward"] / ms, 3) if base else 1.0
        result["variants"][name] = row
        print(f"{name:40s} {ms:9.2f} ms  {row.get('tflops', '-')!s:>7} TFLOP/s  x{row['speedup_vs_eager_contiguous']}",
              flush=True)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(result, indent=1) + "\n")

    fwd = unet_inputs(unet, batch, args.device, dtype)
    record("eager_contiguous", timed(fwd, args.iters, args.device))
    if args.device.startswith("cuda"):
        result["eager_contiguous_cpu_issue_ms"] = round(issue_ms(fwd, args.iters), 2)
        print(f"{'  CPU time issuing one eager forward':40s} {result['eager_contiguous_cpu_issue_ms']:9.2f} ms",
              flush=True)
        try:
            record("eager_contiguous_cuda_graph", timed(cuda_graphed(fwd), args.iters, args.device),
                   note="the eager forward captured once, replayed")
        except RuntimeError as exc:  # an op that cannot be captured
            result["variants"]["eager_contiguous_cuda_graph"] = {"error": str(exc).splitlines()[0][:200]}
    unet.to(memory_format=torch.channels_last)
    record("eager_channels_last", timed(fwd, args.iters, args.device))
    if args.device.startswith("cuda"):
        for backend in ("FLASH_ATTENTION", "EFFICIENT_ATTENTION", "CUDNN_ATTENTION"):
            try:
                with sdpa_backend(backend):
                    record(f"eager_channels_last_{backend.lower()}", timed(fwd, args.iters, args.device))
            except RuntimeError as exc:  # a backend that cannot take these shapes
                result["variants"][f"eager_channels_last_{backend.lower()}"] = {"error": str(exc).splitlines()[0][:200]}
    unet.fuse_qkv_projections()
    record("eager_channels_last_fused_qkv", timed(fwd, args.iters, args.device))
    unet.unfuse_qkv_projections()
    fwd2 = unet_inputs(unet, 2 * batch, args.device, dtype)
    ms2 = timed(fwd2, max(2, args.iters // 2), args.device)
    record("eager_channels_last_double_batch", ms2 / 2, note="per forward of the base batch")
    del fwd2
    result["profile_eager_channels_last"] = profile_table(fwd, args.device)

    latents = torch.randn(batch, vae.config.latent_channels, unet.config.sample_size, unet.config.sample_size,
                          device=args.device).to(dtype)
    decode = lambda: vae.decode(latents).sample  # noqa: E731
    result["vae_decode_ms"] = {"eager_contiguous": round(timed(decode, max(2, args.iters // 2), args.device), 2)}
    vae.to(memory_format=torch.channels_last)
    result["vae_decode_ms"]["eager_channels_last"] = round(timed(decode, max(2, args.iters // 2), args.device), 2)
    print("vae decode", result["vae_decode_ms"], flush=True)

    compiled = [
        ("compiled_default", {}, False, None),
        ("compiled_inductor_flags", {}, True, None),
        ("compiled_inductor_flags_fused_qkv", {}, True, "fuse"),
        ("compiled_inductor_flags_cudnn_attention", {}, True, "CUDNN_ATTENTION"),
        ("compiled_max_autotune_no_cudagraphs", {"mode": "max-autotune-no-cudagraphs"}, True, None),
    ]
    import torch._dynamo as dynamo
    import torch._inductor.config as ic

    defaults = {k: getattr(ic, k) for k in ("conv_1x1_as_mm", "coordinate_descent_tuning", "epilogue_fusion",
                                            "coordinate_descent_check_all_directions")}
    for name, kwargs, flags, extra in ([] if args.skip_compile else compiled):
        if time.perf_counter() - t0 > args.budget_s:
            result["variants"][name] = {"skipped": f"over the {args.budget_s:.0f} s budget"}
            print(f"{name:40s} skipped (budget)", flush=True)
            continue
        dynamo.reset()
        for k, v in defaults.items():
            setattr(ic, k, v)
        if flags:
            set_inductor_flags()
        if extra == "fuse":
            unet.fuse_qkv_projections()
        cunet = torch.compile(unet, fullgraph=True, dynamic=False, **kwargs)
        cfwd = unet_inputs(cunet, batch, args.device, dtype)
        with sdpa_backend(extra if extra not in (None, "fuse") else None):
            tc = time.perf_counter()
            with torch.no_grad():
                cfwd()
            compile_s = time.perf_counter() - tc
            record(name, timed(cfwd, args.iters, args.device), compile_s=round(compile_s, 1))
        if extra == "fuse":
            unet.unfuse_qkv_projections()
    if not args.skip_compile and time.perf_counter() - t0 < args.budget_s + 60:
        dynamo.reset()
        set_inductor_flags()
        vae.decoder = torch.compile(vae.decoder, dynamic=False)
        result["vae_decode_ms"]["compiled_inductor_flags"] = round(timed(decode, max(2, args.iters // 2), args.device), 2)
    result["total_s"] = round(time.perf_counter() - t0, 1)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["profile_eager_channels_last"][:12], indent=0))
    print(json.dumps({"vae_decode_ms": result["vae_decode_ms"], "total_s": result["total_s"]}))


if __name__ == "__main__":
    main()
