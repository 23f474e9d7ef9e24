"""What base model a render came from, by content, for the render cache key.

A base is found by name (``ss_sd_model_name``, a folder, a hub id), but a
folder can be retrained or replaced in place under the same name; the cache
must then miss, never serve the old base's images. Hashing gigabytes of
weights every run is too slow, so the fingerprint hashes each weight file's
size, its first 64 KiB (the safetensors header: names, shapes, dtypes) and
64 KiB at 16 evenly spaced offsets: any retraining changes weights everywhere.
It depends on content alone (not paths or mtimes), so hosts that hold copies
of the same base share one cache folder.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".ckpt", ".pth")
SAMPLE = 64 * 1024
SAMPLES = 16


def file_fingerprint(path: Path, h) -> None:
    size = path.stat().st_size
    h.update(f"{path.name}\x00{size}\x00".encode())
    with open(path, "rb") as f:
        for k in range(SAMPLES + 1):
            f.seek(0 if k == 0 else (size - SAMPLE) * k // SAMPLES if size > SAMPLE else 0)
            h.update(f.read(SAMPLE))


def base_fingerprint(kind: str, location: str) -> str:
    """12 hex digits for a local folder or single file; "" for a hub id (its revision is the hub's business)."""
    p = Path(location)
    h = hashlib.sha256()
    if kind == "dir":
        files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix in WEIGHT_SUFFIXES)
        for f in files:
            h.update(f.relative_to(p).as_posix().encode())
            file_fingerprint(f, h)
    elif kind == "single_file":
        file_fingerprint(p, h)
    else:
        return ""
    return h.hexdigest()[:12]
