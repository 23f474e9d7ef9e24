"""Read a golden set: evalkit's own ``golden/`` or a user's kohya training folder.

Layouts understood:

* evalkit's golden set: ``golden.toml`` at the root names the caption versions;
  each version is a kohya folder (``v1/1_punks/0001.png`` + ``0001.txt``).
* a kohya training folder: ``N_name/`` subfolders of images with same-stem
  ``.txt`` (or ``.caption``) files, or images directly in the folder.

Images must be 24x24 punks, or exact integer nearest-neighbour upscales of
one (kohya users often keep 512x512 copies); transparency is composited on the
background colour. Every problem is a one-line `EvalkitError` naming the file.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from evalkit.errors import EvalkitError, why_missing
from evalkit.golden.captions import BACKGROUND_RGB

GRID = 24
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}
CAPTION_SUFFIXES = (".txt", ".caption")
# Files a kohya folder legitimately holds beside images and captions.
SIDECAR_SUFFIXES = {".txt", ".caption", ".npz", ".toml", ".json", ".md", ".csv"}
KOHYA_SUBDIR = re.compile(r"^\d+_.+")


@dataclass
class GoldenSet:
    """Golden punks as arrays.

    images: (N, 24, 24, 3) uint8 RGB on a solid background.
    captions: caption version -> N captions ("" where an image has none).
    """

    root: Path
    ids: list[str]
    paths: list[Path]
    images: np.ndarray
    captions: dict[str, list[str]]
    background: tuple[int, int, int] = BACKGROUND_RGB
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def index(self, punk_id: str) -> int:
        return self.ids.index(punk_id)


def load_golden(root: str | Path) -> GoldenSet:
    root = Path(root)
    if not root.exists():
        raise EvalkitError(root, why_missing(root, "golden folder does not exist"))
    if not root.is_dir():
        raise EvalkitError(root, "golden path is not a folder")
    manifest = root / "golden.toml"
    if manifest.is_file():
        return _load_evalkit_golden(root, manifest)
    images, captions = _read_kohya_folder(root)
    ids = [p.stem for p in images]
    arrays, background = _decode_all(images, None)
    return GoldenSet(root, ids, images, arrays, {"captions": captions}, background, {})


def _load_evalkit_golden(root: Path, manifest: Path) -> GoldenSet:
    try:
        meta = tomllib.loads(manifest.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise EvalkitError(manifest, f"not valid TOML: {exc}") from None
    versions = meta.get("caption_versions") or []
    if not versions:
        raise EvalkitError(manifest, "names no caption_versions")
    background = tuple(int(v) for v in meta.get("background_rgb", BACKGROUND_RGB))
    first_paths: list[Path] | None = None
    captions: dict[str, list[str]] = {}
    for version in versions:
        folder = root / version
        if not folder.is_dir():
            raise EvalkitError(folder, f"caption version '{version}' listed in golden.toml has no folder")
        paths, texts = _read_kohya_folder(folder)
        if first_paths is None:
            first_paths = paths
        elif [p.name for p in paths] != [p.name for p in first_paths]:
            raise EvalkitError(folder, f"holds other images than {versions[0]}/")
        captions[version] = texts
    assert first_paths is not None
    arrays, _ = _decode_all(first_paths, background)
    return GoldenSet(root, [p.stem for p in first_paths], first_paths, arrays, captions, background, meta)


def _read_kohya_folder(folder: Path) -> tuple[list[Path], list[str]]:
    subdirs = sorted(d for d in folder.iterdir() if d.is_dir() and KOHYA_SUBDIR.match(d.name))
    image_dirs = subdirs or [folder]
    images: list[Path] = []
    for d in image_dirs:
        for f in sorted(d.iterdir()):
            if f.is_dir() or f.name.startswith("."):
                continue
            suffix = f.suffix.lower()
            if suffix in IMAGE_SUFFIXES:
                images.append(f)
            elif suffix not in SIDECAR_SUFFIXES:
                raise EvalkitError(f, f"not an image (expected one of {', '.join(sorted(IMAGE_SUFFIXES))})")
    if not images:
        raise EvalkitError(folder, "no images found (expected 24x24 PNGs with same-stem .txt captions)")
    return images, [_read_caption(p) for p in images]


def _read_caption(image: Path) -> str:
    for suffix in CAPTION_SUFFIXES:
        path = image.with_suffix(suffix)
        if path.is_file():
            try:
                return " ".join(path.read_bytes().decode("utf-8").split())
            except UnicodeDecodeError as exc:
                raise EvalkitError(path, f"caption is not UTF-8 text (byte {exc.start})") from None
    return ""


def _decode_all(paths: list[Path], background) -> tuple[np.ndarray, tuple[int, int, int]]:
    bg = background if background is not None else BACKGROUND_RGB
    arrays = np.stack([read_punk_image(p, bg) for p in paths])
    return arrays, tuple(bg)


def read_punk_image(path: Path, background=BACKGROUND_RGB) -> np.ndarray:
    """One golden image as (24, 24, 3) uint8; integer upscales are reduced exactly.

    Decoded by `evalkit.image_io.read_image`, the reader renders go through, so
    a 16-bit grey or palette PNG means the same colours here as when it is scored;
    lossy (JPEG) files are refused whatever their name.
    """
    from evalkit.image_arrays import as_rgb_float
    from evalkit.image_io import read_image

    arr, factor = read_image(path, lossless=True)
    if factor != 1:
        raise EvalkitError(path, "is too large for a golden punk (24x24 or an integer upscale of it)")
    rgb = np.clip(np.rint(as_rgb_float(arr, background).astype(np.float64) * 255), 0, 255).astype(np.uint8)
    h, w = rgb.shape[:2]
    if h != w or h % GRID:
        raise EvalkitError(path, f"is {w}x{h}; golden punks must be 24x24 or an integer upscale of it")
    scale = h // GRID
    if scale > 1:
        blocks = rgb.reshape(GRID, scale, GRID, scale, 3)
        if np.ptp(blocks, axis=(1, 3)).max() > 0:
            raise EvalkitError(path, f"is {w}x{h} but not a nearest-neighbour upscale of a 24x24 punk")
        rgb = blocks[:, 0, :, 0, :]
    return np.ascontiguousarray(rgb)
