"""`evalkit score`: score renders made anywhere, on CPU, with no model weights.

    evalkit score renders/ --golden golden/ --prompts golden/prompts.toml --json

Each image gets its recovered 24x24 grid and the three scores; the set gets
an MMD against the golden punks and a memorisation check.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from evalkit.errors import EvalkitError
from evalkit.paths import DEFAULT_GOLDEN
from evalkit.terminal_text import printable


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "score",
        help="recover the 24x24 grid of renders and score them against golden punks",
        description=(
            "Score renders (PNG/JPEG/WebP from A1111, ComfyUI, kohya samples...) on CPU: "
            "grid_sharpness and palette_fidelity (higher is better), photorealism (higher "
            "is worse), plus set-level MMD against the golden punks and memorisation."
        ),
    )
    p.add_argument("images", nargs="*", metavar="IMAGE_OR_DIR", help="render files or folders of them")
    p.add_argument(
        "--kohya-samples", default=None, metavar="OUTPUT_DIR",
        help="score the samples sd-scripts drew during training (OUTPUT_DIR/sample/NAME_e000001_00_TIME_SEED.png) "
        "and print each run's epoch curve; --prompts: the --sample_prompts file they came from",
    )
    p.add_argument(
        "--golden", default=str(DEFAULT_GOLDEN), metavar="DIR",
        help="golden punks: evalkit's golden/ or a kohya training folder (default: %(default)s)",
    )
    p.add_argument(
        "--prompts", default=None, metavar="FILE",
        help="prompt suite (TOML); a render named <prompt_id>-seed<N>.png is checked for its prompt's hex codes",
    )
    p.add_argument("--save-24", default=None, metavar="DIR", help="write each recovered 24x24 punk here as PNG")
    p.add_argument("--json", action="store_true", help="print one JSON object per image (JSON Lines)")
    p.add_argument(
        "--clip-model", default=None, metavar="NAME",
        help="add the CLIP photorealism signal: an open_clip architecture with --clip-weights, "
        "or hf-hub:org/name (downloads it)",
    )
    p.add_argument("--clip-weights", default=None, metavar="FILE", help="local CLIP checkpoint for --clip-model")
    p.add_argument("--permutations", type=int, default=1000, metavar="N", help="MMD permutations (default 1000)")
    p.set_defaults(func=run)


def run(args) -> int:
    from evalkit.golden.labels import load_labels
    from evalkit.golden.load import load_golden
    from evalkit.score.golden_reference import build_reference
    from evalkit.score.prompt_adherence import requested_for
    from evalkit.image_io import image_files
    from evalkit.score.score_image import score_file
    from evalkit.score.set_level import set_scores

    if args.permutations < 0:
        raise EvalkitError("--permutations", "must be zero or more")
    if args.kohya_samples:
        if args.images:
            raise EvalkitError("--kohya-samples", "reads its folder's sample/ images: give no IMAGE_OR_DIR with it")
        return run_samples(args)
    if not args.images:
        raise EvalkitError("IMAGE_OR_DIR", "give render files or folders, or --kohya-samples OUTPUT_DIR")
    files = image_files(args.images)
    prompts = _load_prompts(args.prompts)
    clip = None
    if args.clip_model:
        from evalkit.score.clip_signal import load_clip

        clip = load_clip(args.clip_model, args.clip_weights)
    elif args.clip_weights:
        raise EvalkitError("--clip-weights", "given without --clip-model NAME")
    golden = load_golden(args.golden)
    reference = build_reference(golden, clip=clip)
    labels = load_labels(golden.root)
    save_dir = Path(args.save_24) if args.save_24 else None
    if save_dir is not None:
        if save_dir.exists() and not save_dir.is_dir():
            raise EvalkitError(save_dir, "--save-24 must be a folder")
        save_dir.mkdir(parents=True, exist_ok=True)

    results = []
    saved: set[str] = set()
    for path in files:
        prompt = match_prompt(path.stem, prompts)
        scores = score_file(path, reference, hex_codes=prompt.hex_codes if prompt else (), clip=clip,
                            prompt=prompt.text if prompt else "",
                            requested=requested_for(prompt.text, prompt.golden, labels) if prompt else frozenset())
        out_24 = None
        if save_dir is not None:
            out_24 = _unique_name(save_dir, path.stem, saved)
            Image.fromarray(scores.fit.cells).save(out_24)
        results.append((path, prompt, scores, out_24))

    clip_feats = None
    if clip is not None:  # CMMD on the renders' own CLIP embeddings
        clip_feats = np.stack([r[2].clip_embedding for r in results])
    sets = set_scores([r[2].fit.cells for r in results], reference, clip_features=clip_feats,
                      permutations=args.permutations)
    set_dict = sets.to_dict()
    for (path, prompt, scores, out_24), nearest in zip(results, sets.memorisation.nearest):
        if args.json:
            obj = {"file": str(path), "prompt": prompt.id if prompt else None}
            obj.update(scores.to_dict())
            obj["nearest_golden"] = nearest.to_dict()
            obj["saved_24"] = str(out_24) if out_24 else None
            obj["set"] = set_dict
            print(json.dumps(obj))
        else:
            print(printable(_line(path, scores, nearest)))
    if not args.json:
        print(_set_summary(sets, len(results)))
    sys.stdout.flush()
    return 0


def run_samples(args) -> int:
    """`--kohya-samples`: every sample scored, one line each (or JSON Lines), then each run's epoch curve."""
    from evalkit.gate.epochs import summary_lines
    from evalkit.gate.samples import score_samples
    from evalkit.golden.load import load_golden
    from evalkit.score.golden_reference import build_reference

    if args.clip_model or args.clip_weights or args.save_24:
        raise EvalkitError("--kohya-samples", "takes none of --clip-model, --clip-weights, --save-24")
    prompts = _load_prompts(args.prompts) if args.prompts else None
    reference = build_reference(load_golden(args.golden))
    result = score_samples(Path(args.kohya_samples), reference, prompts)
    for s, prompt, scores in result.images:
        where = f"epoch {s.epoch}" if s.epoch is not None else f"step {s.steps}"
        if args.json:
            print(json.dumps({"file": str(s.path), "run": s.run, "epoch": s.epoch, "steps": s.steps, "index": s.index,
                              "seed": s.seed, "prompt": prompt.id if prompt else None, **scores.to_dict()}))
        else:
            print(printable(f"{s.path.name} ({where}, prompt {s.index:02d}): "
                            + "  ".join(f"{k} {v:.3f}" for k, v in scores.values.items())))
    lines = summary_lines(result.runs) + result.skipped_lines()
    if args.json:
        print(json.dumps({"epochs": {"runs": [r.to_dict() for r in result.runs], "refused": result.refused},
                          "skipped": [str(p) for p in result.unparsed],
                          "unmatched": [str(s.path) for s in result.unmatched]}))
        for line in result.skipped_lines():
            print(printable(line), file=sys.stderr)
    else:
        for line in lines:
            print(printable(line))
        if not result.runs:
            print("epochs: no run has samples of two or more epochs")
    sys.stdout.flush()
    return 0


