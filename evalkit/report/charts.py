"""Charts drawn by matplotlib into SVG files next to the pages.

Only numbers and fixed labels go into a chart (never checkpoint names or
metadata), and the SVGs are shown through ``<img>``, where a browser runs no
script, so a chart cannot carry attacker text into the page.

matplotlib's object API is used without pyplot, so no global backend is set
for whoever imported evalkit.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from evalkit.paths import atomic_write
from evalkit.score.metrics import IMAGE_METRICS, METRICS

METRIC_TITLES = {m.name: m.label for m in IMAGE_METRICS}
COLOURS = {"run": "#2f6fdf", "golden": "#9aa5b1", "threshold": "#d9480f", "pass": "#2b8a3e", "fail": "#c92a2a", "error": "#868e96"}
BINS = np.linspace(0.0, 1.0, 21)
RC = {"svg.fonttype": "none", "svg.hashsalt": "evalkit", "font.size": 9, "axes.spines.top": False, "axes.spines.right": False}


def distribution_chart(out: Path, values: dict[str, list[float]], golden: dict[str, list[float]] | None,
                       thresholds: dict[str, tuple[str, float]]) -> Path:
    """One panel per metric: this checkpoint's per-image scores against the golden punks' (share of images)."""
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(12, 2.6), layout="constrained")
        for ax, metric in zip(fig.subplots(1, len(METRICS)), METRICS):
            vals = np.asarray(values.get(metric) or [], float)
            if golden and golden.get(metric):
                g = np.asarray(golden[metric], float)
                ax.hist(g, bins=BINS, weights=np.full(len(g), 1 / len(g)), color=COLOURS["golden"], alpha=0.55,
                        label=f"golden punks (n={len(g)})")
            if len(vals):
                ax.hist(vals, bins=BINS, weights=np.full(len(vals), 1 / len(vals)), histtype="stepfilled",
                        color=COLOURS["run"], alpha=0.45, edgecolor=COLOURS["run"], linewidth=1.2,
                        label=f"this checkpoint (n={len(vals)})")
                ax.axvline(vals.mean(), color=COLOURS["run"], linewidth=1.6, label="suite mean")
            if metric in thresholds:
                ax.axvline(thresholds[metric][1], color=COLOURS["threshold"], linestyle="--", linewidth=1.2, label="threshold")
            ax.set_xlim(0, 1)
            ax.set_title(METRIC_TITLES[metric], fontsize=9)
            ax.set_xlabel("score")
            ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        fig.axes[0].set_ylabel("share of images")
        _legend(fig)
        return _save(fig, out)


def timeline_chart(out: Path, points: list[tuple[str, str, dict[str, float | None]]],
                   thresholds: dict[str, tuple[str, float]]) -> Path:
    """One panel per metric: each checkpoint's suite mean at its run's time, coloured by verdict.

    ``points``: (ISO start time, verdict, metric -> mean).
    """
    import matplotlib
    from matplotlib import dates as mdates
    from matplotlib.figure import Figure

    times = [_parse_time(t) for t, _, _ in points]
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(12, 2.6), layout="constrained")
        for ax, metric in zip(fig.subplots(1, len(METRICS), sharex=True), METRICS):
            for verdict in ("pass", "fail", "error"):
                xs = [t for t, (_, v, m) in zip(times, points) if v == verdict and m.get(metric) is not None]
                ys = [m[metric] for _, v, m in points if v == verdict and m.get(metric) is not None]
                if xs:
                    ax.scatter(xs, ys, s=22, color=COLOURS[verdict], label=verdict, zorder=3,
                               marker="o" if verdict == "pass" else "X")
            if metric in thresholds:
                ax.axhline(thresholds[metric][1], color=COLOURS["threshold"], linestyle="--", linewidth=1, label="threshold")
            ax.set_ylim(-0.03, 1.03)
            ax.set_title(METRIC_TITLES[metric], fontsize=9)
            ax.grid(axis="y", color="#e9ecef", linewidth=0.8)
            locator = mdates.AutoDateLocator(minticks=2, maxticks=6)
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
            if times:
                lo, hi = min(times), max(times)
                pad = max((hi - lo) * 0.05, timedelta(hours=1))  # one run alone still gets a readable axis
                ax.set_xlim(lo - pad, hi + pad)
        fig.axes[0].set_ylabel("suite mean")
        _legend(fig)
        return _save(fig, out)


def epoch_chart(out: Path, run: dict) -> Path:
    """One panel per metric and one for quality: the value per epoch with its one-sided 95% bounds as a band.

    ``run``: a record's ``epochs.runs[]`` entry (`evalkit.gate.epochs.EpochRun.to_dict`). The best
    epoch is a filled star, the earliest within noise of it a ring.
    """
    import matplotlib
    from matplotlib.figure import Figure

    curves = run["curves"]
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(2.6 * len(curves), 2.6), layout="constrained")
        for ax, c in zip(fig.subplots(1, len(curves), sharex=True), curves):
            xs = [p["epoch"] for p in c["points"]]
            ax.fill_between(xs, [p["low"] for p in c["points"]], [p["high"] for p in c["points"]],
                            color=COLOURS["run"], alpha=0.18, linewidth=0, label="one-sided 95% bounds")
            ax.plot(xs, [p["value"] for p in c["points"]], color=COLOURS["run"], marker="o", markersize=3.5,
                    linewidth=1.4, label="suite mean / quality")
            at = {p["epoch"]: p["value"] for p in c["points"]}
            if c.get("best") in at:
                ax.scatter([c["best"]], [at[c["best"]]], s=90, marker="*", color=COLOURS["pass"], zorder=4, label="best epoch")
            if c.get("earliest_within_noise") in at:
                e = c["earliest_within_noise"]
                ax.scatter([e], [at[e]], s=110, facecolors="none", edgecolors=COLOURS["threshold"], linewidths=1.4,
                           zorder=5, label="earliest within noise")
            ax.set_ylim(*((-0.3, 10.3) if c["name"] == "quality" else (-0.03, 1.03)))
            ax.set_title(METRIC_TITLES.get(c["name"], "quality 0-10 (higher is better)"), fontsize=9)
            ax.set_xlabel("epoch")
            ax.set_xticks(xs)
            ax.grid(axis="y", color="#e9ecef", linewidth=0.8)
        fig.axes[0].set_ylabel("value")
        _legend(fig)
        return _save(fig, out)


def _legend(fig) -> None:
    """One legend for all panels, outside them, so it never hides a bar or a point."""
    seen = {}
    for ax in fig.axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    if seen:
        fig.legend(list(seen.values()), list(seen), loc="outside right upper", fontsize=8, frameon=False)


def _parse_time(text: str) -> datetime:
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return datetime(1970, 1, 1)
    return t.replace(tzinfo=None)  # every run time is UTC; matplotlib wants them all alike


def _save(fig, out: Path) -> Path:
    # No timestamp: same data, same file.
    return atomic_write(Path(out), lambda tmp: fig.savefig(tmp, format="svg", metadata={"Date": None}))
