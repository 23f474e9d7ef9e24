"""Attribution across runs: the effect of each setting that varies, or the settings it is confounded with.

`attribute(runs)` is a pure function of plain data (`ScoredRun`s). For the
set of runs as a whole and for each base family with two or more runs
(strata), it

1. bins each numeric setting's values into levels (`levels.py`: values
   within 10% are one level, so 216, 218 and 226 time-budgeted steps are
   one level and 19 another);
2. leaves out runs that do not record a setting the others vary (listed,
   never guessed); a setting most runs do not record is not analysed;
3. codes the varying settings as a run-level design (`design.py`: levels,
   a trend only for steps/epochs), with the
   best run (highest quality) as the reference: every effect is "this level
   instead of the best run's";
4. fits each run's suite mean (and quality) as an additive function of the
   settings by least squares, for the columns the runs can tell apart;
   settings the runs cannot tell apart are one confounded group, and when
   they moved together between exactly two combinations their joint effect
   is given as such. Across bases ("all runs" when the bases differ) every
   other setting acts on each base on its own (`_per_base`): the base's
   effect is the difference between the bases at the best run's other
   settings, given only when the runs pin it down, never by carrying a
   setting's effect measured on one base over to the other;
5. bootstraps every effect over renders (`bootstrap.py`);
6. proposes the next runs: one change from the best run at a time, the one
   that separates the most confounded settings, then the cheapest (it does
   not raise network_dim, steps, resolution or the base), until none remain.

The intervals cover render-to-render variation only: with one training per
configuration, training noise (another seed) is not in them; where runs
repeat a configuration or the design leaves degrees of freedom, the
unexplained spread between runs is reported beside them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

from evalkit.compare import bootstrap
from evalkit.compare.design import (
    aliased_columns, coding, confounded_groups, design_matrix, independent_columns, is_number, sort_levels,
)
from evalkit.compare.factors import COSTLY, FAMILY_COST, LENGTH, UNKNOWN, ordered
from evalkit.compare.levels import Span, bin_levels, binned
from evalkit.compare.runs import ATTRIBUTED_METRICS, ScoredRun
from evalkit.score.metrics import metric

SCHEMA_VERSION = 1
QUALITY = "quality"
ALL_RUNS = "all runs"
MAX_NEXT_RUNS = 8


@dataclass
class Interval:
    estimate: float
    low: float | None
    high: float | None

    def excludes_zero(self) -> bool:
        return self.low is not None and (self.low > 0 or self.high < 0)


@dataclass
class Effect:
    """Changing ``changes`` (factor -> [from, to]) from the reference run's levels."""

    changes: dict[str, list]
    quality: Interval
    metrics: dict[str, Interval]


@dataclass
class FactorResult:
    name: str
    kind: str  # levels | log2 | linear
    levels: list
    reference: Any
    status: str  # "estimable" | "confounded"
    confounded_with: list[str] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)


@dataclass
class Group:
    factors: list[str]
    joint: Effect | None = None  # when the group moved together between exactly two combinations


@dataclass
class Stratum:
    name: str  # "all runs" or a base family
    runs: list[str]
    reference: str | None
    factors: list[FactorResult] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    constant: dict[str, Any] = field(default_factory=dict)
    left_out: list[dict] = field(default_factory=list)  # {"run", "unknown": [factors]}
    not_analysed: list[dict] = field(default_factory=list)  # {"factor", "unknown_for": [runs]}
    residual_df: int = 0
    unexplained_quality: float | None = None  # RMS quality residual between runs the model leaves
    note: str | None = None


@dataclass
class NextRun:
    stratum: str
    config: str
    settings: dict[str, Any]
    changes: dict[str, list]
    from_run: str
    separates: list[str]


