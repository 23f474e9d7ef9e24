"""Is a checkpoint drawing many punks, or the same few? Set-level, per checkpoint.

``diversity``
    Vendi score (the exponential of the entropy of the eigenvalues of K/n, K
    the Gaussian kernel on the model-free cell features of
    `golden_reference.image_features`, golden bandwidth): the effective number
    of distinct punks in a set, 1 for n copies of one punk, n for n punks
    unlike each other. ``relative`` divides it by the Vendi score of golden
    punks drawn for the same suite: for each render one golden punk its prompt
    lists (``golden_groups``; any golden punk for a prompt that lists none),
    mean over `GOLDEN_DRAWS` fixed-seed draws. So about 1 is "as varied as the
    real punks this suite asks for", whatever its size and however many
    prompts it has: a suite of two prompts is compared with golden punks of
    those two prompts, not with the whole varied golden set.

``nearest_collapse``
    Memorisation that sees near copies: the share of renders whose nearest
    golden punk (`set_level.nearest_golden`) is also the nearest golden punk of
    a render of another prompt. A LoRA over-fitted on a handful of punks draws
    those punks whatever it is asked, so different prompts land on the same
    few golden punks even when no render is a 99%-cell copy.

Pure numpy, no I/O; cells (24, 24, 3) uint8.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from evalkit.score.colour import rgb_to_lab
from evalkit.score.golden_reference import GoldenReference, image_features, squared_distances
from evalkit.score.rounding import rounded

GOLDEN_DRAWS = 8


@dataclass(frozen=True)
class Diversity:
    vendi: float  # effective number of distinct renders, in [1, n]
    golden_vendi: float  # the golden punks' own, at the same n
    relative: float  # vendi / golden_vendi; about 1 for a set as varied as the golden punks
    n: int

    def to_dict(self) -> dict:
        return rounded(self)


@dataclass(frozen=True)
class NearestCollapse:
    share: float  # renders whose nearest golden punk is also another prompt's nearest, in [0, 1]
    distinct: int  # distinct nearest golden punks over the set
    top: tuple[tuple[str, int], ...]  # the golden punks most renders land on, with their prompt counts

    def to_dict(self) -> dict:
        return {"share": rounded(self.share), "distinct": self.distinct, "top": [list(t) for t in self.top]}


def vendi_score(features: np.ndarray, bandwidth: float) -> float:
    """Vendi score of rows ``features`` (n, D) with a Gaussian kernel; in [1, n]."""
    f = np.asarray(features, dtype=np.float64)
    if len(f) == 0:
        raise ValueError("vendi_score needs at least one row")
    k = np.exp(-squared_distances(f, f) / (2.0 * bandwidth**2))
    eig = np.clip(np.linalg.eigvalsh(k / len(f)), 0.0, None)
    eig = eig[eig > 1e-12]
    eig = eig / eig.sum()
    return float(np.exp(-(eig * np.log(eig)).sum()))


def cell_features(cells_list, reference: GoldenReference) -> np.ndarray:
    return image_features(rgb_to_lab(np.stack([np.asarray(c) for c in cells_list])), reference.palette_lab)


def golden_vendi(reference: GoldenReference, n: int, seed: int = 0, golden_groups=None) -> float:
    """The Vendi score of ``n`` golden punks drawn as the suite asks (mean over `GOLDEN_DRAWS` draws).

    ``golden_groups[i]``: the golden ids render i's prompt lists; one of them is
    drawn per render (ids the reference lacks are ignored; an empty group draws
    from every golden punk). None: ``n`` distinct punks from the whole set.
    """
    rng = np.random.default_rng(seed)
    everyone = np.arange(len(reference.features))
    if golden_groups is None:
        m = min(n, len(everyone))
        draws = [rng.choice(everyone, m, replace=False) for _ in range(GOLDEN_DRAWS)]
    else:
        where = {g: i for i, g in enumerate(reference.ids)}
        pools = [np.array([where[g] for g in group if g in where]) for group in golden_groups]
        pools = [p if len(p) else everyone for p in pools]
        draws = [np.array([rng.choice(p) for p in pools]) for _ in range(GOLDEN_DRAWS)]
    return float(np.mean([vendi_score(reference.features[d], reference.bandwidth) for d in draws]))


def diversity(cells_list, reference: GoldenReference, golden_groups=None) -> Diversity:
    """How many distinct punks a set of recovered renders holds, against golden punks drawn for the same suite.

    ``cells_list``: (24, 24, 3) uint8 renders; ``golden_groups``: per render,
    the golden ids its prompt lists (see `golden_vendi`).
    """
    cells_list = list(cells_list)
    if golden_groups is not None and len(golden_groups) != len(cells_list):
        raise ValueError("one golden group per render")
    v = vendi_score(cell_features(cells_list, reference), reference.bandwidth)
    g = golden_vendi(reference, len(cells_list), golden_groups=golden_groups)
    return Diversity(vendi=v, golden_vendi=g, relative=v / g, n=len(cells_list))


def nearest_collapse(nearest_ids, prompt_ids, show: int = 3) -> NearestCollapse:
    """``nearest_ids[i]``: the nearest golden punk of render i, ``prompt_ids[i]``: its prompt."""
    nearest_ids, prompt_ids = list(nearest_ids), list(prompt_ids)
    if len(nearest_ids) != len(prompt_ids):
        raise ValueError("one prompt id per render")
    prompts_of = defaultdict(set)
    for g, p in zip(nearest_ids, prompt_ids):
        prompts_of[g].add(p)
    shared = sum(len(prompts_of[g]) > 1 for g in nearest_ids)
    top = sorted(((g, len(ps)) for g, ps in prompts_of.items()), key=lambda t: (-t[1], t[0]))[:show]
    return NearestCollapse(share=shared / len(nearest_ids) if nearest_ids else 0.0,
                           distinct=len(prompts_of), top=tuple(top))
