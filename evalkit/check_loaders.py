"""Loader agreement (``evalkit render --check-loaders N``): evalkit's merge vs diffusers/peft.

Users see one LoRA draw differently in different UIs when a converter drops
or mis-scales keys. evalkit merges kohya files itself (merge.py); diffusers
loads them through its own kohya converter and peft. The first N (prompt,
seed) slots are rendered both ways (``fuse_lora`` True: evalkit's merge;
False: diffusers' ``load_lora_weights``, unfused) and the recovered 24x24
punks compared cell by cell: a punk drawn differently is a disagreement,
pixel noise from a different summation order is not. diffusers-format files
go through peft both ways, so for them the check compares fused and unfused.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

CELL_TOLERANCE = 24  # max |channel difference| of a 24x24 cell still counted as the same colour


@dataclass
class LoaderAgreement:
    checkpoint: str
    checked: int
    agreeing: int
    differing_cells: dict[str, int] = field(default_factory=dict)  # "<prompt>-seed<N>" -> cells beyond tolerance

    @property
    def agrees(self) -> bool:
        return self.agreeing == self.checked

    def line(self) -> str:
        verdict = "agree" if self.agrees else "DISAGREE"
        worst = max(self.differing_cells.items(), key=lambda kv: kv[1], default=("", 0))
        tail = "" if self.agrees else f"; worst {worst[0]}: {worst[1]}/576 cells differ"
        return (f"{self.checkpoint}: evalkit merge and diffusers/peft loader {verdict} on "
                f"{self.agreeing}/{self.checked} recovered punks{tail}")

    def to_dict(self) -> dict:
        return {**asdict(self), "agrees": self.agrees}


def differing_cells(a: np.ndarray, b: np.ndarray, tolerance: int = CELL_TOLERANCE) -> int:
    """Cells (of 24x24) whose colours differ by more than ``tolerance`` in some channel; a, b (24, 24, 3) uint8."""
    return int((np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=-1) > tolerance).sum())


def check_loaders(checkpoint: Path, prompts, reports_dir: Path, n: int = 2, **render_options) -> LoaderAgreement:
    from dataclasses import replace

    from evalkit.downsample.grid import recover_grid
    from evalkit.render.run import render_checkpoint

    slots = [(p, s) for p in prompts for s in p.seeds][: max(1, n)]
    suite = [replace(p, seeds=tuple(s for q, s in slots if q.id == p.id)) for p in prompts if any(q.id == p.id for q, _ in slots)]
    options = {k: v for k, v in render_options.items() if k != "fuse_lora"}
    merged, _ = render_checkpoint(checkpoint, suite, reports_dir, fuse_lora=True, progress=False, **options)
    loaded, _ = render_checkpoint(checkpoint, suite, reports_dir, fuse_lora=False, progress=False, **options)
    cells = {}
    for a, b in zip(merged.renders, loaded.renders):
        cells[f"{a.prompt_id}-seed{a.seed}"] = differing_cells(recover_grid(a.image()).cells, recover_grid(b.image()).cells)
    return LoaderAgreement(str(checkpoint), len(cells), sum(v == 0 for v in cells.values()), cells)
