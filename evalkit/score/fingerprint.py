"""What every score depends on besides its inputs: the scoring code and numpy, as one hash.

The on-disk caches of scores (the golden reference, the golden punks' score
distribution, each render's scores) are keyed on `scorer_fingerprint()` as
well as on their inputs' hashes, so editing a metric, the grid recovery or
the classifier weights, or upgrading numpy, never reuses stale numbers and
needs no version to bump by hand.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import numpy as np

PACKAGE = Path(__file__).resolve().parent.parent  # evalkit/
# What turns pixels into scores: the score and downsample stages, the image reader, the golden captions' colours.
SOURCES = ("score", "downsample", "image_arrays.py", "image_io.py", "golden/captions.py")


@functools.lru_cache(maxsize=None)
def scorer_fingerprint() -> str:
    """16 hex digits over the scoring sources (``.py`` files and ``score/data``) and numpy's version (~5 ms)."""
    h = hashlib.sha256(f"numpy {np.__version__}\x00".encode())
    for name in SOURCES:
        root = PACKAGE / name
        files = sorted(f for f in root.rglob("*") if f.is_file() and (f.suffix == ".py" or "data" in f.relative_to(root).parts)
                       and "__pycache__" not in f.parts) if root.is_dir() else [root]
        for f in files:
            h.update(f.relative_to(PACKAGE).as_posix().encode() + b"\x00")
            h.update(f.read_bytes())
    return h.hexdigest()[:16]