def match_prompt(stem: str, prompts):
    """The prompt whose id is the longest prefix of a render's file stem (``<id>-seed<N>``), or None."""
    best = None
    for p in prompts:
        if stem.startswith(p.id) and (best is None or len(p.id) > len(best.id)):
            best = p
    return best


def _load_prompts(path):
    if not path:
        return []
    from evalkit.golden.prompts import load_prompts

    return load_prompts(path)


def _unique_name(folder: Path, stem: str, used: set[str]) -> Path:
    name, n = stem, 1
    while name in used:
        n += 1
        name = f"{stem}-{n}"
    used.add(name)
    return folder / f"{name}.png"


def _line(path, s, nearest) -> str:
    copied = " COPY" if nearest.copied else ""
    return (
        f"{path}: " + "  ".join(f"{name} {value:.3f}" for name, value in s.values.items())
        + f"  (pitch {s.fit.pitch_x * s.scale:.2f} px, "
        f"confidence {s.fit.confidence:.2f}; nearest golden {nearest.golden_id} "
        f"{nearest.shared:.0%} shared{copied})"
    )


def _set_summary(sets, n) -> str:
    m = sets.memorisation
    parts = [f"{n} image(s)"]
    if sets.mmd is None:
        parts.append("MMD needs at least 2 images")
    else:
        parts.append(
            f"MMD^2 vs golden {sets.mmd.mmd2:.4f} (p = {sets.mmd.p_value:.3f}, {sets.mmd.features} features)"
        )
    parts.append(
        f"copies of golden punks {m.copies}/{n} (golden punks among themselves: {m.golden_copy_rate:.0%})"
    )
    return "set: " + "; ".join(parts)
