"""A hash of the code a cached result came from, so an on-disk cache never outlives the code that wrote it.

Caches keyed on their inputs alone would serve stale results after an edit to
the code that computes them, with no version to bump by hand; each cache adds
this fingerprint of its stage's sources (and the libraries whose numbers it
depends on) to its key.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent  # evalkit/


@functools.lru_cache(maxsize=None)
def code_fingerprint(sources: tuple[str, ...], extra: str = "") -> str:
    """16 hex digits over ``sources`` (paths inside evalkit/: folders contribute their ``.py`` files and
    anything under a ``data`` folder) and ``extra`` (e.g. library versions); a few ms, once per process."""
    h = hashlib.sha256(f"{extra}\x00".encode())
    for name in sources:
        root = PACKAGE / name
        files = sorted(f for f in root.rglob("*") if f.is_file() and (f.suffix == ".py" or "data" in f.relative_to(root).parts)
                       and "__pycache__" not in f.parts) if root.is_dir() else [root]
        for f in files:
            h.update(f.relative_to(PACKAGE).as_posix().encode() + b"\x00")
            h.update(f.read_bytes())
    return h.hexdigest()[:16]
