"""Training provenance from kohya's `ss_*` metadata, as typed values.

kohya writes every value with `str()`: numbers as "0.0001", booleans as
"True"/"False", unset values as "None", resolutions as "(512, 512)", times as
unix seconds and structures as JSON. This module turns them back into
numbers, booleans, ISO timestamps and decoded JSON. A value that does not
parse is kept out of the typed field and reported, never fatal: a checkpoint
with odd metadata is still a checkpoint.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass, field, fields
from typing import Any, Callable

MODELSPEC_PREFIX = "modelspec."
# Summarised by caption_fingerprint; the raw string stays in the record's metadata.
SUMMARISED_KEYS = {"ss_tag_frequency"}


def _none(text: str) -> bool:
    return text.strip() in ("", "None", "null")


def parse_int(text: str) -> int | None:
    if _none(text):
        return None
    value = float(text)  # kohya may write an int-valued setting as "10.0"
    if not value.is_integer():
        raise ValueError(f"{text!r} is not a whole number")
    return int(value)


def parse_float(text: str) -> float | None:
    if _none(text):
        return None
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value


def parse_bool(text: str) -> bool | None:
    if _none(text):
        return None
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ValueError(f"{text!r} is not a boolean")


def parse_json(text: str) -> Any:
    if _none(text):
        return None
    return json.loads(text)


def parse_timestamp(text: str) -> str | None:
    """Unix seconds (kohya) or an ISO date (modelspec) as an ISO-8601 UTC string."""
    if _none(text):
        return None
    try:
        seconds = float(text)
    except ValueError:
        return dt.datetime.fromisoformat(text.strip()).isoformat()
    if not math.isfinite(seconds):
        raise ValueError(f"{text!r} is not a time")
    stamp = dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc).replace(microsecond=0)
    return stamp.isoformat().replace("+00:00", "Z")


def parse_resolution(text: str) -> list[int] | None:
    """"(512, 512)", "512,768" or "512" as [width, height]."""
    if _none(text):
        return None
    numbers = [int(n) for n in re.findall(r"\d+", text)]
    if len(numbers) == 1:
        numbers *= 2
    if len(numbers) != 2:
        raise ValueError(f"{text!r} is not a resolution")
    return numbers


def parse_str(text: str) -> str | None:
    return None if _none(text) else text


def infer_value(text: str) -> Any:
    """Best-effort typing for ss_* keys evalkit has no rule for."""
    if text.strip() in ("True", "False"):
        return text.strip() == "True"
    if _none(text):
        return None
    for parser in (int, parse_float):
        try:
            return parser(text)
        except (ValueError, OverflowError):
            continue
    if text.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            pass
    return text


@dataclass
class Provenance:
    """How the LoRA was trained, from its ss_* metadata (None where not recorded)."""

    network_module: str | None = None
    network_dim: int | None = None
    network_alpha: float | None = None
    network_dynamic: bool = False  # resize_lora --dynamic_method: dims differ per module
    network_args: Any = None
    network_dropout: float | None = None
    base_model_version: str | None = None
    base_model_name: str | None = None
    base_model_hash: str | None = None
    vae_name: str | None = None
    v2: bool | None = None
    clip_skip: int | None = None
    learning_rate: float | None = None
    unet_lr: float | None = None
    text_encoder_lr: float | None = None
    lr_scheduler: str | None = None
    lr_warmup_steps: int | None = None
    optimizer: str | None = None
    num_epochs: int | None = None
    epoch: int | None = None
    steps: int | None = None
    max_train_steps: int | None = None
    batch_size_per_device: int | None = None
    total_batch_size: int | None = None
    gradient_accumulation_steps: int | None = None
    seed: int | None = None
    mixed_precision: str | None = None
    resolution: list[int] | None = None
    noise_offset: float | None = None
    multires_noise_iterations: int | None = None
    multires_noise_discount: float | None = None
    adaptive_noise_scale: float | None = None
    min_snr_gamma: float | None = None
    shuffle_caption: bool | None = None
    keep_tokens: int | None = None
    caption_dropout_rate: float | None = None
    max_token_length: int | None = None
    num_train_images: int | None = None
    num_reg_images: int | None = None
    dataset_dirs: Any = None  # {dir: {"n_repeats": int, "img_count": int}}
    datasets: Any = None  # kohya's ss_datasets (dataset-config runs)
    training_started_at: str | None = None
    training_finished_at: str | None = None
    training_comment: str | None = None
    output_name: str | None = None
    session_id: str | None = None
    sd_scripts_commit_hash: str | None = None
    modelspec: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # other ss_* keys, typed by inference

    @property
    def image_count(self) -> int | None:
        """Distinct training images (without repeats) over all dataset dirs."""
        if not isinstance(self.dataset_dirs, dict):
            return None
        counts = [v.get("img_count") for v in self.dataset_dirs.values() if isinstance(v, dict)]
        return sum(c for c in counts if isinstance(c, int)) if counts else None


# field name -> (ss_ key(s), parser); the first key present wins.
_RULES: dict[str, tuple[tuple[str, ...], Callable[[str], Any]]] = {
    "network_module": (("ss_network_module",), parse_str),
    "network_args": (("ss_network_args",), parse_json),
    "network_dropout": (("ss_network_dropout",), parse_float),
    "base_model_version": (("ss_base_model_version",), parse_str),
    "base_model_name": (("ss_sd_model_name",), parse_str),
    "base_model_hash": (("ss_new_sd_model_hash", "ss_sd_model_hash"), parse_str),
    "vae_name": (("ss_vae_name",), parse_str),
    "v2": (("ss_v2",), parse_bool),
    "clip_skip": (("ss_clip_skip",), parse_int),
    "learning_rate": (("ss_learning_rate",), parse_float),
    "unet_lr": (("ss_unet_lr",), parse_float),
    "text_encoder_lr": (("ss_text_encoder_lr",), parse_float),
    "lr_scheduler": (("ss_lr_scheduler",), parse_str),
    "lr_warmup_steps": (("ss_lr_warmup_steps",), parse_int),
    "optimizer": (("ss_optimizer",), parse_str),
    "num_epochs": (("ss_num_epochs",), parse_int),
    "epoch": (("ss_epoch",), parse_int),
    "steps": (("ss_steps",), parse_int),
    "max_train_steps": (("ss_max_train_steps",), parse_int),
    "batch_size_per_device": (("ss_batch_size_per_device",), parse_int),
    "total_batch_size": (("ss_total_batch_size",), parse_int),
    "gradient_accumulation_steps": (("ss_gradient_accumulation_steps",), parse_int),
    "seed": (("ss_seed",), parse_int),
    "mixed_precision": (("ss_mixed_precision",), parse_str),
    "resolution": (("ss_resolution",), parse_resolution),
    "noise_offset": (("ss_noise_offset",), parse_float),
    "multires_noise_iterations": (("ss_multires_noise_iterations",), parse_int),
    "multires_noise_discount": (("ss_multires_noise_discount",), parse_float),
    "adaptive_noise_scale": (("ss_adaptive_noise_scale",), parse_float),
    "min_snr_gamma": (("ss_min_snr_gamma",), parse_float),
    "shuffle_caption": (("ss_shuffle_caption",), parse_bool),
    "keep_tokens": (("ss_keep_tokens",), parse_int),
    "caption_dropout_rate": (("ss_caption_dropout_rate",), parse_float),
    "max_token_length": (("ss_max_token_length",), parse_int),
    "num_train_images": (("ss_num_train_images",), parse_int),
    "num_reg_images": (("ss_num_reg_images",), parse_int),
    "dataset_dirs": (("ss_dataset_dirs",), parse_json),
    "datasets": (("ss_datasets",), parse_json),
    "training_started_at": (("ss_training_started_at",), parse_timestamp),
    "training_finished_at": (("ss_training_finished_at",), parse_timestamp),
    "training_comment": (("ss_training_comment",), parse_str),
    "output_name": (("ss_output_name",), parse_str),
    "session_id": (("ss_session_id",), parse_str),
    "sd_scripts_commit_hash": (("ss_sd_scripts_commit_hash",), parse_str),
}
# Written per subset inside ss_datasets (not as ss_* keys) when a dataset config was used.
_SUBSET_FALLBACKS = ("shuffle_caption", "keep_tokens", "caption_dropout_rate")


def _agreed(values: list[Any]) -> Any:
    """The one value all entries share, else None."""
    distinct = {json.dumps(v, sort_keys=True) for v in values}
    return json.loads(distinct.pop()) if len(distinct) == 1 else None


def _dataset_values(datasets: Any, key: str, *, in_subsets: bool) -> list[Any]:
    if not isinstance(datasets, list):
        return []
    found = []
    for dataset in datasets:
        if not isinstance(dataset, dict):
            continue
        holders = dataset.get("subsets") if in_subsets else [dataset]
        found += [h[key] for h in holders or [] if isinstance(h, dict) and key in h]
    return found


def parse_provenance(metadata: dict[str, str]) -> tuple[Provenance, list[str]]:
    """Typed provenance plus one problem line per value that did not parse."""
    prov = Provenance()
    problems: list[str] = []
    used = set(SUMMARISED_KEYS)

    def parse(key: str, parser: Callable[[str], Any]) -> Any:
        used.add(key)
        try:
            return parser(metadata[key])
        except (ValueError, OverflowError, OSError, RecursionError) as exc:
            problems.append(f"metadata {key}={metadata[key][:60]!r} could not be read ({exc})")
            return None

    for name, (keys, parser) in _RULES.items():
        key = next((k for k in keys if k in metadata), None)
        if key is not None:
            setattr(prov, name, parse(key, parser))
            used.update(k for k in keys if k in metadata)
    for key in ("ss_network_dim", "ss_network_alpha"):
        if key in metadata and metadata[key].strip() == "Dynamic":
            prov.network_dynamic = True
            used.add(key)
    if "ss_network_dim" not in used and "ss_network_dim" in metadata:
        prov.network_dim = parse("ss_network_dim", parse_int)
    if "ss_network_alpha" not in used and "ss_network_alpha" in metadata:
        prov.network_alpha = parse("ss_network_alpha", parse_float)
    if prov.resolution is None:
        resolution = _agreed(_dataset_values(prov.datasets, "resolution", in_subsets=False))
        if isinstance(resolution, list) and len(resolution) == 2:
            prov.resolution = resolution
    for name in _SUBSET_FALLBACKS:
        if getattr(prov, name) is None:
            setattr(prov, name, _agreed(_dataset_values(prov.datasets, name, in_subsets=True)))
    prov.modelspec = {k[len(MODELSPEC_PREFIX):]: v for k, v in metadata.items() if k.startswith(MODELSPEC_PREFIX)}
    prov.extra = {k[3:]: infer_value(v) for k, v in sorted(metadata.items()) if k.startswith("ss_") and k not in used}
    return prov, problems


PROVENANCE_FIELDS = tuple(f.name for f in fields(Provenance))
