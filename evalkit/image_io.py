"""Reading render files for scoring: the only I/O of the score stage.

Renders come from anywhere (A1111, ComfyUI, kohya sample folders): PNG,
JPEG, WebP, BMP; gray, palette, RGB, RGBA; 8 or 16 bits. `read_image`
returns an array `evalkit.image_arrays.as_rgb_float` accepts, reduced by
an integer box factor when huge, and turns every unusable file into a
one-line `EvalkitError` naming it.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from evalkit.image_arrays import MAX_SIDE
from evalkit.errors import EvalkitError, why_missing

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
# Refuse images beyond this many pixels (a 12k x 12k render is not a punk).
MAX_PIXELS = 150_000_000
# Lossy codecs: their colours are not the ones drawn, so a golden punk must never be one.
LOSSY_FORMATS = {"JPEG", "MPO"}


def read_image(path: str | Path, *, lossless: bool = False) -> tuple[np.ndarray, int]:
    """Decode one render, or (``lossless=True``) one golden punk: the one image reader of evalkit.

    Parameters
    ----------
    path : path-like
    lossless : bool
        Refuse lossy files (JPEG, lossy WebP, whatever their name says): golden punks must
        hold the exact palette.

    Returns
    -------
    image : ndarray
        ``(H, W)``, ``(H, W, 2)``, ``(H, W, 3)`` or ``(H, W, 4)``; uint8,
        uint16, int32 or float32 in [0, 1] as the file holds it.
    factor : int
        Box-reduction applied to keep the longest side <= `MAX_SIDE`
        (1 when none); multiply fitted pixel coordinates by it.

    Raises
    ------
    EvalkitError
        ``<path>: <problem>`` for a missing, unreadable, empty or oversized file.
    """
    path = Path(path)
    if not path.exists():
        raise EvalkitError(path, why_missing(path, "image does not exist"))
    if not path.is_file():
        raise EvalkitError(path, "is not a file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # Pillow warns from its own ~89 Mpx: hold its guard at our documented limit instead.
            Image.MAX_IMAGE_PIXELS = max(Image.MAX_IMAGE_PIXELS or 0, MAX_PIXELS)
            with Image.open(path) as im:
                if lossless and (im.format in LOSSY_FORMATS or im.format == "WEBP" and _lossy_webp(path)):
                    raise EvalkitError(path, f"is a lossy {im.format} file (its colours are not exact); "
                                             "save the punk as PNG")
                w, h = im.size
                if w * h > MAX_PIXELS:
                    raise EvalkitError(path, f"is {w}x{h}: too large to score (limit {MAX_PIXELS} pixels)")
                if w == 0 or h == 0:
                    raise EvalkitError(path, "image has no pixels")
                im.seek(0)
                im.load()
                im = _normal_mode(im)
                factor = 1
                if max(w, h) > MAX_SIDE and not im.mode.startswith("I;16"):
                    factor = -(-max(w, h) // MAX_SIDE)
                    im = im.reduce(factor)  # box filter, integer factor: the grid survives
                arr = np.asarray(im)
    except EvalkitError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise EvalkitError(path, "is too large to decode safely (decompression bomb limit)") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        raise EvalkitError(path, f"cannot be decoded as an image ({type(exc).__name__})") from None
    if arr.size == 0:
        raise EvalkitError(path, "image has no pixels")
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if arr.dtype.kind == "f":  # PIL's "F" mode holds 0..255 by convention
        finite = arr[np.isfinite(arr)]
        hi = float(finite.max()) if finite.size else 0.0
        arr = (arr / 255.0 if hi > 1.0 else arr).astype(np.float32)
    if max(arr.shape[:2]) > MAX_SIDE:  # modes PIL cannot reduce (16-bit gray): stride
        factor = -(-max(arr.shape[:2]) // MAX_SIDE)
        arr = np.ascontiguousarray(arr[::factor, ::factor])
    return arr, factor


def _lossy_webp(path: Path) -> bool:
    """Whether a WebP file holds a lossy (VP8) bitstream rather than a lossless (VP8L) one: its RIFF
    chunks say so; Pillow does not."""
    with open(path, "rb") as f:
        blob = f.read(1 << 16)
    at = 12  # after "RIFF" <size> "WEBP"
    while at + 8 <= len(blob):
        fourcc, size = blob[at:at + 4], int.from_bytes(blob[at + 4:at + 8], "little")
        if fourcc in (b"VP8 ", b"VP8L"):
            return fourcc == b"VP8 "
        at += 8 + size + (size & 1)
    return True  # no bitstream chunk in sight: not provably exact, so not a golden punk


def _normal_mode(im: Image.Image) -> Image.Image:
    """Modes numpy and `as_rgb_float` understand: L, LA, RGB, RGBA, I;16, I, F."""
    if im.mode in ("L", "LA", "RGB", "RGBA", "I", "F"):
        return im
    if im.mode.startswith("I;16"):
        return im
    if im.mode in ("P", "PA", "RGBa", "La", "1"):
        return im.convert("RGBA" if im.mode != "1" else "L")
    return im.convert("RGB")


def image_files(paths) -> list[Path]:
    """Expand files and folders (their images, sorted, not recursive) into a list of image files.

    Raises a one-line `EvalkitError` for a path that does not exist, a file
    that is not an image, or a folder with no images.
    """
    out: list[Path] = []
    for p in map(Path, paths):
        if not p.exists():
            raise EvalkitError(p, why_missing(p, "does not exist"))
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise EvalkitError(p, f"holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
            out.extend(found)
        elif p.suffix.lower() in IMAGE_SUFFIXES:
            out.append(p)
        else:
            raise EvalkitError(p, f"not an image (expected one of {', '.join(sorted(IMAGE_SUFFIXES))})")
    return out
