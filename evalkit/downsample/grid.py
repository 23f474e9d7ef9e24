"""Grid recovery: a rendered image back to the 24x24 punk grid.

A render (512x512 for SD1.5 at 21.3 px per cell, 1024x1024 for SDXL at 42.7,
192x192 for the testbed at 8) is a punk drawn on a grid that need not line up
with the frame: the punk may be shifted, scaled or padded by backdrop, its
cells uneven (19 to 24 px within one render), not square (the punk in a band
shorter than the frame) or the whole grid turned by up to a degree.
Recovery runs in these steps, each in its own module:

1. **Edge profiles** (`profiles`): colour-difference energy across every
   pixel boundary, summed along rows (for vertical grid lines) and columns,
   also per strip of the image.
2. **Rotation** (`rotation`): the strips' profiles drift apart when the grid
   is turned; a turn of at least `MIN_DEGREES` is undone (nearest-neighbour)
   before the fit when the straightened image fits the grid better.
3. **Pitch and phase** (`pitch`): one pitch for both axes from the profiles'
   spectrum and comb scores, or a pitch per axis when that explains the
   edges clearly better (non-square cells).
4. **Lines** (`refine`): a least-squares regular lattice, then every line
   walked to its local edge within a bounded share of the pitch (uneven
   cells). The result is a `Lattice` (`lattice`): line positions per axis.
5. **Votes** (`vote`): every cell's colour is the per-channel median of
   samples from its inner part, not a plain resize.
6. **Anchor** (`anchor`): which 24x24 block of the fitted cells is the punk
   (the neck reaches row 23; the columns under the body templates).

Pitches are searched so that the punk spans 0.5x to 1.5x the frame's shorter
side. Images without a periodic structure (photos, heavy blur, comb score
under `MIN_PERIODICITY`) or under `MIN_FIT_SIDE` px fall back to the frame
grid (the frame is 24x24 cells) with low confidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evalkit.downsample.anchor import anchor, anchor_cols
from evalkit.image_arrays import as_rgb_float
from evalkit.downsample.lattice import Lattice, line_pitch, take_lines
from evalkit.downsample.layout import PUNK_LAYOUTS
from evalkit.downsample.pitch import PITCH_PRIOR, SAME_PITCH, comb_score, fit_pitch, own_pitches
from evalkit.downsample.profiles import (
    above_floor,
    comb_capture,
    edge_profiles,
    estimate_background,
    line_capture,
    raw_capture,
    strip_profiles,
)
from evalkit.downsample.refine import fit_axis, fit_regular, frame_lines, walk_axis
from evalkit.downsample.rotation import MIN_DEGREES, STRIPS, measure_rotation, straighten
from evalkit.downsample.vote import axis_samples, median_votes, vote_cells

GRID = 24
# Below this many pixels per side there is no measurable grid: use the frame.
MIN_FIT_SIDE = 3 * GRID
# Comb score below which the fitted grid is not trusted (photographs: median ~0.1).
MIN_PERIODICITY = 0.2
# A turn is undone when the straightened image's lines catch this much more edge energy, or when
# its strip profiles add up at least PEAK_GAIN peakier and its lines catch no more than this less.
ROTATION_GAIN, PEAK_GAIN = 0.01, 0.01

# Lines are walked to their edges only on a grid whose regular comb catches at least this much.
WALK_MIN_PERIODICITY = 0.4
# An axis leaves the shared pitch only for a hypothesis catching this much more edge energy (raw capture).
SHARED_MARGIN = 0.1

# An axis whose shared-pitch lines catch this much of its edge energy (chance-corrected) tries no other pitch.
CLEAR_CAPTURE = 0.95

# the layout test drives the column anchor directly
_anchor_cols = anchor_cols


@dataclass(frozen=True)
class GridFit:
    """A fitted 24x24 grid and the cell colours voted on it.

    Cell ``(row, col)`` of the punk covers pixels with centre ``x + 0.5`` in
    ``[lattice.xs[col], lattice.xs[col + 1])`` and likewise for ``y``;
    coordinates are those of the array the grid was fitted on, turned back by
    ``rotation`` degrees (`straighten`; the identity for an unturned grid).

    Attributes
    ----------
    cells : (24, 24, 3) uint8
        Recovered punk, RGB.
    cells_float : (24, 24, 3) float32
        The same votes before rounding, in ``[0, 1]``.
    lattice : Lattice
        The punk's 25 grid lines per axis (possibly uneven).
    pitch_x, pitch_y : float
        Pixels per cell of each axis: the pitch of the regular lattice the
        lines were walked from (least-squares over every line found, so
        fractional pitches come back to a few thousandths).
    origin_x, origin_y : float
        Left / top edge of punk cell (0, 0) in pixels; may be negative or
        beyond the frame when the punk is shifted or cut.
    confidence : float
        In ``[0, 1]``: ``periodicity * coverage``.
    periodicity : float
        In ``[0, 1]``: share of the edge energy on the fitted grid lines beyond
        what lines at random positions would catch (1 for a crisp render).
    coverage : float
        In ``[0, 1]``: share of the 24x24 punk that lies inside the frame.
    visible : (24, 24) float32
        Per-cell share inside the frame.
    background : tuple of int
        Backdrop RGB estimated from the frame's top and side borders.
    method : str
        ``"fitted"`` or ``"frame"`` (fallback: the frame is the 24x24 grid).
    shape : tuple of int
        ``(H, W)`` of the fitted image.
    rotation : float
        Degrees the grid was turned in the render (0 when not undone).
    lines_found : float
        In ``[0, 1]``: share of the grid lines inside the frame that the line
        walk found on an edge (the rest run through flat colour).
    """

    cells: np.ndarray
    cells_float: np.ndarray
    lattice: Lattice
    confidence: float
    periodicity: float
    coverage: float
    visible: np.ndarray
    background: tuple[int, int, int]
    method: str
    shape: tuple[int, int]
    pitch_x: float = 0.0
    pitch_y: float = 0.0
    rotation: float = 0.0
    lines_found: float = 0.0

    @property
    def origin_x(self) -> float:
        return self.lattice.origin(1)

    @property
    def origin_y(self) -> float:
        return self.lattice.origin(0)

    def to_dict(self, scale: float = 1.0) -> dict:
        """JSON-ready summary (no arrays); ``scale`` converts to original pixels."""
        return {
            "pitch_x": round(self.pitch_x * scale, 4),
            "pitch_y": round(self.pitch_y * scale, 4),
            "origin_x": round(self.origin_x * scale, 3),
            "origin_y": round(self.origin_y * scale, 3),
            "rotation": round(self.rotation, 3),
            "unevenness": round(self.lattice.unevenness(), 4),
            "confidence": round(self.confidence, 4),
            "periodicity": round(self.periodicity, 4),
            "coverage": round(self.coverage, 4),
            "lines_found": round(self.lines_found, 4),
            "background": "#%02X%02X%02X" % self.background,
            "method": self.method,
        }

    def cell_of_pixels(self, axis: int, n: int) -> np.ndarray:
        """Punk cell index (may be <0 or >=24) of each of ``n`` pixel rows (axis 0) or columns (axis 1)."""
        return self.lattice.cell_of(axis, n)

    def straighten(self, image) -> np.ndarray:
        """``image`` (the render this grid was fitted on) as (H, W, 3) float32, turned back so the lattice fits it."""
        return straighten(as_rgb_float(image), self.rotation)


# ----------------------------------------------------------------------------
# public entry point


def recover_grid(image, *, layouts=None) -> GridFit:
    """Recover the 24x24 punk grid of a rendered image.

    Parameters
    ----------
    image : array_like
        Any image `as_rgb_float` accepts: ``(H, W)``, ``(H, W, 3)`` or
        ``(H, W, 4)``; uint8, uint16 or float in ``[0, 1]``.
    layouts : sequence of (24, 24) ndarray, optional
        Body templates: share of punks whose cell is not backdrop. They anchor
        the 24x24 window among the fitted cells. Default: the golden punks'
        `PUNK_LAYOUTS` (female; male, zombie, ape, alien).

    Returns
    -------
    fit : GridFit
        Deterministic; finite for any input.
    """
    rgb = as_rgb_float(image)
    h, w = rgb.shape[:2]
    layouts = [np.asarray(t, np.float64) for t in (PUNK_LAYOUTS.values() if layouts is None else layouts)]
    bg = estimate_background(rgb)
    if min(h, w) < MIN_FIT_SIDE:
        return _frame_fit(rgb, bg, periodicity=0.0)
    sx, sy = strip_profiles(rgb, STRIPS)
    lines = fit_lines(above_floor(sx.sum(0)), above_floor(sy.sum(0)), w, h)
    # every edge on a fitted line already: a turn that mattered would have moved some off them
    degrees, sharper = measure_rotation(sx, sy) if lines[2] < 1.0 - 1e-6 else (0.0, 0.0)
    if abs(degrees) >= MIN_DEGREES:
        turned = straighten(rgb, degrees)
        straight = fit_lines(*(above_floor(e) for e in edge_profiles(turned)), w, h)
        # the comb forgives a line leaning by a pixel or two, the peakier profile does not: a turn
        # is undone when it lines edges up clearly better and the straightened grid fits no worse
        if straight[2] > lines[2] + ROTATION_GAIN or (sharper >= PEAK_GAIN and straight[2] >= lines[2] - ROTATION_GAIN):
            rgb, lines = turned, straight
        else:
            degrees = 0.0
    else:
        degrees = 0.0
    xs, ys, periodicity, found, pitches = lines
    if xs is None or periodicity < MIN_PERIODICITY:
        return _frame_fit(rgb if degrees == 0.0 else as_rgb_float(image), bg, periodicity=periodicity)
    return _anchored_fit(rgb, bg, xs, ys, pitches, periodicity, found, degrees, layouts)


def fit_lines(ex, ey, w, h):
    """Grid lines of an image from its edge profiles: ``(xs, ys, periodicity, lines found)``.

    ``xs`` / ``ys`` bound every cell that holds a pixel centre; they are None
    (and periodicity the comb score) when no periodic grid is found. Each
    axis's pitch hypotheses (`fit_pitch`) are walked (`walk_lines`) and the one
    whose lines catch the most edge energy beyond chance wins; when both axes
    pick the shared pitch, the two are fitted together as before (square cells).
    """
    pitch = fit_pitch(ex, ey, w, h)
    if pitch is None:
        return None, None, 0.0, 0.0, None
    (p, phase_x, phase_y), score = pitch
    if score < MIN_PERIODICITY and not _any_axis_periodic(ex, ey, w, h):
        return None, None, score, 0.0, None
    square, captures, drawn = _square_lines(ex, ey, p, phase_x, phase_y, w, h)
    if min(captures) >= CLEAR_CAPTURE and all(abs(q / p - 1) <= SAME_PITCH for q in drawn):
        # one pitch already explains both axes, and the lines found are drawn at it (the walk
        # can follow a pitch a few percent off): no other hypothesis can do better
        return square
    frame = min(w, h) / GRID
    best = []
    for e, phase, n in ((ex, phase_x, w), (ey, phase_y, h)):
        options = []
        for q, ph in _hypotheses(e, p, phase, n, w, h):
            o, q = fit_axis(e, q, ph)
            lines, found, q = walk_axis(e, o, q, n)
            gain = raw_capture(e, lines, q) - PITCH_PRIOR * abs(np.log(q / frame))
            options.append((gain, q, lines, found))
            if len(options) == 1 and line_capture(e, lines, q) >= CLEAR_CAPTURE:
                break  # the shared pitch already explains this axis: nothing to gain
        top = max(options, key=lambda t: t[0])
        # the shared pitch unless an axis's own is clearly better: ties are float noise; a walk that
        # refitted the shared pitch away from it (a band of other cells) has no claim to that preference
        shared = options[0][0] >= top[0] - SHARED_MARGIN and abs(options[0][1] / p - 1) <= SAME_PITCH
        best.append(options[0] if shared else top)
    (_, qx, xs, found_x), (_, qy, ys, found_y) = best
    if abs(qx / qy - 1) <= SAME_PITCH:  # square cells after all: both axes fitted together
        return square
    periodicity = 0.5 * (line_capture(ex, xs, qx) + line_capture(ey, ys, qy))
    return xs, ys, periodicity, 0.5 * (found_x + found_y), (qx, qy)


def _square_lines(ex, ey, p, phase_x, phase_y, w, h):
    """`fit_lines`'s answer for square cells (both axes fitted together at the shared pitch, then walked).

    Also returns each axis's line capture and the pitch its walked lines are drawn at (least squares).
    """
    ox, px, oy, py = fit_regular(ex, ey, p, phase_x, p, phase_y)
    # the joint fit pins the pitch with both axes' lines: walk from it without refitting
    xs, found_x, qx = walk_axis(ex, ox, px, w, refits=0)
    ys, found_y, qy = walk_axis(ey, oy, py, h, refits=0)
    if 0.5 * (comb_capture(ex, px, ox) + comb_capture(ey, py, oy)) < WALK_MIN_PERIODICITY:
        # a weak regular grid: walking its lines to whatever edges are near would invent one
        xs, ys = frame_lines(ox, px, w), frame_lines(oy, py, h)
    captures = line_capture(ex, xs, qx), line_capture(ey, ys, qy)
    return (xs, ys, 0.5 * sum(captures), 0.5 * (found_x + found_y), (qx, qy)), captures, (line_pitch(xs), line_pitch(ys))


def _hypotheses(e, p, phase, n, w, h):
    """The shared pitch first, then (only when asked for more) the axis's own pitches that differ from it."""
    yield p, phase
    shared = comb_score(e, p, w, h)
    for q, ph, score in own_pitches(e, n, w, h):
        # the shared pitch again (own phase) walks the same lines; a pitch whose comb catches less
        # of this axis's edges than the shared pitch's cannot win the walk either (it is the shared
        # pitch's harmonic or noise): walking either costs time and decides nothing
        if abs(q / p - 1) > SAME_PITCH and score >= shared:
            yield q, ph


