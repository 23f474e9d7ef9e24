"""The attribution as terminal lines (`evalkit compare` and the gate's summary)."""

from __future__ import annotations

import unicodedata
from typing import Any

from evalkit.compare.attribution import QUALITY, Attribution, Effect, Interval, Stratum

SHORT = {"grid_sharpness": "grid", "palette_fidelity": "palette", "photorealism": "realism"}


def terminal_text(value: Any) -> str:
    """Text from files (names, metadata) with control characters shown escaped, never sent to the terminal."""
    return "".join(c if unicodedata.category(c)[0] != "C" else repr(c)[1:-1] for c in str(value))


def _iv(iv: Interval, digits: int) -> str:
    if iv.low is None:
        return f"{iv.estimate:+.{digits}f}"
    return f"{iv.estimate:+.{digits}f} [{iv.low:+.{digits}f}, {iv.high:+.{digits}f}]"


def _changes(effect: Effect, describe) -> str:
    return ", ".join(f"{f} {describe(f, a)} -> {describe(f, b)}" for f, (a, b) in effect.changes.items())


def effect_line(effect: Effect, describe, metrics: list[str]) -> str:
    scores = "; ".join(f"{SHORT.get(m, m)} {_iv(effect.metrics[m], 3)}" for m in metrics)
    return f"{terminal_text(_changes(effect, describe))}: quality {_iv(effect.quality, 1)}; {scores}"


def summary_lines(result: Attribution) -> list[str]:
    describe = result.describe
    if not result.strata:
        return ["attribution: " + "; ".join(result.notes)]
    n = len(result.runs)
    renders = sorted({r["renders"] for r in result.runs})
    lines = [f"attribution over {n} runs: effect of each setting against the best run, {result.level:.0%} bootstrap "
             f"intervals over renders ({result.resampling}, {'/'.join(map(str, renders))} renders per run; "
             "training noise not included)"]
    for st in sorted(result.strata, key=lambda s: s.name == "all runs"):
        lines += _stratum_lines(st, result, describe)
    for nxt in result.next_runs:
        (f, (a, b)), = nxt.changes.items()
        lines.append(f"next run: {terminal_text(nxt.config)}  (as {terminal_text(nxt.from_run)} but {f} "
                     f"{terminal_text(describe(f, b))}; separates {', '.join(nxt.separates)} in {nxt.stratum})")
    lines += _binned_lines(result)
    lines += [f"note: {terminal_text(n)}" for n in result.notes]
    return lines


def _binned_lines(result: Attribution) -> list[str]:
    """One line per binned level: which recorded values it holds (values within 10% are one level)."""
    held: dict[tuple[str, str], set] = {}
    for run in result.runs:
        for factor, level in run.get("binned", {}).items():
            held.setdefault((factor, level), set()).add(run["factors"][factor])
    return [f"level: {factor} {level} holds {', '.join(str(v) for v in sorted(values))} (values within 10% are one level)"
            for (factor, level), values in sorted(held.items())]


def _stratum_lines(st: Stratum, result: Attribution, describe) -> list[str]:
    head = f"{st.name} ({len(st.runs)} runs"
    if st.reference:
        q = next(r["quality"] for r in result.runs if r["name"] == st.reference)
        head += f"; best {terminal_text(st.reference)}, quality {q:.1f}"
    lines = [head + "):"]
    if st.note:
        lines.append(f"  {st.note}")
    for f in st.factors:
        for e in f.effects:
            lines.append("  " + effect_line(e, describe, result.metrics))
    for g in st.groups:
        text = f"  confounded: {' + '.join(g.factors)} changed together, no separate effects"
        if g.joint is not None:
            text += "; together " + effect_line(g.joint, describe, result.metrics)
        lines.append(text)
    if not st.factors and not st.note:
        lines.append("  no setting differs between these runs")
    for lo in st.left_out:
        lines.append(f"  left out {terminal_text(lo['run'])}: {', '.join(lo['unknown'])} unknown")
    for na in st.not_analysed:
        lines.append(f"  not analysed: {na['factor']} (unknown for {len(na['unknown_for'])} of "
                     f"{len(st.runs) + len(st.left_out)} runs)")
    if st.unexplained_quality is not None:
        lines.append(f"  between-run spread the settings leave unexplained: {st.unexplained_quality:.2f} quality "
                     f"({st.residual_df} degree{'s' if st.residual_df != 1 else ''} of freedom)")
    return lines


__all__ = ["summary_lines", "effect_line", "terminal_text", "QUALITY"]
