"""Votes: every fitted cell's colour from samples of its inner part.

The colour of a cell is the per-channel median of `VOTE_SAMPLES` x
`VOTE_SAMPLES` pixels spread over its inner part (a `VOTE_MARGIN` share of
the cell left out at each edge, where anti-aliasing and a line misplaced by a
pixel live), not a plain resize. Cells follow the fitted lines, so uneven
cells are sampled inside themselves.
"""

from __future__ import annotations

import numpy as np

# Share of a cell (per side) left out of the vote at each edge.
VOTE_MARGIN = 0.2
VOTE_SAMPLES = 5


def axis_samples(lines: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Visible share (cells,) and `VOTE_SAMPLES` pixel indices (cells, S) inside the inner part of each cell.

    Cell ``j`` spans ``[lines[j], lines[j + 1])`` of an axis of ``n`` pixels.
    """
    start, end = lines[:-1], lines[1:]
    width = np.maximum(end - start, 1e-9)
    vis = (np.minimum(end, n) - np.maximum(start, 0)) / width
    lo = np.maximum(start + VOTE_MARGIN * width, 0.0)
    hi = np.minimum(end - VOTE_MARGIN * width, float(n))
    # a cell cut by the frame down to its margin: sample the visible part's middle
    cut = hi - lo < 1.0
    vis_lo, vis_hi = np.maximum(start, 0.0), np.minimum(end, float(n))
    lo = np.where(cut, vis_lo + 0.25 * (vis_hi - vis_lo), lo)
    hi = np.where(cut, vis_hi - 0.25 * (vis_hi - vis_lo), hi)
    t = (np.arange(VOTE_SAMPLES) + 0.5) / VOTE_SAMPLES
    samples = np.floor(lo[:, None] + (hi - lo)[:, None] * t[None, :]).astype(np.int64)
    return np.clip(vis, 0.0, 1.0), np.clip(samples, 0, n - 1)


def median_votes(rgb: np.ndarray, sy: np.ndarray, sx: np.ndarray) -> np.ndarray:
    """Per-channel median of the samples ``sy`` (Ly, S) x ``sx`` (Lx, S); (Ly, Lx, 3) float32."""
    patch = rgb[sy[:, :, None, None], sx[None, None, :, :]]  # (Ly, S, Lx, S, 3)
    patch = patch.transpose(0, 2, 1, 3, 4).reshape(sy.shape[0], sx.shape[0], -1, 3)
    return np.median(patch, axis=2).astype(np.float32)


def vote_cells(rgb: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median colour of every cell between the lines ``xs`` / ``ys``.

    Returns (votes (Ly, Lx, 3) float32, visible share (Ly, Lx)).
    """
    h, w = rgb.shape[:2]
    vy, sy = axis_samples(np.asarray(ys, np.float64), h)
    vx, sx = axis_samples(np.asarray(xs, np.float64), w)
    return median_votes(rgb, sy, sx), np.outer(vy, vx)
