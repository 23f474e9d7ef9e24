"""Small but real `RunRecord`s for the store and sync tests.

Checkpoint info comes from inspecting the shipped testbed LoRAs; each image
is a real golden punk (its 24x24 grid, and a nearest-neighbour upscale as
the render PNG in the reports folder). Scores are made up but deterministic:
the store and the sync carry values, they do not judge them.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from PIL import Image

from evalkit.gate.record import METRICS, CheckpointResult, ImageResult, RunRecord, Verdict
from evalkit.golden.load import load_golden
from evalkit.inspect.api import inspect_checkpoint

ROOT = Path(__file__).resolve().parents[2]
CHECKPOINTS = ROOT / "checkpoints"
THRESHOLDS = {
    "grid_sharpness": {"direction": "min", "value": 0.8},
    "palette_fidelity": {"direction": "min", "value": 0.7},
    "photorealism": {"direction": "max", "value": 0.3},
    "prompt_adherence": {"direction": "min", "value": 0.68},
}


@functools.lru_cache(maxsize=None)
def checkpoint_info(name: str) -> dict:
    return inspect_checkpoint(CHECKPOINTS / f"{name}.safetensors", tensor_health=False).to_dict()


@functools.lru_cache(maxsize=1)
def golden():
    return load_golden(ROOT / "golden")


def make_image(reports_dir: Path, run_id: str, ckpt: str, prompt_index: int, seed: int, quality: float) -> ImageResult:
    g = golden()
    grid = g.images[(prompt_index * 7 + seed) % len(g)]
    render = Path(run_id) / ckpt / f"p{prompt_index}-{seed}.png"
    (reports_dir / render).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.kron(grid, np.ones((8, 8, 1), dtype=np.uint8))).save(reports_dir / render)
    scores = {
        "grid_sharpness": round(quality * (0.9 + 0.01 * seed % 7), 6),
        "palette_fidelity": round(quality * 0.8 + 0.01 * prompt_index, 6),
        "photorealism": round((1 - quality) * 0.5, 6),
        "prompt_adherence": round(quality * 0.95, 6),
    }
    passed = {
        m: (scores[m] >= THRESHOLDS[m]["value"]) if THRESHOLDS[m]["direction"] == "min" else scores[m] <= THRESHOLDS[m]["value"]
        for m in METRICS
    }
    return ImageResult(
        prompt_id=f"prompt_{prompt_index}", seed=seed, prompt=f"male punk portrait, <b>#{prompt_index:06x}</b>",
        hex_codes=[f"#{prompt_index:06x}"], render=render.as_posix(), grid24=grid.tolist(), scores=scores,
        passed=passed, nearest_golden=g.ids[prompt_index], nearest_distance=1.5 + prompt_index, grid_confidence=0.97,
    )


def make_checkpoint(reports_dir: Path, run_id: str, name: str, *, prompts: int, seeds: int, quality: float) -> CheckpointResult:
    info = checkpoint_info(name)
    images = [make_image(reports_dir, run_id, name, p, 40 + s, quality) for p in range(prompts) for s in range(seeds)]
    ck = CheckpointResult(
        name=name, path=str(CHECKPOINTS / f"{name}.safetensors"), sha256=info["hashes"]["sha256"],
        model_hash=info["hashes"]["sshs_model_hash"], info=info, base_model="tiny-punks-base",
        render_config={"steps": 8, "size": 192, "scheduler": "euler"}, render_config_key="rc-" + name[-6:],
        images=images,
        set_level={"mmd": {"mmd2": 0.01 / quality, "p_value": 0.2 * quality, "n_renders": len(images), "n_golden": 256,
                           "permutations": 1000, "bandwidth": 3.0, "features": "model_free"},
                   "memorisation": {"copies": 0, "copy_rate": 0.0, "golden_copy_rate": 0.0, "copy_share": 0.99}},
        quality=round(10 * quality, 3), rendered=len(images), render_seconds=1.25 * len(images),
    )
    for metric in METRICS:
        mean = ck.mean(metric)
        limit = THRESHOLDS[metric]
        ok = mean >= limit["value"] if limit["direction"] == "min" else mean <= limit["value"]
        ck.verdicts.append(Verdict("threshold", metric, ok, mean, low=mean - 0.02, high=mean + 0.02, threshold=limit["value"]))
    ck.verdicts.append(Verdict("set", "mmd", quality > 0.5, ck.set_level["mmd"]["mmd2"], message="renders vs golden"))
    ck.status = "pass" if all(v.passed for v in ck.verdicts) else "fail"
    return ck


def make_record(reports_dir: Path, run_id: str, *, started_at: str = "2026-11-25T10:00:00+00:00",
                checkpoints: tuple[tuple[str, float], ...] = (("tiny_punks_perfect", 0.95), ("tiny_punks_photoreal", 0.4)),
                prompts: int = 3, seeds: int = 2) -> RunRecord:
    record = RunRecord(
        run_id=run_id, started_at=started_at, finished_at=started_at.replace("10:00:00", "10:02:30"),
        prompts_path="golden/prompts.toml", prompts_sha256="ab" * 32, golden_path="golden",
        thresholds=THRESHOLDS, versions={"evalkit": "0.1.0", "torch": "2.13.0", "diffusers": "0.35.0", "python": "3.11"},
        device="cpu", command="pytest evalkit --checkpoint x.safetensors",
    )
    record.checkpoints = [make_checkpoint(Path(reports_dir), run_id, name, prompts=prompts, seeds=seeds, quality=q)
                          for name, q in checkpoints]
    return record
