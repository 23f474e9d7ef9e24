"""Whole-gate benchmark: what a user waits for, `pytest evalkit` as a subprocess, against the loop they
would write by hand, in one run on one machine.

    python bench/bench_gate.py --arch sd15                        # one GPU: 4 LoRAs x 64 renders at 512
    python bench/bench_gate.py --arch sdxl                        # one GPU: 2 LoRAs x 64 renders at 1024
    python bench/bench_gate.py --arch tiny --device cpu           # CPU smoke run (testbed base, 2 LoRAs, 4 renders)

Timed, wall clock, in this order:

* ``gate_first_s``: ``python -m pytest evalkit --base-model DIR --checkpoint-dir DIR --device DEV
  --reports-dir EMPTY`` (start, base load, renders, scoring, set checks, run record, score store);
* ``gate_cached_s``: the same command again (every render in the cache);
* ``--variant ARGS`` (repeatable): a first run with more gate options in a fresh reports folder, the
  machine's compile cache kept (``--variant=--compile`` twice: a cold compile, then a warm one);
* ``--nightly ARGS`` (repeatable): a night's new LoRAs into the reports folder of the run with those
  options: only their renders are new (the base alone, golden reference, inspection and compile caches
  are there), which is what a nightly job on a kept machine waits for;
* ``--profile DIR``: a cProfile'd first run and cached re-run (slower; stats and a text summary in DIR);
* the naive loop: load the base with diffusers, per checkpoint ``load_lora_weights`` (unfused), one
  pipeline call per image, each image saved as a PNG (as bench_render.py's naive path), then a naive
  scoring pass: the golden reference built, each PNG scored with `evalkit.score.score_image.score_file`
  one by one. ``--naive-images N`` times N images per checkpoint and extrapolates the per-image
  means to the whole suite (``naive_extrapolated`` in the JSON says so).

The base is full-size SD1.5 / SDXL built from the real configs with random weights (speed does not
depend on weights), saved as a local diffusers folder (``save_pretrained``) in a temporary folder; the
LoRAs are rank-32 kohya files with sd-scripts' key names. ``--arch tiny`` uses the testbed base in
``checkpoints/`` and two of its LoRAs. Writes ``bench/results/gate_<arch>_<gpu>.json`` after every stage
(a run cut off keeps what it measured) and prints the ratios to the naive loop measured in the same run.
Every gate run's record carries its stage timings (``timings``: evalkit/timing.py) and the JSON keeps
them with the run's ``time:`` line. Bytecode is compiled before the first run, as ``pip install`` does.
The gate's exit status is recorded (random LoRAs fail thresholds: 1 is expected); a run whose record
does not show every render made is reported as such.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

LORAS = {"sd15": 4, "sdxl": 2, "tiny": 2}
NAIVE_IMAGES = {"sd15": 16, "sdxl": 8, "tiny": 2}  # timed per checkpoint by default (fits 9 minutes on an H200)
TINY_RENDERS = 4  # the smoke suite: the first 4 prompts of golden/prompts.toml at one seed


def gpu_slug(name: str) -> str:
    """'NVIDIA H200' -> 'h200'; 'cpu' -> 'cpu'."""
    name = name.lower().replace("nvidia", "").strip()
    m = re.search(r"[a-z]+\d+[a-z]*", name)
    return m.group(0) if m else re.sub(r"[^a-z0-9]+", "_", name).strip("_") or "device"


def toml_string(s: str) -> str:
    return json.dumps(s)  # a TOML basic string: JSON's escapes are TOML's


def write_suite(prompts, path: Path) -> Path:
    """A prompt-suite TOML of ``prompts`` (golden/prompts.toml's format)."""
    lines = []
    for p in prompts:
        lines += ["[[prompts]]", f"id = {toml_string(p.id)}", f"caption_style = {toml_string(p.caption_style)}",
                  f"text = {toml_string(p.text)}", f"negative = {toml_string(p.negative)}",
                  f"seeds = [{', '.join(str(s) for s in p.seeds)}]",
                  f"golden = [{', '.join(toml_string(g) for g in p.golden)}]", ""]
    path.write_text("\n".join(lines))
    return path


def build_base(arch: str, device: str, folder: Path) -> tuple[Path, float]:
    """(base folder, seconds): full-size random-weight pipeline saved with save_pretrained; tiny: the testbed's."""
    if arch == "tiny":
        return ROOT / "checkpoints" / "tiny-punks-base", 0.0
    import torch

    from bench_render import build_pipeline

    t = time.perf_counter()
    pipe = build_pipeline(arch, device, torch.float16 if device.startswith("cuda") else torch.float32)
    pipe.save_pretrained(folder, safe_serialization=True)
    del pipe
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return folder, time.perf_counter() - t


def write_loras(arch: str, folder: Path, first_seed: int = 0) -> list[Path]:
    """The run's LoRAs; another ``first_seed`` gives other weights (new files, as a new night's trainings)."""
    folder.mkdir(parents=True, exist_ok=True)
    if arch == "tiny":
        names = ("tiny_punks_perfect", "tiny_punks_wrong_colors", "tiny_punks_overfit", "tiny_punks_photoreal")
        names = names[first_seed % 2 * 2:][:2]
        return [Path(shutil.copy(ROOT / "checkpoints" / f"{n}.safetensors", folder / f"{n}.safetensors")) for n in names]
    from bench_render import write_loras as write

    return write(arch, folder, LORAS[arch], 32, first_seed)


def run_gate(base: Path, loras: Path, reports: Path, device: str, prompts: Path | None, timeout: float,
             extra: list[str] = (), profile: Path | None = None) -> dict:
    """One `pytest evalkit` as a user starts it; wall seconds, exit status, what its run record says
    (its stage timings among it). ``profile``: run it under cProfile, stats to that file (.prof) and a
    text summary beside it (.txt); a profiled run is slower, its "profiled" key says so."""
    prof = ["-m", "cProfile", "-o", str(profile)] if profile else []
    cmd = [sys.executable, *prof, "-m", "pytest", str(ROOT / "evalkit"), "--base-model", str(base), "--checkpoint-dir",
           str(loras), "--device", device, "--reports-dir", str(reports), "-q", "-p", "no:cacheprovider", *extra]
    if prompts is not None:
        cmd += ["--prompts", str(prompts)]
    t = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"wall_s": round(time.perf_counter() - t, 2), "exit": "timeout", "command": " ".join(cmd)}
    wall = time.perf_counter() - t
    out = {"wall_s": round(wall, 2), "exit": proc.returncode, "args": " ".join(extra)}
    if profile:
        out["profiled"] = True
        write_profile_text(profile)
    out["time_line"] = next((ln for ln in proc.stdout.splitlines() if ln.startswith("time: ")), None)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("run record: ")), None)
    if line:
        record = json.loads(Path(line.split(": ", 1)[1]).read_text())
        out["rendered"] = sum(c.get("rendered", 0) for c in record["checkpoints"])
        out["cached"] = sum(c.get("cached", 0) for c in record["checkpoints"])
        out["render_seconds"] = round(sum(c.get("render_seconds", 0.0) for c in record["checkpoints"]), 2)
        out["errors"] = [c["error"] for c in record["checkpoints"] if c.get("error")]
        out["device"] = record.get("device")
        out["timings"] = record.get("timings")  # to the record's write (evalkit/timing.py); time_line has all
    else:
        out["tail"] = (proc.stdout + proc.stderr)[-3000:]
    return out


