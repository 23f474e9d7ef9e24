"""palette_fidelity: do the recovered 24x24 cells use punk colours?

Measured in CIELAB (delta-E, CIE76) on the recovered cells, three parts
multiplied:

``on_palette``
    Mean over the 576 cells of a soft match, ``1 / (1 + (dE / 6) ** 4)``: a
    cell within 2-3 dE counts fully, one at 6 dE half, one at 10 dE about a
    tenth. Backdrop cells (within 6 dE of the render's backdrop, read from
    row 0 and the outer columns that every punk leaves empty) are matched to
    the golden backdrop(s); the figure's cells to the nearest colour of the
    whole golden palette. Hue shifts, washed-out and photographic colours
    move cells off the palette; matching the backdrop on its own keeps a
    rotated backdrop from finding credit in some unrelated palette colour.

``colour_count``
    The number of distinct colours (cells within 8 dE merged, so rendering
    noise does not split a colour) against the golden punks' own range
    (``fewest``..``most``, 4..14): 1 up to 1.5 times the most, then
    ``(1.5 * most / n) ** 2`` (a photograph's hundreds of colours score ~0);
    ``n / fewest`` below the fewest (a flat image is not a punk).

``prompt_colours``
    Only when the prompt names hex codes: for each code, the soft match of
    the closest cell to it, averaged. A prompt asking for ``#DBB180`` skin
    gets little credit for a render without that colour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evalkit.score.colour import backdrop_lab, colour_count, nearest_distance, rgb_to_lab
from evalkit.score.golden_reference import COUNT_TOLERANCE, GoldenReference
from evalkit.score.rounding import rounded

# Delta-E at which a colour counts half as a palette (or prompt) colour.
PALETTE_TOLERANCE = 6.0
# Distinct colours up to this many times the golden maximum cost nothing
# (rendering noise splits a few colours); beyond, the factor falls quadratically.
COUNT_SLACK = 1.5
# Cells within this delta-E of the render's backdrop are backdrop.
BACKDROP_TOLERANCE = 6.0


@dataclass(frozen=True)
class PaletteFidelity:
    """``score`` in [0, 1], higher is better: ``on_palette * count_factor * prompt_colours``."""

    score: float
    on_palette: float
    colour_count: int
    count_factor: float
    prompt_colours: float | None
    hex_codes: tuple[str, ...]

    def to_dict(self) -> dict:
        return rounded(self)


def soft_match(distance) -> np.ndarray:
    """Credit in [0, 1] for a colour ``distance`` delta-E from its target; 0.5 at `PALETTE_TOLERANCE`."""
    d = np.asarray(distance, np.float64) / PALETTE_TOLERANCE
    return 1.0 / (1.0 + d**4)


def palette_fidelity(cells, reference: GoldenReference, hex_codes=()) -> PaletteFidelity:
    """Score how well a recovered punk's colours match the golden palette.

    Parameters
    ----------
    cells : (24, 24, 3) uint8 or float in [0, 1]
        The recovered punk (`GridFit.cells`).
    reference : GoldenReference
        From `build_reference`.
    hex_codes : sequence of str
        Colours the prompt names (``"#DBB180"``); empty for none.

    Returns
    -------
    PaletteFidelity
        Every part in ``[0, 1]``; deterministic.
    """
    grid = rgb_to_lab(np.asarray(cells))
    lab = grid.reshape(-1, 3)
    on_palette = _on_palette(grid, reference)
    n = colour_count(lab, COUNT_TOLERANCE)
    fewest, most = reference.colour_count_range
    if n > COUNT_SLACK * most:
        count_factor = (COUNT_SLACK * most / n) ** 2
    elif n < fewest:
        count_factor = n / fewest
    else:
        count_factor = 1.0
    codes = tuple(c.upper() for c in hex_codes)
    prompt = None
    if codes:
        targets = rgb_to_lab(np.array([_parse_hex(c) for c in codes], np.uint8))
        prompt = float(soft_match(nearest_distance(targets, lab)).mean())
    score = on_palette * count_factor * (1.0 if prompt is None else prompt)
    return PaletteFidelity(
        score=float(np.clip(score, 0.0, 1.0)),
        on_palette=on_palette,
        colour_count=n,
        count_factor=float(count_factor),
        prompt_colours=prompt,
        hex_codes=codes,
    )


def _on_palette(grid_lab: np.ndarray, reference: GoldenReference) -> float:
    """Mean soft match of the cells: backdrop cells to the golden backdrops, the rest to the golden palette."""
    lab = grid_lab.reshape(-1, 3)
    bg = backdrop_lab(grid_lab)
    is_bg = np.sqrt(((lab - bg) ** 2).sum(-1)) <= BACKDROP_TOLERANCE
    bg_match = float(soft_match(nearest_distance(bg[None], reference.backdrop_lab))[0])
    figure = soft_match(nearest_distance(lab[~is_bg], reference.palette_lab))
    return float((bg_match * is_bg.sum() + figure.sum()) / lab.shape[0])


def _parse_hex(code: str) -> tuple[int, int, int]:
    s = code.strip().lstrip("#")
    if len(s) != 6:
        raise ValueError(f"not a #RRGGBB colour: {code!r}")
    return int(s[0:2], 16), int(s[2:4], 16), int(s[4:6], 16)