@dataclass
class Attribution:
    level: float
    resamples: int
    resampling: str
    metrics: list[str]
    directions: dict[str, str]
    runs: list[dict]
    strata: list[Stratum] = field(default_factory=list)
    next_runs: list[NextRun] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    captions: dict[str, dict] = field(default_factory=dict)  # fingerprint -> CaptionLabel.to_dict()
    prompts: str | None = None
    golden: str | None = None
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return _finite(asdict(self))

    def stratum(self, name: str) -> Stratum:
        return next(s for s in self.strata if s.name == name)

    def describe(self, factor: str, value: Any) -> str:
        """A level as people write it: captions by their label beside the fingerprint."""
        if factor == "captions" and value in self.captions:
            c = self.captions[value]
            return f"{c['label']} ({c['short']})" if c["label"] else c["short"]
        return str(value)


def attribute(runs: list[ScoredRun], *, metrics: tuple[str, ...] = ATTRIBUTED_METRICS, level: float = bootstrap.LEVEL,
              resamples: int = bootstrap.RESAMPLES, seed: int = bootstrap.SEED,
              describe: Callable[[str, Any], str] | None = None) -> Attribution:
    """Attribute the differences between ``runs`` to their settings (see the module docstring).

    ``describe(factor, level)`` writes a level for people (caption labels); default ``str``.
    """
    describe = describe or (lambda factor, value: str(value))
    metrics = tuple(metrics)
    result = Attribution(level=level, resamples=resamples, resampling="none", metrics=list(metrics),
                         directions={**{m: metric(m).direction.name for m in metrics}, QUALITY: "min"}, runs=[])
    if len(runs) < 2:
        result.notes.append(f"{len(runs)} scored run{'s' if len(runs) != 1 else ''}: attribution needs two or more")
        result.runs = [_run_summary(r, None, ordered(r.factors)) for r in runs]
        return result
    names = _unique_names(runs)
    res = bootstrap.resample([r.scores for r in runs], [r.slots for r in runs], metrics, resamples, seed)
    result.resampling = res.mode
    context = _Context(runs, names, res, metrics, level, describe)
    result.runs = [_run_summary(r, res.point[i], context.factor_names, names[i], context.levels[i])
                   for i, r in enumerate(runs)]
    families = sorted({r.factors.get("base") for r in runs if r.factors.get("base") is not UNKNOWN})
    strata = [(ALL_RUNS, list(range(len(runs))))]
    if len(families) > 1:
        strata += [(f, [i for i, r in enumerate(runs) if r.factors.get("base") == f]) for f in families]
    for name, members in strata:
        if name != ALL_RUNS and len(members) < 2:
            continue
        st = context.stratum(name, members)
        if name == ALL_RUNS and len(families) > 1 and st.note is None:
            st.note = "compares the bases at the best run's other settings; the other settings within each base"
        result.strata.append(st)
    result.next_runs = context.next_runs(result.strata)
    if any(not r.has_metadata for r in runs):
        result.notes.append("runs without training metadata: their settings are unknown and they are left out "
                            "wherever the others differ")
    return result


# ------------------------------------------------------------------------------------------------

