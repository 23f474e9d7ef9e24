"""Set-level scores: renders as a set against the golden punks.

``mmd_test``
    Maximum mean discrepancy between render features and golden features
    with a Gaussian kernel (bandwidth: median pairwise distance of the golden
    features), the unbiased MMD^2 estimate and a permutation p-value. This is
    CMMD's statistic; unlike FID it makes no Gaussian assumption and is sound
    at the few dozen renders of a prompt suite. Features are model-free
    (`golden_reference.image_features`: the recovered cells in CIELAB plus
    histograms of flat-vs-shaded cells and of distance to the golden
    palette), or CLIP embeddings when a CLIP model is in use.

``memorisation``
    For every render the nearest golden punk (most cells within 5 dE, ties by
    mean dE) and a ``copied`` flag when at least `COPY_SHARE` of the cells
    match: an over-fitted LoRA reproduces training punks (the "dim 128"
    hypothesis). Distinct real punks already share cells (every male has the
    same head outline), so the result also reports how often golden punks
    "copy" each other at the same threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evalkit.score.colour import rgb_to_lab
from evalkit.score.diversity import Diversity, NearestCollapse, diversity, nearest_collapse
from evalkit.score.golden_reference import MATCH_TOLERANCE, GoldenReference, squared_distances
from evalkit.score.rounding import rounded

# A render copies a golden punk when at least this share of its cells match (<= 5 of 576 differ).
COPY_SHARE = 0.99
PERMUTATIONS = 1000


@dataclass(frozen=True)
class MMDResult:
    """Unbiased MMD^2 (can be slightly negative when the sets agree) and its permutation p-value."""

    mmd2: float
    p_value: float
    n_renders: int
    n_golden: int
    permutations: int
    bandwidth: float
    features: str

    def to_dict(self) -> dict:
        return rounded(self)


@dataclass(frozen=True)
class NearestGolden:
    """The golden punk closest to one render."""

    golden_id: str
    index: int
    shared: float
    mean_delta_e: float
    copied: bool

    def to_dict(self) -> dict:
        return {k: v for k, v in rounded(self).items() if k != "index"}


@dataclass(frozen=True)
class Memorisation:
    nearest: tuple[NearestGolden, ...]
    copies: int
    copy_rate: float
    golden_copy_rate: float
    copy_share: float

    def to_dict(self) -> dict:
        """Counts only; the per-render nearest punks go with each render."""
        return {k: v for k, v in rounded(self).items() if k != "nearest"}


@dataclass(frozen=True)
class SetScores:
    mmd: MMDResult | None
    memorisation: Memorisation
    diversity: Diversity | None = None  # None for an empty set
    collapse: NearestCollapse | None = None  # None without the renders' prompt ids

    def to_dict(self) -> dict:
        return {name: None if part is None else part.to_dict()
                for name, part in (("mmd", self.mmd), ("memorisation", self.memorisation),
                                   ("diversity", self.diversity), ("collapse", self.collapse))}


def rbf_kernel(a: np.ndarray, b: np.ndarray, bandwidth: float) -> np.ndarray:
    """Gaussian kernel ``exp(-|a - b|^2 / (2 * bandwidth^2))`` between rows."""
    return np.exp(-squared_distances(a, b) / (2.0 * bandwidth * bandwidth))


def mmd_test(
    render_features,
    golden_features,
    *,
    bandwidth: float,
    permutations: int = PERMUTATIONS,
    seed: int = 0,
    features: str = "model_free",
) -> MMDResult | None:
    """Kernel two-sample test between renders and golden punks.

    Parameters
    ----------
    render_features : (m, D) array_like
    golden_features : (n, D) array_like
    bandwidth : float
        Kernel width (`GoldenReference.bandwidth` for the model-free features).
    permutations : int
        Random relabellings for the p-value; the seed is fixed, so the result
        is deterministic.
    features : str
        Name of the feature space, reported back.

    Returns
    -------
    MMDResult, or None when either set has fewer than 2 members (the
    unbiased estimate needs pairs).
    """
    x = np.asarray(render_features, np.float64)
    y = np.asarray(golden_features, np.float64)
    m, n = x.shape[0], y.shape[0]
    if m < 2 or n < 2:
        return None
    bandwidth = float(bandwidth) if np.isfinite(bandwidth) and bandwidth > 0 else 1.0
    z = np.concatenate([x, y])
    k = rbf_kernel(z, z, bandwidth)
    observed = _mmd2_from_assignment(k, np.r_[np.ones(m), np.zeros(n)][:, None], m, n)[0]
    rng = np.random.default_rng(seed)
    count, done = 0, 0
    batch = 250
    while done < permutations:
        p = min(batch, permutations - done)
        assign = np.zeros((m + n, p))
        for j in range(p):
            assign[rng.permutation(m + n)[:m], j] = 1.0
        stats = _mmd2_from_assignment(k, assign, m, n)
        count += int(np.count_nonzero(stats >= observed - 1e-12))
        done += p
    p_value = (1 + count) / (1 + permutations)
    return MMDResult(
        mmd2=float(observed),
        p_value=float(p_value),
        n_renders=m,
        n_golden=n,
        permutations=int(permutations),
        bandwidth=bandwidth,
        features=features,
    )


def _mmd2_from_assignment(k: np.ndarray, a: np.ndarray, m: int, n: int) -> np.ndarray:
    """Unbiased MMD^2 for each column of ``a`` (1 = first sample, 0 = second); the kernel's diagonal is 1."""
    ka = k @ a
    total = k.sum()
    row = k.sum(1)
    s_xx = (a * ka).sum(0)
    s_xy = (a * (row[:, None] - ka)).sum(0)
    s_yy = total - 2.0 * (a * row[:, None]).sum(0) + s_xx
    diag = np.trace(k) / k.shape[0]
    return (
        (s_xx - m * diag) / (m * (m - 1))
        + (s_yy - n * diag) / (n * (n - 1))
        - 2.0 * s_xy / (m * n)
    )


