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
        with Image.open(self.path) as im:
            return np.asarray(im.convert("RGB"))


class RenderCache:
    def __init__(self, root: Path):
        self.root = Path(root)

    def folder(self, checkpoint_sha: str, base_label: str, config_key: str) -> Path:
        base = hashlib.sha256(base_label.encode()).hexdigest()[:8]
        return self.root / checkpoint_sha[:16] / f"{base}-{config_key}"

    def key(self, folder: Path, prompt_id: str, prompt_text: str, negative: str, seed: int) -> tuple[Path, str]:
        digest = hashlib.sha256(f"{prompt_text}\x00{negative}\x00{seed}".encode()).hexdigest()[:16]
        return folder / f"{prompt_id}-seed{seed}.png", digest

    def get(self, path: Path, digest: str) -> Render | None:
        sidecar = path.with_suffix(".json")
        if not path.is_file() or not sidecar.is_file():
            return None
        try:
            meta = json.loads(sidecar.read_text())
            ok = meta.get("prompt_digest") == digest and meta.get("png_sha256") == _sha(path)
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


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
