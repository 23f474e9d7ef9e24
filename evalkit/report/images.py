"""The pictures a report page shows, written next to it.

Per run, under ``reports/<run_id>/img/``:

* ``c<checkpoint>/<n>.jpg``: the render as a small JPEG thumbnail (the
  full-size PNG stays in the render cache and is linked);
* ``c<checkpoint>/<n>-24.png``: the recovered 24x24 punk at its true size,
  upscaled in the page by CSS (``image-rendering: pixelated``) so it stays crisp
  at a few hundred bytes;
* ``golden/<id>.png``: the golden punks that are some render's nearest one.

File names are made from positions and sanitised ids, never from text a
checkpoint or prompt carried. Paths returned are relative to the run folder.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from evalkit.gate.record import ImageResult
from evalkit.paths import atomic_write

THUMB_PX = 128
THUMB_QUALITY = 85
SAFE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class RunImages:
    """Writes one run's images; every method returns a path relative to the run folder, or None."""

    def __init__(self, reports_dir: Path, run_id: str, golden=None):
        self.reports_dir = Path(reports_dir)
        self.run_dir = self.reports_dir / run_id
        self.golden = golden  # GoldenSet or None
        self._golden_index = {gid: i for i, gid in enumerate(golden.ids)} if golden is not None else {}

    def render_thumbnail(self, ck_index: int, im_index: int, image: ImageResult) -> str | None:
        source = self.render_path(image)
        rel = f"img/c{ck_index}/{im_index:03d}.jpg"
        out = self.run_dir / rel
        if source is None or not source.is_file():
            return None
        if out.is_file() and out.stat().st_mtime >= source.stat().st_mtime:
            return rel  # made by an earlier page of the same run
        try:
            with Image.open(source) as im:
                thumb = im.convert("RGB")
                thumb.thumbnail((THUMB_PX, THUMB_PX), Image.Resampling.LANCZOS)
        except (UnidentifiedImageError, OSError, ValueError):
            return None  # the page shows "render missing" rather than failing the report
        _save(thumb, out, format="JPEG", quality=THUMB_QUALITY, optimize=True)
        return rel

    def grid(self, ck_index: int, im_index: int, image: ImageResult) -> str | None:
        cells = _as_cells(image.grid24)
        if cells is None:
            return None
        rel = f"img/c{ck_index}/{im_index:03d}-24.png"
        out = self.run_dir / rel
        if not out.is_file():  # a run's record is written once, so an existing grid is this one
            _save(Image.fromarray(cells), out, format="PNG", optimize=True)
        return rel

    def golden_punk(self, golden_id: str | None) -> str | None:
        if golden_id is None or golden_id not in self._golden_index:
            return None
        rel = f"img/golden/{_safe_name(golden_id)}.png"
        out = self.run_dir / rel
        if not out.is_file():
            cells = self.golden.images[self._golden_index[golden_id]]
            _save(Image.fromarray(np.asarray(cells, np.uint8)), out, format="PNG", optimize=True)
        return rel

    def render_path(self, image: ImageResult) -> Path | None:
        """The full-size render: relative paths are relative to the reports folder."""
        if not image.render:
            return None
        path = Path(image.render)
        return path if path.is_absolute() else self.reports_dir / path


def _as_cells(grid24) -> np.ndarray | None:
    try:
        cells = np.asarray(grid24, dtype=np.int64)
    except (TypeError, ValueError):
        return None
    if cells.shape != (24, 24, 3):
        return None
    return np.clip(cells, 0, 255).astype(np.uint8)


def _safe_name(golden_id: str) -> str:
    if SAFE_NAME.match(golden_id):
        return golden_id
    return "id-" + hashlib.sha256(golden_id.encode("utf-8")).hexdigest()[:16]


def _save(image: Image.Image, out: Path, **kwargs) -> None:
    atomic_write(out, lambda tmp: image.save(tmp, **kwargs))  # a killed report leaves no half-written image
