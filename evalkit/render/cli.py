"""`evalkit render`: render the prompt suite through checkpoints into the cache."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from evalkit.errors import EvalkitError
from evalkit.golden.prompts import load_prompts
from evalkit.paths import DEFAULT_PROMPTS, DEFAULT_REPORTS
from evalkit.render.options import add_render_options, check_overrides, render_overrides
from evalkit.terminal_text import printable
from evalkit.usable_dir import writable_dir


def register(sub) -> None:
    p = sub.add_parser(
        "render",
        help="render the fixed-seed prompt suite through LoRA checkpoints (cached)",
        description="Load each LoRA onto its base model, verify it took effect, and render every "
        "(prompt, seed) of the suite into the render cache under --reports-dir. Cached images are reused.",
    )
    p.add_argument("--checkpoint", action="append", required=True, type=Path, metavar="FILE",
                   help="LoRA checkpoint (.safetensors) to render; repeat for several")
    p.add_argument("--base-model", default=None, metavar="ID_OR_PATH",
                   help="base model: hub id, local diffusers folder or single-file .safetensors (default: the base "
                   "named in the LoRA's metadata if found locally, else the default for its architecture)")
    p.add_argument("--base-config", default=None, metavar="DIR", help="local config folder for a single-file base")
    p.add_argument("--prompts", type=Path, default=DEFAULT_PROMPTS, metavar="FILE",
                   help="prompt suite (TOML, or a kohya prompt file; default: evalkit's golden prompts.toml)")
    p.add_argument("--reports-dir", type=Path, default=DEFAULT_REPORTS, metavar="DIR",
                   help="where the render cache lives (default: ./reports, or EVALKIT_REPORTS_DIR)")
    p.add_argument("--lora-scale", type=float, default=1.0, metavar="W", help="adapter weight (default 1.0)")
    p.add_argument("--device", default=None, metavar="DEV", help="torch device (default: cuda if available, else cpu)")
    add_render_options(p.add_argument)
    p.add_argument("--batch-size", type=int, default=None, metavar="N",
                   help="images per pipeline call (never changes an image; default 8, halved on out-of-memory)")
    p.add_argument("--compile", action="store_true", default=None,
                   help="torch.compile the UNet (GPU: faster after ~1 min of compiling; part of the cache key)")
    p.add_argument("--verify", type=int, default=0, metavar="N",
                   help="after rendering, re-render the first N (prompt, seed) images of each checkpoint with the "
                   "cache bypassed and report whether this machine reproduced the stored pixels")
    p.add_argument("--check-loaders", type=int, default=0, metavar="N",
                   help="render the first N (prompt, seed) images through evalkit's merge and through diffusers/peft's "
                   "loader and compare the recovered 24x24 punks (exit 1 on a disagreement)")
    p.add_argument("--json", action="store_true", help="print one JSON object per checkpoint, then {\"run\": totals}")
    p.set_defaults(func=run)


def run(args) -> int:
    """One process, or one rank of `torchrun ... -m evalkit.cli render` (see distributed.py)."""
    from evalkit.render.distributed import render_checkpoints

    prompts = load_prompts(args.prompts)
    writable_dir(args.reports_dir)  # before the base loads: a bad folder costs no render
    settings = check_overrides(render_overrides(lambda name: getattr(args, name)))
    done = render_checkpoints(args.checkpoint, prompts, args.reports_dir, base_model=args.base_model,
                              base_config=args.base_config, device=args.device, lora_scale=args.lora_scale,
                              batch_size=args.batch_size, compile=args.compile, **settings)
    if done.world.rank == 0 or done.lost_contact:  # rank 0 speaks for all, unless it cannot hear them
        _print(done, args.checkpoint, args.json)
    failed = bool(done.errors)
    if args.verify and done.world.rank == 0 and not failed:
        failed = _verify(args, prompts)
    if args.check_loaders and done.world.rank == 0 and not failed:
        failed = _check_loaders(args, prompts)
    return 1 if failed else 0


def _check_loaders(args, prompts) -> bool:
    """One line (or JSON object) per checkpoint; True when the loaders disagree or one could not be checked."""
    from evalkit.check_loaders import check_loaders

    return _per_checkpoint(args, "loaders", lambda ckpt, options: check_loaders(
        ckpt, prompts, args.reports_dir, args.check_loaders, **options), lambda r: r.agrees)


def _verify(args, prompts) -> bool:
    """The re-render check, one line (or JSON object) per checkpoint; True when one could not be checked."""
    from evalkit.render.reproduce import check_reproduction

    return _per_checkpoint(args, "reproduction", lambda ckpt, options: check_reproduction(
        ckpt, prompts, args.reports_dir, args.verify, compile=args.compile, **options), lambda r: True)


def _per_checkpoint(args, name: str, check, ok) -> bool:
    """Run ``check`` on each checkpoint, print its line (or {name: dict}); True when one failed or was not ``ok``."""
    options = dict(base_model=args.base_model, base_config=args.base_config, device=args.device,
                   lora_scale=args.lora_scale, batch_size=args.batch_size,
                   **render_overrides(lambda dest: getattr(args, dest)))
    failed = False
    for ckpt in dict.fromkeys(str(Path(c)) for c in args.checkpoint):
        try:
            r = check(Path(ckpt), options)
        except EvalkitError as exc:
            print(f"evalkit render: error: {exc}", file=sys.stderr, flush=True)
            failed = True
            continue
        print(json.dumps({name: r.to_dict()}) if args.json else printable(r.line()), flush=True)
        failed = failed or not ok(r)
    return failed


def _print(done, checkpoints, as_json: bool) -> None:
    for ckpt in dict.fromkeys(str(Path(c)) for c in checkpoints):
        parts = [r for r in done.results if r.checkpoint == ckpt]
        if not parts:  # only when a peer was lost: this rank cannot speak for its checkpoints
            continue
        ok = [r for r in parts if not r.error]
        rendered, seconds = sum(r.rendered for r in ok), max((r.seconds for r in ok), default=0.0)
        summary = {"checkpoint": ckpt, "rendered": rendered, "cached": sum(r.cached for r in ok),
                   "seconds": round(seconds, 2), "images_per_s": round(rendered / seconds, 3) if rendered else None,
                   "folder": next((r.folder for r in ok if r.folder), None), "config": ok[0].config if ok else None,
                   "ranks": sorted({r.rank for r in parts}),
                   "error": next((f"rank {r.rank}: {r.error}" for r in parts if r.error), None)}
        if as_json:
            print(json.dumps(summary), flush=True)
        elif not summary["error"]:
            print(printable(f"{ckpt}: {rendered} rendered, {summary['cached']} cached -> {summary['folder']}"), flush=True)
    rendered = sum(r.rendered for r in done.results)
    total = {"ranks": done.world.size, "images": sum(r.images for r in done.results), "rendered": rendered,
             "cached": sum(r.cached for r in done.results), "failed": len(done.errors),
             "seconds": round(done.seconds, 2), "images_per_s": round(rendered / done.seconds, 3) if rendered else None}
    if as_json:
        print(json.dumps({"run": total}), flush=True)
    elif done.world.size > 1:
        print(f"{rendered} rendered, {total['cached']} cached on {done.world.size} ranks in {total['seconds']} s", flush=True)
    for line in done.errors:
        print(printable(f"evalkit render: error: {line}"), file=sys.stderr, flush=True)
