"""People's ratings beside evalkit's quality, with their rank correlation, for the report pages.

Each rated checkpoint's newest rating (`evalkit rate`) is set beside the
quality of its newest evaluation among the records; Spearman's rho over the
checkpoints that have both says how well evalkit's quality ranks them as
people do (`evalkit calibrate` fits the weights to raise it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evalkit.gate.calibration import spearman
from evalkit.gate.quality import FORMULA
from evalkit.gate.record import RunRecord
from evalkit.store.store import STORE_FILE, ScoreStore


def latest_ratings(reports_dir: Path) -> dict:
    """checkpoint sha256 -> newest `Rating`; empty when the reports folder has no score store yet."""
    from evalkit.store.ratings import RatingBook

    path = Path(reports_dir) / STORE_FILE
    return RatingBook(ScoreStore(path)).latest() if path.is_file() else {}


def ratings_section(records: list[RunRecord], reports_dir: Path) -> dict[str, Any] | None:
    ratings = latest_ratings(reports_dir)
    if not ratings:
        return None
    newest: dict[str, tuple] = {}  # sha -> ((started_at, run_id), quality, formula)
    for r in records:
        for ck in r.checkpoints:
            key = (r.started_at, r.run_id)
            if ck.sha256 in ratings and ck.quality is not None and (ck.sha256 not in newest or key > newest[ck.sha256][0]):
                newest[ck.sha256] = (key, ck.quality, r.quality_formula or f"{FORMULA} (default)")
    rows = [{"name": rt.name, "rating": rt.score, "quality": newest.get(sha, (None, None))[1], "rated_by": rt.rated_by,
             "rated_at": rt.rated_at[:19].replace("T", " "), "note": rt.note or ""}
            for sha, rt in sorted(ratings.items(), key=lambda x: -x[1].score)]
    both = [row for row in rows if row["quality"] is not None]
    formulas = sorted({f for _, _, f in newest.values()})
    return {"rows": rows, "rho": spearman([r["rating"] for r in both], [r["quality"] for r in both]),
            "n": len(both), "formulas": formulas}