class _Context:
    def __init__(self, runs, names, res, metrics, level, describe):
        self.runs, self.names, self.res, self.metrics, self.level, self.describe = runs, names, res, metrics, level, describe
        self.factor_names = ordered({f for r in runs for f in r.factors})
        self.levels = bin_levels([r.factors for r in runs])  # per run: factor -> its (binned) level
        self.plans: dict[str, tuple] = {}

    # -- one stratum -----------------------------------------------------------------------------
    def stratum(self, name: str, members: list[int]) -> Stratum:
        members, left_out, not_analysed, varying = self._complete(members)
        out = Stratum(name, [self.names[i] for i in members], None, left_out=left_out, not_analysed=not_analysed)
        if len(members) < 2:
            out.note = "fewer than two runs record the settings that differ: nothing to attribute"
            return out
        ref = max(members, key=lambda i: self.res.point[i, -1])
        out.reference = self.names[ref]
        rows = [self.levels[i] for i in members]
        out.constant = {f: rows[0][f] for f in self.factor_names
                        if f not in varying and all(r.get(f) is not UNKNOWN and r.get(f) == rows[0].get(f) for r in rows)}
        ref_levels = self.levels[ref]
        original = {f: f for f in varying}  # design factor -> the setting it measures
        per_base = "base" in varying
        if per_base:
            rows, ref_levels, original = _per_base(rows, ref_levels, varying)
            varying = ["base"] + [f for f in original if f != "base" and len({r[f] for r in rows}) > 1]
        codings = [coding(f, [r[f] for r in rows], ref_levels[f], trend=original[f] in LENGTH) for f in varying]
        matrix, labels = design_matrix(codings, rows)
        groups = confounded_groups(codings, rows)
        grouped = {f: g for g in groups for f in g}
        joints = {tuple(g): self._joint_column(g, rows, ref_levels) for g in groups}
        # The working design: estimable columns, then each group's joint column or its own columns.
        extra = [j for j in joints.values() if j is not None]
        full = np.column_stack([matrix, *extra]) if extra else matrix
        estimable = [k for k, (f, _) in enumerate(labels) if f not in grouped]
        joint_cols = {g: matrix.shape[1] + n for n, g in enumerate(g for g, j in joints.items() if j is not None)}
        rest = [k for k, (f, _) in enumerate(labels) if f in grouped and joints[tuple(grouped[f])] is None]
        kept = independent_columns(full, estimable + list(joint_cols.values()) + rest)
        work = np.column_stack([np.ones(len(members)), full[:, kept]])
        solve = np.linalg.pinv(work)  # (1 + kept, runs)
        involved, _ = aliased_columns(full[:, kept])
        position = {k: 1 + n for n, k in enumerate(kept)}
        for c in codings:
            fr = FactorResult(c.factor, c.kind, list(c.levels), c.reference,
                              "confounded" if c.factor in grouped else "estimable",
                              [f for f in grouped.get(c.factor, []) if f != c.factor])
            cols = [k for k, (f, _) in enumerate(labels) if f == c.factor]
            if fr.status == "estimable" and all(k in position and not involved[kept.index(k)] for k in cols):
                for level in c.levels:
                    if level == c.reference:
                        continue
                    weights = np.zeros(work.shape[1])
                    for k, w in zip(cols, c.contrast(level)):
                        weights[position[k]] = w
                    out_effect = self._effect(weights @ solve, members, {c.factor: [c.reference, level]})
                    fr.effects.append(out_effect)
            out.factors.append(fr)
        for g in groups:
            group = Group(g)
            k = joint_cols.get(tuple(g))
            if k is not None and k in position and not involved[kept.index(k)]:
                weights = np.zeros(work.shape[1])
                weights[position[k]] = 1.0
                other = next(r for r in rows if any(r[f] != ref_levels[f] for f in g))
                group.joint = self._effect(weights @ solve, members, {f: [ref_levels[f], other[f]] for f in g})
            out.groups.append(group)
        rank = work.shape[1]
        out.residual_df = len(members) - rank
        if out.residual_df > 0:
            y = self.res.point[members, -1]
            resid = y - work @ (solve @ y)
            out.unexplained_quality = float(math.sqrt(float(resid @ resid) / out.residual_df))
        if per_base:  # only the base: every other setting's effect is its base's table's (the same fit)
            out.factors = [f for f in out.factors if f.name == "base"]
            for f in out.factors:
                f.confounded_with = _settings(f.confounded_with, original)
            out.groups = [Group(_settings(g.factors, original), _renamed(g.joint, original))
                          for g in out.groups if "base" in g.factors]
        else:
            self.plans[name] = (members, ref, varying, codings)
        return out

    def _complete(self, members: list[int]):
        """Runs and factors usable together: (members, left out, not analysed, varying factors)."""
        left_out: dict[int, list[str]] = {}
        not_analysed = []
        dropped: set[str] = set()
        while True:
            varying = [f for f in self.factor_names if f not in dropped and len(
                {self.levels[i].get(f) for i in members} - {UNKNOWN}) > 1]
            missing = {f: [i for i in members if self.levels[i].get(f) is UNKNOWN] for f in varying}
            missing = {f: m for f, m in missing.items() if m}
            if not missing:
                break
            factor = max(missing, key=lambda f: (len(missing[f]), -self.factor_names.index(f)))
            if 2 * len(missing[factor]) > len(members):  # most runs do not say: the setting cannot be used
                dropped.add(factor)
                not_analysed.append({"factor": factor, "unknown_for": [self.names[i] for i in missing[factor]]})
                continue
            for i in missing[factor]:
                left_out[i] = [f for f in varying if self.levels[i].get(f) is UNKNOWN]
            members = [i for i in members if i not in left_out]
        return (members, [{"run": self.names[i], "unknown": u} for i, u in left_out.items()], not_analysed, varying)

    @staticmethod
    def _joint_column(group: list[str], rows: list[dict], ref: dict) -> np.ndarray | None:
        combos = {tuple(r[f] for f in group) for r in rows}
        if len(combos) != 2:
            return None
        ref_combo = tuple(ref[f] for f in group)
        return np.array([0.0 if tuple(r[f] for f in group) == ref_combo else 1.0 for r in rows])

    def _effect(self, weights: np.ndarray, members: list[int], changes: dict) -> Effect:
        point = weights @ self.res.point[members]  # (metrics + 1,)
        draws = np.einsum("r,rkb->kb", weights, self.res.draws[members])
        used = [self.res.renders[i] for i, w in zip(members, weights) if abs(w) > 1e-12]
        n = min(used) if used else 0
        ivs = [Interval(*bootstrap.interval(point[k], draws[k], self.level, n)) for k in range(len(self.metrics) + 1)]
        return Effect(changes, ivs[-1], dict(zip(self.metrics, ivs[:-1])))

    # -- next runs -------------------------------------------------------------------------------
    def next_runs(self, strata: list[Stratum]) -> list[NextRun]:
        out: list[NextRun] = []
        seen: set[str] = set()
        # Family strata first: separating settings within one base needs no assumption across bases.
        for st in sorted(strata, key=lambda s: s.name == ALL_RUNS):
            if not st.groups or st.name not in self.plans:
                continue
            members, ref, varying, codings = self.plans[st.name]
            rows = [dict(self.levels[i]) for i in members]
            base = self.levels[ref]
            considered = _separable(st.name)
            while len(out) < MAX_NEXT_RUNS:
                groups = considered(confounded_groups(codings, rows))
                if not groups:
                    break
                best = None
                # A length (epoch, steps) follows from the rest of a run: it is not changed alone.
                for f in (f for g in groups for f in g if f not in LENGTH):
                    c = next(c for c in codings if c.factor == f)
                    for level in c.levels:
                        if level == base[f]:
                            continue
                        cand = {**base, f: level}
                        if any(all(r.get(k) == cand.get(k) for k in varying) for r in rows):
                            continue
                        left = sum(len(g) for g in considered(confounded_groups(codings, rows + [cand])))
                        key = (left, _cost(f, base[f], level), self.factor_names.index(f), sort_levels(c.levels).index(level))
                        if best is None or key < best[0]:
                            best = (key, f, level, cand)
                if best is None:
                    break
                _, f, level, cand = best
                before = {x for g in groups for x in g}
                after = {x for g in considered(confounded_groups(codings, rows + [cand])) for x in g}
                rows.append(cand)
                config = self._config(cand, f)
                if config in seen:
                    continue
                seen.add(config)
                out.append(NextRun(st.name, config, {k: cand[k] for k in self.factor_names if k in cand},
                                   {f: [base[f], level]}, self.names[ref], sorted(before - after, key=self.factor_names.index)))
        return out

    def _config(self, settings: dict, changed: str) -> str:
        parts = []
        if settings.get("base") is not UNKNOWN:
            parts.append(str(settings["base"]))
        if settings.get("network_dim") is not UNKNOWN:
            parts.append(f"network_dim {settings['network_dim']}")
        if settings.get("captions") is not UNKNOWN:
            parts.append(f"{self.describe('captions', settings['captions'])} captions")
        if changed not in ("base", "network_dim", "captions"):
            parts.append(f"{changed} {self.describe(changed, settings[changed])}")
        return ", ".join(parts)


