"""What the gate judges against: thresholds derived from the golden punks, overridable per project.

"What good looks like" is the golden punks' own score distribution
(`golden_distribution`: each golden punk nearest-neighbour upscaled and
scored like a render). Each default threshold is that distribution's
5th percentile (95th where higher is worse, as for photorealism) moved by a
fixed margin, both from the metric's row in `evalkit.score.metrics`:

* suite mean (the real gate, judged with 95% confidence): ``row.suite_margin``;
* one image (a lenient floor that only catches a broken render): ``row.image_margin``.

Set-level limits (`SET_METRICS` rows, judged in `evalkit.gate.set_checks`):
the MMD effect size and the share of renders that copy a golden punk beyond
the rate at which golden punks already copy each other. Baseline tolerances
(``row.baseline_tolerance``) are the drop of a suite mean that counts as a
regression.

Override in ``evalkit.toml`` (``[thresholds]``) or ``pyproject.toml``
(``[tool.evalkit.thresholds]``); evalkit.toml wins when both set a value::

    [tool.evalkit.thresholds]
    grid_sharpness = 0.6          # floor on the suite mean
    photorealism = 0.25           # ceiling on the suite mean
    mmd_effect = 0.15
    copy_rate_excess = 0.15

    [tool.evalkit.thresholds.image]             # per-image floors/ceilings
    palette_fidelity = 0.05

    [tool.evalkit.thresholds.baseline]          # tolerated drop against the baseline
    grid_sharpness = 0.05

    [tool.evalkit.thresholds.prompts.zombie_detailed]   # per-image, this prompt only
    palette_fidelity = 0.02
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from evalkit.errors import EvalkitError
from evalkit.paths import atomic_write_text
from evalkit.score.metrics import IMAGE_METRICS, METRICS, SET_METRICS

GOLDEN_SAMPLE = 64  # golden punks scored for the distribution (evenly spaced; ~3 s, then cached)
GOLDEN_SIZE = 192  # px; golden upscales score the same at any integer scale
DERIVATION_VERSION = 2  # bump when the scores or this derivation change: invalidates the cache


@dataclass(frozen=True)
class Thresholds:
    suite: dict[str, float]
    image: dict[str, float]
    baseline: dict[str, float]
    set_limits: dict[str, float]  # SetMetric.limit_key -> limit
    prompts: dict[str, dict[str, float]] = field(default_factory=dict)
    golden: dict[str, dict[str, float]] = field(default_factory=dict)  # metric -> golden percentiles
    sources: list[str] = field(default_factory=list)  # files that overrode a default

    def image_limit(self, metric: str, prompt_id: str) -> float:
        return self.prompts.get(prompt_id, {}).get(metric, self.image[metric])

    def __getattr__(self, name: str) -> float:
        # ``t.mmd_effect``, ``t.copy_rate_excess``: a set-level limit by its override key.
        limits = self.__dict__.get("set_limits")
        if limits is not None and name in limits:
            return limits[name]
        raise AttributeError(name)

    def to_record(self) -> dict[str, dict]:
        """`RunRecord.thresholds`: metric -> {"direction", "value" (suite mean), ...}."""
        out = {}
        for row in IMAGE_METRICS:
            m = row.name
            out[m] = {
                "direction": row.direction.name, "value": self.suite[m], "image": self.image[m],
                "baseline_tolerance": self.baseline[m], "golden": self.golden.get(m, {}),
                "prompts": {p: v[m] for p, v in sorted(self.prompts.items()) if m in v},
            }
        for row in SET_METRICS:
            out[row.name] = {"direction": row.direction.name, "value": self.set_limits[row.limit_key],
                             "statistic": row.statistic}
        return out


def derive_defaults(golden: dict[str, dict[str, float]]) -> Thresholds:
    """Defaults from the golden percentiles and the registry's margins (see the module docstring)."""
    return Thresholds(
        suite={m.name: m.direction.moved(golden[m.name], m.suite_margin) for m in IMAGE_METRICS},
        image={m.name: m.direction.moved(golden[m.name], m.image_margin) for m in IMAGE_METRICS},
        baseline={m.name: m.baseline_tolerance for m in IMAGE_METRICS},
        set_limits={s.limit_key: s.default_limit for s in SET_METRICS},
        golden=golden,
    )


