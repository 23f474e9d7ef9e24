"""One call per render: recover the grid, then every per-image metric of the registry (`evalkit.score.metrics`).

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
from evalkit.image_arrays import as_rgb_float, reduce_large
from evalkit.score.golden_reference import GoldenReference
from evalkit.score.grid_sharpness import GridSharpness
from evalkit.image_io import read_image
from evalkit.score.metrics import IMAGE_METRICS, ImageInputs
from evalkit.score.palette_fidelity import PaletteFidelity
from evalkit.score.photorealism import Photorealism
from evalkit.score.rounding import rounded


@dataclass(frozen=True)
class ImageScores:
    """Scores of one render.

    One score in [0, 1] per registry row, read as ``s.values[name]`` or
    ``s.<name>`` (``grid_sharpness``, ``palette_fidelity``: higher is better;
    ``photorealism``: higher is worse), each row's full result in
    ``s.parts[name]``. ``fit`` is the recovered
    grid (``fit.cells`` the 24x24 punk); its coordinates are in the pixels of
    the scored array, ``scale`` times smaller than the original image's.
    ``clip_embedding`` is the render's unit CLIP embedding when a CLIP model
    was given (for a CMMD over the set), else None.
    """

    fit: GridFit
    parts: dict  # metric name -> its module's result (``.score`` and ``.to_dict()``), in registry order
    width: int
    height: int
    scale: int = 1
    clip_embedding: np.ndarray | None = None

    @property
    def cells(self) -> np.ndarray:
        return self.fit.cells

    @property
    def values(self) -> dict[str, float]:
        """Metric name -> score, for every per-image metric."""
        return {name: part.score for name, part in self.parts.items()}

    def value(self, metric: str) -> float:
        return self.parts[metric].score

    def __getattr__(self, name: str):
        # ``s.grid_sharpness`` etc.: a metric's score by its name (only called when no attribute matched).
        parts = self.__dict__.get("parts")
        if parts is not None and name in parts:
            return parts[name].score
        raise AttributeError(name)

    # The parts under their historical names.
    @property
    def sharpness(self) -> GridSharpness:
        return self.parts["grid_sharpness"]

    @property
    def palette(self) -> PaletteFidelity:
        return self.parts["palette_fidelity"]

    @property
    def realism(self) -> Photorealism:
        return self.parts["photorealism"]

    def to_dict(self) -> dict:
        """JSON-ready summary: the scores, the grid fit (original pixels) and every part."""
        return {
            "width": self.width,
            "height": self.height,
            **{name: rounded(part.score) for name, part in self.parts.items()},
            "grid": self.fit.to_dict(scale=self.scale),
            "details": {name: part.to_dict() for name, part in self.parts.items()},
        }


def score_image(image, reference: GoldenReference, *, hex_codes=(), clip=None, prompt: str = "",
                requested=None) -> ImageScores:
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
    prompt : str
        The render's prompt text, for metrics that read it.
    requested : set of str, optional
        The punk labels the prompt asks for (`prompt_adherence.requested_for`);
        None reads them from ``prompt``.
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
    return _score_rgb(rgb, reference, hex_codes, clip, width, height, scale, prompt, requested)


def score_file(path, reference: GoldenReference, *, hex_codes=(), clip=None, prompt: str = "",
               requested=None) -> ImageScores:
    """`score_image` on a file; unusable files raise a one-line `EvalkitError` naming it."""
    arr, factor = read_image(Path(path))
    rgb = as_rgb_float(arr)
    h, w = rgb.shape[:2]
    rgb, scale = reduce_large(rgb)
    return _score_rgb(rgb, reference, hex_codes, clip, w * factor, h * factor, scale * factor, prompt, requested)


def _score_rgb(rgb, reference, hex_codes, clip, width, height, scale, prompt="", requested=None) -> ImageScores:
    fit = recover_grid(rgb)
    embedding = clip_signals = None
    if clip is not None:
        embedding = clip.embed_images([rgb])[0]
        clip_signals = clip.signals_from_embedding(embedding, reference.clip_features)
    inputs = ImageInputs(rgb, fit, reference, tuple(hex_codes), prompt, clip_signals, requested)
    return ImageScores(
        fit=fit,
        parts={m.name: m.compute(inputs) for m in IMAGE_METRICS},
        width=int(width),
        height=int(height),
        scale=int(scale),
        clip_embedding=embedding,
    )


def golden_scores(reference: GoldenReference, size: int = 512, limit: int | None = None,
                  requested: dict | None = None) -> list[ImageScores]:
    """Scores of the golden punks themselves, nearest-neighbour upscaled to ``size`` px.

    The ceiling a render can reach (about 1, 1, 0, 1); a gate deriving
    thresholds from the golden distribution starts here. ``requested``: golden
    id -> what its own prompt asks for (`prompt_adherence.golden_requests`).
    """
    cells = reference.cells if limit is None else reference.cells[:limit]
    requested = requested or {}
    idx = np.minimum((np.arange(size) * 24) // size, 23)
    return [score_image(punk[idx][:, idx], reference, requested=requested.get(pid, frozenset()))
            for pid, punk in zip(reference.ids, cells)]
