"""Baselines, pytest-regressions style: a checkpoint's scores per (prompt, seed), committed next to the prompts.

    pytest evalkit --checkpoint perfect.safetensors --update-baseline   # writes <prompts dir>/baselines/perfect.json
    pytest evalkit --checkpoint new.safetensors --baseline perfect      # compares new against it

A metric regresses when its mean drop (paired over the (prompt, seed) renders
both runs share) is larger than the tolerance with 95% confidence, by a
bootstrap over those pairs: seed noise alone does not flip the gate. On a
regression the obtained scores are written beside the baseline as
``<checkpoint>.obtained.json``, in the baseline's own format, so accepting
them is a rename.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from evalkit.errors import EvalkitError
from evalkit.gate.stats import MeanBounds, bounds_text, mean_bounds
from evalkit.paths import atomic_write_text
from evalkit.score.metrics import METRICS, metric as metric_row
from evalkit.score.rounding import rounded

SCHEMA_VERSION = 1
FOLDER = "baselines"


def baselines_dir(prompts_path: Path) -> Path:
    return Path(prompts_path).parent / FOLDER


def default_path(prompts_path: Path, checkpoint_stem: str) -> Path:
    return baselines_dir(prompts_path) / f"{checkpoint_stem}.json"


def _target(option: str, prompts_path: Path) -> Path:
    given = Path(option)
    return given if given.suffix == ".json" or len(given.parts) > 1 else default_path(prompts_path, option)


def resolve(option: str, prompts_path: Path) -> Path:
    """``--baseline NAME_OR_FILE``: a file path, or a name in ``<prompts dir>/baselines/``; it must exist."""
    path = _target(option, prompts_path)
    if not path.is_file():
        raise EvalkitError(path, "baseline does not exist (record one with --update-baseline)")
    return path


def resolve_for_update(option: str | None, prompts_path: Path, checkpoint_stem: str) -> Path:
    """Where ``--update-baseline`` writes: the --baseline target if given, else the checkpoint's own file."""
    return _target(option, prompts_path) if option else default_path(prompts_path, checkpoint_stem)


def obtained_path(baseline_path: Path, checkpoint_stem: str) -> Path:
    return Path(baseline_path).parent / f"{checkpoint_stem}.obtained.json"


@dataclass(frozen=True)
class Baseline:
    path: Path
    checkpoint: str
    scores: dict[tuple[str, int], dict[str, float]]  # (prompt id, seed) -> metric -> value

    def has(self, metric: str) -> bool:
        """False for a metric added after this baseline was recorded (it has nothing to compare)."""
        return any(metric in v for v in self.scores.values())


def document(checkpoint: str, sha256: str | None, prompts_path: Path, prompts_sha256: str,
             render_config_key: str | None, base_model: str | None, rows) -> dict:
    """The baseline file's content. ``rows``: (prompt id, seed, {metric: value}). No timestamps:
    re-recording the same scores leaves the committed file unchanged."""
    images = [{"prompt_id": p, "seed": s, **{m: scores[m] for m in METRICS if m in scores}} for p, s, scores in rows]
    means = {m: sum(im[m] for im in images) / len(images) for m in METRICS if images and all(m in im for im in images)}
    return rounded({
        "schema_version": SCHEMA_VERSION, "checkpoint": checkpoint, "checkpoint_sha256": sha256,
        "prompts": Path(prompts_path).name, "prompts_sha256": prompts_sha256,
        "render_config_key": render_config_key, "base_model": base_model, "means": means, "images": images,
    })


def write(path: Path, doc: dict) -> Path:
    return atomic_write_text(path, json.dumps(doc, indent=1, sort_keys=True) + "\n")


def read(path: Path) -> Baseline:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"schema_version {data.get('schema_version')!r}, expected {SCHEMA_VERSION}")
        # A metric added since the file was recorded is simply absent (Baseline.has).
        scores = {(str(im["prompt_id"]), int(im["seed"])): {m: float(im[m]) for m in METRICS if m in im}
                  for im in data["images"]}
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise EvalkitError(path, f"is not a readable evalkit baseline ({type(exc).__name__}: {exc})") from None
    if not scores:
        raise EvalkitError(path, "baseline holds no images")
    return Baseline(Path(path), str(data.get("checkpoint", Path(path).stem)), scores)


@dataclass(frozen=True)
class Comparison:
    metric: str
    baseline_path: Path
    baseline_mean: float
    obtained_mean: float
    delta: MeanBounds  # obtained - baseline, per pair, bootstrapped
    tolerance: float
    regressed: bool
    missing: int  # (prompt, seed) renders of this run the baseline does not have
    worst: list[tuple[str, int, float, float, str]]  # prompt, seed, baseline, obtained, render path
    worst_prompts: list[tuple[str, float]]  # prompt, mean delta over its seeds

    def message(self) -> str:
        d = self.delta
        images = "; ".join(f"{p} seed {s}: {b:.3f} -> {o:.3f} ({path})" for p, s, b, o, path in self.worst)
        prompts = ", ".join(f"{p} {v:+.3f}" for p, v in self.worst_prompts)
        state = "regressed" if self.regressed else "within tolerance"
        return (f"{self.metric} {state} against baseline {self.baseline_path}: baseline {self.baseline_mean:.3f}, "
                f"obtained {self.obtained_mean:.3f}, delta {d.mean:+.3f} ({bounds_text(d, sign=True)}, "
                f"tolerance {metric_row(self.metric).direction.drop(self.tolerance):+.3f}) over {d.n} (prompt, seed) pairs"
                + (f", {self.missing} not in the baseline" if self.missing else "")
                + f"; worst prompts: {prompts}; look at {images}")


def compare(baseline: Baseline, obtained, metric: str, tolerance: float, show: int = 3) -> Comparison:
    """``obtained``: (prompt id, seed, {metric: value}, render path) for this run's renders."""
    pairs = [(p, s, baseline.scores[(p, s)][metric], scores[metric], path)
             for p, s, scores, path in obtained if metric in baseline.scores.get((p, s), {})]
    if not pairs:
        raise EvalkitError(baseline.path, "shares no (prompt, seed) render with this run's prompt suite")
    deltas = [o - b for _, _, b, o, _ in pairs]
    bounds = mean_bounds(deltas)
    direction = metric_row(metric).direction
    # A drop is negative for higher-is-better metrics, positive for lower-is-better ones.
    regressed = direction.beyond(bounds, direction.drop(tolerance))
    worse_first = sorted(pairs, key=lambda t: direction.rank(t[3] - t[2]))
    by_prompt = defaultdict(list)
    for p, _, b, o, _ in pairs:
        by_prompt[p].append(o - b)
    prompt_means = sorted(((p, sum(v) / len(v)) for p, v in by_prompt.items()), key=lambda t: direction.rank(t[1]))
    return Comparison(
        metric=metric, baseline_path=baseline.path,
        baseline_mean=sum(b for _, _, b, _, _ in pairs) / len(pairs),
        obtained_mean=sum(o for _, _, _, o, _ in pairs) / len(pairs),
        delta=bounds, tolerance=tolerance, regressed=regressed,
        missing=len(obtained) - len(pairs), worst=worse_first[:show], worst_prompts=prompt_means[:show],
    )
