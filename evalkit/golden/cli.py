"""`evalkit init [KOHYA_DATASET_DIR]`: set up the current folder for the gate.

Writes ``evalkit.toml`` (the ``[gate]`` settings `evalkit gate` reads, and a
commented thresholds table) and, given a kohya dataset folder, a prompt suite
built from its captions (evalkit/golden/user_suite.py) with the dataset as the
golden set, so the gate judges the user's style from the first run. An existing
file is never overwritten without ``--force``.
"""

from __future__ import annotations

from pathlib import Path

from evalkit.errors import EvalkitError
from evalkit.paths import PROJECT_FILE, atomic_write_text

SUITE_FILE = "evalkit-prompts.toml"


def register(sub) -> None:
    p = sub.add_parser("init", help="write evalkit.toml (and a prompt suite from a kohya dataset's captions) here")
    p.add_argument("dataset", nargs="?", type=Path, metavar="KOHYA_DATASET_DIR",
                   help="the kohya training folder (N_name/ subfolders of images with same-name .txt captions): "
                   "the golden set, and the captions the prompt suite is built from. Default: evalkit's golden punks")
    p.add_argument("--max-prompts", type=int, default=None, metavar="N",
                   help="at most N prompts in the suite (default 32)")
    p.add_argument("--force", action="store_true", help="overwrite evalkit.toml and the suite if they exist")
    p.set_defaults(func=run)


def run(args) -> int:
    from evalkit.golden.user_suite import MAX_PROMPTS, build_suite, suite_toml

    here = Path.cwd()
    targets = [here / PROJECT_FILE] + ([here / SUITE_FILE] if args.dataset else [])
    for t in targets:
        if t.exists() and not args.force:
            raise EvalkitError(t, "exists; pass --force to overwrite it")
    if args.max_prompts is not None and args.max_prompts < 1:
        raise EvalkitError(None, "--max-prompts must be at least 1")
    gate = ["[gate]"]
    if args.dataset:
        dataset = args.dataset.expanduser().resolve()
        prompts, covered, every = build_suite(dataset, args.max_prompts or MAX_PROMPTS)
        atomic_write_text(here / SUITE_FILE, suite_toml(prompts, dataset, covered, every))
        gate += [f"golden = {_quoted(dataset)}  # the punks renders are judged against", f'prompts = "{SUITE_FILE}"']
        print(f"{SUITE_FILE}: {len(prompts)} prompts from {dataset} covering {len(covered)} of {len(every)} tags")
    else:
        gate += ["# golden = \"path/to/kohya/dataset\"  # default: evalkit's golden punks",
                 "# prompts = \"prompts.toml\"        # default: prompts.toml in golden"]
    text = "\n".join([
        "# evalkit's settings for this folder (`evalkit gate` and `pytest --pyargs evalkit` run from here).",
        "# The command line wins over these; relative paths are relative to this file.",
        *gate, "",
        "# [thresholds]  # override the gate's thresholds (README: The gate, Thresholds)",
        "# grid_sharpness = 0.6", "",
    ])
    atomic_write_text(here / PROJECT_FILE, text)
    print(f"{PROJECT_FILE}: written; now run: evalkit gate --checkpoint YOUR_LORA.safetensors")
    return 0


def _quoted(path: Path) -> str:
    from evalkit.golden.user_suite import toml_string

    return toml_string(str(path))
