"""One call per render: recover the grid, then the three scores.

    ref = build_reference(load_golden("golden"))
    s = score_image(array, ref, hex_codes=prompt.hex_codes)
    s.grid_sharpness, s.palette_fidelity, s.photorealism, s.fit.cells

Everything here is CPU numpy; no weights unless a `ClipModel` is passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evalkit.downsample.grid import GridFit, recover_grid
from evalkit.downsample.image import as_rgb_float, reduce_large
from evalkit.score.golden_reference import GoldenReference
from evalkit.score.grid_sharpness import GridSharpness, grid_sharpness
from evalkit.score.image_io import read_image
from evalkit.score.palette_fidelity import PaletteFidelity, palette_fidelity
from evalkit.score.photorealism import Photorealism, photorealism
from evalkit.score.rounding import rounded


@dataclass(frozen=True)
class ImageScores:
    """Scores of one render.

    ``grid_sharpness`` and ``palette_fidelity`` in [0, 1], higher is better;
    ``photorealism`` in [0, 1], higher is worse. ``fit`` is the recovered
    grid (``fit.cells`` the 24x24 punk); its coordinates are in the pixels of
    the scored array, ``scale`` times smaller than the original image's.
    ``clip_embedding`` is the render's unit CLIP embedding when a CLIP model
    was given (for a CMMD over the set), else None.
    """

    grid_sharpness: float
    palette_fidelity: float
    photorealism: float
    fit: GridFit
    sharpness: GridSharpness
    palette: PaletteFidelity
    realism: Photorealism
    width: int
    height: int
    scale: int = 1
    clip_embedding: np.ndarray | None = None

    @property
    def cells(self) -> np.ndarray:
        return self.fit.cells

    def to_dict(self) -> dict:
        """JSON-ready summary: the three scores, the grid fit (original pixels) and every part."""
        return {
            "width": self.width,
            "height": self.height,
            "grid_sharpness": rounded(self.grid_sharpness),
            "palette_fidelity": rounded(self.palette_fidelity),
            "photorealism": rounded(self.photorealism),
            "grid": self.fit.to_dict(scale=self.scale),
            "details": {
                "grid_sharpness": self.sharpness.to_dict(),
                "palette_fidelity": self.palette.to_dict(),
                "photorealism": self.realism.to_dict(),
            },
        }


def score_image(image, reference: GoldenReference, *, hex_codes=(), clip=None) -> ImageScores:
    """Recover the 24x24 grid of one render and score it.

    Parameters
    ----------
    image : array_like
        ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)``; uint8, uint16 or float in
        [0, 1]. Images longer than 2048 px are box-reduced first.
    reference : GoldenReference
        From `evalkit.score.golden_reference.build_reference`.
    hex_codes : sequence of str
        Colours the render's prompt names (``Prompt.hex_codes``).
    clip : evalkit.score.clip_signal.ClipModel, optional
        Adds the CLIP photorealism signals. None: model-free only.

    Returns
    -------
    ImageScores
        Deterministic, finite for any image.
    """
    rgb = as_rgb_float(image)
    height, width = rgb.shape[:2]
    rgb, scale = reduce_large(rgb)
    return _score_rgb(rgb, reference, hex_codes, clip, width, height, scale)


def score_file(path, reference: GoldenReference, *, hex_codes=(), clip=None) -> ImageScores:
    """`score_image` on a file; unusable files raise a one-line `EvalkitError` naming it."""
    arr, factor = read_image(Path(path))
    rgb = as_rgb_float(arr)
    h, w = rgb.shape[:2]
    rgb, scale = reduce_large(rgb)
    return _score_rgb(rgb, reference, hex_codes, clip, w * factor, h * factor, scale * factor)


def _score_rgb(rgb, reference, hex_codes, clip, width, height, scale) -> ImageScores:
    fit = recover_grid(rgb)
    sharp = grid_sharpness(rgb, fit)
    pal = palette_fidelity(fit.cells, reference, hex_codes)
    embedding = clip_signals = None
    if clip is not None:
        embedding = clip.embed_images([rgb])[0]
        clip_signals = clip.signals_from_embedding(embedding, reference.clip_features)
    real = photorealism(rgb, fit, reference, clip_signals)
    return ImageScores(
        grid_sharpness=sharp.score,
        palette_fidelity=pal.score,
        photorealism=real.score,
        fit=fit,
        sharpness=sharp,
        palette=pal,
        realism=real,
        width=int(width),
        height=int(height),
        scale=int(scale),
        clip_embedding=embedding,
    )


def golden_scores(reference: GoldenReference, size: int = 512, limit: int | None = None) -> list[ImageScores]:
    """Scores of the golden punks themselves, nearest-neighbour upscaled to ``size`` px.

    The ceiling a render can reach (about 1, 1, 0); a gate deriving
    thresholds from the golden distribution starts here.
    """
    cells = reference.cells if limit is None else reference.cells[:limit]
    out = []
    for punk in cells:
        idx = np.minimum((np.arange(size) * 24) // size, 23)
        out.append(score_image(punk[idx][:, idx], reference))
    return out
