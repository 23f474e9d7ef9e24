"""Entry points: attribution over recorded gate runs, for the CLI, the gate's summary, the report and tests.

    compare_store(reports_dir)            -> Attribution over the score store
    compare_records(records, reports_dir) -> Attribution over given RunRecords
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evalkit.compare import bootstrap
from evalkit.compare.attribution import Attribution, attribute
from evalkit.compare.captions import CaptionLabel, label_captions, user_names
from evalkit.compare.runs import latest_evaluations, select_runs
from evalkit.errors import EvalkitError
from evalkit.gate.record import RunRecord


def compare_records(records: list[RunRecord], reports_dir: Path | None = None, *, rootdir: Path | None = None,
                    run_ids: list[str] | None = None, checkpoints: list[str] | None = None,
                    level: float = bootstrap.LEVEL, resamples: int = bootstrap.RESAMPLES,
                    seed: int = bootstrap.SEED) -> Attribution:
    """Attribute the newest evaluation of each checkpoint in ``records`` (optionally only some runs/checkpoints).

    Raises `EvalkitError` when nothing was scored or the runs mix prompt suites or golden sets.
    """
    pairs = latest_evaluations(records, run_ids, checkpoints)
    if (run_ids or checkpoints) and not pairs:
        raise EvalkitError(reports_dir, f"holds no scored run or checkpoint named {', '.join((run_ids or []) + (checkpoints or []))}")
    selection = select_runs(pairs)
    labels = caption_labels([ck.info for _, ck in pairs], selection.golden, user_names(reports_dir, rootdir))

    def describe(factor: str, value: Any) -> str:
        if factor == "captions" and value in labels:
            return labels[value].label or labels[value].short
        return str(value)

    result = attribute(selection.runs, level=level, resamples=resamples, seed=seed, describe=describe)
    result.captions = {f: lab.to_dict() for f, lab in labels.items()}
    result.prompts, result.golden = selection.prompts, selection.golden
    result.notes += [f"left out {line}" for line in selection.left_out]
    return result


def compare_store(reports_dir: Path, **options) -> Attribution:
    """`compare_records` over every run in ``<reports_dir>/evalkit.sqlite``."""
    from evalkit.store.store import STORE_FILE, ScoreStore

    reports_dir = Path(reports_dir)
    if not (reports_dir / STORE_FILE).is_file():
        raise EvalkitError(reports_dir / STORE_FILE, "no score store here (run `pytest evalkit --checkpoint ...` first)")
    return compare_records(ScoreStore.default(reports_dir).runs(), reports_dir, **options)


def caption_labels(infos: list[dict | None], golden_path: str | None, names: dict[str, str]) -> dict[str, CaptionLabel]:
    """fingerprint -> its label, for every checkpoint info that records captions."""
    out: dict[str, CaptionLabel] = {}
    for info in infos:
        label = label_captions(info, golden_path, names)
        if label is not None and (label.fingerprint not in out or out[label.fingerprint].label is None):
            out[label.fingerprint] = label
    return out


def caption_labels_of_records(records: list[RunRecord], reports_dir: Path | None = None,
                              rootdir: Path | None = None) -> dict[str, CaptionLabel]:
    """Labels for every caption fingerprint the records hold (each against its own run's golden set)."""
    names = user_names(reports_dir, rootdir)
    out: dict[str, CaptionLabel] = {}
    for record in records:
        for fp, label in caption_labels([c.info for c in record.checkpoints], record.golden_path, names).items():
            if fp not in out or out[fp].label is None:
                out[fp] = label
    return out


def summary_after_run(record: RunRecord, reports_dir: Path) -> list[str]:
    """Terminal lines after a gate run of two or more scored checkpoints; never raises for bad input."""
    from evalkit.compare.text import summary_lines

    if sum(1 for c in record.checkpoints if c.images) < 2:
        return []
    try:
        return summary_lines(compare_records([record], reports_dir))
    except EvalkitError as exc:
        return [f"attribution: not computed: {exc}"]
    except Exception as exc:  # noqa: BLE001 - a summary must never cost the run its exit status
        return [f"attribution: not computed ({type(exc).__name__}: {exc})"]