def _any_axis_periodic(ex, ey, w, h) -> bool:
    """Do the axes' own best pitches reach `MIN_PERIODICITY` together (a non-square grid)?"""
    own_x, own_y = own_pitches(ex, w, w, h), own_pitches(ey, h, w, h)
    if not own_x or not own_y:
        return False
    (px, phx, _), (py, phy, _) = own_x[0], own_y[0]
    return 0.5 * (comb_capture(ex, px, phx) + comb_capture(ey, py, phy)) >= MIN_PERIODICITY


# ----------------------------------------------------------------------------
# votes on the fitted lattice


def _anchored_fit(rgb, bg, xs, ys, pitches, periodicity, found, degrees, layouts):
    votes, vis = vote_cells(rgb, xs, ys)
    ly, lx = vis.shape
    a0, b0 = anchor(votes, bg, xs, ys, rgb.shape, layouts)
    rows, cols = np.arange(GRID) + a0, np.arange(GRID) + b0
    inside_r = (rows >= 0) & (rows < ly)
    inside_c = (cols >= 0) & (cols < lx)
    cells = np.broadcast_to(bg, (GRID, GRID, 3)).copy()
    visible = np.zeros((GRID, GRID), np.float32)
    ri, ci = rows[inside_r], cols[inside_c]
    cells[np.ix_(inside_r, inside_c)] = votes[np.ix_(ri, ci)]
    visible[np.ix_(inside_r, inside_c)] = vis[np.ix_(ri, ci)]
    lattice = Lattice(xs=take_lines(xs, b0, GRID + 1), ys=take_lines(ys, a0, GRID + 1))
    coverage = float(visible.mean())
    return _make_fit(cells, lattice, pitches, periodicity, coverage, visible, bg, "fitted", rgb.shape, degrees, found)


