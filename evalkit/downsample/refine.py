"""From pitch and phase to grid lines: a least-squares regular lattice, then each line walked to its edge.

1. **Regular fit.** The lines ``origin + k * pitch`` are fitted to the edge
   peaks near them by least squares, so fractional pitches (21.33 px) stay
   aligned across the whole frame. Both axes share one pitch when their
   separate fits agree within 1% (square cells, as most renders have).
2. **Line walk.** A model draws cells of uneven width (19 to 24 px within one
   512 px render), so a regular lattice drifts off the real lines by up to a
   third of a cell. Starting from the strongest line near the middle, each
   next line is looked for within `WALK_SHARE` of a pitch of where the last
   one predicts it, and never further than `MAX_DRIFT` from the regular
   lattice. Lines through flat colour (no edge) are interpolated between the
   found ones: where nothing changes, a line's position does not matter.
"""

from __future__ import annotations

import math

import numpy as np

# A found line is within this share of a pitch of the previous line plus one pitch.
WALK_SHARE = 0.25
# ... and within this share of a pitch of the regular lattice.
MAX_DRIFT = 0.4
# Cells more than this share of a pitch off (beyond a pixel of rounding) are not drawn on a grid ...
CELL_SPREAD = 0.15
# ... and more than this share of such cells is a drawing off any grid.
ODD_CELLS = 0.0
# Walks refitted to the lines found, each changing the pitch by at most this share.
REFITS, REFIT_SHARE = 3, 0.15
# An edge counts as found above this share of the axis's strongest line edge.
EDGE_SHARE = 0.05


def fit_regular(ex, ey, pitch_x, phase_x, pitch_y, phase_y):
    """Least-squares regular lattice per axis; returns ``(ox, px, oy, py)`` with ``0 <= o < p``."""
    ox, px, oy, py = phase_x % pitch_x, pitch_x, phase_y % pitch_y, pitch_y
    for share in (0.3, 0.15):
        kx, bx = _peaks_of_comb(ex, ox, px, share)
        ky, by = _peaks_of_comb(ey, oy, py, share)
        fx, fy = _fit_lines([(kx, bx)]), _fit_lines([(ky, by)])
        joint = _fit_lines([(kx, bx), (ky, by)])
        same = abs(px / py - 1) < 0.01
        if same and joint is not None and fx is not None and fy is not None and abs(fx[1] / fy[1] - 1) < 0.01:
            (ox, oy), px = joint[0], joint[1]
            py = px
        else:
            if fx is not None and abs(fx[1] / px - 1) <= 0.02:
                ox, px = fx[0][0], fx[1]
            if fy is not None and abs(fy[1] / py - 1) <= 0.02:
                oy, py = fy[0][0], fy[1]
        ox, oy = ox % px, oy % py
    return ox, px, oy, py


def fit_axis(e, pitch, phase):
    """Least-squares regular lattice of one axis; returns ``(origin, pitch)`` with ``0 <= origin < pitch``."""
    o, p = phase % pitch, pitch
    for share in (0.3, 0.15):
        fit = _fit_lines([_peaks_of_comb(e, o, p, share)])
        if fit is not None and abs(fit[1] / p - 1) <= 0.02:
            o, p = fit[0][0], fit[1]
        o = o % p
    return o, p


def _peaks_of_comb(e, o, p, share):
    """(k, edge position) of the lines ``o + k * p`` that sit on an edge within ``share`` of a pitch."""
    k = np.arange(-1, e.size / p + 2)
    idx, b, _ = line_peaks(e, o + k * p, max(1.5, share * p))
    return k[idx], b


def line_peaks(e, lines, radius):
    """For each line inside the profile, the sub-pixel edge position nearest to it within ``radius``.

    Returns ``(index into lines, position, strength)`` for the lines with a real
    edge (peak above `EDGE_SHARE` of the strongest line's); lines through flat
    backdrop are left out.
    """
    n = e.size + 1
    lines = np.asarray(lines, np.float64)
    idx = np.nonzero((lines >= 1) & (lines <= n - 1))[0]
    if idx.size == 0:
        return idx, lines[idx], lines[idx]
    pos, strength = _peak_near(e, lines[idx], radius)
    real = strength > EDGE_SHARE * strength.max() if strength.max() > 0 else np.zeros(idx.size, bool)
    return idx[real], pos[real], strength[real]


