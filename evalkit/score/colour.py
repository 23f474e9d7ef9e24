"""Perceptual colour: sRGB to CIELAB (D65) and delta-E, in plain numpy.

Kept here rather than calling `skimage.color.rgb2lab` so the metrics stay
fast on a few hundred cells and dtype-exact; `tests/score/test_colour_and_layout.py`
checks both agree. Delta-E is CIE76 (Euclidean distance in Lab): on the few
hundred colours a punk score compares it is cheap, and the tolerances below
are stated in its units.
"""

from __future__ import annotations

import numpy as np

# sRGB (linear) -> XYZ, D65 white, IEC 61966-2-1.
_RGB_TO_XYZ = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ]
)
_WHITE_D65 = np.array([0.95047, 1.0, 1.08883])


def rgb_to_lab(rgb) -> np.ndarray:
    """sRGB to CIELAB (D65, 2 degree observer).

    Parameters
    ----------
    rgb : (..., 3) array_like
        uint8 (0..255) or float in ``[0, 1]``.

    Returns
    -------
    lab : (..., 3) float64 ndarray
        ``L`` in ``[0, 100]``, ``a``/``b`` roughly in ``[-128, 127]``.
    """
    arr = np.asarray(rgb)
    x = arr.astype(np.float64) / 255.0 if arr.dtype == np.uint8 else np.clip(arr.astype(np.float64), 0.0, 1.0)
    lin = np.where(x > 0.04045, ((x + 0.055) / 1.055) ** 2.4, x / 12.92)
    xyz = lin @ _RGB_TO_XYZ.T / _WHITE_D65
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16.0 / 116.0)
    lab = np.empty_like(f)
    lab[..., 0] = 116.0 * f[..., 1] - 16.0
    lab[..., 1] = 500.0 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200.0 * (f[..., 1] - f[..., 2])
    return lab


def delta_e(lab1, lab2) -> np.ndarray:
    """CIE76 delta-E between broadcastable ``(..., 3)`` Lab arrays."""
    d = np.asarray(lab1, np.float64) - np.asarray(lab2, np.float64)
    return np.sqrt((d * d).sum(-1))


def nearest_distance(lab, palette_lab) -> np.ndarray:
    """Delta-E from each colour in ``lab`` (N, 3) to its nearest colour in ``palette_lab`` (P, 3).

    Returns (N,) float64; ``inf`` where the palette is empty.
    """
    lab = np.asarray(lab, np.float64).reshape(-1, 3)
    pal = np.asarray(palette_lab, np.float64).reshape(-1, 3)
    if pal.shape[0] == 0:
        return np.full(lab.shape[0], np.inf)
    # |a - b|^2 = |a|^2 + |b|^2 - 2 a.b, one matrix product
    d2 = (lab * lab).sum(1)[:, None] + (pal * pal).sum(1)[None, :] - 2.0 * lab @ pal.T
    return np.sqrt(np.maximum(d2.min(1), 0.0))


def cluster_colours(lab, tolerance: float, max_clusters: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Greedy clustering of colours: each colour joins the first centre within ``tolerance``.

    Centres are taken in order of frequency (commonest colour first), so the
    result is deterministic.

    Parameters
    ----------
    lab : (N, 3) array_like
        Lab colours, e.g. the 576 cells of a 24x24 punk.
    tolerance : float
        Delta-E within which colours count as one.
    max_clusters : int
        Stop after this many centres; the rest are counted as one cluster each
        up to ``N`` (the count is then a lower bound, which is all a score needs).

    Returns
    -------
    labels : (N,) int64
        Cluster of each colour (``-1`` for colours left once ``max_clusters`` was reached).
    centres : (K, 3) float64
        Lab of each cluster's first (commonest) colour.
    """
    lab = np.asarray(lab, np.float64).reshape(-1, 3)
    labels = np.full(lab.shape[0], -1, np.int64)
    if lab.shape[0] == 0:
        return labels, np.zeros((0, 3))
    uniq, inverse, counts = np.unique(np.round(lab, 3), axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    order = np.lexsort((np.arange(uniq.shape[0]), -counts))
    uniq_label = np.full(uniq.shape[0], -1, np.int64)
    centres = []
    for i in order:
        if uniq_label[i] >= 0:
            continue
        if len(centres) >= max_clusters:
            break
        free = uniq_label < 0
        near = free & (delta_e(uniq, uniq[i]) <= tolerance)
        uniq_label[near] = len(centres)
        centres.append(uniq[i])
    labels = uniq_label[inverse]
    return labels, np.array(centres).reshape(-1, 3)


def colour_count(lab, tolerance: float, max_clusters: int = 64) -> int:
    """Number of distinct colours at a delta-E ``tolerance`` (at most N; exact up to ``max_clusters``)."""
    labels, centres = cluster_colours(lab, tolerance, max_clusters)
    return int(centres.shape[0] + np.count_nonzero(labels < 0))


def backdrop_lab(lab_cells: np.ndarray) -> np.ndarray:
    """Backdrop of (..., 24, 24, 3) Lab cells: median of row 0 and the two outer columns each side.

    Every punk leaves those cells as backdrop (`evalkit.downsample.layout`).
    """
    lab = np.asarray(lab_cells, np.float64)
    border = np.concatenate(
        [lab[..., 0, :, :], lab[..., 1:23, :2, :].reshape(*lab.shape[:-3], -1, 3),
         lab[..., 1:23, 22:, :].reshape(*lab.shape[:-3], -1, 3)],
        axis=-2,
    )
    return np.median(border, axis=-2)