def nearest_golden(cells, reference: GoldenReference, copy_share: float = COPY_SHARE) -> NearestGolden:
    """The golden punk sharing most cells (within 5 dE) with ``cells`` (24, 24, 3); ties by mean dE."""
    lab = rgb_to_lab(np.asarray(cells)).reshape(1, -1, 3)
    d = np.sqrt(((reference.lab - lab) ** 2).sum(-1))  # (N, 576)
    shared = (d <= MATCH_TOLERANCE).mean(1)
    mean = d.mean(1)
    i = int(np.lexsort((mean, -shared))[0])
    return NearestGolden(
        golden_id=reference.ids[i],
        index=i,
        shared=float(shared[i]),
        mean_delta_e=float(mean[i]),
        copied=bool(shared[i] >= copy_share),
    )


def memorisation(cells_list, reference: GoldenReference, copy_share: float = COPY_SHARE) -> Memorisation:
    """Nearest golden punk for each recovered render and how many are copies."""
    nearest = tuple(nearest_golden(c, reference, copy_share) for c in cells_list)
    copies = sum(n.copied for n in nearest)
    golden_rate = float((reference.nn_share >= copy_share).mean()) if len(reference) > 1 else 0.0
    return Memorisation(
        nearest=nearest,
        copies=copies,
        copy_rate=copies / len(nearest) if nearest else 0.0,
        golden_copy_rate=golden_rate,
        copy_share=copy_share,
    )


def set_scores(
    cells_list,
    reference: GoldenReference,
    *,
    clip_features: np.ndarray | None = None,
    permutations: int = PERMUTATIONS,
    copy_share: float = COPY_SHARE,
    seed: int = 0,
    prompt_ids=None,
    golden_groups=None,
) -> SetScores:
    """MMD against the golden set, memorisation and diversity for a list of recovered (24, 24, 3) punks.

    ``prompt_ids`` (one per render) adds the near-copy collapse
    (`diversity.nearest_collapse`); ``golden_groups`` (per render, the golden
    ids its prompt lists) is what diversity is measured against. With ``clip_features`` (renders' CLIP embeddings, the reference holding
    the golden ones) the MMD runs on CLIP features (CMMD); otherwise on the
    model-free cell features.
    """
    from evalkit.score.golden_reference import image_features

    cells_list = list(cells_list)
    if clip_features is not None and reference.clip_features is not None:
        mmd = mmd_test(
            clip_features, reference.clip_features, bandwidth=_median_bandwidth(reference.clip_features),
            permutations=permutations, seed=seed, features="clip",
        )
    elif cells_list:
        feats = image_features(rgb_to_lab(np.stack([np.asarray(c) for c in cells_list])), reference.palette_lab)
        mmd = mmd_test(feats, reference.features, bandwidth=reference.bandwidth, permutations=permutations, seed=seed)
    else:
        mmd = None
    mem = memorisation(cells_list, reference, copy_share)
    collapse = None
    if prompt_ids is not None:
        collapse = nearest_collapse([n.golden_id for n in mem.nearest], prompt_ids)
    return SetScores(mmd=mmd, memorisation=mem, diversity=diversity(cells_list, reference, golden_groups) if cells_list else None,
                     collapse=collapse)


def _median_bandwidth(features: np.ndarray) -> float:
    from evalkit.score.golden_reference import median_distance

    return median_distance(features)
