"""A prompt suite built from the user's own kohya captions (`evalkit init DATASET`).

The gate should judge a LoRA on what it was trained to draw. The captions of
the user's dataset (``N_name/`` folders of images with same-stem ``.txt``
files, or images directly in the folder) are split into comma-separated tags,
and captions are picked greedily, each adding the most tags not yet covered,
until every tag is covered or the suite is full; remaining room is left empty
rather than padded with near-duplicates. The pick is deterministic (ties go to
the earlier file), and every prompt renders at the same fixed seeds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from evalkit.errors import EvalkitError
from evalkit.golden.load import _read_kohya_folder  # the one reader of kohya folders (load.py)

MAX_PROMPTS = 32  # "a few dozen": 64 renders at two seeds, minutes on a GPU
SEEDS = (1000, 1001)
NEGATIVE = "photo, photograph, realistic, 3d render, blurry, smooth shading, gradient, soft focus, jpeg artifacts"


@dataclass(frozen=True)
class SuitePrompt:
    id: str
    text: str
    source: Path  # the caption's image


def caption_tags(caption: str) -> list[str]:
    """A kohya caption's tags: comma-separated, trimmed, lower-cased, in order, without repeats."""
    tags = [t.strip().lower() for t in caption.split(",")]
    return list(dict.fromkeys(t for t in tags if t))


def build_suite(dataset: Path, max_prompts: int = MAX_PROMPTS) -> tuple[list[SuitePrompt], set[str], set[str]]:
    """(prompts, tags covered, every tag) from the captions in ``dataset``; an EvalkitError naming the
    folder when it has no image with a caption."""
    images, captions = _read_kohya_folder(Path(dataset))
    captioned = [(img, cap, set(caption_tags(cap))) for img, cap in zip(images, captions) if caption_tags(cap)]
    if not captioned:
        raise EvalkitError(dataset, "no image has a caption (.txt or .caption beside it): nothing to build prompts from")
    every = set().union(*(tags for _, _, tags in captioned))
    covered: set[str] = set()
    picked: list[SuitePrompt] = []
    used_ids: set[str] = set()
    remaining = list(captioned)
    while remaining and len(picked) < max_prompts and covered != every:
        best = max(range(len(remaining)), key=lambda i: (len(remaining[i][2] - covered), -i))
        img, cap, tags = remaining.pop(best)
        covered |= tags
        picked.append(SuitePrompt(_unique_id(img, used_ids), cap, img))
    return picked, covered, every


def _unique_id(image: Path, used: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", image.stem).strip("_.-") or "prompt"
    name, n = base, 2
    while name in used:
        name, n = f"{base}_{n}", n + 1
    used.add(name)
    return name


def toml_string(text: str) -> str:
    """A TOML basic string (captions may hold quotes, backslashes or control characters)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\u{ord(m.group()):04X}", escaped)
    return f'"{escaped}"'


def suite_toml(prompts: list[SuitePrompt], dataset: Path, covered: set[str], every: set[str]) -> str:
    lines = [
        f"# Built by `evalkit init` from the captions in {dataset}",
        f"# ({len(prompts)} captions covering {len(covered)} of their {len(every)} tags). Edit freely:",
        "# ids are the images' names, seeds are fixed so every run renders the same images.",
        "[defaults]",
        f"negative = {toml_string(NEGATIVE)}",
        f"seeds = [{', '.join(map(str, SEEDS))}]",
    ]
    for p in prompts:
        lines += ["", "[[prompts]]", f"id = {toml_string(p.id)}", f"text = {toml_string(p.text)}"]
    return "\n".join(lines) + "\n"