def _peak_near(e, centres, radius):
    """Strongest boundary within ``radius`` of each centre, refined to the centroid of it and its neighbours."""
    n = e.size + 1
    r = int(np.ceil(radius))
    pos = np.clip(np.rint(centres)[:, None].astype(np.int64) + np.arange(-r, r + 1)[None, :], 1, n - 1)
    vals = np.where(np.abs(pos - centres[:, None]) <= radius, e[pos - 1], 0.0)
    j = np.argmax(vals, axis=1)
    rows = np.arange(centres.size)
    strength = vals[rows, j]
    peak = pos[rows, j]
    # sub-pixel: centroid of the peak and its two neighbours (anti-aliased edges span two boundaries)
    nb = np.clip(peak[:, None] + np.array([-1, 0, 1])[None, :], 1, n - 1)
    wv = e[nb - 1]
    centre = (wv * nb).sum(1) / np.maximum(wv.sum(1), 1e-12)
    return centre, strength


def _fit_lines(axes):
    """Equal-weight least squares ``b = o_axis + p * k`` with one intercept per axis and a shared slope.

    Every edge position carries the same rounding error (up to half a pixel),
    whatever its contrast, so edges weigh the same. Returns ((o, ...), p) or
    None with fewer than 3 edges on an axis.
    """
    if any(k.size < 3 for k, _ in axes):
        return None
    # closed form: the shared slope from every axis's centred (k, b), then each intercept
    num = den = 0.0
    means = []
    for k, b in axes:
        k, b = np.asarray(k, np.float64), np.asarray(b, np.float64)
        km, bm = k.mean(), b.mean()
        dk = k - km
        num += float(dk @ (b - bm))
        den += float(dk @ dk)
        means.append((km, bm))
    if den <= 0:
        return None
    p = num / den
    if not np.isfinite(p) or p <= 0:
        return None
    return tuple(float(bm - p * km) for km, bm in means), float(p)


def _peak_between(values: list, lo: float, hi: float, floor: float) -> float | None:
    """Sub-pixel position of the strongest boundary in ``[lo, hi]`` above ``floor`` (as `_peak_near`), or None."""
    n = len(values) + 1
    b0, b1 = max(1, math.ceil(lo)), min(n - 1, math.floor(hi))
    if b1 < b0:
        return None
    seg = values[b0 - 1 : b1]
    best = max(seg)  # the first strongest boundary (C loops: this runs for every line of every walk)
    if not best > floor:
        return None
    at = b0 + seg.index(best)
    num = den = 0.0
    for b in (at - 1, at, at + 1):
        b = min(max(b, 1), n - 1)
        num += values[b - 1] * b
        den += values[b - 1]
    return num / den if den > 1e-12 else float(at)


def frame_lines(origin: float, pitch: float, n: int) -> np.ndarray:
    """Regular lines bounding every cell that holds a pixel centre of an axis of ``n`` pixels."""
    j0 = int(np.floor((0.5 - origin) / pitch))
    j1 = int(np.floor((n - 0.5 - origin) / pitch)) + 1
    return origin + np.arange(j0, j1 + 1) * pitch


def walk_axis(e: np.ndarray, origin: float, pitch: float, n: int, refits: int | None = None) -> tuple[np.ndarray, float, float]:
    """Walk the regular lattice of an axis of ``n`` px, refit its pitch to the lines found, walk again.

    A pitch off by 2% drifts by half a cell over 24 cells; the lines a walk
    finds near its start pin the pitch down for the next (up to `REFITS`
    times, each within `REFIT_SHARE` of the last pitch). Returns ``(lines,
    share of the lines inside the frame found on an edge, pitch)``.
    """
    regular = frame_lines(origin, pitch, n)
    lines, found = walk_lines(e, regular, pitch)
    for _ in range(REFITS if refits is None else refits):
        ok = np.isfinite(found)
        if ok.sum() < 3:
            break
        k = np.nonzero(ok)[0]
        fit = _fit_lines([(k, found[ok])])
        if fit is None:
            break
        (icpt,), slope = fit
        if not abs(slope / pitch - 1) <= REFIT_SHARE or abs(slope / pitch - 1) < 1e-3:
            break
        regular2 = frame_lines(icpt % slope, slope, n)
        lines2, found2 = walk_lines(e, regular2, slope)
        if np.isfinite(found2).sum() < ok.sum():
            break
        regular, lines, found, pitch = regular2, lines2, found2, float(slope)
    inner = (regular >= 1) & (regular <= n - 1)
    share = float(np.isfinite(found[inner]).mean()) if inner.any() else 0.0
    if not drawn_like_a_grid(found, pitch):
        return regular, share, float(pitch)
    return lines, share, float(pitch)


