"""Multi-GPU benchmark: the same checkpoints rendered on 1 GPU and on N GPUs, in one run.

    python bench/bench_multigpu.py --arch sd15 --gpus 2                        # 2 GPUs: throughput + identity
    python bench/bench_multigpu.py --arch tiny --gpus 2                        # testbed: real pass/fail verdicts
    python bench/bench_multigpu.py --arch tiny --device cpu --gpus 2 --steps 2 --images 4   # CPU smoke test (gloo)

Both runs go through the user's command, `torchrun -m evalkit.cli render`
(--nproc-per-node 1, then N) into two separate reports folders, then the gate
scores each folder once (`pytest evalkit --score-only --junitxml`). Checks:
every cached PNG of the N-GPU run has the sha256 of the 1-GPU run's, and the
gate's verdicts and JUnit properties (suite means, intervals: the verdict
inputs) are equal. Prints the throughput ratio (images/s, N GPUs over 1; the
time runs from all ranks being up to the last image written, base loads
included; process start-up is reported apart) and writes JSON to bench/results/.
Exit status 1 when images or verdicts differ.

sd15/sdxl use a full-size base with random weights saved to a local folder
(speed does not depend on weights; verdicts are all "fail" but must agree) and
rank-32 kohya LoRAs; tiny uses the shipped testbed, its three LoRAs and
derived ones (lora_up scaled) up to --checkpoints.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
RENDER_DEFAULTS = {"tiny": {"steps": 20, "guidance": 5.0, "batch_size": 16},
                   "sd15": {"steps": 25, "guidance": 7.5, "batch_size": 16},
                   "sdxl": {"steps": 25, "guidance": 7.5, "batch_size": 4}}


def make_base(arch: str, work: Path, device: str, steps: int | None) -> Path:
    """A local diffusers folder with an evalkit.json carrying the render settings (so the gate uses the same)."""
    if arch == "tiny":
        base = work / "tiny-punks-base"
        shutil.copytree(ROOT / "checkpoints" / "tiny-punks-base", base)
    else:
        from bench_render import build_pipeline

        base = work / f"{arch}-random"
        pipe = build_pipeline(arch, device, torch.float16 if device.startswith("cuda") else torch.float32)
        pipe.save_pretrained(base)
        del pipe
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
    render = dict(RENDER_DEFAULTS[arch], **({"steps": steps} if steps else {}))
    (base / "evalkit.json").write_text(json.dumps({"render": render}))
    return base


def make_loras(arch: str, work: Path, n: int) -> list[Path]:
    if arch != "tiny":
        from bench_render import write_loras

        return write_loras(arch, work, n, 32)
    from safetensors import safe_open
    from safetensors.torch import load_file

    from evalkit.inspect.kohya_format import kohya_state_dict_to_file

    shipped = [ROOT / "checkpoints" / f"tiny_punks_{k}.safetensors" for k in ("perfect", "photoreal", "wrong_colors")]
    paths = []
    for i in range(n):
        src = shipped[i % 3]
        path = work / f"{i:02d}_{src.stem}.safetensors"
        if i < 3:
            shutil.copyfile(src, path)
        else:  # a weaker copy: distinct weights, so a distinct checkpoint
            with safe_open(str(src), "pt") as f:
                meta = f.metadata()
            state = {k: v * (0.4 + 0.1 * i) if k.endswith("lora_up.weight") else v for k, v in load_file(str(src)).items()}
            kohya_state_dict_to_file(path, state, meta)
        paths.append(path)
    return paths


def write_prompts(path: Path, images: int) -> Path:
    """The first prompts of golden/prompts.toml, with enough of their seeds for `images` per checkpoint."""
    from evalkit.golden.prompts import load_prompts

    suite = load_prompts(ROOT / "golden" / "prompts.toml")
    per = min(len(suite[0].seeds), -(-images // len(suite)))
    chosen = suite[: -(-images // per)]
    blocks = [f"[[prompts]]\nid = {json.dumps(p.id)}\ncaption_style = {json.dumps(p.caption_style)}\n"
              f"text = {json.dumps(p.text)}\nnegative = {json.dumps(p.negative)}\n"
              f"seeds = {json.dumps(list(p.seeds[:per]))}\ngolden = {json.dumps(list(p.golden))}\n" for p in chosen]
    path.write_text("\n".join(blocks))
    return path


def render(nproc: int, loras, base: Path, prompts: Path, reports: Path, device: str) -> dict:
    ck = [a for f in loras for a in ("--checkpoint", str(f))]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc),
           "-m", "evalkit.cli", "render", *ck, "--base-model", str(base), "--prompts", str(prompts),
           "--reports-dir", str(reports), "--json"] + (["--device", "cpu"] if device == "cpu" else [])
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    if device == "cpu":
        env["OMP_NUM_THREADS"] = "1"  # what torchrun gives each of N>1 workers: same numerics in both runs
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode:
        sys.exit(f"bench_multigpu: render on {nproc} process(es) failed:\n{proc.stderr[-4000:]}")
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    total = rows[-1]["run"]
    return {"processes": nproc, "wall_s": round(wall, 2), "render_s": total["seconds"], "images": total["rendered"],
            "images_per_s": total["images_per_s"], "startup_s": round(wall - total["seconds"], 2),
            "ranks_per_checkpoint": {Path(r["checkpoint"]).stem: r["ranks"] for r in rows if "checkpoint" in r}}


def png_hashes(reports: Path) -> dict[str, str]:
    cache = reports / "cache"
    return {str(p.relative_to(cache)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(cache.rglob("*.png"))}


def gate(loras, base: Path, prompts: Path, reports: Path) -> dict:
    """Score once from the cache, as the documented second step; returns {test id: (outcome, properties)}."""
    xml = reports / "junit.xml"
    ck = [a for f in loras for a in ("--checkpoint", str(f))]
    proc = subprocess.run([sys.executable, "-m", "pytest", "evalkit", *ck, "--score-only", "--base-model", str(base),
                           "--prompts", str(prompts), "--reports-dir", str(reports), f"--junitxml={xml}",
                           "-p", "no:cacheprovider", "-q"], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode not in (0, 1) or not xml.is_file():  # 0 pass, 1 some verdict failed: both are verdicts
        sys.exit(f"bench_multigpu: the gate failed on {reports} (exit {proc.returncode}):\n"
                 f"{(proc.stdout + proc.stderr)[-3000:]}")
    out = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        outcome = "error" if case.find("error") is not None else "fail" if case.find("failure") is not None else "pass"
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        out[f"{case.get('classname')}::{case.get('name')}"] = (outcome, props)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", choices=["tiny", "sd15", "sdxl"], default="sd15")
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--gpus", type=int, default=2, help="processes of the multi-GPU run (one per GPU)")
    ap.add_argument("--checkpoints", type=int, default=4)
    ap.add_argument("--images", type=int, default=64, help="images per checkpoint (64: the whole suite)")
    ap.add_argument("--steps", type=int, default=None, help="sampler steps (default: the base's, 20 tiny / 25 SD)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the work folder (base, LoRAs, both caches)")
    args = ap.parse_args(argv)
    if args.device == "cuda" and torch.cuda.device_count() < args.gpus:
        sys.exit(f"bench_multigpu: --gpus {args.gpus} but {torch.cuda.device_count()} CUDA device(s) visible")
    work = Path(tempfile.mkdtemp(prefix="bench_multigpu_"))
    base = make_base(args.arch, work, args.device, args.steps)
    loras = make_loras(args.arch, work, args.checkpoints)
    prompts = write_prompts(work / "prompts.toml", args.images)
    one = render(1, loras, base, prompts, work / "one", args.device)
    many = render(args.gpus, loras, base, prompts, work / "many", args.device)
    h1, hn = png_hashes(work / "one"), png_hashes(work / "many")
    v1, vn = gate(loras, base, prompts, work / "one"), gate(loras, base, prompts, work / "many")
    result = {
        "arch": args.arch, "device": args.device, "gpu": torch.cuda.get_device_name(0) if args.device == "cuda" else None,
        "torch": torch.__version__, "checkpoints": len(loras), "images_per_checkpoint": one["images"] // len(loras),
        "render": json.loads((base / "evalkit.json").read_text())["render"], "one": one, "many": many,
        "throughput_ratio": round(many["images_per_s"] / one["images_per_s"], 3),
        "wall_ratio": round(one["wall_s"] / many["wall_s"], 3),
        "images_compared": len(h1), "identical_images": h1 == hn and len(h1) == one["images"],
        "differing_images": sorted(k for k in h1 if hn.get(k) != h1[k])[:10],
        "verdicts": {k: o for k, (o, _) in v1.items()}, "identical_verdicts": v1 == vn and bool(v1),
    }
    if args.device == "cpu":
        result["note"] = "CPU smoke test: processes share this machine's cores, the ratio says nothing of GPU scaling"
    out = args.out or ROOT / "bench" / "results" / f"multigpu_{args.arch}_{args.device}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("arch", "gpu", "checkpoints", "images_per_checkpoint", "throughput_ratio",
                                             "wall_ratio", "identical_images", "identical_verdicts")}))
    print(f"1 process: {one['images_per_s']} img/s, {args.gpus}: {many['images_per_s']} img/s "
          f"-> {result['throughput_ratio']}x; written to {out}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if result["identical_images"] and result["identical_verdicts"] else 1


if __name__ == "__main__":
    sys.exit(main())
