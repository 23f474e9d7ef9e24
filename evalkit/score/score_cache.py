"""Each render's scores on disk, so a re-run of the gate over cached renders re-scores nothing.

A render's scores are a pure function of its pixels, the golden reference, the
prompt's hex codes and text and the labels it asks for, and the scoring code.
The key hashes all of them (the pixels by the PNG's sha256, the reference by
its digest, the code by `scorer_fingerprint`), so an entry is either exactly
what scoring would give again or never found: a changed metric, golden set or
prompt misses, and the render is scored afresh. Entries are content-addressed
(``<root>/<fingerprint>/<key[:2]>/<key>.json``): the same image in two runs or
folders is scored once.

What is kept is what the gate reads of `ImageScores` (`ScoreSummary`): every
metric's value (JSON floats round-trip exactly), the recovered 24x24 cells and
the grid fit's confidence; verdicts from it are identical to a fresh scoring's.
A checkpoint's set-level scores (`set_level.set_scores`, seeded, so a pure
function of the recovered cells, prompts and reference) are kept the same way,
keyed by all its renders' cells.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evalkit.paths import atomic_write_text
from evalkit.score.fingerprint import scorer_fingerprint


@dataclass(frozen=True)
class ScoreSummary:
    """What the gate keeps of one render's `ImageScores`.

    values : metric name -> score, every per-image metric (`ImageScores.values`)
    cells : (24, 24, 3) uint8, the recovered punk (`ImageScores.cells`)
    confidence : float, the grid fit's confidence (`GridFit.confidence`)
    """

    values: dict[str, float]
    cells: np.ndarray
    confidence: float

    @classmethod
    def of(cls, scores) -> "ScoreSummary":
        return cls({k: float(v) for k, v in scores.values.items()}, np.asarray(scores.cells),
                   float(scores.fit.confidence))

    def to_json(self) -> str:
        c = np.ascontiguousarray(self.cells)
        return json.dumps({"values": self.values, "confidence": self.confidence,
                           "cells": {"dtype": c.dtype.str, "shape": list(c.shape), "hex": c.tobytes().hex()}})

    @classmethod
    def from_json(cls, text: str) -> "ScoreSummary":
        d = json.loads(text)
        c = d["cells"]
        cells = np.frombuffer(bytes.fromhex(c["hex"]), dtype=np.dtype(c["dtype"])).reshape(c["shape"]).copy()
        values = d["values"]
        if not (isinstance(values, dict) and all(isinstance(v, float) for v in values.values())):
            raise ValueError("values are not floats")
        return cls(values, cells, float(d["confidence"]))


class ScoreCache:
    """Scores by their inputs' hash under ``root``; ``root`` None keeps nothing (every get misses)."""

    def __init__(self, root: Path | None, reference_digest: str | None):
        # No digest (a reference not from `cached_reference`): nothing names it, so nothing is cached.
        self.folder = Path(root) / scorer_fingerprint() if root is not None and reference_digest else None
        self.reference_digest = reference_digest

    def key(self, image_sha256: str, hex_codes, prompt: str, requested) -> str:
        what = [self.reference_digest, image_sha256, list(hex_codes), prompt,
                None if requested is None else sorted(requested)]
        return hashlib.sha256(json.dumps(what).encode()).hexdigest()[:32]

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> ScoreSummary | None:
        if self.folder is None:
            return None
        try:
            return ScoreSummary.from_json(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None  # missing or damaged: score afresh (put() overwrites it)

    def put(self, key: str, summary: ScoreSummary) -> None:
        if self.folder is not None:
            atomic_write_text(self._path(key), summary.to_json())

    def set_key(self, cells_list, prompt_ids, golden_groups) -> str:
        h = hashlib.sha256(json.dumps(["set", self.reference_digest, list(prompt_ids),
                                       None if golden_groups is None else [list(g) for g in golden_groups]]).encode())
        for c in cells_list:
            c = np.ascontiguousarray(c)
            h.update(f"{c.dtype.str}{c.shape}".encode())
            h.update(c.tobytes())
        return h.hexdigest()[:32]

    def get_set(self, key: str):
        """The `SetScores` stored under ``key``, or None."""
        if self.folder is None:
            return None
        try:
            return set_scores_from_dict(json.loads(self._path(key).read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def put_set(self, key: str, scores) -> None:
        if self.folder is not None:
            atomic_write_text(self._path(key), json.dumps(dataclasses.asdict(scores)))


def set_scores_from_dict(d: dict):
    """`dataclasses.asdict(SetScores)` back into one (JSON turned its tuples into lists)."""
    from evalkit.score.diversity import Diversity, NearestCollapse
    from evalkit.score.set_level import Memorisation, MMDResult, NearestGolden, SetScores

    m = d["memorisation"]
    c = d["collapse"]
    return SetScores(
        mmd=None if d["mmd"] is None else MMDResult(**d["mmd"]),
        memorisation=Memorisation(**{**m, "nearest": tuple(NearestGolden(**n) for n in m["nearest"])}),
        diversity=None if d["diversity"] is None else Diversity(**d["diversity"]),
        collapse=None if c is None else NearestCollapse(**{**c, "top": tuple(tuple(t) for t in c["top"])}),
    )


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
