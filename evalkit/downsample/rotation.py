"""A slightly turned grid: estimate the turn from strip profiles, and undo it.

A model sometimes draws the punk turned by up to a degree; over 512 px that
moves a grid line by 9 px from top to bottom, close to half a cell. The
column edge profile of each horizontal strip of the image then sits shifted
from the others in proportion to the strip's height; likewise the row profile
of vertical strips. The shifts against the whole-image profile (by
cross-correlation, sub-pixel), regressed on the strips' centres, give the
slope of the lines on each axis, hence the angle.

The convention: a render turned by ``degrees`` shows at pixel ``p`` the punk
point ``R(degrees) (p - c) + c`` (``c`` the frame centre), so a positive turn
leans vertical lines to the left going down. `straighten` maps back with
nearest-neighbour sampling: cells stay hard-edged.
"""

from __future__ import annotations

import numpy as np

from evalkit.downsample.profiles import above_floor

STRIPS = 8
# Turns beyond this are not looked for (and not undone).
MAX_DEGREES = 1.5
# Smaller turns are left alone: a tenth of a degree moves a line by under a pixel at 512 px.
MIN_DEGREES = 0.12


def estimate_rotation(sx: np.ndarray, sy: np.ndarray) -> float:
    """Turn of the grid in degrees from `strip_profiles` (``STRIPS`` bands per axis); 0 when unmeasurable.

    ``sx`` (S, W - 1): column profiles of S bands of rows; ``sy`` (S, H - 1):
    row profiles of S bands of columns. Each candidate turn shifts every
    strip's profile back by the drift it predicts; the turn under which the
    strips add up to the peakiest profile (sum of squares) wins, refined on a
    finer step and by a parabola through the best three.
    """
    return measure_rotation(sx, sy)[0]


def measure_rotation(sx: np.ndarray, sy: np.ndarray) -> tuple[float, float]:
    """`estimate_rotation` and its gain: how much peakier the strips add up under that turn than unturned (0 for none)."""
    h, w = sy.shape[1] + 1, sx.shape[1] + 1
    ax, ay = above_floor(sx), above_floor(sy)
    if (ax.sum(1) > 0).sum() < 3 and (ay.sum(1) > 0).sum() < 3:
        return 0.0, 0.0
    spectra = _strip_spectra(ax, ay, h, w)  # once: every candidate turn only re-weighs them
    coarse = np.linspace(-MAX_DEGREES, MAX_DEGREES, 7)
    best = coarse[int(np.argmax(_peakiness(spectra, coarse)))]
    fine = best + np.linspace(-0.4, 0.4, 9)
    score = _peakiness(spectra, fine)
    j = int(np.argmax(score))
    deg = float(fine[j])
    if 0 < j < fine.size - 1:
        y0, y1, y2 = score[j - 1], score[j], score[j + 1]
        denom = y0 - 2 * y1 + y2
        if denom < 0:
            deg += float(np.clip(0.5 * (y0 - y2) / denom, -1, 1)) * (fine[1] - fine[0])
    flat = _peakiness(spectra, np.zeros(1))[0]
    if not np.isfinite(deg) or abs(deg) > MAX_DEGREES or score.max() <= flat:
        return 0.0, 0.0
    return deg, float(_peakiness(spectra, np.array([deg]))[0] / flat - 1.0)


def _strip_spectra(ax, ay, h, w):
    """Per axis: the strips' spectra, their frequencies, centres, drift sign and normaliser (for `_peakiness`)."""
    out = []
    # vertical lines drift by -slope per row, horizontal ones by +slope per column
    for strips, length, sign in ((ax, h, -1.0), (ay, w, 1.0)):
        s, n = strips.shape
        norm = strips.sum() ** 2
        if norm <= 0:
            continue
        spec = np.fft.rfft(strips, 2 * n, axis=1)  # zero-padded: shifts do not wrap lines round
        # periods of 4 px and more: enough to line up edges, half the work
        spec = spec[:, : spec.shape[1] // 2]
        omega = 2 * np.pi * np.arange(spec.shape[1]) / (2 * n)
        centres = (np.arange(s) + 0.5) * length / s - length / 2.0
        out.append((spec, omega, sign * centres, norm))
    return out


def _peakiness(spectra, degrees):
    """Per candidate turn: sum of squares of the strips' summed profiles once aligned, both axes (normalised).

    Shifting a strip back by its predicted drift is a phase ramp on its
    spectrum; by Parseval the sum of squares of the aligned sum is the energy
    of the summed spectra, so every candidate costs one small matrix product.
    """
    slope = np.tan(np.radians(degrees))
    total = np.zeros(degrees.size)
    for spec, omega, centres, norm in spectra:
        drift = slope[:, None] * centres[None, :]  # (A, S): where strip s's lines sit
        summed = np.einsum("asf,sf->af", _phase_ramp(drift, omega), spec)
        power = np.abs(summed) ** 2
        power[:, 1:] *= 2  # the rfft holds half of the spectrum
        total += power.sum(1) / norm
    return total


def _phase_ramp(drift, omega):
    """``exp(1j * drift[:, :, None] * omega)`` (undo a shift by ``drift``) for evenly spaced ``omega`` from 0.

    ``omega[f] = f * d``, so the ramp is ``z ** f`` with ``z = exp(1j * drift * d)``:
    with ``f = B * q + r`` it is the product of ``z ** r`` and ``(z ** B) ** q``,
    two small tables of exponentials instead of one per frequency.
    """
    f = omega.size
    if f < 2:
        return np.exp(1j * drift[:, :, None] * omega[None, None, :])
    d = omega[1]
    block = max(1, int(np.ceil(np.sqrt(f))))
    r = np.exp(1j * drift[:, :, None] * (d * np.arange(block))[None, None, :])
    q = np.exp(1j * drift[:, :, None] * (d * block * np.arange(-(-f // block)))[None, None, :])
    return (q[:, :, :, None] * r[:, :, None, :]).reshape(drift.shape + (-1,))[:, :, :f]


def straighten(rgb: np.ndarray, degrees: float) -> np.ndarray:
    """The render turned back by ``degrees`` (nearest-neighbour; edges continue outside the frame)."""
    if degrees == 0.0:
        return rgb
    h, w = rgb.shape[:2]
    t = np.radians(degrees)
    cx, cy = w / 2.0, h / 2.0
    qy = np.arange(h) + 0.5 - cy
    qx = np.arange(w) + 0.5 - cx
    # p = R(-t) (q - c) + c
    px = np.cos(t) * qx[None, :] - np.sin(t) * qy[:, None] + cx
    py = np.sin(t) * qx[None, :] + np.cos(t) * qy[:, None] + cy
    ix = np.clip(np.floor(px).astype(np.int64), 0, w - 1)
    iy = np.clip(np.floor(py).astype(np.int64), 0, h - 1)
    return np.ascontiguousarray(rgb[iy, ix])


def straight_coords(shape, degrees: float, ys: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where the centres of render pixels (``ys`` x ``xs``) lie once turned back: (v, u) arrays (len(ys), len(xs))."""
    h, w = shape[:2]
    t = np.radians(degrees)
    cx, cy = w / 2.0, h / 2.0
    x = (np.asarray(xs) + 0.5 - cx)[None, :]
    y = (np.asarray(ys) + 0.5 - cy)[:, None]
    return -np.sin(t) * x + np.cos(t) * y + cy, np.cos(t) * x + np.sin(t) * y + cx
