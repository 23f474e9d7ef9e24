"""Edge profiles: where colour changes across pixel boundaries, per axis.

Every later step reads these: the pitch search folds them, the line walk
follows their peaks, the rotation estimate compares them strip by strip.
"""

from __future__ import annotations

import numpy as np

# Rows summed into the column edge profile, at most about this many.
PROFILE_LINES = 256


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


def strip_profiles(rgb: np.ndarray, strips: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Squared colour differences across pixel boundaries, summed within ``strips`` bands of the other axis.

    Returns ``(sx, sy)``: ``sx[s, b - 1]`` is the energy across the boundary
    between columns ``b - 1`` and ``b`` (boundary coordinate ``b``) within the
    ``s``-th of ``strips`` equal bands of rows, shape ``(strips, W - 1)``;
    ``sy`` likewise for rows within bands of columns, ``(strips, H - 1)``.
    Rows are subsampled to about `PROFILE_LINES` for ``sx``: a grid line runs
    the whole height of a cell, so the profile's shape does not need every row.
    """
    h, w = rgb.shape[:2]
    sy_ = max(1, h // PROFILE_LINES)
    # rows flattened to (n, W * 3): a one-pixel shift is a shift by 3 values
    rows = np.ascontiguousarray(rgb[::sy_]).reshape(-(-h // sy_), w * 3)
    dx = rows[:, 3:] - rows[:, :-3]
    flat = np.ascontiguousarray(rgb).reshape(h, w * 3)
    dy = flat[1:] - flat[:-1]
    if strips == 1:
        ex = np.einsum("ij,ij->j", dx, dx).reshape(w - 1, 3).sum(1, dtype=np.float64) * sy_
        ey = np.einsum("ij,ij->i", dy, dy).astype(np.float64)
        return ex[None], ey[None]
    sx = _band_energy(dx, strips).reshape(strips, w - 1, 3).sum(2, dtype=np.float64) * sy_
    if w % strips == 0:  # bands of whole columns: (H - 1, strips, band * 3)
        bands = dy.reshape(h - 1, strips, -1)
        sy = np.einsum("isj,isj->si", bands, bands)
    else:
        sy = _band_energy(dy.reshape(h - 1, w, 3).transpose(1, 0, 2).reshape(w, -1), strips).reshape(strips, h - 1, 3).sum(2)
    return sx, sy.astype(np.float64)


def _band_energy(d: np.ndarray, strips: int) -> np.ndarray:
    """Sum of squares of ``d`` (n, m) within ``strips`` equal bands of its rows, (strips, m).

    One einsum, no squared copy, when the bands are equal; else `reduceat`.
    """
    n = d.shape[0]
    if n % strips == 0:
        bands = d.reshape(strips, n // strips, -1)
        return np.einsum("sij,sij->sj", bands, bands)
    return np.add.reduceat(d * d, (np.arange(strips) * n) // strips, axis=0)


def edge_profiles(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(ex, ey)``: `strip_profiles` over the whole image, lengths ``W - 1`` and ``H - 1``."""
    sx, sy = strip_profiles(rgb, 1)
    return sx[0], sy[0]


def above_floor(e: np.ndarray) -> np.ndarray:
    """Profile minus its median (along the last axis): pixel noise spreads a flat floor over every boundary."""
    return np.maximum(e - np.median(e, axis=-1, keepdims=True), 0.0)


def comb_window(pitch: float) -> float:
    """Half-width in pixels within which an edge counts as on a grid line."""
    return max(1.0, pitch / 16.0)


def comb_capture(e: np.ndarray, pitch: float, origin: float) -> float:
    """Share of ``e``'s energy within `comb_window` of lines ``origin + k * pitch``, chance-corrected, in [0, 1]."""
    b = np.arange(1, e.size + 1, dtype=np.float64)
    d = np.abs(((b - origin) / pitch + 0.5) % 1.0 - 0.5) * pitch
    return _capture(e, d <= comb_window(pitch) + 1e-9)


def line_capture(e: np.ndarray, lines: np.ndarray, pitch: float) -> float:
    """`comb_capture` for arbitrary line positions (an uneven lattice), chance-corrected, in [0, 1]."""
    return _capture(e, _near_lines(e, lines, pitch))


def raw_capture(e: np.ndarray, lines: np.ndarray, pitch: float) -> float:
    """Share of ``e``'s energy near ``lines`` minus the share of boundaries near them, in [-1, 1].

    Unlike the chance-corrected share, this is lower for a lattice at half the
    pitch that catches the same edges, so it ranks pitch hypotheses.
    """
    total = e.sum()
    if total <= 0 or not np.isfinite(total):
        return 0.0
    on = _near_lines(e, lines, pitch)
    return float(e[on].sum() / total - on.mean())


def _near_lines(e: np.ndarray, lines: np.ndarray, pitch: float) -> np.ndarray:
    """Boundaries of the profile within `comb_window` of a line (the lattice goes on at ``pitch`` past its ends)."""
    b = np.arange(1, e.size + 1, dtype=np.float64)
    lines = np.sort(np.asarray(lines, np.float64))
    if lines.size == 0:
        return np.zeros(e.size, bool)
    i = np.clip(np.searchsorted(lines, b), 1, max(1, lines.size - 1))
    d = np.minimum(np.abs(b - lines[i - 1]), np.abs(b - lines[np.minimum(i, lines.size - 1)]))
    # beyond the outer lines the lattice goes on at its pitch
    d = np.where(b < lines[0], np.abs(((b - lines[0]) / pitch + 0.5) % 1.0 - 0.5) * pitch, d)
    d = np.where(b > lines[-1], np.abs(((b - lines[-1]) / pitch + 0.5) % 1.0 - 0.5) * pitch, d)
    return d <= comb_window(pitch) + 1e-9


def _capture(e: np.ndarray, on: np.ndarray) -> float:
    total = e.sum()
    if total <= 0 or not np.isfinite(total):
        return 0.0
    expected = on.mean()
    if expected >= 1.0:
        return 0.0
    captured = e[on].sum() / total
    return float(np.clip((captured - expected) / (1.0 - expected), 0.0, 1.0))
