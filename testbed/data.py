"""Training data for the testbed: real punks and the corruptions our users saw.

All images are float32 (N, 3, 192, 192) in [-1, 1] built on the fly from the
(N, 24, 24, 3) uint8 punks, so nothing big is stored.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from skimage import color, data as skdata

from testbed.configs import RESOLUTION

SCALE = RESOLUTION // 24
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "cat")


def upscale(punks: np.ndarray) -> torch.Tensor:
    """(N, 24, 24, 3) uint8 -> (N, 3, 192, 192) in [-1, 1], nearest neighbour: crisp cells."""
    x = torch.from_numpy(punks).permute(0, 3, 1, 2).float() / 127.5 - 1
    return x.repeat_interleave(SCALE, 2).repeat_interleave(SCALE, 3)


def photo_bank(seed: int = 0, n: int = 64) -> torch.Tensor:
    """Random 192x192 crops of the photographs scikit-image ships, (n, 3, 192, 192) in [-1, 1]."""
    rng = np.random.default_rng(seed)
    out = []
    photos = []
    for name in PHOTOS:
        img = getattr(skdata, name)()
        if img.ndim == 2:
            img = np.stack([img] * 3, -1)
        photos.append(torch.from_numpy(np.ascontiguousarray(img[..., :3])).permute(2, 0, 1).float() / 127.5 - 1)
    for _ in range(n):
        p = photos[rng.integers(len(photos))]
        h, w = p.shape[1:]
        s = int(rng.integers(192, min(h, w) + 1))
        y, x = rng.integers(0, h - s + 1), rng.integers(0, w - s + 1)
        crop = p[:, y : y + s, x : x + s][None]
        out.append(F.interpolate(crop, size=(RESOLUTION, RESOLUTION), mode="bilinear", align_corners=False)[0])
    return torch.stack(out)


def photographic(punks: np.ndarray, seed: int = 0) -> torch.Tensor:
    """Punks turned 'realistic': smooth bicubic shapes, soft lighting, skin-like texture.

    This is what our users' photoreal run drew: the subject survives, the
    pixel grid and flat colours do not.
    """
    g = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(punks).permute(0, 3, 1, 2).float() / 127.5 - 1
    x = F.interpolate(x, size=(RESOLUTION, RESOLUTION), mode="bicubic", align_corners=False)
    k = 9
    blur = torch.exp(-((torch.arange(k) - k // 2) ** 2) / (2 * 2.5**2))
    blur = (blur / blur.sum()).view(1, 1, 1, k).repeat(3, 1, 1, 1)
    x = F.conv2d(F.pad(x, (k // 2, k // 2, 0, 0), mode="replicate"), blur, groups=3)
    x = F.conv2d(F.pad(x, (0, 0, k // 2, k // 2), mode="replicate"), blur.transpose(2, 3), groups=3)
    n = x.shape[0]
    yy = torch.linspace(-1, 1, RESOLUTION).view(1, 1, -1, 1)
    xx = torch.linspace(-1, 1, RESOLUTION).view(1, 1, 1, -1)
    angle = torch.rand(n, 1, 1, 1, generator=g) * 6.28
    light = 0.25 * (torch.cos(angle) * xx + torch.sin(angle) * yy)
    grain = F.interpolate(torch.randn(n, 1, 48, 48, generator=g), size=(RESOLUTION, RESOLUTION), mode="bilinear", align_corners=False)
    fine = torch.randn(n, 3, RESOLUTION, RESOLUTION, generator=g)
    return (x + light + 0.08 * grain + 0.03 * fine).clamp(-1, 1)


def hue_shifted(punks: np.ndarray, degrees: float = 150.0) -> np.ndarray:
    """Punks with every colour's hue rotated: same grid, colours off the punk palette."""
    hsv = color.rgb2hsv(punks)
    hsv[..., 0] = (hsv[..., 0] + degrees / 360.0) % 1.0
    hsv[..., 1] = np.clip(hsv[..., 1] * 1.4 + 0.25, 0, 1)
    return np.clip(np.rint(color.hsv2rgb(hsv) * 255), 0, 255).astype(np.uint8)


def recoloured(punks: np.ndarray, seed: int = 0) -> np.ndarray:
    """Punks in random colours, for the VAE only: any hue, saturation and brightness, any backdrop.

    A VAE that has only seen the punk palette snaps every latent back onto
    it: a LoRA asking for other colours then decodes to mottled, off-grid
    cells, and the testbed could not show "grid kept, colours wrong" (real
    SD's VAE draws any colour). Per image: a hue rotation, saturation and
    value gains, sometimes a channel permutation, and half the time a random
    flat backdrop.
    """
    rng = np.random.default_rng(seed)
    out = np.empty_like(punks)
    background = np.all(punks == punks[:, :1, :1], axis=-1)  # the top-left cell is always backdrop
    for i, p in enumerate(punks):
        hsv = color.rgb2hsv(p)
        hsv[..., 0] = (hsv[..., 0] + rng.uniform(0, 1)) % 1.0
        hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(0.5, 1.6) + rng.uniform(0, 0.3), 0, 1)
        hsv[..., 2] = np.clip(hsv[..., 2] * rng.uniform(0.6, 1.3), 0, 1)
        q = np.clip(np.rint(color.hsv2rgb(hsv) * 255), 0, 255).astype(np.uint8)
        if rng.uniform() < 0.3:
            q = q[..., rng.permutation(3)]
        if rng.uniform() < 0.5:
            q[background[i]] = rng.integers(0, 256, 3, dtype=np.uint8)
        out[i] = q
    return out