def write_profile_text(profile: Path, top: int = 45) -> None:
    """``<profile>.txt``: the functions with the most cumulative, then the most own, time."""
    import io
    import pstats

    if not profile.is_file():
        return
    buf = io.StringIO()
    stats = pstats.Stats(str(profile), stream=buf).strip_dirs()
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    profile.with_suffix(".txt").write_text(buf.getvalue())


def compile_bytecode() -> float:
    """Compile the bytecode of diffusers, transformers, peft and evalkit, untimed, as `pip install` does:
    the GPU image installs diffusers with --no-compile and sets PYTHONDONTWRITEBYTECODE, so every gate
    run would otherwise compile diffusers from source (7.6 s of a profiled first run)."""
    import importlib.util

    t = time.perf_counter()
    dirs = [str(ROOT / "evalkit")]
    for name in ("diffusers", "transformers", "peft"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            dirs += list(spec.submodule_search_locations)
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", *dirs], cwd=ROOT, check=False,
                   stdout=subprocess.DEVNULL)
    return round(time.perf_counter() - t, 2)


def naive(base: Path, lora_files: list[Path], prompts, device: str, per_ckpt: int, out_dir: Path) -> dict:
    """The hand-written loop: diffusers pipeline, LoRA per checkpoint, one call per image, PNGs, then
    each PNG scored alone. Times ``per_ckpt`` images per checkpoint (the suite's first ones)."""
    import torch
    from diffusers import DiffusionPipeline
    from safetensors.torch import load_file

    import transformers

    transformers.logging.set_verbosity_error()  # long hex prompts: CLIP truncation notices
    pairs = [(p, s) for p in prompts for s in p.seeds]
    todo = pairs[:per_ckpt]
    gen_device = "cpu" if device == "cpu" else device
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    t = time.perf_counter()
    pipe = DiffusionPipeline.from_pretrained(base, dtype=dtype, safety_checker=None,
                                             requires_safety_checker=False, local_files_only=True).to(device)
    pipe.set_progress_bar_config(disable=True)
    from evalkit.render.config import config_for_base
    from evalkit.render.run import _native_size_from_folder

    cfg = config_for_base(base, _native_size_from_folder(base))  # the base's defaults, as the gate renders
    load_s = time.perf_counter() - t
    lora_s, image_s, pngs = [], [], []
    for k, f in enumerate(lora_files):
        t = time.perf_counter()
        pipe.load_lora_weights(load_file(str(f)), adapter_name="naive")
        lora_s.append(time.perf_counter() - t)
        for p, seed in todo:
            sync()
            t = time.perf_counter()
            image = pipe(p.text, negative_prompt=p.negative, num_inference_steps=cfg.steps,
                         guidance_scale=cfg.guidance, height=cfg.height, width=cfg.width,
                         generator=torch.Generator(gen_device).manual_seed(seed)).images[0]
            path = out_dir / f"ck{k}-{p.id}-seed{seed}.png"
            image.save(path)
            image_s.append(time.perf_counter() - t)
            pngs.append((path, p))
        pipe.delete_adapters("naive")
    del pipe
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    # The naive scoring pass: the reference once, then every PNG read and scored by itself.
    from evalkit.golden.labels import load_labels
    from evalkit.golden.load import load_golden
    from evalkit.score.golden_reference import build_reference
    from evalkit.score.prompt_adherence import requested_for
    from evalkit.score.score_image import score_file

    t = time.perf_counter()
    golden = load_golden(ROOT / "golden")
    labels = load_labels(ROOT / "golden")
    ref = build_reference(golden)
    reference_s = time.perf_counter() - t
    score_s = []
    for path, p in pngs:
        t = time.perf_counter()
        score_file(path, ref, hex_codes=p.hex_codes, prompt=p.text, requested=requested_for(p.text, p.golden, labels))
        score_s.append(time.perf_counter() - t)
    n_total = len(pairs) * len(lora_files)
    per_image, per_score = sum(image_s) / len(image_s), sum(score_s) / len(score_s)
    render_total = load_s + sum(lora_s) + per_image * n_total
    score_total = reference_s + per_score * n_total
    return {"naive_images_timed_per_checkpoint": len(todo), "naive_extrapolated": len(todo) < len(pairs),
            "naive_base_load_s": round(load_s, 2), "naive_lora_load_s": round(sum(lora_s) / len(lora_s), 3),
            "naive_s_per_image": round(per_image, 4), "naive_render_total_s": round(render_total, 2),
            "naive_reference_s": round(reference_s, 2), "naive_score_s_per_image": round(per_score, 4),
            "naive_score_total_s": round(score_total, 2), "naive_total_s": round(render_total + score_total, 2),
            "naive_images_total": n_total}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", choices=["sd15", "sdxl", "tiny"], default="sd15")
    ap.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    ap.add_argument("--naive-images", type=int, default=None,
                    help="naive images timed per checkpoint, extrapolated to the suite "
                         f"(default {NAIVE_IMAGES}; the suite's size times the whole naive loop)")
    ap.add_argument("--gate-timeout", type=float, default=420.0, help="seconds allowed for one gate run")
    ap.add_argument("--gate-args", default="", help="more gate options, e.g. '--compile --batch-size 16' or "
                    "'--score-workers 0' (recorded in the JSON)")
    ap.add_argument("--skip-naive", action="store_true", help="time the gate only")
    ap.add_argument("--variant", action="append", default=[], metavar="ARGS",
                    help="after the cached re-run, one more first run (a fresh reports folder; the machine's "
                         "compile cache kept) with these gate options, e.g. '--compile' twice: cold, then warm")
    ap.add_argument("--nightly", action="append", default=[], metavar="ARGS",
                    help="after the variants, a night's new LoRAs (other weights, same count) into the reports "
                         "folder of the run with the same ARGS ('' for the default run): only their renders are "
                         "new; the base alone, golden reference and compile cache are the machine's")
    ap.add_argument("--profile", type=Path, default=None, metavar="DIR",
                    help="also run a cProfile'd first run and cached re-run, stats in DIR (first.prof/.txt, "
                         "cached.prof/.txt); they are timed apart from the unprofiled runs")
    ap.add_argument("--out", type=Path, default=None, help="default bench/results/gate_<arch>_<gpu>.json")
    ap.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it (default: a temp folder)")
    args = ap.parse_args(argv)
    import torch

    from evalkit.golden.prompts import load_prompts

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    gpu = torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else "cpu"
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_gate_"))
    work.mkdir(parents=True, exist_ok=True)
    out = args.out or ROOT / "bench" / "results" / f"gate_{args.arch}_{gpu_slug(gpu)}.json"
    suite = load_prompts(ROOT / "golden" / "prompts.toml")
    prompts_file = None
    if args.arch == "tiny":
        suite = [type(p)(p.id, p.text, p.negative, p.seeds[:1], p.golden, p.caption_style) for p in suite[:TINY_RENDERS]]
        prompts_file = write_suite(suite, work / "prompts.toml")
    renders = sum(len(p.seeds) for p in suite)
    result = {"arch": args.arch, "device": device, "gpu": gpu, "torch": torch.__version__,
              "python": sys.version.split()[0], "checkpoints": LORAS[args.arch], "renders_per_checkpoint": renders,
              "gate_args": args.gate_args}
    extra = shlex.split(args.gate_args)
    try:
        import diffusers

        result["diffusers"] = diffusers.__version__
    except ImportError:
        pass

    def save():  # after every stage
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1) + "\n")

    def ratio(a, b):
        return round(a / b, 2) if a and b else None

    try:
        base, result["base_build_and_save_s"] = build_base(args.arch, device, work / "base")
        result["base_build_and_save_s"] = round(result["base_build_and_save_s"], 1)
        loras = write_loras(args.arch, work / "loras")
        reports = work / "reports"
        shutil.rmtree(reports, ignore_errors=True)
        result["bytecode_compiled_s"] = compile_bytecode()
        result["pythondontwritebytecode"] = os.environ.get("PYTHONDONTWRITEBYTECODE", "")
        save()
        print(f"base {base} ({result['base_build_and_save_s']} s), {len(loras)} LoRAs, {renders} renders each",
              flush=True)
        first = run_gate(base, work / "loras", reports, device, prompts_file, args.gate_timeout, extra)
        result["gate_first"] = first
        result["gate_first_s"] = first["wall_s"]
        result["gate_first_s_per_image"] = round(first["wall_s"] / (renders * len(loras)), 4)
        save()
        print("gate, first run:", json.dumps(first), flush=True)
        cached = run_gate(base, work / "loras", reports, device, prompts_file, args.gate_timeout, extra)
        result["gate_cached"] = cached
        result["gate_cached_s"] = cached["wall_s"]
        result["all_rendered_first"] = first.get("rendered") == renders * len(loras)
        result["nothing_rendered_cached"] = cached.get("rendered") == 0 and cached.get("cached") == renders * len(loras)
        save()
        print("gate, cached re-run:", json.dumps(cached), flush=True)
        folders = {"": reports}  # gate options -> the reports folder of the last first run with them
        for k, variant in enumerate(args.variant):
            fresh = work / f"reports-variant{k}"
            shutil.rmtree(fresh, ignore_errors=True)
            v = run_gate(base, work / "loras", fresh, device, prompts_file, args.gate_timeout,
                         [*extra, *shlex.split(variant)])
            folders[variant.strip()] = fresh
            result.setdefault("variants", []).append(v)
            save()
            print(f"gate, first run with {variant!r}:", json.dumps(v), flush=True)
        for k, night in enumerate(args.nightly):
            new = work / f"loras-night{k}"
            write_loras(args.arch, new, first_seed=100 + 10 * k if args.arch != "tiny" else 1)
            n = run_gate(base, new, folders.get(night.strip(), reports), device, prompts_file, args.gate_timeout,
                         [*extra, *shlex.split(night)])
            n["all_new_rendered"] = n.get("rendered") == renders * len(loras)
            result.setdefault("nightly", []).append(n)
            save()
            print(f"gate, a night's new LoRAs with {night!r}:", json.dumps(n), flush=True)
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
            fresh = work / "reports-profiled"
            shutil.rmtree(fresh, ignore_errors=True)
            for label in ("first", "cached"):
                p = run_gate(base, work / "loras", fresh, device, prompts_file, args.gate_timeout, extra,
                             profile=args.profile / f"{label}.prof")
                result[f"profiled_{label}"] = p
                save()
                print(f"gate, profiled {label} run:", json.dumps(p), flush=True)
        if not args.skip_naive:
            per = min(args.naive_images or NAIVE_IMAGES[args.arch], renders)
            pngs = work / "naive"
            pngs.mkdir(exist_ok=True)
            result.update(naive(base, loras, suite, device, per, pngs))
            result["naive_vs_gate_first"] = ratio(result["naive_total_s"], result["gate_first_s"])
            result["naive_vs_gate_cached"] = ratio(result["naive_total_s"], result["gate_cached_s"])
            result["naive_render_only_vs_gate_first"] = ratio(result["naive_render_total_s"], result["gate_first_s"])
            save()
    finally:
        save()
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=1))
    print(f"gate first run {result.get('gate_first_s')} s, cached re-run {result.get('gate_cached_s')} s; "
          f"naive loop {result.get('naive_total_s')} s"
          f"{' (extrapolated from %s images per checkpoint)' % result.get('naive_images_timed_per_checkpoint') if result.get('naive_extrapolated') else ''}: "
          f"{result.get('naive_vs_gate_first')}x the first run, {result.get('naive_vs_gate_cached')}x the cached one. "
          f"-> {out}")


if __name__ == "__main__":
    main()
