"""`RunRecord`: what one gate run produced, the contract between gate, store, report and sync.

The gate fills one `RunRecord` per pytest session and writes it to
``reports/<run_id>/run.json``; the score store ingests it, the HTML report
renders it, the Supabase sync mirrors it. Nothing downstream recomputes a
score: it reads these fields. ``to_dict()`` / ``from_dict()`` round-trip
exactly through JSON; bump SCHEMA_VERSION on any incompatible change.

Paths (``render``, ``grid24``) are relative to the reports folder when they
lie inside it, so a reports folder can be moved or archived as a whole.
"""

from __future__ import annotations

import copy
import json
import secrets
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from evalkit.paths import atomic_write_text
from evalkit.score.metrics import METRICS

SCHEMA_VERSION = 1
__all__ = ["METRICS", "CheckpointResult", "ImageResult", "RunRecord", "Verdict", "new_run_id", "utc_now"]


@dataclass
class ImageResult:
    """One render of one (prompt, seed) and its scores."""

    prompt_id: str
    seed: int
    prompt: str  # the full prompt text (attacker-controlled when it came from metadata: escape it)
    hex_codes: list[str]  # "#rrggbb" colours the prompt names
    render: str  # PNG path, relative to the reports folder when inside it
    grid24: list[list[list[int]]]  # the recovered 24x24 RGB punk, uint8 values
    scores: dict[str, float]  # metric -> value, for every metric in METRICS
    passed: dict[str, bool]  # metric -> within its per-image threshold
    nearest_golden: str | None = None  # golden punk id nearest to grid24
    nearest_distance: float | None = None  # mean delta-E to it
    grid_confidence: float | None = None
    thresholds: dict[str, float] = field(default_factory=dict)  # metric -> the per-image limit `passed` used


@dataclass
class Verdict:
    """One gate decision: a threshold on a metric's suite mean, a baseline comparison, or a set-level check.

    The gate's items only report a verdict the session made (`GateSession`):
    ``properties`` become JUnit properties, ``skip`` skips the item, a failed
    one fails with ``failure``. Those three are for the item only: they are
    not part of the run record (`RECORD_FIELDS`). Per-image and render
    verdicts ("image", "render") are never recorded; the images carry them.
    """

    kind: str  # "threshold" | "baseline" | "set" (recorded); "image" | "render" (items only)
    metric: str  # a METRICS name, or "mmd" / "memorisation"
    passed: bool
    value: float  # suite mean (threshold), delta (baseline), statistic (set)
    low: float | None = None  # one-sided 95% bounds of value (gate.stats), when there are some
    high: float | None = None
    threshold: float | None = None
    baseline: float | None = None
    message: str = ""
    properties: list[tuple[str, Any]] = field(default_factory=list)  # JUnit (name, value), in order
    skip: str | None = None  # why the item does not apply
    failure: str = ""  # the line a failed item fails with

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in RECORD_FIELDS}


RECORD_FIELDS = ("kind", "metric", "passed", "value", "low", "high", "threshold", "baseline", "message")


@dataclass
class CheckpointResult:
    """One checkpoint's evaluation inside a run."""

    name: str  # file stem, the id used in pytest item ids
    path: str
    sha256: str | None
    model_hash: str | None  # kohya sshs_model_hash (tensor bytes only)
    info: dict[str, Any] | None  # CheckpointInfo.to_dict(); None when it could not be inspected
    base_model: str | None = None
    render_config: dict[str, Any] = field(default_factory=dict)
    render_config_key: str | None = None
    images: list[ImageResult] = field(default_factory=list)
    set_level: dict[str, Any] = field(default_factory=dict)  # SetScores.to_dict()
    verdicts: list[Verdict] = field(default_factory=list)
    quality: float | None = None  # 0-10 punk quality score (formula: evalkit/gate/quality.py, README "The gate")
    status: str = "pass"  # "pass" | "fail" | "error"
    error: str | None = None  # one-line error when status == "error"
    rendered: int = 0  # images rendered in this run (the rest came from the cache)
    cached: int = 0
    render_seconds: float = 0.0
    # Against the base alone at the same prompts and seeds (gate/base_compare.py): the base's means and
    # quality, paired deltas, the share of cells changed, "indistinguishable"; None when not compared.
    vs_base: dict[str, Any] | None = None

    @property
    def indistinguishable(self) -> bool:
        """Its renders are its base alone's, with 95% confidence: never the best (gate/base_compare.py)."""
        return bool(self.vs_base and self.vs_base.get("indistinguishable"))

    def mean(self, metric: str) -> float | None:
        values = [im.scores[metric] for im in self.images if metric in im.scores]
        return sum(values) / len(values) if values else None


