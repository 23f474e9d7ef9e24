"""How much a LoRA changes what its base draws: the share of 24x24 cells that look different.

Each render is paired with the base's own render of the same prompt and seed
(same noise, same text, the LoRA taken off), so whatever differs is the
LoRA's doing. A LoRA that does almost nothing (weights near zero, a scale
near 0, a training that never moved) draws the base's punks cell for cell,
and on a base that already draws punks (the testbed's) it would score as
well as the base itself: only this comparison tells it apart from a good
LoRA (issue 22, finding 9). Judged in `evalkit.gate.base_compare`.
"""

from __future__ import annotations

import numpy as np

from evalkit.score.colour import delta_e, rgb_to_lab

# CIE76 delta-E of about 2.3 is the just-noticeable difference of two colours side by side (Sharma 2003).
JND_DELTA_E = 2.3
# A LoRA is indistinguishable from its base when, with 95% confidence, fewer than 1% of the cells of
# a render change on average: about 6 of 576, fewer than one earring. Every testbed LoRA changes far
# more (README "The gate", "Change against the base").
INDISTINGUISHABLE_SHARE = 0.01


def changed_share(cells: np.ndarray, base_cells: np.ndarray, jnd: float = JND_DELTA_E) -> np.ndarray:
    """Share of cells whose colour differs visibly between paired renders.

    Parameters
    ----------
    cells, base_cells : (N, 24, 24, 3) uint8 arrays
        The recovered punks of N renders with the LoRA, and of the base alone at the same
        (prompt, seed), in the same order. Any (N, H, W, 3) shape works.
    jnd : float
        The CIE76 delta-E above which a cell counts as changed.

    Returns
    -------
    share : (N,) float64 array in [0, 1]
        Per render, the fraction of cells with delta-E > ``jnd``; 0 for identical punks.
    """
    a, b = np.asarray(cells), np.asarray(base_cells)
    if a.shape != b.shape or a.ndim != 4 or a.shape[-1] != 3:
        raise ValueError(f"paired (N, H, W, 3) grids needed, got {a.shape} and {b.shape}")
    changed = delta_e(rgb_to_lab(a), rgb_to_lab(b)) > jnd
    return changed.reshape(len(a), -1).mean(axis=1)