def _per_base(rows: list[dict], ref: dict, varying: list[str]) -> tuple[list[dict], dict, dict]:
    """Rows where each setting but the base is one setting per base ("network_dim on SDXL").

    On a run of another base than the best run's, "network_dim on <its base>" is its own level and
    "network_dim on <the best run's base>" the best run's level, and the other way round: so the
    base's column compares the bases at the best run's settings, and no setting measured on one base
    stands in for it on the other (the additive fit over both bases did: dim 64 drifting on SD1.5 made
    SDXL at dim 64 look 4.6 quality better than SD1.5 while every SDXL run scored lower).
    """
    families = sorted({r["base"] for r in rows}, key=str)
    original = {"base": "base"}
    out = [{"base": r["base"]} for r in rows]
    out_ref = {"base": ref["base"]}
    for f in varying:
        if f == "base":
            continue
        for fam in families:
            name = f"{f} on {fam}"
            original[name] = f
            for r, o in zip(rows, out):
                o[name] = r[f] if r["base"] == fam else ref[f]
            out_ref[name] = ref[f]
    return out, out_ref, original


def _settings(names: list[str], original: dict[str, str]) -> list[str]:
    """Design factors named by the settings they measure, each once, in order."""
    return list(dict.fromkeys(original.get(n, n) for n in names))


