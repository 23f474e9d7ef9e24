"""The 0-10 punk quality score and the leaderboard printed after a run.

    quality = 10 x grid^0.3 x palette^0.3 x (1 - photorealism)^0.2 x adherence^0.2

over the suite means, each factor clipped to [0, 1], the weights those of
the registry rows (`evalkit.score.metrics`, summing to 1). A weighted
geometric mean: a checkpoint cannot buy back a ruined palette with a crisp
grid (the wrong-colours LoRA keeps a perfect grid and still lands
mid-table), nor ignore its prompts by drawing clean punks (the over-fitted
LoRA), and the golden punks themselves score 10. A record made before a
metric existed has no mean for it: its quality is None, never a guess.
"""

from __future__ import annotations

import numpy as np

from evalkit.gate.record import CheckpointResult
from evalkit.score.metrics import IMAGE_METRICS, METRICS, metric
from evalkit.terminal_text import printable

# Each metric's factor and weight come from its registry row (`evalkit.score.metrics`).
WEIGHTS = {m.name: m.quality_weight for m in IMAGE_METRICS}


def formula_text(weights: dict[str, float] | None = None) -> str:
    """The formula as printed; ``weights``: calibrated ones (`evalkit.gate.calibration`), else the registry's."""
    w = weights or WEIGHTS
    return "10 x " + " x ".join(
        f"{m.column if m.direction.higher_is_better else f'(1 - {m.column})'}^{w[m.name]:g}" for m in IMAGE_METRICS)


FORMULA = formula_text()


def quality(means: dict[str, float | None], weights: dict[str, float] | None = None) -> float | None:
    """The 0-10 quality of suite means (metric name -> mean), rounded; None when a metric has no mean.
    ``weights``: calibrated ones (`evalkit calibrate`), else the registry's."""
    if any(means.get(m.name) is None for m in IMAGE_METRICS):
        return None
    values = np.array([means[m.name] for m in IMAGE_METRICS], dtype=float)
    return round(float(quality_of(values, METRICS, weights)), 2)


def quality_of(means: np.ndarray, metrics: tuple[str, ...], weights: dict[str, float] | None = None) -> np.ndarray:
    """Unrounded quality of suite means on the last axis, in the order of ``metrics`` (any leading shape:
    the attribution's bootstrap draws). A name that is not a registry row is ignored."""
    w = weights or WEIGHTS
    q = np.full(np.shape(means)[:-1], 10.0)
    for k, name in enumerate(metrics):
        if name in w:
            good = metric(name).direction.goodness(np.asarray(means)[..., k])
            q = q * np.clip(good, 0.0, 1.0) ** w[name]
    return q


COLUMN_WIDTH = 6  # a score prints as 0.000


def best(checkpoints: list[CheckpointResult]) -> CheckpointResult | None:
    """Highest quality among those that passed; if none passed, among those scored. A checkpoint
    indistinguishable from its base alone is never best: its quality is the base's."""
    scored = [c for c in checkpoints if c.quality is not None and not c.indistinguishable]
    pool = [c for c in scored if c.status == "pass"] or scored
    # Ties go as the leaderboard orders them (by name), so "best" names the table's first row.
    return min(pool, key=lambda c: (-c.quality, c.name), default=None)


def leaderboard(checkpoints: list[CheckpointResult], formula: str = FORMULA) -> list[str]:
    """Terminal lines: one row per checkpoint, best quality first, each with its change of quality
    against its base alone; then one row per base alone, and the winner."""
    ranked = sorted(checkpoints, key=lambda c: (c.quality is None, -(c.quality or 0.0), c.name))
    bases = {}  # base label -> its suite means and quality, from the checkpoints' comparisons
    for c in ranked:
        vs = c.vs_base or {}
        if "base_means" in vs:
            bases.setdefault(vs["base"], (vs["base_means"], vs["base_quality"]))
    names = {id(c): printable(c.name) for c in checkpoints}  # a newline or ESC in a file name: escaped
    base_names = {label: printable(f"{label} (base alone)") for label in bases}
    width = max([len("checkpoint"), *map(len, names.values()), *map(len, base_names.values())])
    widths = [max(COLUMN_WIDTH, len(m.column)) for m in IMAGE_METRICS]
    header = "  ".join(f"{m.column:>{w}}" for m, w in zip(IMAGE_METRICS, widths))
    lines = [f"quality 0-10 = {formula} (suite means)",
             f"  {'#':>2}  {'checkpoint':<{width}}  {header}  {'quality':>7}  {'vs base':>7}  status"]
    for rank, c in enumerate(ranked, 1):
        cells = "  ".join(f"{_fmt(c.mean(m.name)):>{w}}" for m, w in zip(IMAGE_METRICS, widths))
        q = "-" if c.quality is None else f"{c.quality:.1f}"
        status = c.status + ("; same as its base" if c.indistinguishable else "")
        lines.append(f"  {rank if c.quality is not None else '-':>2}  {names[id(c)]:<{width}}  {cells}  {q:>7}  "
                     f"{_vs_base(c.vs_base):>7}  {status}")
    for label, (means, q) in bases.items():
        cells = "  ".join(f"{_fmt(means.get(m.name)):>{w}}" for m, w in zip(IMAGE_METRICS, widths))
        lines.append(f"  {'-':>2}  {base_names[label]:<{width}}  {cells}  {'-' if q is None else f'{q:.1f}':>7}  "
                     f"{'':>7}  base")
    winner = best(checkpoints)
    if winner is None:
        unchanged = [c for c in checkpoints if c.quality is not None and c.indistinguishable]
        lines.append("best: none (every scored checkpoint is indistinguishable from its base)" if unchanged
                     else "best: none (no checkpoint was scored)")
    elif winner.status != "pass":
        lines.append(f"best: none passed the gate (highest quality: {names[id(winner)]})")
    else:
        lines.append(f"best: {names[id(winner)]}")
    return lines


def _vs_base(vs_base: dict | None) -> str:
    """The quality change against the base alone, as the leaderboard prints it."""
    if not vs_base or vs_base.get("quality_delta") is None:
        return "-"
    return f"{round(vs_base['quality_delta'], 1) + 0.0:+.1f}"  # + 0.0: never "-0.0"


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
