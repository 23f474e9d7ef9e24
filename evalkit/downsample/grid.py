"""Grid recovery: a rendered image back to the 24x24 punk grid.

A render (512x512 for SD1.5 at 21.3 px per cell, 1024x1024 for SDXL at 42.7,
192x192 for the testbed at 8) is a punk drawn on a grid that need not line up
with the frame: the punk may be shifted, slightly scaled or padded by
backdrop. Recovery runs in four steps:

1. **Edge profiles.** Colour-difference energy across every pixel boundary,
   summed along rows (for vertical grid lines) and along columns.
2. **Pitch and phase.** Peaks of the profiles' spectrum propose pitches; each
   proposal (and its multiples, in case the peak is a harmonic) is scored by
   how much edge energy a comb of lines at that pitch captures, minus what a
   comb would capture by chance (with a weak prior for the punk filling the
   frame). The winner is refined by a least-squares fit of the lines to the
   edge peaks, one pitch for both axes, so fractional pitches (21.33 px) stay
   aligned across the whole frame.
3. **Votes.** Every fitted cell's colour is the per-channel median of samples
   from its inner part (edges and anti-aliasing excluded), not a plain resize.
4. **Anchor.** Which 24x24 block of fitted cells is the punk: every punk's
   neck reaches its row 23, so the last fitted row with content is row 23;
   the columns are the placement whose non-backdrop cells are most likely
   under either CryptoPunk body template (`evalkit.downsample.layout`). A
   punk shifted by half a cell and cut by the frame comes back in the right
   place; cells the frame does not show are filled with the backdrop.

Pitches are searched so that the punk spans 0.5x to 1.5x the frame's shorter
side. Images without a periodic structure (photos, heavy blur, comb score
under `MIN_PERIODICITY`) or under `MIN_FIT_SIDE` px fall back to the frame
grid (the frame is 24x24 cells) with low confidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from evalkit.image_arrays import as_rgb_float
from evalkit.downsample.layout import PUNK_LAYOUTS

GRID = 24
# Below this many pixels per side there is no measurable grid: use the frame.
MIN_FIT_SIDE = 3 * GRID
# Comb score below which the fitted grid is not trusted (photographs: median ~0.1).
MIN_PERIODICITY = 0.2
# A voted cell counts as "content" (not backdrop) beyond this RGB distance.
CONTENT_DISTANCE = 0.1
# Rows summed into the column edge profile, at most about this many.
PROFILE_LINES = 256
# Share of a cell (per side) left out of the vote at each edge.
VOTE_MARGIN = 0.2
VOTE_SAMPLES = 5
# Layout shares are clipped to [floor, 1 - floor]: cells every golden punk agrees
# on (0 or 1) act as near-hard constraints.
LAYOUT_FLOOR = 0.001
# Log-likelihood cost per expected punk cell (layout share) the frame would hide.
HIDDEN_COST = 7.0
# A fitted cell counts as observed with this much of it inside the frame.
MIN_SEEN_PX, MIN_SEEN_SHARE = 2.0, 0.2
# A lattice row with at least this many content cells holds part of the punk.
MIN_ROW_CONTENT = 2
# Comb-score cost per unit of |log(pitch / (frame / 24))|.
PITCH_PRIOR = 0.1


@dataclass(frozen=True)
class GridFit:
    """A fitted 24x24 grid and the cell colours voted on it.

    Cell ``(row, col)`` of the punk covers pixels with centre ``x + 0.5`` in
    ``[origin_x + col * pitch_x, origin_x + (col + 1) * pitch_x)`` and likewise
    for ``y``; coordinates are those of the array the grid was fitted on.

    Attributes
    ----------
    cells : (24, 24, 3) uint8
        Recovered punk, RGB.
    cells_float : (24, 24, 3) float32
        The same votes before rounding, in ``[0, 1]``.
    pitch_x, pitch_y : float
        Pixels per cell.
    origin_x, origin_y : float
        Left / top edge of punk cell (0, 0) in pixels; may be negative or
        beyond the frame when the punk is shifted or cut.
    confidence : float
        In ``[0, 1]``: ``periodicity * coverage``.
    periodicity : float
        In ``[0, 1]``: share of the edge energy on the fitted grid lines beyond
        what lines at random positions would catch (1 for a crisp upscale).
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
    """

    cells: np.ndarray
    cells_float: np.ndarray
    pitch_x: float
    pitch_y: float
    origin_x: float
    origin_y: float
    confidence: float
    periodicity: float
    coverage: float
    visible: np.ndarray
    background: tuple[int, int, int]
    method: str
    shape: tuple[int, int]

    def to_dict(self, scale: float = 1.0) -> dict:
        """JSON-ready summary (no arrays); ``scale`` converts to original pixels."""
        return {
            "pitch_x": round(self.pitch_x * scale, 4),
            "pitch_y": round(self.pitch_y * scale, 4),
            "origin_x": round(self.origin_x * scale, 3),
            "origin_y": round(self.origin_y * scale, 3),
            "confidence": round(self.confidence, 4),
            "periodicity": round(self.periodicity, 4),
            "coverage": round(self.coverage, 4),
            "background": "#%02X%02X%02X" % self.background,
            "method": self.method,
        }

    def cell_of_pixels(self, axis: int, n: int) -> np.ndarray:
        """Punk cell index (may be <0 or >=24) of each of ``n`` pixel rows (axis 0) or columns (axis 1)."""
        origin, pitch = (self.origin_y, self.pitch_y) if axis == 0 else (self.origin_x, self.pitch_x)
        return np.floor((np.arange(n) + 0.5 - origin) / pitch).astype(np.int64)


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
    ex, ey = (_above_floor(e) for e in edge_profiles(rgb))
    pitch, phase_x, phase_y, periodicity = _fit_pitch(ex, ey, w, h)
    if pitch is None or periodicity < MIN_PERIODICITY:
        return _frame_fit(rgb, bg, periodicity=periodicity)
    ox, px, oy, py = _refine(ex, ey, pitch, phase_x, phase_y)
    periodicity = 0.5 * (_comb_capture(ex, px, ox) + _comb_capture(ey, py, oy))
    if periodicity < MIN_PERIODICITY:
        return _frame_fit(rgb, bg, periodicity=periodicity)
    return _anchor(rgb, bg, px, py, ox, oy, periodicity, layouts)


# ----------------------------------------------------------------------------
# building blocks (also used by the metrics)


def estimate_background(rgb: np.ndarray) -> np.ndarray:
    """Backdrop colour, (3,) float in [0, 1]: median of the top two rows and outer two columns.

    The bottom border is left out: a punk's body reaches the bottom row.
    """
    h, w = rgb.shape[:2]
    k = max(1, min(2, h // 8, w // 8))
    border = np.concatenate(
        [rgb[:k].reshape(-1, 3), rgb[:, :k].reshape(-1, 3), rgb[:, w - k :].reshape(-1, 3)]
    )
    return np.median(border, axis=0).astype(np.float32)


def edge_profiles(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Squared colour differences across pixel boundaries, summed along the other axis.

    Returns ``(ex, ey)``: ``ex[b - 1]`` is the energy across the boundary between
    columns ``b - 1`` and ``b`` (boundary coordinate ``b``), length ``W - 1``;
    ``ey`` likewise for rows, length ``H - 1``. Rows are subsampled to about
    `PROFILE_LINES` for ``ex``: a grid line runs the whole height of a cell, so
    the profile's shape does not need every row.
    """
    h, w = rgb.shape[:2]
    sy = max(1, h // PROFILE_LINES)
    # rows flattened to (n, W * 3): a one-pixel shift is a shift by 3 values
    rows = np.ascontiguousarray(rgb[::sy]).reshape(-(-h // sy), w * 3)
    dx = rows[:, 3:] - rows[:, :-3]
    ex = np.einsum("ij,ij->j", dx, dx).reshape(w - 1, 3).sum(1, dtype=np.float64) * sy
    flat = np.ascontiguousarray(rgb).reshape(h, w * 3)
    dy = flat[1:] - flat[:-1]
    ey = np.einsum("ij,ij->i", dy, dy).astype(np.float64)
    return ex, ey


def _above_floor(e: np.ndarray) -> np.ndarray:
    """Profile minus its median: pixel noise spreads a flat floor over every boundary."""
    return np.maximum(e - np.median(e), 0.0)


def comb_window(pitch: float) -> float:
    """Half-width in pixels within which an edge counts as on a grid line."""
    return max(1.0, pitch / 16.0)


def _comb_capture(e: np.ndarray, pitch: float, origin: float) -> float:
    """Share of ``e``'s energy within `comb_window` of lines ``origin + k * pitch``, chance-corrected, in [0, 1]."""
    total = e.sum()
    if total <= 0 or not np.isfinite(total):
        return 0.0
    b = np.arange(1, e.size + 1, dtype=np.float64)
    d = np.abs(((b - origin) / pitch + 0.5) % 1.0 - 0.5) * pitch
    on = d <= comb_window(pitch) + 1e-9
    expected = on.mean()
    if expected >= 1.0:
        return 0.0
    captured = e[on].sum() / total
    return float(np.clip((captured - expected) / (1.0 - expected), 0.0, 1.0))


# ----------------------------------------------------------------------------
# pitch and phase


def _pitch_range(w: int, h: int) -> tuple[float, float]:
    """Pitches searched: the punk spans between half and one and a half times the frame's shorter side."""
    side = min(w, h)
    return max(3.0, side / (2 * GRID)), side / (GRID / 1.5)


def _fit_pitch(ex, ey, w, h):
    """Joint pitch (square cells) and per-axis phase; returns (pitch, phase_x, phase_y, score)."""
    pmin, pmax = _pitch_range(w, h)
    n = 1 << int(np.ceil(np.log2(16 * max(w, h))))
    spec = np.abs(np.fft.rfft(ex - ex.mean(), n)) ** 2 + np.abs(np.fft.rfft(ey - ey.mean(), n)) ** 2
    k_lo, k_hi = int(np.floor(n / pmax)), int(np.ceil(n / pmin))
    k_hi = min(k_hi, spec.size - 2)
    if k_hi <= k_lo + 2:
        return None, 0.0, 0.0, 0.0
    band = spec[k_lo : k_hi + 1]
    interior = (band[1:-1] > band[:-2]) & (band[1:-1] >= band[2:])
    peaks = np.nonzero(interior)[0] + 1
    if peaks.size == 0:
        return None, 0.0, 0.0, 0.0
    peaks = peaks[np.argsort(band[peaks])[::-1][:3]]
    candidates: list[float] = []
    for i in peaks:
        y0, y1, y2 = band[i - 1], band[i], band[i + 1]
        denom = y0 - 2 * y1 + y2
        shift = 0.5 * (y0 - y2) / denom if denom < 0 else 0.0
        p = n / (k_lo + i + shift)
        for m in (1, 2, 3):
            if pmin <= p * m <= pmax:
                candidates.append(p * m)
    frame = min(w, h) / GRID
    if pmin <= frame <= pmax:
        candidates.append(frame)
    unique: list[float] = []
    for p in sorted(candidates):
        if not unique or p > unique[-1] * 1.01:
            unique.append(p)
    best, best_score = None, -np.inf
    for p in unique:
        result = _search_pitch(ex, ey, p, span=0.03, steps=13)
        # weak prior: renders usually show the punk filling the frame
        score = result[3] - PITCH_PRIOR * abs(np.log(result[0] / frame))
        if score > best_score + 1e-9:
            best, best_score = result, score
    p, *_ = best
    p, phase_x, phase_y, raw = _search_pitch(ex, ey, p, span=0.004, steps=9)
    score = 0.5 * (_comb_capture(ex, p, phase_x) + _comb_capture(ey, p, phase_y))
    return p, phase_x, phase_y, score


def _search_pitch(ex, ey, p0, span, steps):
    """Best pitch in ``p0 * (1 +- span)`` by raw comb capture (captured minus chance) summed over axes."""
    pitches = p0 * (1.0 + np.linspace(-span, span, steps))
    bins = max(8, int(np.ceil(4 * p0)))
    half = max(1, int(round(bins / p0)))  # +-1 px: a fixed window, so p/2 cannot tie with p
    sx, phx = _fold(ex, pitches, bins, half)
    sy, phy = _fold(ey, pitches, bins, half)
    total = sx + sy
    i = int(np.argmax(total))
    return float(pitches[i]), float(phx[i]), float(phy[i]), float(total[i])


def _fold(e, pitches, bins, half):
    """Fold a profile modulo each pitch; best window's (captured - expected) and its phase."""
    tot = e.sum()
    m = pitches.size
    if tot <= 0:
        return np.zeros(m), np.zeros(m)
    b = np.arange(1, e.size + 1, dtype=np.float64)
    u = (b[None, :] / pitches[:, None]) % 1.0
    idx = np.minimum((u * bins).astype(np.int64), bins - 1) + np.arange(m)[:, None] * bins
    hist = np.bincount(idx.ravel(), weights=np.broadcast_to(e, idx.shape).ravel(), minlength=m * bins)
    hist = hist.reshape(m, bins) / tot
    wrapped = np.concatenate([hist[:, -half:], hist, hist[:, :half]], axis=1)
    c = np.concatenate([np.zeros((m, 1)), np.cumsum(wrapped, axis=1)], axis=1)
    width = 2 * half + 1
    window = c[:, width:] - c[:, :-width]  # window centred on each bin
    j = np.argmax(window, axis=1)
    captured = window[np.arange(m), j]
    phase = (j + 0.5) / bins * pitches
    return captured - width / bins, phase


def _refine(ex, ey, pitch, phase_x, phase_y):
    """Least-squares fit of the grid lines to the edge peaks near them.

    Both axes share one pitch (square cells, as every SD render has) unless
    their separate fits disagree by more than 1%. Returns (ox, px, oy, py).
    """
    ox, px, oy, py = phase_x % pitch, pitch, phase_y % pitch, pitch
    for share in (0.3, 0.15):
        kx, bx = _line_peaks(ex, ox, px, max(1.5, share * px))
        ky, by = _line_peaks(ey, oy, py, max(1.5, share * py))
        fx, fy = _fit_lines([(kx, bx)]), _fit_lines([(ky, by)])
        joint = _fit_lines([(kx, bx), (ky, by)])
        if joint is not None and fx is not None and fy is not None and abs(fx[1] / fy[1] - 1) < 0.01:
            (ox, oy), px = joint[0], joint[1]
            py = px
        else:
            if fx is not None and abs(fx[1] / px - 1) <= 0.02:
                ox, px = fx[0][0], fx[1]
            if fy is not None and abs(fy[1] / py - 1) <= 0.02:
                oy, py = fy[0][0], fy[1]
        ox, oy = ox % px, oy % py
    return ox, px, oy, py


def _line_peaks(e, o, p, radius):
    """For each line ``o + k * p`` inside the profile, the sub-pixel edge position nearest to it.

    Returns (k, position) for the lines with a real edge (peak energy above 5%
    of the strongest line's); lines through flat backdrop are left out.
    """
    n = e.size + 1
    k = np.arange(int(np.floor((1 - o) / p)), int(np.ceil((n - 1 - o) / p)) + 1)
    lines = o + k * p
    keep = (lines >= 1) & (lines <= n - 1)
    k, lines = k[keep], lines[keep]
    if k.size == 0:
        return k, lines
    r = int(np.ceil(radius))
    pos = np.clip(np.rint(lines)[:, None].astype(np.int64) + np.arange(-r, r + 1)[None, :], 1, n - 1)
    vals = np.where(np.abs(pos - lines[:, None]) <= radius, e[pos - 1], 0.0)
    j = np.argmax(vals, axis=1)
    strength = vals[np.arange(k.size), j]
    peak = pos[np.arange(k.size), j]
    # sub-pixel: centroid of the peak and its two neighbours (anti-aliased edges span two boundaries)
    nb = np.clip(peak[:, None] + np.array([-1, 0, 1])[None, :], 1, n - 1)
    wv = e[nb - 1]
    centre = (wv * nb).sum(1) / np.maximum(wv.sum(1), 1e-12)
    real = strength > 0.05 * strength.max() if strength.size and strength.max() > 0 else np.zeros(k.size, bool)
    return k[real], centre[real]


def _fit_lines(axes):
    """Equal-weight least squares ``b = o_axis + p * k`` with one intercept per axis and a shared slope.

    Every edge position carries the same rounding error (up to half a pixel),
    whatever its contrast, so edges weigh the same. Returns ((o, ...), p) or
    None with fewer than 3 edges on an axis.
    """
    if any(k.size < 3 for k, _ in axes):
        return None
    rows, target = [], []
    for i, (k, b) in enumerate(axes):
        cols = np.zeros((k.size, len(axes) + 1))
        cols[:, i] = 1.0
        cols[:, -1] = k
        rows.append(cols)
        target.append(b)
    sol, *_ = np.linalg.lstsq(np.concatenate(rows), np.concatenate(target), rcond=None)
    if not np.isfinite(sol).all() or sol[-1] <= 0:
        return None
    return tuple(float(v) for v in sol[:-1]), float(sol[-1])


# ----------------------------------------------------------------------------
# votes and anchoring


def _axis_lattice(origin, pitch, n):
    """Cells of an infinite lattice that hold at least one pixel centre of an axis of ``n`` pixels.

    Returns (j, visible share, sample pixel indices (m, VOTE_SAMPLES)).
    """
    j = np.arange(int(np.floor((0.5 - origin) / pitch)), int(np.floor((n - 0.5 - origin) / pitch)) + 1)
    vis, samples = _axis_samples(origin, pitch, n, j)
    return j, vis, samples


def _axis_samples(origin, pitch, n, j):
    """Visible share and VOTE_SAMPLES pixel indices inside the inner part of cells ``j``."""
    start = origin + j * pitch
    end = start + pitch
    vis = (np.minimum(end, n) - np.maximum(start, 0)) / pitch
    lo = np.maximum(start + VOTE_MARGIN * pitch, 0.0)
    hi = np.minimum(end - VOTE_MARGIN * pitch, float(n))
    # a cell cut by the frame down to its margin: sample the visible part's middle
    cut = hi - lo < 1.0
    vis_lo, vis_hi = np.maximum(start, 0.0), np.minimum(end, float(n))
    lo = np.where(cut, vis_lo + 0.25 * (vis_hi - vis_lo), lo)
    hi = np.where(cut, vis_hi - 0.25 * (vis_hi - vis_lo), hi)
    t = (np.arange(VOTE_SAMPLES) + 0.5) / VOTE_SAMPLES
    samples = np.floor(lo[:, None] + (hi - lo)[:, None] * t[None, :]).astype(np.int64)
    return np.clip(vis, 0.0, 1.0), np.clip(samples, 0, n - 1)


def _median_votes(rgb, sy, sx):
    patch = rgb[sy[:, :, None, None], sx[None, None, :, :]]  # (Ly, S, Lx, S, 3)
    patch = patch.transpose(0, 2, 1, 3, 4).reshape(sy.shape[0], sx.shape[0], -1, 3)
    return np.median(patch, axis=2).astype(np.float32)


def vote_cells(rgb, origin_x, pitch_x, origin_y, pitch_y):
    """Median colour of the inner samples of every lattice cell that touches the frame.

    Returns (jy, jx, votes (Ly, Lx, 3) float32, visible (Ly, Lx)).
    """
    h, w = rgb.shape[:2]
    jy, vy, sy = _axis_lattice(origin_y, pitch_y, h)
    jx, vx, sx = _axis_lattice(origin_x, pitch_x, w)
    return jy, jx, _median_votes(rgb, sy, sx), np.outer(vy, vx)


def _anchor(rgb, bg, px, py, ox, oy, periodicity, layouts):
    jy, jx, votes, vis = vote_cells(rgb, ox, px, oy, py)
    ly, lx = vis.shape
    # a cell is observed when a fair part of it is in the frame; a sliver of a
    # pixel or two may belong to its neighbour (the fitted pitch is not exact)
    wy = _axis_visible(oy, py, rgb.shape[0], jy) * py >= max(MIN_SEEN_PX, MIN_SEEN_SHARE * py)
    wx = _axis_visible(ox, px, rgb.shape[1], jx) * px >= max(MIN_SEEN_PX, MIN_SEEN_SHARE * px)
    seen = np.outer(wy, wx).astype(np.float64)
    content = (np.sqrt(((votes - bg) ** 2).sum(-1)) > CONTENT_DISTANCE).astype(np.float64) * seen
    a0 = _anchor_rows(content, ly)
    b0 = _anchor_cols(content, seen, a0, layouts)
    rows, cols = np.arange(GRID) + a0, np.arange(GRID) + b0
    inside_r = (rows >= 0) & (rows < ly)
    inside_c = (cols >= 0) & (cols < lx)
    cells = np.broadcast_to(bg, (GRID, GRID, 3)).copy()
    visible = np.zeros((GRID, GRID), np.float32)
    ri, ci = rows[inside_r], cols[inside_c]
    cells[np.ix_(inside_r, inside_c)] = votes[np.ix_(ri, ci)]
    visible[np.ix_(inside_r, inside_c)] = vis[np.ix_(ri, ci)]
    origin_x = ox + (jx[0] + b0) * px
    origin_y = oy + (jy[0] + a0) * py
    coverage = float(visible.mean())
    return _make_fit(cells, px, py, origin_x, origin_y, periodicity, coverage, visible, bg, "fitted", rgb.shape)


def _axis_visible(origin, pitch, n, j):
    start = origin + j * pitch
    return np.clip((np.minimum(start + pitch, n) - np.maximum(start, 0)) / pitch, 0.0, 1.0)


def _anchor_rows(content, ly):
    """Lattice row of punk row 0: every punk's neck reaches its bottom row (23)."""
    filled = np.nonzero(content.sum(1) >= MIN_ROW_CONTENT)[0]
    if filled.size == 0:
        return int(round((ly - GRID) / 2))
    return int(filled[-1]) - (GRID - 1)


def _anchor_cols(content, seen, a0, layouts):
    """Lattice column of punk column 0: the best placement under either body template."""
    ly, lx = content.shape
    rows = np.arange(GRID) + a0
    ok = (rows >= 0) & (rows < ly)
    c1 = np.zeros((GRID, lx))
    w = np.zeros((GRID, lx))
    c1[ok] = content[rows[ok]]
    w[ok] = seen[rows[ok]]
    c0 = w - c1
    best, best_ll = None, -np.inf
    offsets = np.arange(-(GRID - 1), lx)
    # every placement's 24x24 window: pad by 23 columns each side, slide
    pad = ((0, 0), (GRID - 1, GRID - 1))
    win1 = sliding_window_view(np.pad(c1, pad), GRID, axis=1)  # (24, n_offsets, 24)
    win0 = sliding_window_view(np.pad(c0, pad), GRID, axis=1)
    winw = sliding_window_view(np.pad(w, pad), GRID, axis=1)
    for layout in layouts:
        t = np.clip(layout, LAYOUT_FLOOR, 1 - LAYOUT_FLOOR)
        gain_content = np.log(t) - np.log(LAYOUT_FLOOR)
        gain_empty = np.log1p(-t) - np.log1p(-LAYOUT_FLOOR)
        ll = (
            np.einsum("roc,rc->o", win1, gain_content)
            + np.einsum("roc,rc->o", win0, gain_empty)
            # the frame usually shows the whole punk: hiding likely-content cells
            # costs HIDDEN_COST * sum(layout * (1 - w))
            - HIDDEN_COST * (layout.sum() - np.einsum("roc,rc->o", winw, layout))
        )
        # tie-break: the placement closest to centring the punk in the frame
        ll = np.round(ll, 3) - 1e-6 * np.abs(offsets - (lx - GRID) / 2.0)
        i = int(np.argmax(ll))
        if ll[i] > best_ll:
            best, best_ll = int(offsets[i]), ll[i]
    return best


def _frame_fit(rgb, bg, periodicity):
    h, w = rgb.shape[:2]
    px, py = w / GRID, h / GRID
    if min(h, w) >= MIN_FIT_SIDE and periodicity == 0.0:
        ex, ey = (_above_floor(e) for e in edge_profiles(rgb))
        periodicity = 0.5 * (_comb_capture(ex, px, 0.0) + _comb_capture(ey, py, 0.0))
    j = np.arange(GRID)
    vy, sy = _axis_samples(0.0, py, h, j)
    vx, sx = _axis_samples(0.0, px, w, j)
    votes, vis = _median_votes(rgb, sy, sx), np.outer(vy, vx).astype(np.float32)
    return _make_fit(votes, px, py, 0.0, 0.0, float(periodicity), 1.0, vis, bg, "frame", rgb.shape)


def _make_fit(cells, px, py, ox, oy, periodicity, coverage, visible, bg, method, shape):
    cells = np.clip(np.asarray(cells, np.float32), 0.0, 1.0)
    periodicity = float(np.clip(np.nan_to_num(periodicity), 0.0, 1.0))
    coverage = float(np.clip(coverage, 0.0, 1.0))
    return GridFit(
        cells=np.rint(cells * 255).astype(np.uint8),
        cells_float=cells,
        pitch_x=float(px),
        pitch_y=float(py),
        origin_x=float(ox),
        origin_y=float(oy),
        confidence=periodicity * coverage,
        periodicity=periodicity,
        coverage=coverage,
        visible=visible,
        background=tuple(int(v) for v in np.rint(np.clip(bg, 0, 1) * 255)),
        method=method,
        shape=(int(shape[0]), int(shape[1])),
    )
