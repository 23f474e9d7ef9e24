"""Epochs of one training run: which checkpoints belong together, their curves, the best epoch.

sd-scripts with ``--save_every_n_epochs`` writes ``NAME-000001.safetensors``,
``NAME-000002.safetensors`` ... and the last epoch as ``NAME.safetensors``;
every file carries ``ss_session_id`` (one per training run), ``ss_output_name``
and ``ss_epoch``. Checkpoints are one run when they share ``ss_session_id``
(else, with no session id, ``ss_output_name``, else the file name's NAME);
the epoch is ``ss_epoch``, else the ``-NNNNNN`` file number, else (the final
``NAME`` file without metadata) ``ss_num_epochs`` or the last numbered epoch
+ 1, marked as assumed. Epochs that mix runs are refused, never averaged:
one epoch given twice in one run, or a file number that contradicts its
``ss_epoch``; such a run gets no curve and a line says why.

"Within noise", precisely: per metric each epoch's suite mean has the gate's
one-sided 95% bootstrap-t bounds (`evalkit.gate.stats.mean_bounds`, over its
renders). The quality interval is the quality formula evaluated at every
metric's pessimistic bound (low end) and at every optimistic bound (high
end); quality is monotone in each metric, so the interval holds whenever all
metric bounds do. The best epoch has the highest quality (ties: the earlier
epoch). An epoch is *within noise* of the best when its optimistic end
reaches the best's pessimistic end (``high(e) >= low(best)``): the gate's
bounds cannot tell it is worse. The earliest such epoch is named, so a
shorter training can be picked with no measurable loss. Per metric the same
rule uses that metric's bounds in its own direction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from evalkit.gate.quality import quality
from evalkit.gate.stats import mean_bounds
from evalkit.score.metrics import IMAGE_METRICS

KOHYA_EPOCH_FILE = re.compile(r"^(?P<name>.+)-(?P<epoch>\d{6})$")  # sd-scripts' EPOCH_FILE_NAME "{}-{:06d}"
QUALITY = "quality"


def kohya_file_epoch(stem: str) -> tuple[str, int | None]:
    """``NAME-000003`` -> ("NAME", 3); any other stem -> (stem, None)."""
    m = KOHYA_EPOCH_FILE.match(stem)
    return (m["name"], int(m["epoch"])) if m else (stem, None)


@dataclass(frozen=True)
class EpochPoint:
    """One epoch's per-image scores (metric name -> values), from a checkpoint's renders or from samples."""

    epoch: int
    label: str  # the checkpoint name or the sample prefix it came from
    values: dict[str, list[float]]
    assumed: bool = False  # the epoch number was not written anywhere (the final NAME file without metadata)


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float]:
        return {"value": round(self.value, 4), "low": round(self.low, 4), "high": round(self.high, 4)}


@dataclass
class Curve:
    """One quantity (a metric or quality) over the epochs, with its best and earliest-within-noise epochs."""

    name: str
    higher_is_better: bool
    epochs: list[int]
    points: list[Interval]
    best: int | None = None
    earliest_within_noise: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "higher_is_better": self.higher_is_better, "best": self.best,
                "earliest_within_noise": self.earliest_within_noise,
                "points": [{"epoch": e, **p.to_dict()} for e, p in zip(self.epochs, self.points)]}


@dataclass
class EpochRun:
    """One training run's epochs: a curve per metric and for quality."""

    run: str  # the training run's name (ss_output_name or the file name's NAME)
    source: str  # "checkpoints" | "samples"
    members: list[tuple[int, str, bool]]  # (epoch, label, epoch assumed), by epoch
    curves: list[Curve] = field(default_factory=list)  # IMAGE_METRICS order, then quality

    @property
    def quality(self) -> Curve:
        return next(c for c in self.curves if c.name == QUALITY)

    @property
    def best(self) -> int | None:
        return self.quality.best

    @property
    def earliest_within_noise(self) -> int | None:
        return self.quality.earliest_within_noise

    def label_of(self, epoch: int | None) -> str:
        return next((label for e, label, _ in self.members if e == epoch), "-")

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run, "source": self.source, "best_epoch": self.best,
                "earliest_within_noise": self.earliest_within_noise,
                "members": [{"epoch": e, "label": label, "epoch_assumed": a} for e, label, a in self.members],
                "curves": [c.to_dict() for c in self.curves],
                "noise_rule": "within noise: high(epoch) >= low(best), one-sided 95% bounds (gate.stats)"}


def epoch_run(run: str, points: list[EpochPoint], source: str = "checkpoints", weights=None) -> EpochRun:
    """The curves of one run's epochs (each point needs a value list for every `IMAGE_METRICS` row).

    ``weights``: calibrated quality weights (`evalkit.gate.calibration`), else the registry's.
    """
    points = sorted(points, key=lambda p: p.epoch)
    epochs = [p.epoch for p in points]
    if len(set(epochs)) != len(epochs):
        raise ValueError(f"{run}: an epoch appears twice")
    out = EpochRun(run, source, [(p.epoch, p.label, p.assumed) for p in points])
    bounds = {m.name: [mean_bounds(p.values[m.name]) for p in points] for m in IMAGE_METRICS}
    for m in IMAGE_METRICS:
        out.curves.append(_choose(Curve(m.name, m.direction.higher_is_better, epochs,
                                        [Interval(b.mean, b.low, b.high) for b in bounds[m.name]])))
    q_points = []
    for i in range(len(points)):
        def at(side: str) -> float:
            chosen = {}
            for m in IMAGE_METRICS:
                b = bounds[m.name][i]
                good_is_high = m.direction.higher_is_better
                chosen[m.name] = {"mean": b.mean, "pessimistic": b.low if good_is_high else b.high,
                                  "optimistic": b.high if good_is_high else b.low}[side]
            return quality(chosen, weights)
        q_points.append(Interval(at("mean"), at("pessimistic"), at("optimistic")))
    out.curves.append(_choose(Curve(QUALITY, True, epochs, q_points)))
    return out


