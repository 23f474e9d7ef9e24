"""The render cache: one PNG + JSON sidecar per (checkpoint, base, config, prompt, seed).

Re-running the gate with new thresholds re-scores without re-rendering. The
sidecar stores the PNG's sha256, so a truncated or corrupted image is
detected, deleted and re-rendered, never scored.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from evalkit.paths import atomic_write


@dataclass
class Render:
    path: Path
    prompt_id: str
    seed: int
    meta: dict

    def image(self) -> np.ndarray:
        """(H, W, 3) uint8, through the reader `evalkit score` and the golden set use."""
        from evalkit.image_arrays import as_rgb_float
        from evalkit.image_io import read_image

        arr, _ = read_image(self.path)
        if arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3:
            return arr  # evalkit's own renders: 8-bit RGB as written
        return np.clip(np.rint(as_rgb_float(arr) * 255), 0, 255).astype(np.uint8)


class RenderCache:
    def __init__(self, root: Path):
        self.root = Path(root)

    def folder(self, checkpoint_sha: str, base_label: str, config_key: str) -> Path:
        base = hashlib.sha256(base_label.encode()).hexdigest()[:8]
        return self.root / checkpoint_sha[:16] / f"{base}-{config_key}"

    def key(self, folder: Path, prompt_id: str, prompt_text: str, negative: str, seed: int) -> tuple[Path, str]:
        return folder / _file_name(prompt_id, seed), _digest(prompt_text, negative, seed)

    def get(self, path: Path, digest: str) -> Render | None:
        sidecar = path.with_suffix(".json")
        if not path.is_file() or not sidecar.is_file():
            return None
        try:
            meta = json.loads(sidecar.read_text())
            ok = _matches_key(meta, path, digest) and meta.get("png_sha256") == _sha(path)
            if ok:
                with Image.open(path) as im:
                    im.verify()
        except (OSError, ValueError, SyntaxError):
            ok = False
        if not ok:  # stale or corrupt: never score it
            path.unlink(missing_ok=True)
            sidecar.unlink(missing_ok=True)
            return None
        return Render(path, meta["prompt_id"], meta["seed"], meta)

    def put(self, path: Path, digest: str, image: np.ndarray, meta: dict) -> Render:
        # atomic: a killed run leaves no half-written PNG under the real name
        atomic_write(path, lambda tmp: Image.fromarray(image).save(tmp, format="PNG"))
        meta = dict(meta, prompt_digest=digest, png_sha256=_sha(path))
        path.with_suffix(".json").write_text(json.dumps(meta, indent=1, sort_keys=True))
        return Render(path, meta["prompt_id"], meta["seed"], meta)


def _file_name(prompt_id: str, seed: int) -> str:
    return f"{prompt_id}-seed{seed}.png"


def _digest(prompt_text: str, negative: str, seed: int) -> str:
    return hashlib.sha256(f"{prompt_text}\x00{negative}\x00{seed}".encode()).hexdigest()[:16]


def _matches_key(meta, path: Path, digest: str) -> bool:
    """Every field the sidecar states agrees with the key it is asked for.

    The sidecar's own prompt, negative and seed must hash to the requested digest,
    and its prompt id, seed, config key and checkpoint must name this very file and
    folder: an edited ``"seed"`` would otherwise serve (and score) a seed the suite
    does not hold.
    """
    if not isinstance(meta, dict):
        return False
    prompt_id, seed, text, negative = (meta.get(k) for k in ("prompt_id", "seed", "prompt", "negative"))
    if not (isinstance(prompt_id, str) and type(seed) is int and isinstance(text, str) and isinstance(negative, str)):
        return False
    folder = path.parent
    return (meta.get("prompt_digest") == digest == _digest(text, negative, seed)
            and path.name == _file_name(prompt_id, seed)
            and folder.name.split("-", 1)[-1] == meta.get("config_key", folder.name.split("-", 1)[-1])
            and str(meta.get("checkpoint_sha256", folder.parent.name))[:16] == folder.parent.name)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
