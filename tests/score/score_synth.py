"""Synthetic renders of real golden punks for the score tests.

Every corruption here is a controlled stand-in for what a LoRA does to a
punk: nearest-neighbour upscales at any pitch and phase (a perfect render),
Gaussian blur, hue rotation, photo blending, noise, JPEG.
"""

from __future__ import annotations

import io
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter
from skimage import color, data

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
BACKGROUND = np.array([0x63, 0x85, 0x96], np.uint8)


def examples(n: int) -> int:
    """Hypothesis examples per property: ``n`` in CI, times ``EVALKIT_HYPOTHESIS_SCALE`` for a deeper run."""
    return n * max(1, int(os.environ.get("EVALKIT_HYPOTHESIS_SCALE", "1")))


@lru_cache(maxsize=None)
def golden_set():
    """The committed golden punks (loaded once per test session)."""
    from evalkit.golden.load import load_golden

    return load_golden(GOLDEN)


@lru_cache(maxsize=None)
def golden_reference():
    from evalkit.score.golden_reference import build_reference

    return build_reference(golden_set())


def punk(punk_id: str) -> np.ndarray:
    g = golden_set()
    return g.images[g.index(punk_id)]


def place(cells: np.ndarray, pitch: float, ox: float, oy: float, width: int, height: int, bg=BACKGROUND) -> np.ndarray:
    """Nearest-neighbour render: pixel centre ``x + 0.5`` shows cell ``floor((x + 0.5 - ox) / pitch)``.

    Pixels outside the 24x24 punk are backdrop. Returns (height, width, 3) uint8.
    """
    xs = np.floor((np.arange(width) + 0.5 - ox) / pitch).astype(int)
    ys = np.floor((np.arange(height) + 0.5 - oy) / pitch).astype(int)
    out = np.empty((height, width, 3), np.uint8)
    out[:] = bg
    vx, vy = (xs >= 0) & (xs < 24), (ys >= 0) & (ys < 24)
    out[np.ix_(vy, vx)] = cells[np.ix_(ys[vy], xs[vx])]
    return out


def upscale(cells: np.ndarray, size: int) -> np.ndarray:
    """The punk filling a size x size frame (pitch size / 24)."""
    return place(cells, size / 24, 0.0, 0.0, size, size)


def blur(img: np.ndarray, sigma_px: float) -> np.ndarray:
    f = img.astype(np.float32) / 255.0 if img.dtype == np.uint8 else img.astype(np.float32)
    if sigma_px <= 0:
        return f
    return np.clip(gaussian_filter(f, (sigma_px, sigma_px, 0), mode="nearest"), 0, 1)


def hue_rotate_hsv(img: np.ndarray, degrees: float) -> np.ndarray:
    hsv = color.rgb2hsv(img)
    hsv[..., 0] = (hsv[..., 0] + degrees / 360.0) % 1.0
    return np.clip(np.rint(color.hsv2rgb(hsv) * 255), 0, 255).astype(np.uint8)


def hue_rotate_lch(img: np.ndarray, degrees: float) -> np.ndarray:
    lab = color.rgb2lab(img)
    t = np.deg2rad(degrees)
    a, b = lab[..., 1].copy(), lab[..., 2].copy()
    lab[..., 1], lab[..., 2] = a * np.cos(t) - b * np.sin(t), a * np.sin(t) + b * np.cos(t)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rgb = color.lab2rgb(lab)
    return np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)


def wrong_colours(cells: np.ndarray) -> np.ndarray:
    """The testbed's 'wrong_colors' data: hue rotated 150 degrees, saturation boosted."""
    hsv = color.rgb2hsv(cells)
    hsv[..., 0] = (hsv[..., 0] + 150 / 360.0) % 1.0
    hsv[..., 1] = np.clip(hsv[..., 1] * 1.4 + 0.25, 0, 1)
    return np.clip(np.rint(color.hsv2rgb(hsv) * 255), 0, 255).astype(np.uint8)


@lru_cache(maxsize=None)
def _photo(name: str) -> np.ndarray:
    img = getattr(data, name)()
    if img.ndim == 2:
        img = np.stack([img] * 3, -1)
    return np.ascontiguousarray(img[..., :3])


PHOTOS = ("astronaut", "coffee", "chelsea")


