"""What the metrics compare against, computed once per run from the golden punks.

`build_reference(golden)` turns a `GoldenSet` into arrays: the golden palette
in CIELAB, the per-punk statistics the metrics' scales come from (colour
counts, outline share, nearest-neighbour overlap), the feature matrix for the
set-level MMD and the 24x24 cells for memorisation. Metrics take the
reference, never a path. `cached_reference` keeps it on disk (a few seconds to build on a
CPU, milliseconds to read), keyed by the golden pixels, ids and backdrop and the scoring code.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from evalkit.golden.captions import hex_code
from evalkit.score.colour import backdrop_lab, colour_count, rgb_to_lab

# Colours closer than this (delta-E) count as one when counting a punk's colours.
COUNT_TOLERANCE = 8.0
# A cell matches another punk's cell within this delta-E (memorisation).
MATCH_TOLERANCE = 5.0
# A cell is outline when it is this dark (L*) and touches a cell at least OUTLINE_LIGHT.
OUTLINE_DARK = 15.0
OUTLINE_LIGHT = 35.0


@dataclass(frozen=True)
class GoldenReference:
    """The golden punks as the metrics need them.

    Attributes
    ----------
    ids : tuple of str
        Golden punk ids, in order.
    cells : (N, 24, 24, 3) uint8
        The punks, RGB.
    lab : (N, 576, 3) float64
        The punks' cells in CIELAB, row-major.
    palette_rgb : (P, 3) uint8
        Every distinct colour of the golden punks, commonest first.
    palette_lab : (P, 3) float64
    palette_share : (P,) float64
        Share of all golden cells that have each palette colour.
    background : (3,) uint8
        The golden backdrop (the loader's compositing colour).
    backdrop_lab : (B, 3) float64
        The distinct backdrops of the golden punks (read from their cells), Lab.
    colour_counts : (N,) int64
        Distinct colours per punk (delta-E `COUNT_TOLERANCE`).
    outline_share : (N,) float64
        Share of each punk's cells that are dark outline next to a light cell.
    nn_share : (N,) float64
        Share of cells each punk shares (delta-E `MATCH_TOLERANCE`) with its
        nearest *other* golden punk: how alike distinct real punks already are.
    features : (N, D) float64
        Model-free features for the set-level MMD (`image_features`).
    bandwidth : float
        RBF bandwidth for the MMD: median pairwise distance of ``features``.
    clip_features : (N, d) float64 or None
        Unit-norm CLIP image embeddings, when a CLIP model was given.
    """

    ids: tuple[str, ...]
    cells: np.ndarray
    lab: np.ndarray
    palette_rgb: np.ndarray
    palette_lab: np.ndarray
    palette_share: np.ndarray
    background: np.ndarray
    backdrop_lab: np.ndarray
    colour_counts: np.ndarray
    outline_share: np.ndarray
    nn_share: np.ndarray
    features: np.ndarray
    bandwidth: float
    clip_features: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def colour_count_range(self) -> tuple[int, int]:
        """(fewest, most) distinct colours of a golden punk."""
        return int(self.colour_counts.min()), int(self.colour_counts.max())

    @property
    def palette_hex(self) -> list[str]:
        return [hex_code(c) for c in self.palette_rgb]


def build_reference(golden, clip=None) -> GoldenReference:
    """Compute the golden reference once per run.

    Parameters
    ----------
    golden : GoldenSet or (N, 24, 24, 3) uint8 array
        From `evalkit.golden.load.load_golden`; a bare array gets ids
        ``"0"``, ``"1"``, ... and the classic backdrop.
    clip : evalkit.score.clip_signal.ClipModel, optional
        When given, the golden punks' CLIP embeddings are stored too (for the
        CLIP photorealism signal and a CMMD on CLIP features).

    Returns
    -------
    GoldenReference
    """
    if isinstance(golden, np.ndarray):
        images = golden
        ids = tuple(str(i) for i in range(images.shape[0]))
        from evalkit.golden.captions import BACKGROUND_RGB

        background = np.asarray(BACKGROUND_RGB, np.uint8)
    else:
        images = golden.images
        ids = tuple(golden.ids)
        background = np.asarray(golden.background, np.uint8)
    images = np.asarray(images, np.uint8)
    if images.ndim != 4 or images.shape[1:] != (24, 24, 3) or images.shape[0] == 0:
        raise ValueError(f"golden images must be (N, 24, 24, 3) uint8, got {images.shape}")
    n = images.shape[0]
    lab = rgb_to_lab(images).reshape(n, -1, 3)
    flat = images.reshape(-1, 3)
    colours, counts = np.unique(flat, axis=0, return_counts=True)
    order = np.lexsort((colours[:, 2], colours[:, 1], colours[:, 0], -counts))
    palette_rgb = colours[order]
    palette_share = counts[order] / flat.shape[0]
    colour_counts = np.array([colour_count(lab[i], COUNT_TOLERANCE) for i in range(n)], np.int64)
    outline = np.array([outline_share(lab[i].reshape(24, 24, 3)) for i in range(n)])
    palette_lab = rgb_to_lab(palette_rgb)
    features = image_features(lab.reshape(n, 24, 24, 3), palette_lab)
    clip_features = None
    if clip is not None:
        k = -(-int(getattr(clip, "image_size", 224)) // 24)  # nearest upscale past CLIP's input size
        clip_features = clip.embed_images(np.repeat(np.repeat(images, k, 1), k, 2))
    return GoldenReference(
        ids=ids,
        cells=images,
        lab=lab,
        palette_rgb=palette_rgb,
        palette_lab=palette_lab,
        palette_share=palette_share,
        background=background,
        backdrop_lab=_distinct_backdrops(lab.reshape(n, 24, 24, 3)),
        colour_counts=colour_counts,
        outline_share=outline,
        nn_share=_nearest_other_share(images, palette_rgb, palette_lab),
        features=features,
        bandwidth=median_distance(features),
        clip_features=clip_features,
        meta={"clip_model": getattr(clip, "name", None)},
    )


ARRAYS = ("cells", "lab", "palette_rgb", "palette_lab", "palette_share", "background", "backdrop_lab",
          "colour_counts", "outline_share", "nn_share", "features")


def reference_digest(golden) -> str:
    """16 hex digits: what `build_reference` (without CLIP) reads of ``golden``, and the scoring code."""
    from evalkit.score.fingerprint import scorer_fingerprint

    images = np.ascontiguousarray(golden.images, np.uint8)
    h = hashlib.sha256(f"{images.shape}\x00{tuple(golden.background)}\x00".encode())
    h.update("\x00".join(golden.ids).encode())
    h.update(images.tobytes())
    h.update(scorer_fingerprint().encode())
    return h.hexdigest()[:16]


def cached_reference(golden, cache_dir: Path | None) -> GoldenReference:
    """`build_reference(golden)`, read from ``cache_dir/golden-reference-<digest>.npz`` when it was built before.

    The arrays round-trip exactly (``.npz``, read without pickle), so scores from the cached
    reference are bit-identical to a fresh build's. ``reference.meta["digest"]`` names it, for
    caches of scores computed against it, and ``meta["path"]`` is its file (worker processes read it). A missing or damaged file is rebuilt.
    """
    from evalkit.paths import atomic_write

    digest = reference_digest(golden)
    path = Path(cache_dir) / f"golden-reference-{digest}.npz" if cache_dir is not None else None
    if path is not None and path.is_file():
        try:
            return load_reference(path)
        except (OSError, ValueError, KeyError):
            pass  # damaged: rebuild and overwrite
    ref = build_reference(golden)
    ref.meta.update(digest=digest, path=str(path) if path is not None else None)
    if path is not None:
        def write(tmp: Path) -> None:
            with open(tmp, "wb") as f:  # a file object: np.savez would append .npz to a name
                np.savez(f, ids=np.array(ref.ids, dtype=str), bandwidth=np.float64(ref.bandwidth),
                         **{k: getattr(ref, k) for k in ARRAYS})

        atomic_write(path, write)
    return ref


def load_reference(path) -> GoldenReference:
    """The reference `cached_reference` stored at ``path`` (``golden-reference-<digest>.npz``)."""
    path = Path(path)
    with np.load(path, allow_pickle=False) as z:
        return GoldenReference(ids=tuple(str(i) for i in z["ids"]), bandwidth=float(z["bandwidth"]),
                               meta={"clip_model": None, "digest": path.stem.rsplit("-", 1)[-1], "path": str(path)},
                               **{k: z[k] for k in ARRAYS})


def image_features(lab_cells: np.ndarray, palette_lab: np.ndarray | None = None) -> np.ndarray:
    """Model-free MMD features of 24x24 punks.

    Two blocks, concatenated:

    * layout: the cells in CIELAB scaled to about unit range (1728 values);
    * style (x `STYLE_WEIGHT`): histograms over `STYLE_BINS` of each cell's
      delta-E to its most similar 4-neighbour (flat cells vs smooth shading)
      and, when ``palette_lab`` is given, to the nearest golden palette colour.

    Parameters
    ----------
    lab_cells : (N, 24, 24, 3) float
        Cells in CIELAB.
    palette_lab : (P, 3) float, optional
        The golden palette (`GoldenReference.palette_lab`).

    Returns
    -------
    (N, D) float64
    """
    from evalkit.score.colour import nearest_distance

    lab = np.asarray(lab_cells, np.float64)
    n = lab.shape[0]
    layout = (lab / np.array([100.0, 128.0, 128.0])).reshape(n, -1)
    style = [_histogram(_nearest_neighbour_delta(lab))]
    if palette_lab is not None:
        d = nearest_distance(lab.reshape(-1, 3), palette_lab).reshape(n, -1)
        style.append(_histogram(d))
    return np.concatenate([layout, STYLE_WEIGHT * np.concatenate(style, axis=1)], axis=1)


STYLE_BINS = np.array([0.0, 3.0, 6.0, 12.0, np.inf])
STYLE_WEIGHT = 5.0


def _histogram(d: np.ndarray) -> np.ndarray:
    """Row-wise share of values in each `STYLE_BINS` bin: (N, K) -> (N, len(STYLE_BINS) - 1)."""
    idx = np.clip(np.searchsorted(STYLE_BINS, d, side="right") - 1, 0, len(STYLE_BINS) - 2)
    out = np.zeros((d.shape[0], len(STYLE_BINS) - 1))
    for b in range(len(STYLE_BINS) - 1):
        out[:, b] = (idx == b).mean(1)
    return out


def _nearest_neighbour_delta(lab: np.ndarray) -> np.ndarray:
    """(N, 24, 24, 3) -> (N, 576): delta-E of each cell to its most similar 4-neighbour."""
    best = np.full(lab.shape[:3], np.inf)
    d_v = np.sqrt(((lab[:, 1:] - lab[:, :-1]) ** 2).sum(-1))
    d_h = np.sqrt(((lab[:, :, 1:] - lab[:, :, :-1]) ** 2).sum(-1))
    best[:, 1:] = np.minimum(best[:, 1:], d_v)
    best[:, :-1] = np.minimum(best[:, :-1], d_v)
    best[:, :, 1:] = np.minimum(best[:, :, 1:], d_h)
    best[:, :, :-1] = np.minimum(best[:, :, :-1], d_h)
    return best.reshape(lab.shape[0], -1)


def median_distance(features: np.ndarray) -> float:
    """Median pairwise Euclidean distance between rows (the RBF median heuristic); 1.0 if undefined."""
    x = np.asarray(features, np.float64)
    if x.shape[0] < 2:
        return 1.0
    d2 = squared_distances(x, x)
    iu = np.triu_indices(x.shape[0], 1)
    med = float(np.sqrt(np.median(d2[iu])))
    return med if np.isfinite(med) and med > 0 else 1.0


def squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) squared Euclidean distances, clipped at 0."""
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d2, 0.0)


