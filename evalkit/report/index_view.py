"""What the cross-run index shows: rows to filter and sort, per-setting means, side-by-side data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from evalkit.gate.record import RunRecord
from evalkit.score.metrics import METRICS, direction_named
from evalkit.report.images import RunImages
from evalkit.report.summary import CheckpointSummary

FILTERS = [("base", "base"), ("network_dim", "network_dim"), ("alpha", "alpha"), ("caption", "captions"), ("verdict", "verdict")]
SETTINGS = [("network_dim", "network_dim"), ("caption", "caption version"), ("alpha", "alpha"), ("base", "base")]


@dataclass
class SettingGroup:
    value: str
    checkpoints: int
    passed: int
    means: dict[str, float | None]
    quality: float | None


def filter_options(rows: list[CheckpointSummary]) -> list[tuple[str, str, list[str]]]:
    """(attribute, label, distinct values) for each filter select."""
    return [(attr, label, sorted({r.group_value(attr) for r in rows}, key=natural)) for attr, label in FILTERS]


def setting_summary(rows: list[CheckpointSummary]) -> list[tuple[str, list[SettingGroup]]]:
    """Mean scores by setting, over distinct checkpoints (the latest run of each), so a
    checkpoint gated ten times does not count ten times. ``rows`` come newest first."""
    latest: dict[str, CheckpointSummary] = {}
    for r in rows:
        latest.setdefault(r.sha256 or r.name, r)
    out = []
    for attr, label in SETTINGS:
        groups: dict[str, list[CheckpointSummary]] = {}
        for r in latest.values():
            groups.setdefault(r.group_value(attr), []).append(r)
        out.append((label, [_group(value, members) for value, members in sorted(groups.items(), key=lambda kv: natural(kv[0]))]))
    return out


def compare_data(records: list[RunRecord], rows: list[CheckpointSummary], reports_dir: Path,
                 thresholds: dict[str, tuple[str, float]]) -> dict:
    """JSON for the side-by-side view: per row its renders; prompt texts once.

    Image paths are relative to reports/ and percent-quoted; every string is
    put into the page with textContent by the script, never parsed as HTML.
    """
    by_run = {r.run_id: r for r in records}
    prompts: dict[str, int] = {}
    out_rows = {}
    for row in rows:
        record = by_run[row.run_id]
        ck_index = int(row.key.rsplit("/", 1)[1])
        images = RunImages(reports_dir, record.run_id)
        base = quote(record.run_id) + "/"
        entries = []
        for n, im in enumerate(record.checkpoints[ck_index].images):
            thumb = images.render_thumbnail(ck_index, n, im)
            grid = images.grid(ck_index, n, im)
            entries.append([
                im.prompt_id, im.seed, prompts.setdefault(im.prompt, len(prompts)),
                base + quote(thumb) if thumb else None, base + quote(grid) if grid else None,
                [_round(im.scores.get(m)) for m in METRICS], [im.passed.get(m) for m in METRICS],
            ])
        out_rows[row.key] = {
            "name": row.name, "run": row.run_id, "date": row.started_at, "verdict": row.verdict,
            "means": [_round(row.means.get(m)) for m in METRICS], "images": entries,
        }
    lower = [m for m in METRICS if not direction_named(thresholds.get(m, ("min",))[0]).higher_is_better]
    return {"metrics": list(METRICS), "lower_is_better": lower, "prompts": list(prompts), "rows": out_rows}


def natural(value: str):
    """Numbers in numeric order before words: 8, 16, 128, then "—"."""
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)


def _group(value: str, members: list[CheckpointSummary]) -> SettingGroup:
    def mean(xs):
        xs = [x for x in xs if x is not None]
        return sum(xs) / len(xs) if xs else None

    return SettingGroup(
        value=value,
        checkpoints=len(members),
        passed=sum(1 for m in members if m.verdict == "pass"),
        means={metric: mean(m.means.get(metric) for m in members) for metric in METRICS},
        quality=mean(m.quality for m in members),
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)