def photo(name: str, size: int, seed: int = 0) -> np.ndarray:
    """A random square crop of a scikit-image photograph resized to size x size, float in [0, 1]."""
    img = _photo(name)
    rng = np.random.default_rng(seed)
    h, w = img.shape[:2]
    s = int(rng.integers(min(h, w) // 2, min(h, w) + 1))
    y, x = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
    crop = Image.fromarray(img[y : y + s, x : x + s]).resize((size, size), Image.BILINEAR)
    return np.asarray(crop, np.float32) / 255.0


def blend(render: np.ndarray, other: np.ndarray, alpha: float) -> np.ndarray:
    r = render.astype(np.float32) / 255.0 if render.dtype == np.uint8 else render
    return np.clip((1 - alpha) * r + alpha * other, 0, 1).astype(np.float32)


def noisy(img: np.ndarray, sd: float, seed: int = 0) -> np.ndarray:
    """Gaussian noise of ``sd`` (in 0..255 units)."""
    rng = np.random.default_rng(seed)
    return np.clip(img / 255.0 + rng.normal(0, sd / 255.0, img.shape), 0, 1).astype(np.float32)


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf))


def photographic(cells: np.ndarray, size: int, seed: int = 0) -> np.ndarray:
    """The testbed's 'photoreal' drift: bicubic shapes, blur, soft light, grain (float in [0, 1])."""
    rng = np.random.default_rng(seed)
    x = np.asarray(Image.fromarray(cells).resize((size, size), Image.BICUBIC), np.float32) / 255.0
    x = gaussian_filter(x, (2.5 * size / 192, 2.5 * size / 192, 0))
    yy, xx = np.meshgrid(np.linspace(-1, 1, size), np.linspace(-1, 1, size), indexing="ij")
    a = rng.uniform(0, 2 * np.pi)
    x = x + 0.125 * (np.cos(a) * xx + np.sin(a) * yy)[..., None]
    grain = np.asarray(Image.fromarray(rng.normal(0, 1, (48, 48)).astype(np.float32)).resize((size, size), Image.BILINEAR))
    x = x + 0.04 * grain[..., None] + 0.015 * rng.normal(0, 1, x.shape)
    return np.clip(x, 0, 1).astype(np.float32)


# ----------------------------------------------------------------------------
# punks as a diffusion model draws them: uneven cells, per-axis pitch, bands, tilt


def uneven_lines(pitch: float, unevenness: float, offset: float, seed: int) -> np.ndarray:
    """25 grid-line positions (px) of one axis: cell widths ``pitch * (1 + u)``, ``u`` uniform in ``+-unevenness``."""
    u = np.random.default_rng(seed).uniform(-unevenness, unevenness, 24)
    return offset + np.concatenate([[0.0], np.cumsum(pitch * (1.0 + u))])


def draw(cells: np.ndarray, xs: np.ndarray, ys: np.ndarray, width: int, height: int, degrees: float = 0.0,
         bg=BACKGROUND) -> np.ndarray:
    """Crisp render of ``cells`` on the lines ``xs`` / ``ys``, turned by ``degrees`` about the frame centre.

    Every pixel shows the one cell its centre falls in (no anti-aliasing), so the
    render is as crisp as pixel art gets; outside the punk is backdrop.
    Returns (height, width, 3) uint8.
    """
    t = np.deg2rad(degrees)
    cx, cy = width / 2.0, height / 2.0
    yy, xx = np.meshgrid(np.arange(height) + 0.5 - cy, np.arange(width) + 0.5 - cx, indexing="ij")
    u = np.cos(t) * xx + np.sin(t) * yy + cx  # punk-space coordinates of each pixel centre
    v = -np.sin(t) * xx + np.cos(t) * yy + cy
    col = np.searchsorted(xs, u, side="right") - 1
    row = np.searchsorted(ys, v, side="right") - 1
    inside = (col >= 0) & (col < 24) & (row >= 0) & (row < 24)
    out = np.empty((height, width, 3), np.uint8)
    out[:] = bg
    out[inside] = cells[row[inside], col[inside]]
    return out


def drawn_like_a_model(cells: np.ndarray, pitch_x: float, pitch_y: float, unevenness: float, degrees: float,
                       fx: float, fy: float, seed: int, side: int = 512) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A crisp punk as SD draws it into a ``side`` px frame (wider or taller when the punk does not fit).

    Per-axis pitches; uneven cells; the punk placed at ``fx``, ``fy`` of the free
    space, so a short punk sits in a band with backdrop above and below; tilted
    by ``degrees``. Returns (render, xs, ys) with the 25 line positions per axis.
    """
    xs = uneven_lines(pitch_x, unevenness, 0.0, seed)
    ys = uneven_lines(pitch_y, unevenness, 0.0, seed + 1)
    width, height = max(side, int(np.ceil(xs[-1])) + 8), max(side, int(np.ceil(ys[-1])) + 8)
    xs = xs + fx * (width - xs[-1])
    ys = ys + fy * (height - ys[-1])
    return draw(cells, xs, ys, width, height, degrees), xs, ys