def golden_distribution(reference, cache_dir: Path | None = None,
                        requested: dict[str, frozenset] | None = None) -> dict[str, dict[str, float]]:
    """Percentiles (q05, q50, q95) of each metric over golden punks scored as renders.

    ``requested``: golden id -> the labels its own prompt asks for
    (`prompt_adherence.golden_requests`), so adherence is the golden punks'
    against their own captions; a punk not in it asks for nothing.
    Cached under ``cache_dir`` by the golden cells', requests' and scoring code's hash
    (`scorer_fingerprint`), so only the first run with a golden set pays the ~3 s.
    """
    requested = requested or {}
    h = hashlib.sha256(reference.cells.tobytes())
    h.update(json.dumps({k: sorted(v) for k, v in sorted(requested.items())}).encode())
    from evalkit.score.fingerprint import scorer_fingerprint

    h.update(scorer_fingerprint().encode())  # a changed metric never reuses stale percentiles
    digest = h.hexdigest()[:16]
    cached = Path(cache_dir) / f"golden-distribution-v{DERIVATION_VERSION}-{digest}.json" if cache_dir else None
    if cached and cached.is_file():
        try:
            return json.loads(cached.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass  # unreadable cache: recompute and overwrite
    from evalkit.score.score_image import score_image

    n = len(reference)
    pick = np.unique(np.linspace(0, n - 1, min(n, GOLDEN_SAMPLE)).round().astype(int))
    idx = np.minimum((np.arange(GOLDEN_SIZE) * 24) // GOLDEN_SIZE, 23)
    scores = [score_image(reference.cells[i][idx][:, idx], reference,
                          requested=requested.get(reference.ids[i], frozenset())) for i in pick]
    out = {}
    for m in METRICS:
        v = np.array([s.value(m) for s in scores])
        q05, q50, q95 = np.quantile(v, [0.05, 0.5, 0.95])
        out[m] = {"q05": round(float(q05), 4), "q50": round(float(q50), 4), "q95": round(float(q95), 4), "n": int(len(v))}
    if cached:
        atomic_write_text(cached, json.dumps(out, indent=1, sort_keys=True))
    return out


def config_files(rootdir: Path) -> list[tuple[Path, tuple[str, ...]]]:
    """(file, table path) pairs in increasing precedence."""
    return [(rootdir / "pyproject.toml", ("tool", "evalkit", "thresholds")), (rootdir / "evalkit.toml", ("thresholds",))]


@dataclass(frozen=True)
class Overrides:
    """The project's threshold settings, read and checked before anything is rendered."""

    suite: dict[str, float] = field(default_factory=dict)
    scalars: dict[str, float] = field(default_factory=dict)
    image: dict[str, float] = field(default_factory=dict)
    baseline: dict[str, float] = field(default_factory=dict)
    prompts: dict[str, dict[str, float]] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)


SCALARS = tuple(s.limit_key for s in SET_METRICS)


def read_overrides(rootdir: Path) -> Overrides:
    """Every override in evalkit.toml / pyproject.toml; a bad value is an EvalkitError naming the file."""
    o = Overrides()
    for path, table in config_files(Path(rootdir)):
        data = _table(path, table)
        if not data:
            continue
        o.sources.append(str(path))
        for key, value in data.items():
            if key in METRICS:
                o.suite[key] = _number(path, key, value)
            elif key in SCALARS:
                o.scalars[key] = _number(path, key, value)
            elif key in ("image", "baseline") and isinstance(value, dict):
                _metric_table(path, key, value, o.image if key == "image" else o.baseline)
            elif key == "prompts" and isinstance(value, dict):
                for pid, per_prompt in value.items():
                    if not isinstance(per_prompt, dict):
                        raise EvalkitError(path, f"thresholds.prompts.{pid} must be a table of metric = number")
                    _metric_table(path, f"prompts.{pid}", per_prompt, o.prompts.setdefault(pid, {}))
            else:
                known = ", ".join([*METRICS, *SCALARS, "[image]", "[baseline]", "[prompts.<id>]"])
                raise EvalkitError(path, f"unknown threshold setting '{key}' (known: {known})")
    return o


def load_thresholds(golden: dict[str, dict[str, float]], overrides: Overrides | None = None) -> Thresholds:
    """Golden-derived defaults with the project's overrides applied."""
    t = derive_defaults(golden)
    o = overrides or Overrides()
    return Thresholds(
        suite={**t.suite, **o.suite}, image={**t.image, **o.image}, baseline={**t.baseline, **o.baseline},
        set_limits={**t.set_limits, **o.scalars},
        prompts={p: dict(v) for p, v in o.prompts.items()}, golden=golden, sources=list(o.sources),
    )


def _table(path: Path, keys: tuple[str, ...]) -> dict:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise EvalkitError(path, f"not valid TOML: {exc}") from None
    for key in keys:
        data = data.get(key, {})
        if not isinstance(data, dict):
            raise EvalkitError(path, f"[{'.'.join(keys)}] must be a table")
    return data


def _metric_table(path: Path, where: str, table: dict, into: dict[str, float]) -> None:
    for metric, value in table.items():
        if metric not in METRICS:
            raise EvalkitError(path, f"thresholds.{where}: unknown metric '{metric}' (known: {', '.join(METRICS)})")
        into[metric] = _number(path, f"{where}.{metric}", value)


def _number(path: Path, key: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise EvalkitError(path, f"threshold '{key}' must be a number, got {value!r}")
    return float(value)
