"""The 0-10 punk quality score and the leaderboard printed after a run.

    quality = 10 x grid^0.4 x palette^0.4 x (1 - photorealism)^0.2

over the suite means, each factor clipped to [0, 1]. A weighted geometric
mean: a checkpoint cannot buy back a ruined palette with a crisp grid (the
wrong-colours LoRA keeps a perfect grid and still lands mid-table), and the
golden punks themselves score 10.
"""

from __future__ import annotations

from evalkit.gate.record import CheckpointResult
from evalkit.terminal_text import printable

WEIGHTS = {"grid_sharpness": 0.4, "palette_fidelity": 0.4, "photorealism": 0.2}
FORMULA = "10 x grid^0.4 x palette^0.4 x (1 - realism)^0.2"


def quality(means: dict[str, float | None]) -> float | None:
    if any(means.get(m) is None for m in WEIGHTS):
        return None
    q = 10.0
    for metric, weight in WEIGHTS.items():
        good = 1.0 - means[metric] if metric == "photorealism" else means[metric]
        q *= min(1.0, max(0.0, good)) ** weight
    return round(q, 2)


def best(checkpoints: list[CheckpointResult]) -> CheckpointResult | None:
    """Highest quality among those that passed; if none passed, among those scored."""
    scored = [c for c in checkpoints if c.quality is not None]
    pool = [c for c in scored if c.status == "pass"] or scored
    # Ties go as the leaderboard orders them (by name), so "best" names the table's first row.
    return min(pool, key=lambda c: (-c.quality, c.name), default=None)


def leaderboard(checkpoints: list[CheckpointResult]) -> list[str]:
    """Terminal lines: one row per checkpoint, best quality first, then the winner."""
    ranked = sorted(checkpoints, key=lambda c: (c.quality is None, -(c.quality or 0.0), c.name))
    names = {id(c): printable(c.name) for c in checkpoints}  # a newline or ESC in a file name: escaped
    width = max([len("checkpoint"), *map(len, names.values())])
    lines = [f"quality 0-10 = {FORMULA} (suite means)",
             f"  {'#':>2}  {'checkpoint':<{width}}  {'grid':>6}  {'palette':>7}  {'realism':>7}  {'quality':>7}  status"]
    for rank, c in enumerate(ranked, 1):
        cells = [_fmt(c.mean(m)) for m in WEIGHTS]
        q = "-" if c.quality is None else f"{c.quality:.1f}"
        lines.append(f"  {rank if c.quality is not None else '-':>2}  {names[id(c)]:<{width}}  {cells[0]:>6}  {cells[1]:>7}  "
                     f"{cells[2]:>7}  {q:>7}  {c.status}")
    winner = best(checkpoints)
    if winner is None:
        lines.append("best: none (no checkpoint was scored)")
    elif winner.status != "pass":
        lines.append(f"best: none passed the gate (highest quality: {names[id(winner)]})")
    else:
        lines.append(f"best: {names[id(winner)]}")
    return lines


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
