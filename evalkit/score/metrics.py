"""The metric registry: every fact about a metric, in one row, that the rest of evalkit loops over.

torchmetrics-style: a metric carries its own facts (direction, margins, marker,
label) and nothing else branches on its name or direction. Readers:

* ``score_image`` computes every `IMAGE_METRICS` row (``row.compute``);
* ``gate/thresholds.py`` moves the golden percentile by ``suite_margin`` /
  ``image_margin`` in ``row.direction``; ``baseline_tolerance`` is the default
  tolerated drop; overrides accept exactly the rows' names;
* ``gate/quality.py`` multiplies ``row.direction.goodness(mean) ** quality_weight``;
* ``gate/session.py`` judges with ``row.direction`` (passes / beyond / worst first);
* ``evalkit/test_punks.py`` makes one ``test_<name>[ckpt]`` per-image floor item, one
  ``test_suite_mean[ckpt-<name>]`` and ``test_baseline[ckpt-<name>]`` per
  row, marked ``row.marker``; `SET_METRICS` rows give the set-level items;
* ``evalkit/plugin.py`` registers the markers (`MARKERS`);
* the report and the leaderboard use ``label`` / ``short`` / ``column``.

Adding a per-image metric (say ``prompt_adherence``) is ONE module and ONE row:

1. ``evalkit/score/prompt_adherence.py``: a pure numpy function returning a
   frozen dataclass with ``score`` (a float in [0, 1]) and ``to_dict()``;
   property tests on golden punks under controlled corruptions.
2. A `Metric` row in `IMAGE_METRICS` below, its ``compute`` taking the
   `ImageInputs` of one render (the scored RGB array, the recovered grid, the
   golden reference, the prompt's hex codes and text, the CLIP signals).

A set-level metric (say ``diversity``) is its module plus a `SetMetric` row:
the row names its gate item, its override key and default limit; its score
goes into ``set_level.SetScores`` and its judgement into
``gate/set_checks.JUDGES`` (the message names the set-level numbers).

The record keeps each score under its ``name``; never rename a row (old runs,
baselines and the score store's ``mean_<name>`` columns use it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from evalkit.score.grid_sharpness import grid_sharpness
from evalkit.score.palette_fidelity import palette_fidelity
from evalkit.score.photorealism import photorealism
from evalkit.score.prompt_adherence import adherence, requested_from_text

__all__ = [
    "AT_LEAST", "AT_MOST", "Direction", "IMAGE_METRICS", "ImageInputs", "MARKERS", "METRICS", "Metric",
    "SET_METRICS", "SetMetric", "direction_named", "metric",
]


@dataclass(frozen=True)
class Direction:
    """Which side of a limit is good. "min": a value must be at least the limit; "max": at most."""

    name: str  # "min" | "max" (the record's and the score store's spelling)
    higher_is_better: bool
    side: str  # how a passing value relates to its limit, for messages
    percentile: str  # the golden percentile a default threshold moves from

    def passes(self, value: float, limit: float) -> bool:
        return value >= limit if self.higher_is_better else value <= limit

    def beyond(self, bounds, limit: float) -> bool:
        """True when a mean is confidently on the wrong side of ``limit`` (``bounds``: low/high attributes)."""
        return bounds.high < limit if self.higher_is_better else bounds.low > limit

    def rank(self, value: float) -> float:
        """Sort key, smallest = worst: ``sorted(..., key=direction.rank)`` lists the worst first."""
        return value if self.higher_is_better else -value

    def drop(self, tolerance: float) -> float:
        """A tolerated regression as a signed change of the mean (negative when higher is better)."""
        return -tolerance if self.higher_is_better else tolerance

    def goodness(self, value: float) -> float:
        """A [0, 1] score turned so that 1 is good (the quality score's factor)."""
        return value if self.higher_is_better else 1.0 - value

    def moved(self, golden: dict[str, float], margin: float) -> float:
        """The golden percentile moved by ``margin`` to the lenient side, kept in [0, 1]."""
        if self.higher_is_better:
            return round(max(0.0, golden[self.percentile] - margin), 4)
        return round(min(1.0, golden[self.percentile] + margin), 4)


AT_LEAST = Direction("min", True, ">=", "q05")
AT_MOST = Direction("max", False, "<=", "q95")


def direction_named(name: str) -> Direction:
    return {"min": AT_LEAST, "max": AT_MOST}[name]


@dataclass(frozen=True)
class ImageInputs:
    """What a per-image metric may look at for one render."""

    rgb: np.ndarray  # (H, W, 3) float in [0, 1], as scored (box-reduced when large)
    fit: Any  # evalkit.downsample.grid.GridFit; fit.cells is the (24, 24, 3) uint8 punk
    reference: Any  # evalkit.score.golden_reference.GoldenReference
    hex_codes: tuple[str, ...] = ()
    prompt: str = ""
    clip_signals: dict | None = None  # CLIP photorealism signals when a CLIP model is in use
    requested: frozenset | None = None  # punk labels the prompt asks for (prompt_adherence); None: read the text

    @property
    def asked(self) -> frozenset:
        return requested_from_text(self.prompt) if self.requested is None else frozenset(self.requested)


@dataclass(frozen=True)
class Metric:
    """One per-image metric, judged per image, as a suite mean, and against a baseline."""

    name: str  # key in scores, record, baselines and item ids
    compute: Callable[[ImageInputs], Any]  # -> part with .score (float in [0, 1]) and .to_dict()
    direction: Direction
    marker: str  # pytest marker of its items
    marker_help: str
    suite_margin: float  # suite-mean threshold = golden percentile moved by this
    image_margin: float  # per-image threshold = golden percentile moved by this (lenient floor)
    baseline_tolerance: float  # tolerated drop of the suite mean against a baseline
    quality_weight: float  # exponent in the 0-10 quality score (weights sum to 1)
    label: str  # report chart title
    short: str  # report table header
    column: str  # leaderboard column header


@dataclass(frozen=True)
class SetMetric:
    """One set-level check: all renders of a checkpoint against the golden punks."""

    name: str  # Verdict.metric and the record's thresholds key
    item: str  # the gate's test function
    limit_key: str  # override key in [tool.evalkit.thresholds] and Thresholds.set_limits
    default_limit: float
    direction: Direction
    statistic: str  # what the limit bounds, for the record
    value_key: str  # the key of the set score's dict that the store keeps as its value


# Set-level defaults, from the testbed (README "The gate" has the table): the perfect LoRA's
# renders hold 0.99-1.10x the Vendi score of golden punks drawn for the same suite, and 0-12%
# of them share a nearest golden punk with another prompt's render (6 to 64 renders); the LoRA
# over-fitted on 8 punks holds 0.57-0.69x and 31-59% (12 to 64 renders).
DIVERSITY_FLOOR = 0.8
COLLAPSE_CEILING = 0.25

IMAGE_METRICS: tuple[Metric, ...] = (
    # Margins from the golden percentile. Golden punks score about 1 / 1 / 0; the
    # suite margins put the floor where the mean render has lost most of what makes
    # a punk (README "The gate" lists the testbed's means against them), the image
    # margins only below what a visibly broken single render scores.
    Metric("grid_sharpness", lambda x: grid_sharpness(x.rgb, x.fit), AT_LEAST,
           marker="grid", marker_help="pixel-grid sharpness checks",
           suite_margin=0.4, image_margin=0.7, baseline_tolerance=0.05, quality_weight=0.3,
           label="grid sharpness (higher is better)", short="grid", column="grid"),
    Metric("palette_fidelity", lambda x: palette_fidelity(x.fit.cells, x.reference, x.hex_codes), AT_LEAST,
           marker="palette", marker_help="palette fidelity checks",
           suite_margin=0.75, image_margin=0.95, baseline_tolerance=0.05, quality_weight=0.3,
           label="palette fidelity (higher is better)", short="palette", column="palette"),
    Metric("photorealism", lambda x: photorealism(x.rgb, x.fit, x.reference, x.clip_signals), AT_MOST,
           marker="realism", marker_help="photorealism drift checks",
           suite_margin=0.25, image_margin=0.6, baseline_tolerance=0.05, quality_weight=0.2,
           label="photorealism (lower is better)", short="photoreal", column="realism"),
    # Golden punks against their own labels: q05 0.88 (the classifier misses a few accessories).
    # The suite floor (0.68) fails a LoRA that draws the wrong type for about a third of its
    # prompts (the over-fitted testbed LoRA: mean 0.47-0.49; the perfect one 0.84). The image
    # floor is 0 by default, so one render never fails alone: a wrong-type render is common in
    # good LoRAs (the perfect testbed LoRA draws green-skinned females for zombie_detailed);
    # set [thresholds.image] prompt_adherence to make the per-image floor bite.
    Metric("prompt_adherence", lambda x: adherence(x.fit.cells, x.asked), AT_LEAST,
           marker="adherence", marker_help="prompt adherence checks (the punk shows what its prompt asked for)",
           suite_margin=0.2, image_margin=1.0, baseline_tolerance=0.05,
           quality_weight=0.2,
           label="prompt adherence (higher is better)", short="adherence", column="adhere"),
)

SET_METRICS: tuple[SetMetric, ...] = (
    SetMetric("mmd", "test_golden_distance", "mmd_effect", 0.15, AT_MOST, "effect", "mmd2"),
    SetMetric("memorisation", "test_memorisation", "copy_rate_excess", 0.15, AT_MOST, "copy_rate - golden_copy_rate",
              "copy_rate"),
    # Vendi score of the renders over the golden punks' own at the same set size (README "The gate").
    SetMetric("diversity", "test_diversity", "diversity_relative", DIVERSITY_FLOOR, AT_LEAST, "vendi / golden_vendi",
              "relative"),
    # Renders whose nearest golden punk is also another prompt's nearest: near copies of a few punks.
    SetMetric("collapse", "test_collapse", "collapse_share", COLLAPSE_CEILING, AT_MOST, "share", "share"),
)

METRICS: tuple[str, ...] = tuple(m.name for m in IMAGE_METRICS)
_BY_NAME = {m.name: m for m in IMAGE_METRICS}

# pytest markers of the gate's items: one per metric, then the shared ones.
MARKERS: tuple[tuple[str, str], ...] = (
    *((m.marker, m.marker_help) for m in IMAGE_METRICS),
    ("baseline", "comparisons against a recorded baseline"),
    ("set", "set-level checks against the golden punks (distance, memorisation, diversity, collapse)"),
    ("base", "the LoRA changes what its base alone draws (gate/base_compare.py)"),
)


def metric(name: str) -> Metric:
    """The row of a per-image metric; KeyError for an unknown name."""
    return _BY_NAME[name]
