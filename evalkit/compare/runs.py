"""Scored runs for attribution: one per checkpoint, from gate run records (the score store's).

A "run" here is one training run, i.e. one checkpoint file: its per-render
scores (aligned by prompt and seed) and its factors. When the store holds
several evaluations of a checkpoint (same sha256), the newest is used.
Runs scored against different prompt suites or golden sets are not
comparable: `select_runs` refuses them and says which.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evalkit.compare.factors import has_training_metadata, run_factors
from evalkit.errors import EvalkitError
from evalkit.gate.record import CheckpointResult, RunRecord
from evalkit.score.metrics import METRICS

# The metrics attributed: every per-image row of the metric registry.
ATTRIBUTED_METRICS = METRICS


@dataclass
class ScoredRun:
    """One checkpoint's scores and settings, as the attribution needs them (plain data)."""

    name: str  # the training run's name (ss_output_name), else the checkpoint's
    factors: dict[str, Any]  # factor -> level, None where unknown
    slots: list[tuple[str, int]]  # (prompt_id, seed) of each render
    scores: dict[str, np.ndarray]  # metric -> per-render values, aligned with slots
    checkpoint: str = ""
    sha256: str | None = None
    run_id: str | None = None  # the gate run it was scored in
    trained_at: str | None = None
    has_metadata: bool = True
    info: dict | None = field(default=None, repr=False)

    @property
    def renders(self) -> int:
        return len(self.slots)


def scored_run(ck: CheckpointResult, run_id: str | None = None, metrics=ATTRIBUTED_METRICS) -> ScoredRun:
    info = ck.info or {}
    prov = info.get("provenance") or {}
    images = [im for im in ck.images if all(im.scores.get(m) is not None for m in metrics)]
    return ScoredRun(
        name=prov.get("output_name") or ck.name, checkpoint=ck.name, sha256=ck.sha256, run_id=run_id,
        factors=run_factors(info), slots=[(im.prompt_id, int(im.seed)) for im in images],
        scores={m: np.array([float(im.scores[m]) for im in images]) for m in metrics},
        trained_at=prov.get("training_started_at"), has_metadata=has_training_metadata(info), info=info,
    )


@dataclass
class Selection:
    runs: list[ScoredRun]
    prompts: str | None  # the prompt suite's path and sha256 the runs share
    golden: str | None
    left_out: list[str] = field(default_factory=list)  # checkpoints without scores (errors), one line each


def latest_evaluations(records: list[RunRecord], run_ids: list[str] | None = None,
                       checkpoints: list[str] | None = None) -> list[tuple[RunRecord, CheckpointResult]]:
    """The newest evaluation of each distinct checkpoint (by sha256, else name), oldest record first in."""
    chosen: dict[str, tuple[RunRecord, CheckpointResult]] = {}
    for record in sorted(records, key=lambda r: (r.started_at, r.run_id)):
        if run_ids and record.run_id not in run_ids:
            continue
        for ck in record.checkpoints:
            if checkpoints and ck.name not in checkpoints and (ck.sha256 or "")[:12] not in checkpoints:
                continue
            chosen[ck.sha256 or ck.name] = (record, ck)
    return list(chosen.values())


def select_runs(pairs: list[tuple[RunRecord, CheckpointResult]]) -> Selection:
    """Scored runs from (record, checkpoint) pairs; mixed prompt suites or golden sets are refused."""
    if not pairs:
        raise EvalkitError(None, "no scored checkpoints to compare (run `pytest evalkit --checkpoint ...` first)")
    _refuse_mixed(pairs, lambda r: f"{r.prompts_path} (sha256 {r.prompts_sha256[:12]})", "prompt suites")
    _refuse_mixed(pairs, lambda r: os.path.normpath(r.golden_path), "golden sets")
    runs, left_out = [], []
    for record, ck in pairs:
        run = scored_run(ck, record.run_id)
        if run.renders == 0:
            left_out.append(f"{ck.name}: no scored renders ({ck.status}{': ' + ck.error if ck.error else ''})")
            continue
        runs.append(run)
    record = pairs[-1][0]
    return Selection(runs, f"{record.prompts_path} (sha256 {record.prompts_sha256[:12]})",
                     os.path.normpath(record.golden_path), left_out)


def _refuse_mixed(pairs, key, what: str) -> None:
    groups: dict[str, list[str]] = {}
    for record, ck in pairs:
        groups.setdefault(key(record), []).append(ck.name)
    if len(groups) > 1:
        parts = "; ".join(f"{', '.join(names)} with {value}" for value, names in groups.items())
        raise EvalkitError(None, f"runs were scored with different {what}, so their scores do not compare: {parts}. "
                                 "Pick runs of one with --run or --checkpoint")