def drawn_like_a_grid(found: np.ndarray, pitch: float) -> bool:
    """Are the cells between neighbouring found lines as even as a model draws them?

    Models draw cells within about 12% of the pitch (19 to 24 px at 21.3), plus
    a pixel of rounding; so is the mean width of the cells between two found
    lines. When more than `ODD_CELLS` of those spans exceed `CELL_SPREAD` the
    drawing wanders off any grid; following it line by line
    would make an off-grid render look crisp, so the regular lattice stays.
    """
    k = np.nonzero(np.isfinite(found))[0]
    if k.size < 2:
        return True
    gap = np.diff(k)  # cells between consecutive found lines
    width = np.diff(found[k]) / (gap * pitch)  # their mean width, in pitches
    odd = np.abs(width - 1.0) > CELL_SPREAD + 1.0 / (gap * pitch)
    return bool(odd.mean() <= ODD_CELLS)


def walk_lines(e: np.ndarray, regular: np.ndarray, pitch: float) -> tuple[np.ndarray, np.ndarray]:
    """Move each regular line to its local edge; returns ``(lines, found edge position or NaN per line)``.

    ``regular`` is increasing with step ``pitch``; the result is increasing,
    each line within `MAX_DRIFT` of a pitch of its regular position.
    """
    n = e.size + 1
    inner = np.nonzero((regular >= 1) & (regular <= n - 1))[0]
    if inner.size == 0 or e.max() <= 0:
        return regular.copy(), np.full(regular.size, np.nan)
    # the strongest edge near each regular line sets what counts as an edge
    _, strength0 = _peak_near(e, regular[inner], MAX_DRIFT * pitch)
    floor = EDGE_SHARE * strength0.max()
    found = np.full(regular.size, np.nan)
    # start where the regular lattice is surest: the strongest line in the middle half
    mid = inner[(inner >= inner[0] + inner.size // 4) & (inner <= inner[-1] - inner.size // 4)]
    mid = mid if mid.size else inner
    _, s_mid = _peak_near(e, regular[mid], WALK_SHARE * pitch)
    start = int(mid[int(np.argmax(s_mid))])
    values = e.tolist()  # one line at a time: plain floats beat numpy calls on a handful of boundaries
    reg = regular.tolist()
    walk, reach = WALK_SHARE * pitch, MAX_DRIFT * pitch
    for direction in (1, -1):
        last = None
        k = start if direction == 1 else start - 1
        while 0 <= k < len(reg):
            r = reg[k]
            if not (1 <= r <= n - 1):
                k += direction
                continue
            pred = r if last is None else last[1] + (k - last[0]) * pitch
            lo = max(pred - walk, r - reach)
            hi = min(pred + walk, r + reach)
            if hi > lo:
                pos = _peak_between(values, lo, hi, floor)
                if pos is not None:
                    found[k] = pos
                    last = (k, pos)
            k += direction
    ok = np.isfinite(found)
    if ok.sum() < 2:
        return regular.copy(), found
    k = np.arange(regular.size)
    # unfound lines: the drift of the found ones interpolated; beyond them the outermost found drift
    # (uneven cells add up: a line past the last edge found sits off the regular lattice like it)
    drift = np.interp(k, k[ok], found[ok] - regular[ok])
    lines = regular + drift
    # keep cells at least half a pitch wide whatever the edges say
    # (a running maximum of the lines less half a pitch per line)
    half = 0.5 * pitch * np.arange(lines.size)
    lines = np.maximum.accumulate(lines - half) + half
    return lines, found
