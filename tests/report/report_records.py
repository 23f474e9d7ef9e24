"""Real `RunRecord`s for the report tests, without rendering.

"Renders" are real golden punks put through the same stand-ins for LoRA
behaviour the score tests use (tests/score/score_synth.py: a crisp upscale,
the photoreal drift, the wrong-colours hue shift), saved as PNGs where the
render cache would hold them and scored by the real `score_image` and
`set_scores`. Checkpoint info comes from `inspect_checkpoint` on the shipped
testbed LoRAs, or on copies of them whose metadata a test rewrote.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image
from safetensors.numpy import load_file, save_file

ROOT = Path(__file__).resolve().parents[2]
# score_synth (tests/score, on the path through tests/conftest.py): the score tests' corruptions, one home for them
from score_synth import photographic, upscale, wrong_colours  # noqa: E402

from evalkit.gate.record import METRICS, CheckpointResult, ImageResult, RunRecord, Verdict  # noqa: E402
from evalkit.golden.prompts import load_prompts  # noqa: E402
from evalkit.inspect.api import inspect_checkpoint  # noqa: E402
from evalkit.score.score_image import score_image  # noqa: E402
from evalkit.score.set_level import set_scores  # noqa: E402

CHECKPOINTS = ROOT / "checkpoints"
PROMPTS = ROOT / "tests" / "gate" / "prompts_small.toml"
SIZE = 192  # the testbed's render size
# The gate's shape of RunRecord.thresholds: direction, suite-mean value, per-image limit.
THRESHOLDS = {
    "grid_sharpness": {"direction": "min", "value": 0.6, "image": 0.1},
    "palette_fidelity": {"direction": "min", "value": 0.25, "image": 0.05},
    "photorealism": {"direction": "max", "value": 0.25, "image": 0.6},
    "prompt_adherence": {"direction": "min", "value": 0.68, "image": 0.0},
}


def perfect(cells, seed):
    return upscale(cells, SIZE)


def photoreal(cells, seed):
    return np.rint(photographic(cells, SIZE, seed) * 255).astype(np.uint8)


def wrong(cells, seed):
    return upscale(wrong_colours(cells), SIZE)


# How each testbed LoRA draws, by the start of its file name.
BEHAVIOUR = {"tiny_punks_perfect": perfect, "tiny_punks_photoreal": photoreal, "tiny_punks_wrong_colors": wrong}


def behaviour(name: str):
    return next(f for prefix, f in BEHAVIOUR.items() if name.startswith(prefix))


def checkpoint_copy(src: Path, dst: Path, **metadata: str) -> Path:
    """A copy of a shipped LoRA with some ``__metadata__`` entries replaced (tensors unchanged)."""
    from safetensors import safe_open

    with safe_open(str(src), "np") as f:
        meta = dict(f.metadata() or {})
    meta.update(metadata)
    save_file(load_file(str(src)), str(dst), metadata=meta)
    return dst


def checkpoint_result(checkpoint: Path, reports_dir: Path, reference, prompts=None, *, baseline=None) -> CheckpointResult:
    """Score the checkpoint's stand-in renders of ``prompts`` (default: the gate's small slice)."""
    prompts = prompts if prompts is not None else load_prompts(PROMPTS)
    info = inspect_checkpoint(checkpoint).to_dict()
    draw = behaviour(checkpoint.stem)
    images, cells = [], []
    for p in prompts:
        for k, seed in enumerate(p.seeds):
            golden_id = p.golden[k % len(p.golden)]
            arr = draw(reference.cells[reference.ids.index(golden_id)], seed)
            rel = Path("cache") / checkpoint.stem / f"{p.id}-seed{seed}.png"
            (reports_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(arr).save(reports_dir / rel)
            s = score_image(arr, reference, hex_codes=p.hex_codes, prompt=p.text)
            scores = {m: round(float(getattr(s, m)), 4) for m in METRICS}
            images.append(ImageResult(
                prompt_id=p.id, seed=seed, prompt=p.text, hex_codes=p.hex_codes, render=rel.as_posix(),
                grid24=s.cells.tolist(), scores=scores, passed={m: _within(m, scores[m], "image") for m in METRICS},
                grid_confidence=round(float(s.fit.confidence), 4),
            ))
            cells.append(s.cells)
    sets = set_scores(cells, reference, permutations=200)
    for im, near in zip(images, sets.memorisation.nearest):
        im.nearest_golden, im.nearest_distance = near.golden_id, round(float(near.mean_delta_e), 3)
    result = CheckpointResult(
        name=checkpoint.stem, path=str(checkpoint), sha256=info["hashes"]["sha256"],
        model_hash=info["hashes"]["tensor_sha256"], info=info, base_model="tiny-punks-base",
        render_config={"sampler": "dpmsolver++", "steps": 20, "guidance": 5.0, "width": SIZE, "height": SIZE, "lora_scale": 1.0},
        render_config_key="test", images=images, set_level=sets.to_dict(), cached=len(images),
    )
    result.verdicts = _verdicts(result, baseline)
    result.status = "pass" if all(v.passed for v in result.verdicts) else "fail"
    result.quality = round(10 * float(np.mean([result.mean("grid_sharpness"), result.mean("palette_fidelity"),
                                               1 - result.mean("photorealism")])), 2)
    return result


def run_record(run_id: str, started_at: str, checkpoints: list[CheckpointResult]) -> RunRecord:
    return RunRecord(
        run_id=run_id, started_at=started_at, finished_at=started_at, prompts_path=str(PROMPTS),
        prompts_sha256="0" * 64, golden_path=str(ROOT / "golden"), thresholds=THRESHOLDS,
        versions={"evalkit": "0.1.0", "python": sys.version.split()[0]}, device="cpu",
        command="pytest evalkit " + " ".join(f"--checkpoint {c.path}" for c in checkpoints), checkpoints=checkpoints,
    )


def _within(metric: str, value: float, key: str) -> bool:
    limit = THRESHOLDS[metric][key]
    return value >= limit if THRESHOLDS[metric]["direction"] == "min" else value <= limit


def _verdicts(ck: CheckpointResult, baseline: CheckpointResult | None) -> list[Verdict]:
    out = []
    rng = np.random.default_rng(0)
    for m in METRICS:
        v = np.array([im.scores[m] for im in ck.images])
        means = v[rng.integers(0, len(v), (1000, len(v)))].mean(axis=1)
        low, high = (float(q) for q in np.quantile(means, [0.05, 0.95]))
        t = THRESHOLDS[m]
        passed = high >= t["value"] if t["direction"] == "min" else low <= t["value"]
        out.append(Verdict("threshold", m, bool(passed), float(v.mean()), low, high, t["value"],
                           message=f"{m}: suite mean {v.mean():.3f} vs threshold {t['value']}"))
        if baseline is not None:
            base = baseline.mean(m)
            delta = float(v.mean()) - base
            worse = -delta if t["direction"] == "min" else delta
            out.append(Verdict("baseline", m, worse <= 0.05, delta, baseline=base,
                               message=f"{m}: {delta:+.3f} against the baseline {base:.3f}"))
    return out
