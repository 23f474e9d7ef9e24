"""Each LoRA against its base alone: what it changed, and whether it changed anything.

The session renders and scores the base without any LoRA once per (base,
render config) and run (cached like any render), then pairs every render
of a LoRA with the base's render of the same prompt and seed. The record
keeps, per checkpoint, ``vs_base``: the base's suite means and quality, the
paired change of every metric with its one-sided 95% bounds (gate.stats),
and the share of cells the LoRA changed (`evalkit.score.base_change`).

A LoRA whose typical render is, with 95% confidence, its base's render
(the median share of cells changed below `INDISTINGUISHABLE_SHARE`) is
*indistinguishable*: ``test_changes_base`` fails it, and the leaderboard
never names it best, however well the base alone scores. The median, not
the mean: a weak LoRA leaves most renders bit-identical and, once in a
while, tips one denoising path onto another punk entirely (on the testbed,
the perfect LoRA at a hundredth of its strength: 11 of 12 renders
unchanged, one 10% changed), which says nothing about what it does to the
rest; and its bound is distribution-free (`gate.stats.median_upper_bound`),
where bootstrap-t breaks on such zero-heavy values.
"""

from __future__ import annotations

import numpy as np

from evalkit.gate.quality import quality
from evalkit.gate.record import ImageResult, Verdict
from evalkit.gate.stats import CONFIDENCE, mean_bounds, median_upper_bound
from evalkit.score.base_change import INDISTINGUISHABLE_SHARE, JND_DELTA_E, changed_share
from evalkit.score.metrics import METRICS

RULE = (f"indistinguishable: the one-sided {CONFIDENCE:.0%} upper bound of the median share of cells that "
        f"changed (delta-E > {JND_DELTA_E}) against the base's render of the same prompt and seed is below "
        f"{INDISTINGUISHABLE_SHARE:.0%} (distribution-free; none below 5 renders)")


def _bounds(values) -> dict:
    b = mean_bounds(values)
    return {"mean": round(b.mean, 4), "low": round(b.low, 4), "high": round(b.high, 4)}


def compare_to_base(images: list[ImageResult], base_images: list[ImageResult], base_label: str,
                    weights: dict[str, float] | None = None) -> dict:
    """``vs_base`` of one checkpoint (its rendered images against the base's), as the record keeps it."""
    base = {(im.prompt_id, im.seed): im for im in base_images}
    pairs = [(im, base[(im.prompt_id, im.seed)]) for im in images if (im.prompt_id, im.seed) in base]
    if not pairs:
        return {"base": base_label, "skipped": "the base alone shares no (prompt, seed) render with this checkpoint"}
    cells = np.array([im.grid24 for im, _ in pairs], dtype=np.uint8)
    base_cells = np.array([b.grid24 for _, b in pairs], dtype=np.uint8)
    share = changed_share(cells, base_cells)
    median_high = median_upper_bound(share)
    base_means = {m: round(float(np.mean([b.scores[m] for _, b in pairs])), 4) for m in METRICS}
    own_means = {m: float(np.mean([im.scores[m] for im, _ in pairs])) for m in METRICS}
    base_quality, own_quality = quality(base_means, weights), quality(own_means, weights)
    return {
        "base": base_label,
        "n": len(pairs),
        "changed_share": {"mean": round(float(share.mean()), 4), "median": round(float(np.median(share)), 4),
                          "median_high": None if median_high is None else round(median_high, 4),
                          "unchanged_renders": int((share == 0).sum())},
        "indistinguishable": median_high is not None and median_high < INDISTINGUISHABLE_SHARE,
        "base_means": base_means,
        "base_quality": base_quality,
        "quality_delta": None if base_quality is None or own_quality is None else round(own_quality - base_quality, 2),
        "deltas": {m: _bounds([im.scores[m] - b.scores[m] for im, b in pairs]) for m in METRICS},
        "rule": RULE,
    }


def base_verdict(name: str, vs_base: dict | None, quality: float | None = None) -> Verdict:
    """``test_changes_base``: fails a LoRA indistinguishable from its base; skips when there is no comparison."""
    if not vs_base or "skipped" in vs_base:
        why = (vs_base or {}).get("skipped", "the base alone was not scored")
        return Verdict("base", "base_change", True, float("nan"), skip=why)
    c = vs_base["changed_share"]
    dq = vs_base["quality_delta"]
    quality_text = "" if dq is None else (f"; quality {quality:.1f} vs {vs_base['base_quality']:.1f} "
                                          f"for the base alone ({round(dq, 1) + 0.0:+.1f})")
    bound = ("too few renders for a bound" if c["median_high"] is None
             else f"median {c['median']:.1%}, one-sided {CONFIDENCE:.0%} upper bound {c['median_high']:.1%}")
    flagged = vs_base["indistinguishable"]
    msg = (f"change against the base alone ({vs_base['base']}): {c['mean']:.1%} of cells changed on average "
           f"({bound}; {c['unchanged_renders']} of {vs_base['n']} renders unchanged)"
           + (f"; the median is below {INDISTINGUISHABLE_SHARE:.0%}: indistinguishable from its base, "
              "the LoRA does (almost) nothing" if flagged else "") + quality_text)
    return Verdict("base", "base_change", not flagged, c["median"], high=c["median_high"],
                   threshold=INDISTINGUISHABLE_SHARE, baseline=vs_base["base_quality"], message=msg,
                   properties=[("changed_share_mean", c["mean"]), ("changed_share_median", c["median"]),
                               ("changed_share_median_high", c["median_high"]),
                               ("base_quality", vs_base["base_quality"]), ("quality_delta", dq)],
                   failure=f"{name}: {msg}")
