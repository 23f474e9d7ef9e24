"""grid_sharpness: how well a render is explained by hard-edged cells on a 24x24 grid.

Two measurements on the fitted grid, multiplied:

``explained``
    The block model's R^2: the share of the render's colour variance that
    the recovered cells, drawn back as flat squares on the fitted grid,
    account for. Noise, texture inside cells, blur and a grid the render does
    not follow all leave variance unexplained.

``acuity``
    How much of each colour step between neighbouring cells happens right on
    the grid line. Across every interior grid line the colour change over a
    narrow window (``max(1, pitch / 8)`` px each side) is projected on the
    step between the two cells' voted colours and summed over the whole
    grid; the ratio is 1 for a hard edge and for pixel noise (which averages
    out of the projection), and falls as blur or anti-aliasing spreads the
    step. It is rescaled so that a linear ramp across the whole cell (the
    window's share of the cell) scores 0.

Both are judged against the fitted lattice, uneven cells and per-axis pitches
included (and on the render turned back when the grid was turned), so a crisp
punk drawn on uneven cells scores like one drawn on even cells.

Golden punks upscaled by nearest neighbour score 1; Gaussian blur of 0.1
cell brings the score to about 0.7, 0.25 cell to about 0.1; photographs
score near 0. The score is monotone in blur because both parts are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evalkit.downsample.grid import GRID, GridFit
from evalkit.image_arrays import as_rgb_float
from evalkit.downsample.lattice import cell_index
from evalkit.downsample.rotation import straight_coords, straighten
from evalkit.score.rounding import rounded

# Pixels (per side) sampled for the block model: about this many per axis.
SAMPLE_SIDE = 256
# Sample rows (columns) per cell across which a vertical (horizontal) line is measured.
LINE_SAMPLES = 4


@dataclass(frozen=True)
class GridSharpness:
    """``score`` in [0, 1], higher is better; ``score = acuity * explained``."""

    score: float
    acuity: float
    explained: float

    def to_dict(self) -> dict:
        return rounded(self)


def grid_sharpness(image, fit: GridFit) -> GridSharpness:
    """Score how well ``image`` is hard-edged 24x24 cells on the grid ``fit``.

    Parameters
    ----------
    image : array_like
        The render the grid was fitted on (any form `as_rgb_float` takes).
    fit : GridFit
        From `evalkit.downsample.grid.recover_grid` on the same image.

    Returns
    -------
    GridSharpness
        ``score``, ``acuity`` and ``explained``, each in ``[0, 1]``; finite
        and deterministic for any input (a uniform image scores 0: nothing
        about it shows a grid).
    """
    # the block model follows the turn pixel by pixel (no resampling of the render);
    # the edge windows are read on the render turned back
    rgb = as_rgb_float(image)
    explained = block_model_r2(rgb, fit)
    acuity = edge_acuity(straighten(rgb, fit.rotation), fit)
    return GridSharpness(score=float(acuity * explained), acuity=float(acuity), explained=float(explained))


def block_model(rgb: np.ndarray, fit: GridFit, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """The fitted cells drawn as flat blocks on the fitted lattice, at pixel rows ``ys`` and columns ``xs``.

    ``rgb`` is the render as given: for a turned grid every pixel centre is
    turned back onto the lattice. Pixels outside the 24x24 punk take the
    fitted backdrop colour. Returns (len(ys), len(xs), 3) float32.
    """
    h, w = rgb.shape[:2]
    if fit.rotation:
        v, u = straight_coords(rgb.shape, fit.rotation, ys, xs)
        cy, cx = cell_index(fit.lattice.ys, v), cell_index(fit.lattice.xs, u)
    else:
        cy = fit.cell_of_pixels(0, h)[ys][:, None]
        cx = fit.cell_of_pixels(1, w)[xs][None, :]
    bg = np.asarray(fit.background, np.float32) / 255.0
    padded = np.empty((GRID + 2, GRID + 2, 3), np.float32)
    padded[:] = bg
    padded[1:-1, 1:-1] = fit.cells_float
    iy = np.clip(cy + 1, 0, GRID + 1)
    ix = np.clip(cx + 1, 0, GRID + 1)
    return padded[iy, ix]


def sample_grid(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of a regular subsample of about `SAMPLE_SIDE` per axis."""
    h, w = rgb.shape[:2]
    s = max(1, min(h, w) // SAMPLE_SIDE)
    return np.arange(s // 2, h, s), np.arange(s // 2, w, s)


def block_model_r2(rgb: np.ndarray, fit: GridFit) -> float:
    """Share of the colour variance explained by the block model, in [0, 1] (0 for a uniform image).

    ``rgb`` is the render as given (not turned back).
    """
    ys, xs = sample_grid(rgb)
    step = ys[1] - ys[0] if ys.size > 1 else 1
    sub = rgb[ys[0] :: step, xs[0] :: step] if xs.size > 1 and xs[1] - xs[0] == step else rgb[np.ix_(ys, xs)]
    sub = np.ascontiguousarray(sub)  # one copy: every sum below reads it at full speed
    n = sub.shape[0] * sub.shape[1]
    sq = np.einsum("ijk,ijk->k", sub, sub, dtype=np.float64)
    if fit.rotation:
        diff = sub - block_model(rgb, fit, ys, xs)
        resid = float(np.einsum("ijk,ijk->", diff, diff, dtype=np.float64))
        sums = np.einsum("ijk->k", sub, dtype=np.float64)
    else:
        resid, sums = _blockwise_residual(sub, fit, ys, xs, rgb.shape, float(sq.sum()))
    mean = sums / n
    total = float((sq - n * mean * mean).sum())
    if not np.isfinite(total) or total < 1e-9 * n:
        return 0.0
    return float(np.clip(1.0 - resid / total, 0.0, 1.0))


def _blockwise_residual(sub, fit, ys, xs, shape, sum_sq):
    """``sum((sub - block model)^2)`` for an unturned lattice, and ``sub``'s channel sums, from per-block sums.

    Sampled rows (columns) run through the cells in order, so each block of
    the model is one rectangle of ``sub``: ``sum(sub^2) - 2 sum(cell . block
    sum) + sum(count * cell^2)``.
    """
    cy = np.clip(fit.cell_of_pixels(0, shape[0])[ys] + 1, 0, GRID + 1)
    cx = np.clip(fit.cell_of_pixels(1, shape[1])[xs] + 1, 0, GRID + 1)
    ry = np.flatnonzero(np.r_[True, cy[1:] != cy[:-1]])  # first sampled row of each run of one cell
    rx = np.flatnonzero(np.r_[True, cx[1:] != cx[:-1]])
    sums = np.add.reduceat(np.add.reduceat(sub, ry, axis=0, dtype=np.float64), rx, axis=1)
    counts = np.outer(np.diff(np.r_[ry, cy.size]), np.diff(np.r_[rx, cx.size]))
    padded = np.empty((GRID + 2, GRID + 2, 3), np.float64)
    padded[:] = np.asarray(fit.background, np.float64) / 255.0
    padded[1:-1, 1:-1] = fit.cells_float
    cells = padded[cy[ry]][:, cx[rx]]
    resid = sum_sq - 2.0 * float((cells * sums).sum()) + float((counts[..., None] * cells * cells).sum())
    return max(resid, 0.0), sums.sum(axis=(0, 1))


def edge_acuity(rgb: np.ndarray, fit: GridFit, pairs: np.ndarray | None = None) -> float | None:
    """Share of the cell-to-cell colour steps that happens within a narrow window of the grid lines, in [0, 1].

    ``pairs`` optionally restricts the measurement: a (24, 24) int array of
    cell classes; only steps between a class-1 and a class-2 cell count (the
    photorealism score's dark outline against light cells). Returns None when
    no step qualifies.
    """
    num_x, den_x, ramp_x = _axis_steps(rgb, fit, axis=1, pairs=pairs)
    num_y, den_y, ramp_y = _axis_steps(rgb, fit, axis=0, pairs=pairs)
    den = den_x + den_y
    if den <= 1e-9:
        return None if pairs is not None else 0.0
    ratio = (num_x + num_y) / den
    ramp = (ramp_x * den_x + ramp_y * den_y) / den
    return float(np.clip((ratio - ramp) / (1.0 - ramp), 0.0, 1.0))


def _axis_steps(rgb, fit, axis, pairs=None):
    """Projected window change, squared step and ramp baseline across the lines of one axis.

    ``axis=1``: vertical lines between cell columns, measured along rows.
    """
    img = rgb if axis == 1 else rgb.transpose(1, 0, 2)
    cells = fit.cells_float if axis == 1 else fit.cells_float.transpose(1, 0, 2)
    line_axis, cell_axis = (1, 0) if axis == 1 else (0, 1)
    if axis == 0:
        pairs = None if pairs is None else pairs.T
    lines_at, cell_lines = fit.lattice.lines(line_axis), fit.lattice.lines(cell_axis)
    p_line, p_cell = fit.lattice.pitch(line_axis), fit.lattice.pitch(cell_axis)
    n_across, n_along = img.shape[1], img.shape[0]
    if p_line < 2.0 or p_cell < 1.0:
        return 0.0, 0.0, 0.0
    half = max(1.0, p_line / 8.0)
    k = np.arange(1, GRID)
    lines = lines_at[k]
    left = np.floor(lines - half - 0.5).astype(np.int64)
    right = np.ceil(lines + half - 0.5).astype(np.int64)
    ok = (left >= 0) & (right < n_across)
    if not ok.any():
        return 0.0, 0.0, 0.0
    k, left, right = k[ok], left[ok], right[ok]
    ramp = float(np.mean(np.minimum((right - left) / p_line, 0.99)))
    # sample positions along the line: the inner half of each cell row
    i = np.arange(GRID)
    t = (np.arange(LINE_SAMPLES) + 0.5) / LINE_SAMPLES
    width = np.diff(cell_lines)
    along = np.floor(cell_lines[:-1, None] + (0.25 + 0.5 * t[None, :]) * width[:, None]).astype(np.int64)
    good = (along >= 0) & (along < n_along)
    row_cell = np.repeat(i, LINE_SAMPLES)[good.ravel()]
    along = along[good]
    if along.size == 0:
        return 0.0, 0.0, 0.0
    change = img[along[:, None], right[None, :]] - img[along[:, None], left[None, :]]  # (S, K, 3)
    step = cells[row_cell[:, None], k[None, :]] - cells[row_cell[:, None], k[None, :] - 1]
    if pairs is not None:
        a = pairs[row_cell[:, None], k[None, :] - 1]
        b = pairs[row_cell[:, None], k[None, :]]
        keep = ((a == 1) & (b == 2)) | ((a == 2) & (b == 1))
        step = step * keep[..., None]
    num = float(np.einsum("skc,skc->", change.astype(np.float64), step))
    den = float(np.einsum("skc,skc->", step, step, dtype=np.float64))
    return num, den, ramp
