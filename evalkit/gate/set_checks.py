"""Set-level verdicts: are the renders, as a set, punks like the golden ones, and not copies of them?

* ``mmd``: the unbiased MMD^2 between render and golden features
  (`evalkit.score.set_level.mmd_test`) is used as an effect size, never its
  p-value: with 256 golden punks any detectable difference is "significant"
  (even the perfect testbed LoRA has p ~ 0.001), while MMD^2 says how far the
  sets are apart. Golden punks against other golden punks: ~0.00; the
  perfect testbed LoRA ~0.06; photographic drift ~0.25.
* ``memorisation``: the share of renders that copy a golden punk (>= 99% of
  cells within 5 dE) may exceed the rate at which golden punks already
  "copy" each other by at most the configured excess.
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


# SetMetric name -> judge(set_scores, limit, copies): copies are "<render> ~ golden <id>" lines, worst first.
JUDGES = {
    "mmd": lambda set_scores, limit, copies: mmd_verdict(set_scores, limit),
    "memorisation": memorisation_verdict,
}
