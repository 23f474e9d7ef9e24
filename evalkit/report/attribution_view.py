"""The cross-run page's attribution section: `evalkit.compare` results as rows for the template.

The attribution covers the newest evaluation of each checkpoint scored with
the prompt suite and golden set of the newest run (runs of other suites do
not compare, and are counted in a note).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from evalkit.compare.api import caption_labels_of_records, compare_records
from evalkit.compare.attribution import ALL_RUNS, QUALITY, Attribution, Effect, Interval
from evalkit.errors import EvalkitError
from evalkit.gate.record import RunRecord


def caption_names(records: list[RunRecord], reports_dir: Path) -> dict[str, str]:
    """``tags-<12 hex>`` -> its label, for the captions the records hold that have one."""
    return {lab.short: lab.label for lab in caption_labels_of_records(records, reports_dir).values() if lab.label}


def attribution_section(records: list[RunRecord], reports_dir: Path) -> dict[str, Any] | None:
    if not records:
        return None
    newest = max(records, key=lambda r: (r.started_at, r.run_id))
    same = [r for r in records if (r.prompts_sha256, os.path.normpath(r.golden_path))
            == (newest.prompts_sha256, os.path.normpath(newest.golden_path))]
    other = len({(c.sha256 or c.name) for r in records if r not in same for c in r.checkpoints})
    notes = [f"{other} checkpoint(s) scored with another prompt suite or golden set are not compared here"] if other else []
    try:
        result = compare_records(same, reports_dir)
    except EvalkitError as exc:
        return {"strata": [], "next_runs": [], "notes": notes + [exc.problem], "level": None, "resampling": None}
    return _view(result, notes)


def _view(result: Attribution, notes: list[str]) -> dict[str, Any]:
    describe = result.describe
    strata = []
    for st in sorted(result.strata, key=lambda s: s.name == ALL_RUNS):
        rows = []
        for f in st.factors:
            rows += [_row("effect", _changes(e, describe), e, result) for e in f.effects]
        for g in st.groups:
            rows.append(_row("confounded", " + ".join(g.factors), g.joint, result,
                             _changes(g.joint, describe) if g.joint else None))
        extra = [f"left out {lo['run']}: {', '.join(lo['unknown'])} unknown" for lo in st.left_out]
        extra += [f"not analysed: {na['factor']} (unknown for {', '.join(na['unknown_for'])})" for na in st.not_analysed]
        if st.unexplained_quality is not None:
            extra.append(f"between-run spread the settings leave unexplained: {st.unexplained_quality:.2f} quality")
        if st.note:
            extra.append(st.note)
        strata.append({"name": st.name, "runs": st.runs, "reference": st.reference, "rows": rows, "notes": extra})
    return {
        "strata": strata, "level": result.level, "resampling": result.resampling, "metrics": result.metrics,
        "next_runs": [{"config": n.config, "from_run": n.from_run, "stratum": n.stratum, "separates": n.separates}
                      for n in result.next_runs],
        "notes": notes + list(result.notes),
    }


def _row(kind: str, label: str, effect: Effect | None, result: Attribution, together: str | None = None) -> dict:
    cells = []
    for metric in [QUALITY, *result.metrics]:
        iv = None if effect is None else (effect.quality if metric == QUALITY else effect.metrics[metric])
        cells.append(_cell(iv, result.directions[metric], 1 if metric == QUALITY else 3))
    return {"kind": kind, "label": label, "together": together, "cells": cells}


def _cell(iv: Interval | None, direction: str, digits: int) -> dict:
    if iv is None:
        return {"text": "—", "interval": "", "tone": "same"}
    tone = "same"
    if iv.excludes_zero():
        better = iv.estimate > 0 if direction == "min" else iv.estimate < 0
        tone = "good" if better else "worse"
    interval = "" if iv.low is None else f"{iv.low:+.{digits}f} … {iv.high:+.{digits}f}"
    return {"text": f"{iv.estimate:+.{digits}f}", "interval": interval, "tone": tone}


def _changes(effect: Effect, describe) -> str:
    return ", ".join(f"{f} {describe(f, a)} → {describe(f, b)}" for f, (a, b) in effect.changes.items())

