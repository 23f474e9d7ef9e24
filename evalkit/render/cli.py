"""`evalkit render`: render the prompt suite through checkpoints into the cache."""

from __future__ import annotations

import json
from pathlib import Path

from evalkit.golden.prompts import load_prompts
from evalkit.plugin import DEFAULT_PROMPTS, DEFAULT_REPORTS


def register(sub) -> None:
    p = sub.add_parser(
        "render",
        help="render the fixed-seed prompt suite through LoRA checkpoints (cached)",
        description="Load each LoRA onto its base model, verify it took effect, and render every "
        "(prompt, seed) of the suite into the render cache under --reports-dir. Cached images are reused.",
    )
    p.add_argument("--checkpoint", action="append", required=True, type=Path, metavar="FILE")
    p.add_argument("--base-model", default=None, metavar="ID_OR_PATH")
    p.add_argument("--base-config", default=None, metavar="DIR", help="local config folder for a single-file base")
    p.add_argument("--prompts", type=Path, default=DEFAULT_PROMPTS)
    p.add_argument("--reports-dir", type=Path, default=DEFAULT_REPORTS)
    p.add_argument("--lora-scale", type=float, default=1.0)
    p.add_argument("--device", default=None)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--guidance", type=float, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--json", action="store_true", help="print one JSON object per checkpoint")
    p.set_defaults(func=run)


def run(args) -> int:
    from evalkit.errors import EvalkitError
    from evalkit.render.run import render_checkpoint

    prompts = load_prompts(args.prompts)
    failed = 0
    for ckpt in args.checkpoint:
        try:
            job, _ = render_checkpoint(ckpt, prompts, args.reports_dir, base_model=args.base_model,
                                       base_config=args.base_config, device=args.device, lora_scale=args.lora_scale,
                                       steps=args.steps, guidance=args.guidance, batch_size=args.batch_size)
        except EvalkitError as exc:  # one bad checkpoint does not stop the others
            print(f"evalkit render: error: {exc}", flush=True)
            failed += 1
            continue
        summary = {"checkpoint": str(ckpt), "rendered": job.rendered, "cached": job.cached,
                   "seconds": round(job.seconds, 2), "images_per_s": round(job.rendered / job.seconds, 3) if job.rendered else None,
                   "folder": str(job.renders[0].path.parent) if job.renders else None, "config": job.config.to_dict()}
        print(json.dumps(summary) if args.json else
              f"{ckpt}: {job.rendered} rendered, {job.cached} cached -> {summary['folder']}")
    return 1 if failed else 0
