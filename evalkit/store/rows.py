"""`record_rows(record)`: a `RunRecord` as rows of the normalised tables (see tables.py).

Pure and deterministic: the same record always gives the same rows, so
writing them again (a retried batch, a second sync) changes nothing.
Values are JSON-ready (JSON columns hold dicts/lists).
"""

from __future__ import annotations

import math
from typing import Any

from evalkit.gate.record import CheckpointResult, RunRecord
from evalkit.score.metrics import METRICS, SET_METRICS

VALUE_KEYS = {s.name: s.value_key for s in SET_METRICS}  # set score -> the number the store keeps
from evalkit.store.tables import EVALUATION_RUNS, SCORES, SET_RESULTS, TABLES, TRAINING_RUNS, VERDICTS

Rows = dict[str, list[dict[str, Any]]]


def _get(data: dict | None, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def caption_version(info: dict | None) -> str | None:
    """The caption version a training used.

    A metadata key ending in ``caption_version`` (users tag their OLD/NEW
    caption sets that way) wins; otherwise the short caption fingerprint
    names the version, so trainings on the same tag vocabulary group together.
    """
    metadata = _get(info, "metadata") or {}
    for key in sorted(metadata):
        if key.lower().endswith("caption_version") and str(metadata[key]).strip():
            return str(metadata[key]).strip()
    fingerprint = _get(info, "captions", "tag_set_hash")
    return f"tags-{fingerprint[:12]}" if fingerprint else None


def _resolution(value: Any) -> str | None:
    if isinstance(value, (list, tuple)):
        return "x".join(str(v) for v in value)
    return None if value is None else str(value)


def training_run_row(ckpt: CheckpointResult) -> dict[str, Any] | None:
    """None when the checkpoint has no file hash (it could not be read): a training run is keyed by it."""
    if not ckpt.sha256:
        return None
    info = ckpt.info or {}
    prov = info.get("provenance") or {}
    network = info.get("network") or {}
    hashes = info.get("hashes") or {}
    return {
        "checkpoint_sha256": ckpt.sha256,
        "name": prov.get("output_name") or ckpt.name,
        "file_name": info.get("file_name"),
        "base_model": prov.get("base_model_name") or ckpt.base_model,
        "family": _get(info, "architecture", "family"),
        "network_module": prov.get("network_module"),
        "network_dim": prov.get("network_dim") if prov.get("network_dim") is not None else network.get("rank"),
        "network_alpha": prov.get("network_alpha") if prov.get("network_alpha") is not None else network.get("alpha"),
        "caption_version": caption_version(info),
        "caption_fingerprint": _get(info, "captions", "tag_set_hash"),
        "caption_counts_hash": _get(info, "captions", "tag_counts_hash"),
        "learning_rate": prov.get("learning_rate"),
        "unet_lr": prov.get("unet_lr"),
        "text_encoder_lr": prov.get("text_encoder_lr"),
        "optimizer": prov.get("optimizer"),
        "lr_scheduler": prov.get("lr_scheduler"),
        "steps": prov.get("steps"),
        "epochs": prov.get("num_epochs"),
        "total_batch_size": prov.get("total_batch_size"),
        "resolution": _resolution(prov.get("resolution")),
        "seed": prov.get("seed"),
        "mixed_precision": prov.get("mixed_precision"),
        "num_train_images": prov.get("num_train_images"),
        "training_started_at": prov.get("training_started_at"),
        "training_finished_at": prov.get("training_finished_at"),
        "model_hash": hashes.get("sshs_model_hash") or ckpt.model_hash,
        "legacy_hash": hashes.get("sshs_legacy_hash"),
        "settings": prov or None,
        "captions": info.get("captions"),
    }


def evaluation_run_row(record: RunRecord, ckpt: CheckpointResult) -> dict[str, Any]:
    versions = record.versions or {}
    return {
        "run_id": record.run_id,
        "checkpoint_name": ckpt.name,
        "checkpoint_sha256": ckpt.sha256,
        "checkpoint_path": ckpt.path,
        "model_hash": ckpt.model_hash,
        "base_model": ckpt.base_model,
        "render_config_key": ckpt.render_config_key,
        "render_config": ckpt.render_config or None,
        "prompts_path": record.prompts_path,
        "prompts_sha256": record.prompts_sha256,
        "golden_path": record.golden_path,
        "evalkit_version": versions.get("evalkit"),
        "torch_version": versions.get("torch"),
        "diffusers_version": versions.get("diffusers"),
        "versions": versions or None,
        "device": record.device,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "verdict": ckpt.status,
        "run_verdict": record.status,
        "error": ckpt.error,
        "quality": ckpt.quality,
        "images": len(ckpt.images),
        "rendered": ckpt.rendered,
        "cached": ckpt.cached,
        "render_seconds": ckpt.render_seconds,
        **{f"mean_{metric}": ckpt.mean(metric) for metric in METRICS},
        "thresholds": record.thresholds or None,
    }


def score_rows(record: RunRecord, ckpt: CheckpointResult) -> list[dict[str, Any]]:
    rows = []
    for image in ckpt.images:
        for metric, value in image.scores.items():
            threshold = record.thresholds.get(metric) or {}
            rows.append({
                "run_id": record.run_id,
                "checkpoint_name": ckpt.name,
                "prompt_id": image.prompt_id,
                "seed": image.seed,
                "metric": metric,
                "checkpoint_sha256": ckpt.sha256,
                "value": value,
                "threshold": threshold.get("value"),
                "direction": threshold.get("direction"),
                "passed": image.passed.get(metric),
                "prompt": image.prompt,
                "render_path": image.render,
                "render_storage_path": None,
                "grid24_storage_path": None,
            })
    return rows


def set_result_rows(record: RunRecord, ckpt: CheckpointResult) -> list[dict[str, Any]]:
    set_verdicts = {v.metric: v.passed for v in ckpt.verdicts if v.kind == "set"}
    rows = []
    for name, detail in sorted(ckpt.set_level.items()):
        if detail is None:
            continue
        value = detail.get(VALUE_KEYS.get(name, "")) if isinstance(detail, dict) else None
        rows.append({
            "run_id": record.run_id,
            "checkpoint_name": ckpt.name,
            "name": name,
            "checkpoint_sha256": ckpt.sha256,
            "value": value,
            "p_value": detail.get("p_value") if isinstance(detail, dict) else None,
            "passed": set_verdicts.get(name),
            "detail": detail,
        })
    return rows


def verdict_rows(record: RunRecord, ckpt: CheckpointResult) -> list[dict[str, Any]]:
    return [
        {"run_id": record.run_id, "checkpoint_name": ckpt.name, "kind": v.kind, "metric": v.metric,
         "passed": v.passed, "value": v.value, "low": v.low, "high": v.high, "threshold": v.threshold,
         "baseline": v.baseline, "message": v.message}
        for v in ckpt.verdicts
    ]


def record_rows(record: RunRecord) -> Rows:
    """Every table's rows for one run, each key once (the last occurrence wins, as an upsert would)."""
    rows: Rows = {table.name: [] for table in TABLES}
    for ckpt in record.checkpoints:
        training = training_run_row(ckpt)
        if training:
            rows[TRAINING_RUNS.name].append(training)
        rows[EVALUATION_RUNS.name].append(evaluation_run_row(record, ckpt))
        rows[SCORES.name] += score_rows(record, ckpt)
        rows[SET_RESULTS.name] += set_result_rows(record, ckpt)
        rows[VERDICTS.name] += verdict_rows(record, ckpt)
    # A batch that names one key twice is refused by Postgres' ON CONFLICT.
    for table in TABLES:
        unique = {table.key_of(row): _finite(row) for row in rows[table.name]}
        rows[table.name] = list(unique.values())
    return rows


def _finite(row: dict[str, Any]) -> dict[str, Any]:
    """NaN/inf become None: JSON has no spelling for them (the run record keeps the original)."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}
