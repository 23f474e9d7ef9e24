"""What the per-run page shows, as plain data for the template: read from the record, never recomputed."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from evalkit.gate.record import CheckpointResult, RunRecord, Verdict
from evalkit.score.metrics import METRICS, direction_named
from evalkit.golden.prompts import HEX_CODE
from evalkit.report.images import RunImages
from evalkit.report.inspection_view import inspection_sections, shorten, top_tags
from evalkit.report.summary import summarise

SAME = 0.0005  # |delta| below this prints as +0.000 and is shown neutral, as in the index's side-by-side


@dataclass
class MetricRow:
    metric: str
    direction: str | None  # "min" | "max"
    threshold: float | None
    mean: float | None
    low: float | None
    high: float | None
    images_passed: int
    images_total: int
    image_limit: float | None = None  # the per-image threshold behind images_passed
    baseline: float | None = None
    delta: float | None = None
    delta_good: bool | None = None  # None: no baseline, or no change at the shown precision
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def passed(self) -> bool | None:
        return all(v.passed for v in self.verdicts) if self.verdicts else None


@dataclass
class ImageCard:
    seed: int
    thumb: str | None
    full: str | None
    grid: str | None
    golden: str | None
    golden_id: str | None
    golden_distance: float | None
    confidence: float | None
    scores: list[tuple[str, float | None, bool | None]]

    @property
    def failing(self) -> bool:
        return any(p is False for _, _, p in self.scores)


@dataclass
class PromptGroup:
    prompt_id: str
    segments: list[tuple[bool, str]]  # (is a hex colour, text)
    hex_codes: list[str]
    cards: list[ImageCard]


def metric_rows(ck: CheckpointResult, thresholds: dict[str, tuple[str, float]],
                image_limits: dict[str, float] | None = None) -> list[MetricRow]:
    rows = []
    for metric in METRICS:
        direction, threshold = thresholds.get(metric, (None, None))
        passed = [im.passed.get(metric) for im in ck.images if metric in im.passed]
        row = MetricRow(metric, direction, threshold, ck.mean(metric), None, None, sum(1 for p in passed if p), len(passed),
                        (image_limits or {}).get(metric))
        for v in ck.verdicts:
            if v.metric != metric:
                continue
            row.verdicts.append(v)
            if v.kind == "threshold":
                row.mean, row.low, row.high = v.value, v.low, v.high
                row.threshold = v.threshold if v.threshold is not None else row.threshold
            elif v.kind == "baseline":
                row.baseline, row.delta = v.baseline, v.value
                if v.value is not None and abs(v.value) >= SAME:  # a change that shows at 3 decimals
                    row.delta_good = direction_named(direction or "min").rank(v.value) > 0
        rows.append(row)
    return rows


def set_verdicts(ck: CheckpointResult) -> list[Verdict]:
    return [v for v in ck.verdicts if v.metric not in METRICS]


def set_facts(ck: CheckpointResult) -> list[tuple[str, object]]:
    """set_level flattened to ("mmd · p value", 0.001) pairs, whatever keys it holds."""
    out = []
    for group, values in (ck.set_level or {}).items():
        if isinstance(values, dict):
            out += [(f"{group} · {k.replace('_', ' ')}", v) for k, v in values.items()]
        elif values is not None:
            out.append((group.replace("_", " "), values))
    return out


def gallery(ck: CheckpointResult, ck_index: int, images: RunImages) -> list[PromptGroup]:
    groups: dict[tuple[str, str], PromptGroup] = {}
    for n, im in enumerate(ck.images):
        key = (im.prompt_id, im.prompt)
        if key not in groups:
            groups[key] = PromptGroup(im.prompt_id, prompt_segments(im.prompt), [h for h in im.hex_codes if is_hex(h)], [])
        render = images.render_path(im)
        groups[key].cards.append(ImageCard(
            seed=im.seed,
            thumb=_url(images.render_thumbnail(ck_index, n, im)),
            full=page_url(render, images.run_dir) if render is not None and render.is_file() else None,
            grid=_url(images.grid(ck_index, n, im)),
            golden=_url(images.golden_punk(im.nearest_golden)),
            golden_id=im.nearest_golden,
            golden_distance=im.nearest_distance,
            confidence=im.grid_confidence,
            scores=[(m, im.scores.get(m), im.passed.get(m)) for m in METRICS],
        ))
    return list(groups.values())


def prompt_segments(text: str) -> list[tuple[bool, str]]:
    """The prompt split around its hex colour codes, which the page draws as swatches."""
    out, pos = [], 0
    for m in HEX_CODE.finditer(text or ""):
        if m.start() > pos:
            out.append((False, text[pos:m.start()]))
        out.append((True, m.group(0)))
        pos = m.end()
    if pos < len(text or ""):
        out.append((False, text[pos:]))
    return out


def is_hex(code: str) -> bool:
    """Only a validated #rrggbb ever reaches a style attribute."""
    return isinstance(code, str) and len(code) == 7 and HEX_CODE.fullmatch(code) is not None


def checkpoint_context(record: RunRecord, ck: CheckpointResult, index: int, images: RunImages,
                       thresholds: dict[str, tuple[str, float]], chart: str | None) -> dict:
    return {
        "index": index,
        "ck": ck,
        "summary": summarise(record, index),
        "metrics": metric_rows(ck, thresholds, image_limits(record)),
        "set_verdicts": set_verdicts(ck),
        "set_facts": set_facts(ck),
        "failed": [v for v in ck.verdicts if not v.passed],
        "inspection": inspection_sections(ck.info),
        "top_tags": top_tags(ck.info),
        "metadata": [(k, shorten(str(v))) for k, v in sorted((ck.info or {}).get("metadata", {}).items())],
        "warnings": (ck.info or {}).get("warnings", []),
        "render_config": ck.render_config,
        "gallery": gallery(ck, index, images),
        "chart": _url(chart),
    }


def thresholds_of(record: RunRecord) -> dict[str, tuple[str, float]]:
    out = {}
    for metric, spec in (record.thresholds or {}).items():
        try:
            out[metric] = (str(spec["direction"]), float(spec["value"]))
        except (KeyError, TypeError, ValueError):
            continue  # a malformed threshold is shown as missing, not guessed
    return out


def image_limits(record: RunRecord) -> dict[str, float]:
    """Per-image thresholds, where the gate recorded them (``thresholds[metric]["image"]``)."""
    out = {}
    for metric, spec in (record.thresholds or {}).items():
        if isinstance(spec, dict) and isinstance(spec.get("image"), (int, float)) and not isinstance(spec["image"], bool):
            out[metric] = float(spec["image"])
    return out


def page_url(target: Path, page_dir: Path) -> str:
    """A link from a page in ``page_dir`` to ``target``: relative and percent-quoted (no scheme can sneak in)."""
    try:
        return quote(os.path.relpath(target, page_dir).replace(os.sep, "/"))
    except ValueError:  # another drive on Windows
        return Path(target).resolve().as_uri()


def _url(rel: str | None) -> str | None:
    return quote(rel) if rel else None