def _renamed(effect: Effect | None, original: dict[str, str]) -> Effect | None:
    """A joint effect's changes by the settings they are, leaving out the per-base ones that did not change."""
    if effect is not None:
        effect.changes = {original.get(f, f): v for f, v in effect.changes.items() if v[0] != v[1]}
    return effect


def _separable(stratum: str):
    """Which confounded groups a next run should try to separate.

    Not the measures of one training length among themselves, and across all runs not the
    settings that differ with the base family (the family strata separate what differs within one base).
    """
    def keep(groups: list[list[str]]) -> list[list[str]]:
        return [g for g in groups if not set(g) <= LENGTH and not (stratum == ALL_RUNS and "base" in g)]
    return keep


def _cost(factor: str, old: Any, new: Any) -> float:
    """How much bigger or longer a run gets when ``factor`` goes from ``old`` to ``new`` (0 when not)."""
    if factor == "base":
        return max(0.0, FAMILY_COST.get(str(new), 1) - FAMILY_COST.get(str(old), 1))
    if factor not in COSTLY:
        return 0.0
    size = _size(old), _size(new)
    if None in size or min(size) <= 0:
        return 0.0
    return max(0.0, math.log2(size[1] / size[0]))


def _size(value: Any) -> float | None:
    if is_number(value):
        return float(value)
    if isinstance(value, str) and "x" in value:
        try:
            w, h = (float(v) for v in value.split("x"))
            return w * h
        except ValueError:
            return None
    return None


def _unique_names(runs: list[ScoredRun]) -> list[str]:
    counts: dict[str, int] = {}
    for r in runs:
        counts[r.name] = counts.get(r.name, 0) + 1
    return [r.name if counts[r.name] == 1 else f"{r.name} ({r.checkpoint}, {(r.sha256 or '?')[:8]})" for r in runs]


def _run_summary(run: ScoredRun, point, factor_names: list[str], name: str | None = None,
                 levels: dict | None = None) -> dict:
    means = {} if point is None else {m: float(point[k]) for k, m in enumerate(run.scores)}
    return {
        "name": name or run.name, "checkpoint": run.checkpoint, "sha256": run.sha256, "run_id": run.run_id,
        "trained_at": run.trained_at, "renders": run.renders, "has_metadata": run.has_metadata,
        "quality": None if point is None else float(point[-1]), "means": means,
        "factors": {f: run.factors.get(f) for f in factor_names},
        "unknown": [f for f in factor_names if run.factors.get(f) is UNKNOWN],
        "binned": binned(levels or {}),
    }


def _finite(value: Any) -> Any:
    if isinstance(value, Span):
        return str(value)  # a binned level: its range, "216-226"
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