def _frame_fit(rgb, bg, periodicity):
    h, w = rgb.shape[:2]
    px, py = w / GRID, h / GRID
    if min(h, w) >= MIN_FIT_SIDE and periodicity == 0.0:
        ex, ey = (above_floor(e) for e in edge_profiles(rgb))
        periodicity = 0.5 * (comb_capture(ex, px, 0.0) + comb_capture(ey, py, 0.0))
    lattice = Lattice.regular(0.0, px, 0.0, py, GRID)
    vy, sy = axis_samples(lattice.ys, h)
    vx, sx = axis_samples(lattice.xs, w)
    votes, vis = median_votes(rgb, sy, sx), np.outer(vy, vx).astype(np.float32)
    return _make_fit(votes, lattice, (px, py), float(periodicity), 1.0, vis, bg, "frame", rgb.shape, 0.0, 0.0)


def _make_fit(cells, lattice, pitches, periodicity, coverage, visible, bg, method, shape, degrees, found):
    cells = np.clip(np.asarray(cells, np.float32), 0.0, 1.0)
    periodicity = float(np.clip(np.nan_to_num(periodicity), 0.0, 1.0))
    coverage = float(np.clip(coverage, 0.0, 1.0))
    return GridFit(
        cells=np.rint(cells * 255).astype(np.uint8),
        cells_float=cells,
        lattice=lattice,
        pitch_x=float(pitches[0]),
        pitch_y=float(pitches[1]),
        confidence=periodicity * coverage,
        periodicity=periodicity,
        coverage=coverage,
        visible=visible,
        background=tuple(int(v) for v in np.rint(np.clip(bg, 0, 1) * 255)),
        method=method,
        shape=(int(shape[0]), int(shape[1])),
        rotation=float(degrees),
        lines_found=float(np.clip(found, 0.0, 1.0)),
    )