def outline_share(lab_cells: np.ndarray) -> float:
    """Share of (24, 24) Lab cells that are dark (L* < 15) next to a light (L* > 35) 4-neighbour."""
    lum = np.asarray(lab_cells, np.float64)[..., 0]
    dark = lum < OUTLINE_DARK
    light = lum > OUTLINE_LIGHT
    near = np.zeros_like(dark)
    near[1:] |= light[:-1]
    near[:-1] |= light[1:]
    near[:, 1:] |= light[:, :-1]
    near[:, :-1] |= light[:, 1:]
    return float((dark & near).mean())


def _distinct_backdrops(lab_cells: np.ndarray) -> np.ndarray:
    backdrops = np.round(backdrop_lab(lab_cells), 2)
    return np.unique(backdrops, axis=0)


def _nearest_other_share(cells: np.ndarray, palette_rgb: np.ndarray, palette_lab: np.ndarray) -> np.ndarray:
    """For each golden punk, the largest share of cells it matches (within 5 dE) in another golden punk."""
    n = cells.shape[0]
    out = np.zeros(n)
    if n < 2:
        return out
    # golden cells are palette colours: compare palette indices through a P x P match table
    key = lambda rgb: (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    order = np.argsort(key(palette_rgb))
    idx = order[np.searchsorted(key(palette_rgb)[order], key(cells.reshape(n, -1, 3)))]
    match = np.sqrt(squared_distances(palette_lab, palette_lab)) <= MATCH_TOLERANCE
    for i in range(n):
        share = match[idx[i][None, :], idx].mean(1)
        share[i] = -1.0
        out[i] = share.max()
    return out
