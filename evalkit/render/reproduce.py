"""The re-render check: does this machine reproduce the images in the cache?

Fixed seeds make an image a function of (checkpoint, base, config, prompt,
seed) on one software/hardware stack; across GPUs, drivers, torch or
diffusers versions the pixels may drift. `check_reproduction` renders the
first N (prompt, seed) slots of a suite again (rounded up to whole batches),
with the cache bypassed, and compares them with the stored PNGs. It reports, and never rewrites the cache.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from evalkit.errors import EvalkitError

ENV_KEYS = ("gpu", "device", "torch", "diffusers")


@dataclass
class Reproduction:
    checkpoint: str
    checked: int
    identical: int
    max_abs_diff: int
    diffs: dict[str, int] = field(default_factory=dict)  # "<prompt>-seed<N>" -> max |stored - fresh|
    stored_env: dict = field(default_factory=dict)
    current_env: dict = field(default_factory=dict)

    @property
    def reproduced(self) -> bool:
        return self.identical == self.checked

    def line(self) -> str:
        def env(e):
            return " ".join(f"{k} {e[k]}" for k in ENV_KEYS if e.get(k))

        head = (f"{self.checkpoint}: re-render reproduced {self.identical}/{self.checked} stored images bit for bit"
                f" (max |diff| {self.max_abs_diff}/255)")
        same = {k: self.stored_env.get(k) for k in ENV_KEYS} == {k: self.current_env.get(k) for k in ENV_KEYS}
        where = "same stack" if same else f"stored on {env(self.stored_env)}; now {env(self.current_env)}"
        return f"{head}; {where}"

    def to_dict(self) -> dict:
        return {**asdict(self), "reproduced": self.reproduced}


def compare(stored: list[np.ndarray], fresh: list[np.ndarray]) -> list[int]:
    """Max absolute channel difference per image pair (uint8 images of one shape each)."""
    return [int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max()) if a.shape == b.shape else 255
            for a, b in zip(stored, fresh)]


def check_reproduction(checkpoint: Path, prompts, reports_dir: Path, n: int = 4, **render_options) -> Reproduction:
    """Re-render the suite's first ``n`` (prompt, seed) slots of ``checkpoint`` and compare with the cache."""
    from evalkit.render.config import prompt_config
    from evalkit.render.renderer import cache_slot, environment, render_batch
    from evalkit.render.run import loaded_checkpoint

    everything = [(p, s) for p in prompts for s in p.seeds]
    with loaded_checkpoint(checkpoint, reports_dir, **render_options) as (pipe, job, cache, _info):
        # Whole batches from the start of the suite: the batches a run from an empty
        # cache rendered, so batch-mates match too and a same-stack re-render is bit-identical.
        batch = job.config.batch_size
        slots = everything[: -(-max(1, n) // batch) * batch]
        stored = []
        for p, seed in slots:
            hit = cache.get(*cache_slot(cache, job, p, seed))
            if hit is None:
                raise EvalkitError(checkpoint, f"{p.id} seed {seed} is not in the render cache to compare with; "
                                   "render it first (evalkit render without --verify)")
            stored.append(hit)
        fresh = []
        for i in range(0, len(slots), batch):
            cfg = prompt_config(job.config, slots[i][0])  # a kohya prompt file's own settings (first of the batch)
            fresh += render_batch(pipe, slots[i:i + batch], cfg, job.device, job.text_encoder_key)
    diffs = compare([r.image() for r in stored], fresh)
    return Reproduction(
        checkpoint=str(checkpoint), checked=len(slots), identical=sum(d == 0 for d in diffs), max_abs_diff=max(diffs),
        diffs={f"{p.id}-seed{s}": d for (p, s), d in zip(slots, diffs)},
        stored_env={k: stored[0].meta.get(k) for k in ENV_KEYS}, current_env={k: v for k, v in environment(job.device).items() if k in ENV_KEYS},
    )
