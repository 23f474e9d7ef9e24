"""Anchor: which 24x24 block of the fitted cells is the punk.

Every punk's neck reaches its row 23, so the last fitted row with content is
row 23; the columns are the placement whose non-backdrop cells are most likely
under either CryptoPunk body template (`evalkit.downsample.layout`). A punk
shifted by half a cell and cut by the frame comes back in the right place;
cells the frame does not show are filled with the backdrop.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

GRID = 24
# A voted cell counts as "content" (not backdrop) beyond this RGB distance.
CONTENT_DISTANCE = 0.1
# Layout shares are clipped to [floor, 1 - floor]: cells every golden punk agrees
# on (0 or 1) act as near-hard constraints.
LAYOUT_FLOOR = 0.001
# Log-likelihood cost per expected punk cell (layout share) the frame would hide.
HIDDEN_COST = 7.0
# A fitted cell counts as observed with this much of it inside the frame.
MIN_SEEN_PX, MIN_SEEN_SHARE = 2.0, 0.2
# A lattice row with at least this many content cells holds part of the punk.
MIN_ROW_CONTENT = 2


def seen_cells(lines: np.ndarray, n: int) -> np.ndarray:
    """Per cell of an axis: is a fair part of it in the frame (a sliver of a pixel or two may be its neighbour's)."""
    start, end = lines[:-1], lines[1:]
    width = end - start
    shown = np.clip(np.minimum(end, n) - np.maximum(start, 0), 0.0, None)
    return shown >= np.maximum(MIN_SEEN_PX, MIN_SEEN_SHARE * width)


def anchor(votes, bg, xs, ys, shape, layouts) -> tuple[int, int]:
    """(first row, first column) of the punk among the cells between ``ys`` / ``xs``."""
    h, w = shape[:2]
    seen = np.outer(seen_cells(ys, h), seen_cells(xs, w)).astype(np.float64)
    content = (np.sqrt(((votes - bg) ** 2).sum(-1)) > CONTENT_DISTANCE).astype(np.float64) * seen
    a0 = anchor_rows(content, content.shape[0])
    return a0, anchor_cols(content, seen, a0, layouts)


def anchor_rows(content, ly):
    """Lattice row of punk row 0: every punk's neck reaches its bottom row (23)."""
    filled = np.nonzero(content.sum(1) >= MIN_ROW_CONTENT)[0]
    if filled.size == 0:
        return int(round((ly - GRID) / 2))
    return int(filled[-1]) - (GRID - 1)


def anchor_cols(content, seen, a0, layouts):
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
