"""The fitted grid as a value: where every grid line of each axis lies.

A diffusion model does not draw 24 equal cells: widths wander by a few pixels
within one image and the two axes need not share a pitch. A `Lattice` holds
the line positions of each axis (in pixels of the image it was fitted on);
cell ``j`` of an axis covers pixel centres in ``[lines[j], lines[j + 1])``.
Beyond its first and last line the lattice goes on at its mean pitch, so a
pixel outside the punk still has a (negative or >= 24) cell index.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Lattice:
    """Line positions per axis: ``xs`` (vertical lines, left to right), ``ys`` (horizontal lines, top to bottom).

    Both are increasing float64 arrays of length ``cells + 1`` (25 for a punk).
    """

    xs: np.ndarray
    ys: np.ndarray

    @classmethod
    def regular(cls, origin_x: float, pitch_x: float, origin_y: float, pitch_y: float, cells: int = 24) -> Lattice:
        """Equal cells: line ``k`` at ``origin + k * pitch``."""
        k = np.arange(cells + 1, dtype=np.float64)
        return cls(xs=origin_x + k * pitch_x, ys=origin_y + k * pitch_y)

    def lines(self, axis: int) -> np.ndarray:
        """Line positions of ``axis``: 0 for rows (``ys``), 1 for columns (``xs``)."""
        return self.ys if axis == 0 else self.xs

    def pitch(self, axis: int) -> float:
        """Cell size of ``axis`` in pixels: the least-squares slope of the lines (the walked end lines may sit a pixel off)."""
        return line_pitch(self.lines(axis))

    def origin(self, axis: int) -> float:
        return float(self.lines(axis)[0])

    def widths(self, axis: int) -> np.ndarray:
        """Cell sizes of ``axis`` in pixels, (cells,)."""
        return np.diff(self.lines(axis))

    def unevenness(self) -> float:
        """Largest distance of a line from the least-squares regular lattice, in cells (0 when even)."""
        worst = 0.0
        for axis in (0, 1):
            b = self.lines(axis)
            k = np.arange(b.size)
            even = b.mean() + (k - k.mean()) * self.pitch(axis)
            worst = max(worst, float(np.abs(b - even).max() / max(self.pitch(axis), 1e-9)))
        return worst

    def cell_of(self, axis: int, n: int) -> np.ndarray:
        """Cell index (may be <0 or >= cells) of each of ``n`` pixel rows (axis 0) or columns (axis 1)."""
        return cell_index(self.lines(axis), np.arange(n) + 0.5)

    def take(self, start_row: int, start_col: int, cells: int) -> Lattice:
        """The ``cells`` x ``cells`` block of cells starting at (``start_row``, ``start_col``), extrapolated past the ends."""
        return Lattice(xs=take_lines(self.xs, start_col, cells + 1), ys=take_lines(self.ys, start_row, cells + 1))


def line_pitch(lines: np.ndarray) -> float:
    """Least-squares step of ``lines`` against their index (the pitch of an even lattice)."""
    lines = np.asarray(lines, np.float64)
    k = np.arange(lines.size) - (lines.size - 1) / 2.0
    return float((k * (lines - lines.mean())).sum() / max((k * k).sum(), 1e-12))


def cell_index(lines: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Cell of each position ``x`` under ``lines``; beyond the ends the lattice continues at its mean pitch."""
    lines = np.asarray(lines, np.float64)
    pitch = line_pitch(lines)
    j = np.searchsorted(lines, x, side="right") - 1
    before, after = x < lines[0], x >= lines[-1]
    j = np.where(before, np.floor((x - lines[0]) / pitch), j)
    j = np.where(after, lines.size - 1 + np.floor((x - lines[-1]) / pitch), j)
    return j.astype(np.int64)


def take_lines(lines: np.ndarray, start: int, count: int) -> np.ndarray:
    """Lines ``start .. start + count - 1`` of ``lines``, extrapolated at the mean pitch outside its range."""
    lines = np.asarray(lines, np.float64)
    pitch = line_pitch(lines)
    k = np.arange(start, start + count)
    inside = lines[np.clip(k, 0, lines.size - 1)]
    return np.where(k < 0, lines[0] + k * pitch, np.where(k >= lines.size, lines[-1] + (k - lines.size + 1) * pitch, inside))
