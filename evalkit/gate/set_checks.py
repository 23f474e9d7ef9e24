"""Set-level verdicts: are the renders, as a set, punks like the golden ones, varied, and not copies of them?

* ``mmd``: the unbiased MMD^2 between render and golden features
  (`evalkit.score.set_level.mmd_test`) is used as an effect size, never its
  p-value: with 256 golden punks any detectable difference is "significant"
  (even the perfect testbed LoRA has p ~ 0.001), while MMD^2 says how far the
  sets are apart. Golden punks against other golden punks: ~0.00; the
  perfect testbed LoRA ~0.06; photographic drift ~0.25.
* ``memorisation``: the share of renders that copy a golden punk (>= 99% of
  cells within 5 dE) may exceed the rate at which golden punks already
  "copy" each other by at most the configured excess.
* ``diversity``: the renders' Vendi score over the golden punks' own at the
  same count must reach the floor (a LoRA drawing the same few punks whatever
  it is asked falls far below).
* ``collapse``: near copies that memorisation's 99%-cell rule misses: the share
  of renders whose nearest golden punk is also the nearest of another prompt's
  render must stay under the ceiling.
"""

from __future__ import annotations

from evalkit.gate.record import Verdict


def mmd_verdict(set_scores, limit: float) -> Verdict:
    mmd = set_scores.mmd
    recorded = {} if mmd is None else mmd.to_dict()
    props = [("mmd2", recorded.get("mmd2")), ("mmd_p_value", recorded.get("p_value")), ("mmd_threshold", limit)]
    if mmd is None:
        return Verdict("set", "mmd", True, float("nan"), threshold=limit,
                       message="fewer than 2 renders: no distance to the golden set", properties=props)
    passed = mmd.mmd2 <= limit
    return Verdict("set", "mmd", passed, mmd.mmd2, threshold=limit, properties=props, message=(
        f"distance to golden: MMD^2 {mmd.mmd2:.4f} {'<=' if passed else '>'} {limit:.4f} "
        f"({mmd.n_renders} renders vs {mmd.n_golden} golden punks, {mmd.features} features; p = {mmd.p_value:.4f})"))


def memorisation_verdict(set_scores, excess: float, worst: list[str] = ()) -> Verdict:
    m = set_scores.memorisation
    limit = m.golden_copy_rate + excess
    passed = m.copy_rate <= limit
    copies = f"; copies: {', '.join(worst)}" if worst else ""
    props = [("copy_rate", round(m.copy_rate, 4)), ("golden_copy_rate", m.golden_copy_rate),
             ("copy_rate_limit", round(limit, 4))]
    return Verdict("set", "memorisation", passed, m.copy_rate, threshold=limit, baseline=m.golden_copy_rate,
                   properties=props, message=(
        f"memorisation: {m.copies} of {len(m.nearest)} renders copy a golden punk (rate {m.copy_rate:.3f}) "
        f"{'<=' if passed else '>'} limit {limit:.3f} (golden punks copy each other at {m.golden_copy_rate:.3f} "
        f"+ {excess:.3f}){copies}"))


def diversity_verdict(set_scores, floor: float) -> Verdict:
    d = set_scores.diversity
    props = [("vendi", None if d is None else round(d.vendi, 4)),
             ("golden_vendi", None if d is None else round(d.golden_vendi, 4)), ("diversity_floor", floor)]
    if d is None:
        return Verdict("set", "diversity", True, float("nan"), threshold=floor, properties=props,
                       message="no renders: no diversity to judge")
    passed = d.relative >= floor
    return Verdict("set", "diversity", passed, d.relative, threshold=floor, baseline=d.golden_vendi, properties=props,
                   message=(f"diversity: {d.n} renders hold {d.vendi:.2f} distinct punks (Vendi), "
                            f"{d.relative:.2f} of the {d.golden_vendi:.2f} of golden punks drawn for this suite, "
                            f"{'>=' if passed else '<'} {floor:.2f}"))


def collapse_verdict(set_scores, ceiling: float) -> Verdict:
    c = set_scores.collapse
    props = [("collapse_share", None if c is None else round(c.share, 4)), ("collapse_ceiling", ceiling)]
    if c is None:
        return Verdict("set", "collapse", True, float("nan"), threshold=ceiling, properties=props,
                       message="no prompt ids: no collapse to judge")
    passed = c.share <= ceiling
    top = ", ".join(f"golden {g} ({n} prompts)" for g, n in c.top)
    return Verdict("set", "collapse", passed, c.share, threshold=ceiling, properties=props, message=(
        f"collapse: {c.share:.0%} of renders share their nearest golden punk with another prompt's render "
        f"{'<=' if passed else '>'} {ceiling:.0%} ({c.distinct} distinct nearest punks; most shared: {top})"))


# SetMetric name -> judge(set_scores, limit, copies): copies are "<render> ~ golden <id>" lines, worst first.
JUDGES = {
    "mmd": lambda set_scores, limit, copies: mmd_verdict(set_scores, limit),
    "memorisation": memorisation_verdict,
    "diversity": lambda set_scores, limit, copies: diversity_verdict(set_scores, limit),
    "collapse": lambda set_scores, limit, copies: collapse_verdict(set_scores, limit),
}
