"""Upload a run's renders and 24x24 results to a Storage bucket, and record their paths on the score rows.

Objects are named ``<run_id>/<checkpoint>/<prompt_id>-s<seed>.png`` (the
render) and ``...-24x24.png`` (the recovered grid, encoded here from the
record). Uploads overwrite (``upsert``), so a retried or repeated upload is
harmless; images whose paths are already recorded are not sent again.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from evalkit.store.store import ScoreStore

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _safe(part: str) -> str:
    return _UNSAFE.sub("_", part).strip("._") or "_"


def grid24_png(grid24: list) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(grid24, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def upload_run_images(
    store: ScoreStore, upload: Callable[[str, bytes], str], reports_dir: Path, run_id: str
) -> tuple[int, list[str]]:
    """`upload(object_path, png)` returns the stored path; returns (images uploaded now, missing-render lines)."""
    done = {(r["checkpoint_name"], r["prompt_id"], r["seed"]) for r in store.rows("scores", run_id)
            if r["grid24_storage_path"]}
    record = store.run(run_id)
    uploaded, missing = 0, []
    for ckpt in record.checkpoints:
        for image in ckpt.images:
            if (ckpt.name, image.prompt_id, image.seed) in done:
                continue
            stem = f"{_safe(run_id)}/{_safe(ckpt.name)}/{_safe(image.prompt_id)}-s{image.seed}"
            render = Path(image.render)
            render = render if render.is_absolute() else Path(reports_dir) / render
            render_path = None
            if render.is_file():
                render_path = upload(f"{stem}.png", render.read_bytes())
            else:
                missing.append(f"{render}: render not found, only its 24x24 result was uploaded")
            grid_path = upload(f"{stem}-24x24.png", grid24_png(image.grid24))
            store.set_storage_paths([{"run_id": run_id, "checkpoint_name": ckpt.name, "prompt_id": image.prompt_id,
                                      "seed": image.seed, "render_storage_path": render_path,
                                      "grid24_storage_path": grid_path}])
            uploaded += 1
    return uploaded, missing
