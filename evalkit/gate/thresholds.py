"""Per-metric floors/ceilings and the confidence rule that turns scores into verdicts.

A checkpoint fails a metric only when the suite mean is beyond its threshold
with 95% confidence (one-sided bootstrap over the prompt x seed renders), so
one unlucky seed never flips the gate. Override in ``pyproject.toml``::

    [tool.evalkit.thresholds]
    grid_sharpness = 0.6      # floor on the mean
    photorealism = 0.25       # ceiling on the mean
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Calibrated on the shipped testbed (see README "Thresholds"): the perfect LoRA's
# suite means sit well inside, the failing LoRAs' well outside.
DEFAULTS = {
    "grid_sharpness": ("min", 0.6),
    "palette_fidelity": ("min", 0.25),
    "photorealism": ("max", 0.25),
}
CONFIDENCE = 0.95
BOOTSTRAP = 2000


@dataclass(frozen=True)
class Verdict:
    metric: str
    passed: bool
    mean: float
    low: float
    high: float
    threshold: float
    direction: str

    def message(self) -> str:
        side = ">=" if self.direction == "min" else "<="
        return (f"{self.metric}: suite mean {self.mean:.3f} (95% interval {self.low:.3f}..{self.high:.3f}) "
                f"is not {side} {self.threshold:.3f}")


def load_thresholds(rootdir: Path) -> dict[str, tuple[str, float]]:
    out = dict(DEFAULTS)
    for path, table in ((rootdir / "evalkit.toml", ("thresholds",)), (rootdir / "pyproject.toml", ("tool", "evalkit", "thresholds"))):
        if path.is_file():
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            for key in table:
                data = data.get(key, {})
            for metric, value in data.items():
                if metric in out:
                    out[metric] = (out[metric][0], float(value))
    return out


def judge(metric: str, values, direction: str, threshold: float, seed: int = 0) -> Verdict:
    v = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)  # fixed: the same scores always give the same verdict
    means = v[rng.integers(0, len(v), (BOOTSTRAP, len(v)))].mean(axis=1)
    low, high = np.quantile(means, [1 - CONFIDENCE, CONFIDENCE])
    # Fail only when confidently on the wrong side.
    passed = bool(high >= threshold) if direction == "min" else bool(low <= threshold)
    return Verdict(metric, passed, float(v.mean()), float(low), float(high), threshold, direction)
