"""The settings ("factors") of one training run, read from its inspection record.

A factor is known only from what the file records: kohya's ``ss_*`` keys
(typed by `evalkit.inspect.provenance`), the architecture and rank measured
from the tensors, and the caption fingerprint of ``ss_tag_frequency``.
Nothing is guessed: a key the file lacks is unknown (None here), and kohya's
written ``"None"`` (a setting switched off) is the level ``"None"``.
"""

from __future__ import annotations

import json
from typing import Any

FAMILY_LABELS = {"sd15": "SD1.5", "sd2": "SD2", "sdxl": "SDXL"}  # as people name the bases
UNKNOWN = None
OFF = "None"  # kohya writes str(None) for a setting that was not used

# Factors people ask about first, in this order; then every other setting alphabetically.
PRIMARY = ("base", "network_dim", "captions", "network_alpha/dim")
# network_alpha is compared as alpha/dim, the scale kohya applies to the update: runs that keep
# alpha = dim/2 while changing dim changed one setting, not two.
ALPHA = "network_alpha/dim"
# Provenance fields that are not training settings: identities, times, free text, or
# summarised by another factor (the base family, the caption fingerprint, the steps).
NOT_SETTINGS = {
    "output_name", "session_id", "training_started_at", "training_finished_at", "training_comment",
    "sd_scripts_commit_hash", "base_model_hash", "base_model_name", "base_model_version", "v2", "vae_name",
    "dataset_dirs", "datasets", "modelspec", "extra", "network_dynamic", "network_dim", "network_alpha", "seed",
}
# Other ss_* keys (provenance.extra) that identify a file or a dataset rather than set training.
NOT_SETTING_KEYS = {
    "tag_frequency", "bucket_info", "reg_dataset_dirs", "sd_model_hash", "new_sd_model_hash", "vae_hash",
    "new_vae_hash", "dataset_dirs", "training_started_at", "training_finished_at", "output_name", "session_id",
    "sd_scripts_commit_hash", "training_comment", "seed", "metadata_title", "metadata_author",
    "metadata_description", "metadata_license", "metadata_tags",
}
# Provenance field -> the ss_ key whose presence says the setting was recorded (when not ss_<field>).
_SS_KEY = {"base_model_name": "ss_sd_model_name"}
# Settings that make a run bigger or longer when they grow: a next run prefers not to raise them.
COSTLY = {"network_dim", "steps", "max_train_steps", "num_epochs", "epoch", "total_batch_size",
          "batch_size_per_device", "num_train_images", "max_token_length", "resolution", "network_args"}
# Measures of one training length (steps = epochs x batches per epoch): with three or more levels they
# are a trend (per doubling); every other setting, network_dim included, is compared level by level, so
# no effect of dim 128 is extrapolated from dim 32 and 64.
LENGTH = {"steps", "epoch", "num_epochs", "max_train_steps"}
# Base families in order of training cost.
FAMILY_COST = {"SD1.5": 0, "SD2": 0.5, "SDXL": 1}


def _get(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _level(value: Any) -> Any:
    """A factor value that can be compared and hashed: numbers stay numbers, the rest becomes text."""
    if value is None:
        return OFF
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        return int(value) if float(value).is_integer() else float(value)
    if isinstance(value, (list, dict)):
        if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value):
            return f"{value[0]}x{value[1]}"  # a resolution
        return json.dumps(value, sort_keys=True)
    return str(value)


def has_training_metadata(info: dict | None) -> bool:
    return any(str(k).startswith("ss_") for k in (_get(info, "metadata") or {}))


def run_factors(info: dict | None) -> dict[str, Any]:
    """factor name -> level for one inspected checkpoint.

    The primary factors are always present (UNKNOWN when the file does not say); other settings only
    when the file records them, so a setting another run records is unknown for this one.
    """
    info = info or {}
    metadata = info.get("metadata") or {}
    prov = info.get("provenance") or {}
    network = info.get("network") or {}
    family = _get(info, "architecture", "family")
    out: dict[str, Any] = {
        "base": FAMILY_LABELS.get(family, family) if family and family != "unknown" else UNKNOWN,
        # kohya's setting when recorded, else the rank/alpha the tensors carry (measured, not guessed)
        "network_dim": _known(prov.get("network_dim"), network.get("rank")),
        "captions": _get(info, "captions", "tag_set_hash") or UNKNOWN,
    }
    alpha = _known(prov.get("network_alpha"), network.get("alpha"))
    dim = out["network_dim"]
    ratio = alpha / dim if isinstance(alpha, (int, float)) and isinstance(dim, (int, float)) and dim else UNKNOWN
    out[ALPHA] = UNKNOWN if ratio is UNKNOWN else _level(round(ratio, 6))
    for name, value in sorted(prov.items()):
        if name in NOT_SETTINGS:
            continue
        if value is not None or _SS_KEY.get(name, f"ss_{name}") in metadata:  # else not recorded: left out
            out[name] = _level(value)
    for key, value in sorted((prov.get("extra") or {}).items()):
        if key not in NOT_SETTING_KEYS and key not in out:
            out[key] = _level(value)
    return out


def _known(*values: Any) -> Any:
    value = next((v for v in values if v is not None), None)
    return UNKNOWN if value is None else _level(value)


def ordered(names) -> list[str]:
    names = set(names)
    return [n for n in PRIMARY if n in names] + sorted(names - set(PRIMARY))
