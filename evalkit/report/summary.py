"""The facts about one checkpoint evaluation that runs are filtered, sorted and grouped by.

Both pages read them from here, so the run page and the cross-run index
always agree on what "network_dim", "alpha" or "caption version" means:

* base: the architecture `evalkit inspect` detected (SD1.5 / SD2 / SDXL);
* network_dim / alpha: kohya's ``ss_network_dim``/``ss_network_alpha`` (the
  training setting people compare), else the rank and alpha in the tensors;
* caption version: `evalkit.store.rows.caption_version`, so the report groups
  exactly as the Supabase views do (a ``*caption_version`` metadata key, else
  ``tags-`` and the first 12 hex digits of the caption fingerprint).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from evalkit.compare.factors import FAMILY_LABELS
from evalkit.gate.record import CheckpointResult, RunRecord
from evalkit.score.metrics import METRICS
from evalkit.store.rows import caption_version as recorded_caption_version

NO_VALUE = "—"
# run ids become folder names and URLs: anything else could climb out of the reports folder.
SAFE_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class CheckpointSummary:
    """One row of the cross-run index: one checkpoint in one run."""

    key: str  # "<run_id>/<checkpoint index>", unique across runs
    run_id: str
    started_at: str
    date: str  # YYYY-MM-DD of the run
    name: str
    sha256: str | None
    base: str
    base_model: str
    network_dim: str
    alpha: str
    caption: str
    caption_tags: str  # the most frequent training tags, for a tooltip
    verdict: str
    quality: float | None
    means: dict[str, float | None]
    images: int

    def group_value(self, setting: str) -> str:
        return str(getattr(self, setting))


def summarise(record: RunRecord, index: int) -> CheckpointSummary:
    ck = record.checkpoints[index]
    info = ck.info or {}
    return CheckpointSummary(
        key=f"{record.run_id}/{index}",
        run_id=record.run_id,
        started_at=record.started_at,
        date=record.started_at[:10],
        name=ck.name,
        sha256=ck.sha256,
        base=base_label(ck),
        base_model=_text(ck.base_model or _get(info, "provenance", "base_model_name")),
        network_dim=_number(_first(_get(info, "provenance", "network_dim"), _get(info, "network", "rank"))),
        alpha=_number(_first(_get(info, "provenance", "network_alpha"), _get(info, "network", "alpha"))),
        caption=caption_version(info),
        caption_tags=", ".join(str(t[0]) for t in (_get(info, "captions", "top_tags") or []) if t),
        verdict=ck.status,
        quality=ck.quality,
        means={m: ck.mean(m) for m in METRICS},
        images=len(ck.images),
    )


def summarise_all(records: list[RunRecord]) -> list[CheckpointSummary]:
    """Every checkpoint of every run, newest run first."""
    rows = [summarise(r, i) for r in records for i in range(len(r.checkpoints))]
    return sorted(rows, key=lambda s: (s.started_at, s.run_id), reverse=True)


def base_label(ck: CheckpointResult) -> str:
    family = _get(ck.info or {}, "architecture", "family")
    return FAMILY_LABELS.get(family, family or NO_VALUE)


def caption_version(info: dict[str, Any]) -> str:
    return recorded_caption_version(info) or "no captions"


def check_run_id(run_id: str) -> bool:
    return bool(SAFE_RUN_ID.match(run_id)) and ".." not in run_id


def _get(data: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _number(value: Any) -> str:
    if value is None:
        return NO_VALUE
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # alpha 16.0 is "16", as people write it
    return str(value)


def _text(value: Any) -> str:
    return NO_VALUE if value in (None, "") else str(value)
