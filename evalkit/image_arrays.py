"""One normaliser for every image array a render can arrive as.

Renders come from PIL, torch, A1111, ComfyUI, kohya sample folders: grayscale
or colour, with or without alpha, 8-bit, 16-bit or float. Everything downstream
works on one form: ``(H, W, 3)`` float32 RGB in ``[0, 1]``.
"""

from __future__ import annotations

import numpy as np

from evalkit.golden.captions import BACKGROUND_RGB

# Longest side kept at full resolution; larger images are box-reduced by an
# integer factor first (a 24x24 grid at 2048 px is still 85 px per cell).
MAX_SIDE = 2048


def as_rgb_float(image, background=BACKGROUND_RGB) -> np.ndarray:
    """Any image array as ``(H, W, 3)`` float32 RGB in ``[0, 1]``.

    Parameters
    ----------
    image : array_like
        ``(H, W)`` gray, ``(H, W, 1)``, ``(H, W, 2)`` gray+alpha, ``(H, W, 3)``
        RGB or ``(H, W, 4)`` RGBA. Integer dtypes are scaled by their range
        (``uint8`` by 255, ``uint16`` by 65535, other integers by 255 when every
        value fits in 8 bits, else by 65535); ``bool`` is 0/1; floats are taken
        to be in ``[0, 1]`` already. NaN and infinities become 0 / clipped.
    background : (3,) sequence of int
        RGB (0..255) that transparent pixels are composited on: the punk
        backdrop by default, as the golden loader does.

    Returns
    -------
    rgb : (H, W, 3) float32 ndarray, values in ``[0, 1]``.

    Raises
    ------
    ValueError
        If the array is not 2-D or 3-D with 1 to 4 channels, or is empty.
    """
    arr = np.asarray(image)
    if _already_normal(arr):
        return arr
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"expected an (H, W) or (H, W, C<=4) image array, got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"image has no pixels (shape {arr.shape})")
    out = _to_unit_float(arr)
    channels = out.shape[2]
    if channels in (2, 4):
        alpha = out[..., -1:]
        colour = out[..., :-1]
        if channels == 2:
            colour = np.repeat(colour, 3, axis=2)
        bg = np.asarray(background, np.float32) / 255.0
        out = colour * alpha + bg * (1.0 - alpha)
    elif channels == 1:
        out = np.repeat(out, 3, axis=2)
    return np.ascontiguousarray(out, dtype=np.float32)


def _already_normal(arr: np.ndarray) -> bool:
    """True for arrays `as_rgb_float` would return unchanged (the metrics re-normalise cheaply)."""
    if arr.dtype != np.float32 or arr.ndim != 3 or arr.shape[2] != 3 or not arr.flags.c_contiguous or arr.size == 0:
        return False
    lo, hi = arr.min(), arr.max()
    return bool(lo >= 0.0 and hi <= 1.0)  # False for NaN


def _to_unit_float(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.bool_:
        return arr.astype(np.float32)
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) * np.float32(1 / 255)
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) * np.float32(1 / 65535)
    if np.issubdtype(arr.dtype, np.integer):
        hi = int(arr.max()) if arr.size else 0
        scale = 255.0 if hi <= 255 else 65535.0
        return np.clip(arr.astype(np.float64) / scale, 0, 1).astype(np.float32)
    if np.issubdtype(arr.dtype, np.floating):
        out = np.nan_to_num(arr.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        return np.clip(out, 0.0, 1.0)
    raise ValueError(f"unsupported image dtype {arr.dtype}")


def reduce_large(rgb: np.ndarray, max_side: int = MAX_SIDE) -> tuple[np.ndarray, int]:
    """Box-reduce an image whose longest side exceeds ``max_side`` by an integer factor.

    Returns the (possibly) reduced image and the factor ``k`` (1 when unchanged);
    pixel coordinates in the reduced image times ``k`` are original coordinates.
    """
    h, w = rgb.shape[:2]
    k = -(-max(h, w) // max_side)
    if k <= 1:
        return rgb, 1
    h2, w2 = h // k, w // k
    if h2 == 0 or w2 == 0:  # extremely thin strips: stride instead of averaging
        return np.ascontiguousarray(rgb[::k, ::k]), k
    cropped = rgb[: h2 * k, : w2 * k]
    return cropped.reshape(h2, k, w2, k, 3).mean(axis=(1, 3), dtype=np.float32), k