def _choose(curve: Curve) -> Curve:
    """Set the best epoch and the earliest within noise of it (the rule in the module docstring)."""
    if not curve.points:
        return curve
    sign = 1.0 if curve.higher_is_better else -1.0
    i_best = max(range(len(curve.points)), key=lambda i: (sign * curve.points[i].value, -curve.epochs[i]))
    best = curve.points[i_best]
    for e, p in zip(curve.epochs, curve.points):
        if (p.high >= best.low) if curve.higher_is_better else (p.low <= best.high):
            curve.earliest_within_noise = e
            break
    curve.best = curve.epochs[i_best]
    return curve


# -- grouping checkpoints -----------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """What grouping needs of one evaluated checkpoint."""

    name: str  # file stem
    session_id: str | None
    output_name: str | None
    epoch: int | None  # ss_epoch
    num_epochs: int | None  # ss_num_epochs
    values: dict[str, list[float]]

    @classmethod
    def of(cls, ck) -> "Member":
        """From a `CheckpointResult` (its inspection's provenance and its images' scores)."""
        prov = (ck.info or {}).get("provenance") or {}
        values = {m.name: [im.scores[m.name] for im in ck.images if im.scores.get(m.name) is not None]
                  for m in IMAGE_METRICS}
        return cls(ck.name, prov.get("session_id"), prov.get("output_name"), prov.get("epoch"),
                   prov.get("num_epochs"), values)


def group_epochs(members: list[Member], weights=None) -> tuple[list[EpochRun], list[str]]:
    """Runs of 2+ epochs among the checkpoints, and one line per run refused (epochs that mix runs).

    Checkpoints with no scores (errors, --render-only) are left out; a run
    needs two scored epochs for a curve.
    """
    groups: dict[tuple[str, str], list[Member]] = {}
    for m in members:
        if not all(m.values.get(r.name) for r in IMAGE_METRICS):
            continue
        base, _ = kohya_file_epoch(m.name)
        key = ("session", m.session_id) if m.session_id else ("name", m.output_name or base)
        groups.setdefault(key, []).append(m)
    runs, problems = [], []
    names_by_session: dict[str, set[str]] = {}
    for (kind, value), group in groups.items():
        run_name = group[0].output_name or kohya_file_epoch(group[0].name)[0]
        if kind == "session":
            names_by_session.setdefault(run_name, set()).add(value)
        points, why = _points(run_name, group)
        if why:
            problems.append(why)
        elif len(points) >= 2:
            runs.append(epoch_run(run_name, points, weights=weights))
    for name, sessions in sorted(names_by_session.items()):
        if len(sessions) > 1:
            problems.append(f"{name}: checkpoints of {len(sessions)} training sessions (ss_session_id) share this "
                            "name; each session is its own run, epochs are never mixed across them")
    return sorted(runs, key=lambda r: r.run), problems


def _points(run: str, group: list[Member]) -> tuple[list[EpochPoint], str | None]:
    numbered, unnumbered = [], []
    for m in group:
        _, file_epoch = kohya_file_epoch(m.name)
        if m.epoch is not None and file_epoch is not None and m.epoch != file_epoch:
            return [], (f"{run}: {m.name} is epoch {file_epoch} by its file name but ss_epoch {m.epoch} "
                        "by its metadata (renamed, or from another run); no epoch curve")
        epoch = m.epoch if m.epoch is not None else file_epoch
        (numbered if epoch is not None else unnumbered).append((epoch, m))
    if len(unnumbered) > 1:
        return [], f"{run}: {len(unnumbered)} checkpoints with no epoch ({', '.join(m.name for _, m in unnumbered)}); no epoch curve"
    points = [EpochPoint(e, m.name, m.values) for e, m in numbered]
    if unnumbered:  # sd-scripts' final file NAME.safetensors: the last epoch
        m = unnumbered[0][1]
        last = max((e for e, _ in numbered), default=0)
        epoch = m.num_epochs if m.num_epochs is not None and m.num_epochs > last else last + 1
        points.append(EpochPoint(epoch, m.name, m.values, assumed=True))
    seen: dict[int, str] = {}
    for p in points:
        if p.epoch in seen:
            return [], (f"{run}: epoch {p.epoch} appears twice ({seen[p.epoch]}, {p.label}): "
                        "the checkpoints mix training runs; no epoch curve")
        seen[p.epoch] = p.label
    return points, None


def summary_lines(runs: list[EpochRun], problems: list[str] = ()) -> list[str]:
    """Terminal lines: per run the quality per epoch, the best epoch and the earliest within noise."""
    lines = []
    for r in runs:
        q = r.quality
        cells = "  ".join(f"e{e}{'?' if a else ''} {p.value:.1f}" for (e, _, a), p in zip(r.members, q.points))
        lines.append(f"epochs of {r.run} ({r.source}): quality {cells}")
        lines.append(f"  best epoch {r.best} ({r.label_of(r.best)}); earliest within noise of it: "
                     f"epoch {r.earliest_within_noise} ({r.label_of(r.earliest_within_noise)}) "
                     "[within noise: its optimistic one-sided 95% quality bound reaches the best's pessimistic one]")
    lines += [f"epochs: {p}" for p in problems]
    return lines
