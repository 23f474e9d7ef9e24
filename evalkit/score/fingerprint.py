"""What every score depends on besides its inputs: the scoring code and numpy, as one hash.

The on-disk caches of scores (the golden reference, the golden punks' score
distribution, each render's scores) are keyed on `scorer_fingerprint()` as
well as on their inputs' hashes, so editing a metric, the grid recovery or
the classifier weights, or upgrading numpy, never reuses stale numbers and
needs no version to bump by hand.
"""

from __future__ import annotations

import numpy as np

from evalkit.code_fingerprint import code_fingerprint

# What turns pixels into scores: the score and downsample stages, the image reader, the golden captions' colours.
SOURCES = ("score", "downsample", "image_arrays.py", "image_io.py", "golden/captions.py")


def scorer_fingerprint() -> str:
    """16 hex digits over the scoring sources (``.py`` files and ``score/data``) and numpy's version (~5 ms, once)."""
    return code_fingerprint(SOURCES, f"numpy {np.__version__}")
