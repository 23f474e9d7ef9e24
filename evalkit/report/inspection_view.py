"""The inspection record (`CheckpointInfo.to_dict()`) as labelled facts for the run page.

Only what a reviewer compares between trainings is picked out; the raw
``__metadata__`` is listed in full elsewhere on the page. Empty facts are left
out so SD1.5 and SDXL records read alike.
"""

from __future__ import annotations

from typing import Any

from evalkit.inspect.caption_fingerprint import SHORT_HASH
from evalkit.report.summary import FAMILY_LABELS

# (section, [(label, path into the record)])
SECTIONS: list[tuple[str, list[tuple[str, tuple[str, ...]]]]] = [
    ("Model", [
        ("base", ("architecture", "family")),
        ("base model", ("provenance", "base_model_name")),
        ("format", ("format", "label")),
        ("trained parts", ("network", "trained_parts")),
        ("modules", ("network", "module_count")),
        ("file size", ("file_size",)),
        ("sha256", ("hashes", "sha256")),
        ("LoRA hash (tensors)", ("hashes", "tensor_sha256")),
    ]),
    ("Network", [
        ("network_dim (rank)", ("network", "rank")),
        ("alpha", ("network", "alpha")),
        ("scale alpha/rank", ("network", "scale")),
        ("mixed ranks", ("network", "mixed_ranks")),
        ("conv rank", ("network", "conv_rank")),
        ("conv alpha", ("network", "conv_alpha")),
        ("network module", ("provenance", "network_module")),
        ("network args", ("provenance", "network_args")),
    ]),
    ("Captions", [
        ("caption fingerprint", ("captions", "tag_set_hash")),
        ("with counts", ("captions", "tag_counts_hash")),
        ("distinct tags", ("captions", "distinct_tags")),
        ("captioned images", ("captions", "images")),
        ("tags per image", ("captions", "mean_tags_per_image")),
        ("hex colour tags", ("captions", "hex_color_tags")),
    ]),
    ("Training", [
        ("learning rate", ("provenance", "learning_rate")),
        ("unet lr", ("provenance", "unet_lr")),
        ("text encoder lr", ("provenance", "text_encoder_lr")),
        ("optimizer", ("provenance", "optimizer")),
        ("scheduler", ("provenance", "lr_scheduler")),
        ("steps", ("provenance", "steps")),
        ("epochs", ("provenance", "num_epochs")),
        ("batch size", ("provenance", "total_batch_size")),
        ("resolution", ("provenance", "resolution")),
        ("train images", ("provenance", "num_train_images")),
        ("seed", ("provenance", "seed")),
        ("precision", ("provenance", "mixed_precision")),
        ("noise offset", ("provenance", "noise_offset")),
        ("min SNR gamma", ("provenance", "min_snr_gamma")),
        ("caption dropout", ("provenance", "caption_dropout_rate")),
        ("shuffle captions", ("provenance", "shuffle_caption")),
        ("clip skip", ("provenance", "clip_skip")),
        ("trained", ("provenance", "training_finished_at")),
        ("output name", ("provenance", "output_name")),
        ("comment", ("provenance", "training_comment")),
    ]),
    ("Health", [
        ("NaN values", ("health", "nan_count")),
        ("Inf values", ("health", "inf_count")),
        ("untrained modules", ("health", "zero_up_modules")),
        ("largest weight delta", ("health", "max_delta_norm")),
    ]),
]
SHORTEN = {"sha256", "tensor_sha256", "tag_counts_hash"}  # long digests: the first 12 digits identify them
MAX_VALUE = 300  # characters; a metadata field can be megabytes


def inspection_sections(info: dict[str, Any] | None) -> list[tuple[str, list[tuple[str, str]]]]:
    if not info:
        return []
    out = []
    for title, fields in SECTIONS:
        facts = []
        for label, path in fields:
            value = _get(info, path)
            if value is None or value == [] or value == "":
                continue
            facts.append((label, _format(path, value)))
        if facts:
            out.append((title, facts))
    return out


def top_tags(info: dict[str, Any] | None) -> list[tuple[str, int]]:
    tags = _get(info or {}, ("captions", "top_tags")) or []
    return [(str(t[0]), t[1]) for t in tags if isinstance(t, (list, tuple)) and len(t) == 2]


def _get(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _format(path: tuple[str, ...], value: Any) -> str:
    if path == ("architecture", "family"):
        return FAMILY_LABELS.get(value, str(value))
    if path[-1] in SHORTEN or path[-1] == "tag_set_hash":
        return str(value)[:SHORT_HASH]
    if path[-1] == "file_size" and isinstance(value, int):
        return f"{value / 1e6:.1f} MB"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}" if abs(value) < 1e5 else f"{value:.4g}"
    if isinstance(value, list):
        return " x ".join(map(str, value)) if path[-1] == "resolution" else ", ".join(map(str, value))
    return shorten(str(value))


def shorten(text: str) -> str:
    return text if len(text) <= MAX_VALUE else text[:MAX_VALUE] + f"… ({len(text)} characters)"