@dataclass
class RunRecord:
    run_id: str
    started_at: str  # ISO 8601, UTC
    finished_at: str | None
    prompts_path: str
    prompts_sha256: str
    golden_path: str
    thresholds: dict[str, dict[str, Any]]  # metric -> {"direction": "min"|"max", "value": float}
    versions: dict[str, str]  # evalkit, torch, diffusers, python, ...
    device: str  # "cpu" or the GPU's name
    command: str  # the command line, for the report
    checkpoints: list[CheckpointResult] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION
    # Epoch curves of the training runs among the checkpoints (evalkit/gate/epochs.py):
    # {"runs": [EpochRun.to_dict()], "refused": [why a run got no curve]}; empty when there are none.
    epochs: dict[str, Any] = field(default_factory=dict)
    quality_formula: str = ""  # the formula CheckpointResult.quality used (default or calibrated); "" in older records
    # Where the run's wall time went up to this record's write (evalkit/timing.py StageClock.to_dict):
    # {"wall_s", "stages_s": {stage: s}, "other_s"}; empty in older records.
    timings: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        states = {c.status for c in self.checkpoints}
        return "error" if "error" in states else "fail" if "fail" in states else "pass"

    def to_dict(self) -> dict[str, Any]:
        """A deep copy in plain JSON types, as ``dataclasses.asdict`` gives but ~8x faster (a run's
        images hold 1728 grid values each, which ``asdict`` deep-copies one by one)."""
        data = _plain(self, skip=("checkpoints",))
        data["checkpoints"] = [dict(_plain(c, skip=("images", "verdicts")),
                                    images=[_image_dict(im) for im in c.images],
                                    verdicts=[v.to_dict() for v in c.verdicts]) for c in self.checkpoints]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunRecord":
        data = dict(data)
        ckpts = []
        for c in data.pop("checkpoints", []):
            c = dict(c)
            c["images"] = [ImageResult(**im) for im in c.get("images", [])]
            c["verdicts"] = [Verdict(**v) for v in c.get("verdicts", [])]
            ckpts.append(CheckpointResult(**c))
        return cls(**data, checkpoints=ckpts)

    def write(self, reports_dir: Path) -> Path:
        """Write ``<reports_dir>/<run_id>/run.json`` atomically and return its path.

        Compact JSON: with ``indent`` Python's encoder falls back to pure Python, which took
        0.6 s for the 64 renders of one checkpoint; without it, 20 ms."""
        path = Path(reports_dir) / self.run_id / "run.json"
        return atomic_write_text(path, json.dumps(self.to_dict(), sort_keys=True))

    @classmethod
    def read(cls, path: Path) -> "RunRecord":
        from evalkit.errors import EvalkitError

        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise EvalkitError(path, f"is not a readable evalkit run record ({type(exc).__name__}: {exc})") from None


def _plain(obj, skip=()) -> dict[str, Any]:
    """A dataclass's fields (but ``skip``) as a dict, values deep-copied."""
    return {f.name: copy.deepcopy(getattr(obj, f.name)) for f in fields(obj) if f.name not in skip}


def _image_dict(im: ImageResult) -> dict[str, Any]:
    d = {f.name: getattr(im, f.name) for f in fields(im)}
    for k in ("hex_codes", "scores", "passed", "thresholds"):
        d[k] = copy.copy(d[k])  # flat containers of immutable values
    d["grid24"] = [[list(px) for px in row] for row in im.grid24]
    return d


def new_run_id(now: datetime | None = None) -> str:
    """Sortable and unique: ``20261125T101500Z-3f9a``."""
    now = now or datetime.now(timezone.utc)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
