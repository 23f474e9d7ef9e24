"""The golden punks' own score distribution, what each metric's chart compares a run against.

Scoring the golden punks takes about a second, so it is done once per
golden set and cached as ``reports/golden_scores/<key>.json``; the key
covers the golden pixels, the upscale size, the sample size, evalkit's
version and the scoring code (`scorer_fingerprint`), so a changed golden set or metric never reuses stale numbers.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from evalkit import __version__
from evalkit.paths import atomic_write_text
from evalkit.score.metrics import METRICS

GOLDEN_SIZE = 192  # px; a nearest-neighbour upscale scores the same at any integer scale
GOLDEN_LIMIT = 64  # punks scored: enough for the distribution's shape, ~1 s once


def golden_distribution(golden, reports_dir: Path, *, reference=None, size: int = GOLDEN_SIZE,
                        limit: int = GOLDEN_LIMIT) -> dict[str, list[float]]:
    """metric -> scores of the first ``limit`` golden punks (cached).

    ``reference``: the `GoldenReference` of ``golden`` when the caller has one
    (building it takes a few seconds); built here otherwise.
    """
    path = Path(reports_dir) / "golden_scores" / f"{_key(golden, size, limit)}.json"
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        if all(isinstance(cached.get(m), list) for m in METRICS):
            return {m: [float(v) for v in cached[m]] for m in METRICS}
    except (OSError, ValueError, AttributeError):
        pass  # missing or damaged cache: recompute
    from evalkit.golden.labels import load_labels
    from evalkit.score.golden_reference import cached_reference
    from evalkit.score.prompt_adherence import golden_requests
    from evalkit.score.score_image import golden_scores

    requested = golden_requests(golden.ids, golden.captions.values(), load_labels(golden.root))
    if reference is None:  # the gate's reference cache (reports/cache/), built once per golden set
        reference = cached_reference(golden, Path(reports_dir) / "cache")
    scores = golden_scores(reference, size=size, limit=limit,
                           requested=requested)
    out = {m: [round(float(s.value(m)), 4) for s in scores] for m in METRICS}
    atomic_write_text(path, json.dumps(out))
    return out


def _key(golden, size: int, limit: int) -> str:
    h = hashlib.sha256()
    h.update(golden.images[:limit].tobytes())
    from evalkit.score.fingerprint import scorer_fingerprint

    h.update(f"{size}|{limit}|{__version__}|{scorer_fingerprint()}".encode())
    return h.hexdigest()[:16]
