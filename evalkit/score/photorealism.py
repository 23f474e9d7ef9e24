"""photorealism: how photo-like a render has drifted (higher is worse).

The drift our users saw as "realistic babies": the subject survives, the
flat cells, the small palette and the black outline do not. A model-free
score needs no weights; it averages four signals, each in ``[0, 1]``:

``texture``
    Structure inside cells above pixel noise: each cell's inner part is split
    into 2x2 sub-blocks and the spread of the sub-block means around the cell
    mean is compared with the spread between cells. Smooth shading, gradients
    and photographic texture raise it; pixel noise averages out of the means.
    Mapped by ``1 - exp(-ratio / 0.02)``.
``gradation``
    Smooth colour transitions between cells: pixel art puts each cell next to
    an identical neighbour or a clearly different one; a photo's cells differ
    from every neighbour by a little. Per cell, the delta-E to its most
    similar 4-neighbour, ramped from 2 dE (0) to 8 dE (1), averaged.
``colours``
    Many distinct colours: the recovered punk's colour count (8 dE merged)
    beyond the golden maximum, ``(n - most) / (2 * most)`` clipped.
``no_outline``
    No hard outline: punks draw a dark outline (L* < 15) against light cells
    (L* > 35) with a hard edge. 1 minus the edge acuity
    (`evalkit.score.grid_sharpness.edge_acuity`) measured only across
    dark/light cell pairs; 1 when the render has no such pair at all.

``model_free = (3 * texture + gradation + colours + no_outline) / 6``.

An optional CLIP signal (`evalkit.score.clip_signal`) adds zero-shot "photo"
vs "pixel art" and the distance of the render's CLIP embedding from the
golden set's; when used, the score is the mean of the model-free score and
the CLIP score. `Photorealism.signals` lists what was used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from evalkit.downsample.grid import GRID, GridFit
from evalkit.score.colour import colour_count, rgb_to_lab
from evalkit.score.golden_reference import COUNT_TOLERANCE, GoldenReference
from evalkit.score.grid_sharpness import edge_acuity
from evalkit.score.rounding import rounded

TEXTURE_SCALE = 0.02
GRADATION_START, GRADATION_FULL = 2.0, 8.0
WEIGHTS = {"texture": 3.0, "gradation": 1.0, "colours": 1.0, "no_outline": 1.0}
OUTLINE_DARK, OUTLINE_LIGHT = 15.0, 35.0
# Pixels sampled per side of a sub-block.
SUB_SAMPLES = 4


@dataclass(frozen=True)
class Photorealism:
    """``score`` in [0, 1]: higher is more photo-like (worse).

    ``signals`` maps each signal used to its value in [0, 1]; ``model_free``
    is the weighted mean of the model-free ones, ``clip`` the CLIP score or
    None when CLIP was not used.
    """

    score: float
    model_free: float
    clip: float | None
    signals: dict = field(default_factory=dict)

    @property
    def used(self) -> list[str]:
        return list(self.signals)

    def to_dict(self) -> dict:
        return {**rounded(self), "used": self.used}


def photorealism(image, fit: GridFit, reference: GoldenReference, clip_signals: dict | None = None) -> Photorealism:
    """Score how photo-like a render is.

    Parameters
    ----------
    image : array_like
        The render (any form `as_rgb_float` takes).
    fit : GridFit
        Its recovered grid.
    reference : GoldenReference
        Golden statistics (colour-count range, outline share).
    clip_signals : dict, optional
        From `evalkit.score.clip_signal.ClipModel.signals`: ``{"clip_zero_shot":
        p, "clip_distance": d}`` in [0, 1]. None (default) scores without CLIP.

    Returns
    -------
    Photorealism
        Finite and deterministic for any input.
    """
    rgb = fit.straighten(image)
    lab = rgb_to_lab(fit.cells_float)
    signals = {
        "texture": texture_signal(rgb, fit),
        "gradation": gradation_signal(lab),
        "colours": colour_signal(lab, reference),
        "no_outline": outline_signal(rgb, fit, lab),
    }
    model_free = sum(WEIGHTS[k] * v for k, v in signals.items()) / sum(WEIGHTS.values())
    clip = None
    if clip_signals:
        values = [float(np.clip(v, 0.0, 1.0)) for v in clip_signals.values()]
        clip = float(np.mean(values))
        signals.update({k: float(np.clip(v, 0.0, 1.0)) for k, v in clip_signals.items()})
    score = model_free if clip is None else 0.5 * (model_free + clip)
    return Photorealism(score=float(np.clip(score, 0.0, 1.0)), model_free=float(model_free), clip=clip, signals=signals)


def texture_signal(rgb: np.ndarray, fit: GridFit) -> float:
    """Structure inside cells (2x2 sub-block means of each cell's inner part) against structure between cells."""
    h, w = rgb.shape[:2]
    narrowest = 0.6 * min(np.diff(fit.lattice.ys).min(), np.diff(fit.lattice.xs).min())
    s = int(min(SUB_SAMPLES, max(1, np.floor(narrowest / 2))))  # one count for both axes
    ys = _sub_block_samples(fit.lattice.ys, s)  # (24, 2, S)
    xs = _sub_block_samples(fit.lattice.xs, s)
    if ys is None or xs is None:
        return 0.0
    rows_ok = ((ys >= 0) & (ys < h)).all(axis=(1, 2))
    cols_ok = ((xs >= 0) & (xs < w)).all(axis=(1, 2))
    ys, xs = ys[rows_ok], xs[cols_ok]
    if ys.shape[0] == 0 or xs.shape[0] == 0:
        return 0.0
    # (Ry, 2, S, Rx, 2, S, 3) -> sub-block means (Ry, Rx, 4, 3)
    patch = rgb[ys.reshape(-1)[:, None], xs.reshape(-1)[None, :]]
    ry, rx, s = ys.shape[0], xs.shape[0], ys.shape[2]
    patch = patch.reshape(ry, 2, s, rx, 2, s, 3).astype(np.float64)
    sub = patch.mean(axis=(2, 5)).transpose(0, 2, 1, 3, 4).reshape(ry, rx, 4, 3)
    cell = sub.mean(axis=2, keepdims=True)
    within = ((sub - cell) ** 2).sum(-1).mean()
    between = ((cell - cell.mean(axis=(0, 1), keepdims=True)) ** 2).sum(-1).mean()
    if within + between <= 1e-12:
        return 0.0
    ratio = within / (within + between)
    return float(1.0 - np.exp(-ratio / TEXTURE_SCALE))


def _sub_block_samples(lines, s):
    """Pixel indices (24, 2, s) sampling the two halves of each (possibly uneven) cell's inner 60%."""
    width = np.diff(lines)
    inner = 0.6 * width
    if inner.min() / 2 < 1.0:
        return None
    half = np.arange(2)[None, :, None]
    t = (np.arange(s)[None, None, :] + 0.5) / s
    pos = lines[:-1, None, None] + 0.2 * width[:, None, None] + (half + t) * (inner[:, None, None] / 2)
    return np.floor(pos).astype(np.int64)


def gradation_signal(lab_cells: np.ndarray) -> float:
    """Mean over cells of how far the most similar 4-neighbour is, ramped 2..8 dE to 0..1."""
    lab = np.asarray(lab_cells, np.float64)
    big = np.full(lab.shape[:2], np.inf)
    best = big.copy()
    d_v = np.sqrt(((lab[1:] - lab[:-1]) ** 2).sum(-1))
    d_h = np.sqrt(((lab[:, 1:] - lab[:, :-1]) ** 2).sum(-1))
    best[1:] = np.minimum(best[1:], d_v)
    best[:-1] = np.minimum(best[:-1], d_v)
    best[:, 1:] = np.minimum(best[:, 1:], d_h)
    best[:, :-1] = np.minimum(best[:, :-1], d_h)
    ramp = np.clip((best - GRADATION_START) / (GRADATION_FULL - GRADATION_START), 0.0, 1.0)
    return float(ramp.mean())


def colour_signal(lab_cells: np.ndarray, reference: GoldenReference) -> float:
    """Colour count beyond the golden maximum, ``(n - most) / (2 * most)`` clipped to [0, 1]."""
    n = colour_count(np.asarray(lab_cells).reshape(-1, 3), COUNT_TOLERANCE)
    most = max(1, reference.colour_count_range[1])
    return float(np.clip((n - most) / (2.0 * most), 0.0, 1.0))


def outline_signal(rgb: np.ndarray, fit: GridFit, lab_cells: np.ndarray) -> float:
    """1 - edge acuity across dark (L* < 15) / light (L* > 35) cell pairs; 1 when there are none."""
    lum = np.asarray(lab_cells)[..., 0]
    classes = np.where(lum < OUTLINE_DARK, 1, np.where(lum > OUTLINE_LIGHT, 2, 0))
    acuity = edge_acuity(rgb, fit, pairs=classes)
    return 1.0 if acuity is None else float(1.0 - acuity)
