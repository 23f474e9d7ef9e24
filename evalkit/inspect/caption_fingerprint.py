"""A fingerprint of the captions a LoRA was trained on, from `ss_tag_frequency`.

kohya records, per dataset dir, how many captions contained each
comma-separated tag (lower-cased). The fingerprint hashes the tag set with
the dir names left out, so two runs trained on the same caption version match
even when their folders or repeat counts differ: this answers the users'
"OLD vs NEW captions" question. A second hash also covers the counts, for
"same vocabulary, but were the captions the same?".
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

TAG_FREQUENCY_KEY = "ss_tag_frequency"
SHORT_HASH = 12
TOP_TAGS = 10
# A palette colour written as a tag: "#a1b2c3", "#abc", or a bare 6/8-digit code
# that has a digit in it (so words such as "facade" do not count).
_HEX_TAG = re.compile(r"#(?:[0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})|(?=[0-9a-f]*\d)(?:[0-9a-f]{6}|[0-9a-f]{8})")


@dataclass
class CaptionFingerprint:
    """Summary of the training captions; hashes are hex sha256."""

    dirs: int
    distinct_tags: int
    tag_occurrences: int  # sum over tags of the number of captions holding it
    images: int | None  # captioned images (img_count of the same dirs), if recorded
    mean_tags_per_image: float | None
    hex_color_tags: int  # distinct tags that are hex colour codes
    hex_color_occurrences: int
    tag_set_hash: str  # the set of tags only: same caption vocabulary => same hash
    tag_counts_hash: str  # tags with their total counts
    top_tags: list[list[Any]] = field(default_factory=list)  # [[tag, count], ...] most frequent first

    @property
    def short_hash(self) -> str:
        return self.tag_set_hash[:SHORT_HASH]


def normalise_tag(tag: str) -> str:
    return unicodedata.normalize("NFC", " ".join(tag.split())).lower()


def is_hex_color(tag: str) -> bool:
    return _HEX_TAG.fullmatch(tag) is not None


def _sha256_lines(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def caption_fingerprint(
    metadata: dict[str, str], dataset_dirs: Any = None
) -> tuple[CaptionFingerprint | None, list[str]]:
    """The fingerprint (None when the file records no tags) and any problems reading them."""
    raw = metadata.get(TAG_FREQUENCY_KEY)
    if raw is None or not raw.strip():
        return None, []
    try:
        per_dir = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        return None, [f"metadata {TAG_FREQUENCY_KEY} is not valid JSON ({exc})"]
    if not isinstance(per_dir, dict) or not all(isinstance(v, dict) for v in per_dir.values()):
        return None, [f"metadata {TAG_FREQUENCY_KEY} is not a JSON object of {{dir: {{tag: count}}}}"]

    totals: Counter[str] = Counter()
    problems: list[str] = []
    for tags in per_dir.values():
        for tag, count in tags.items():
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                problems.append(f"metadata {TAG_FREQUENCY_KEY}: count of tag {tag[:40]!r} is not a count")
                continue
            name = normalise_tag(tag)
            if name:
                totals[name] += count
    images = _image_count(per_dir, dataset_dirs)
    occurrences = sum(totals.values())
    hex_tags = [t for t in totals if is_hex_color(t)]
    ordered = sorted(totals)
    return CaptionFingerprint(
        dirs=len(per_dir),
        distinct_tags=len(totals),
        tag_occurrences=occurrences,
        images=images,
        mean_tags_per_image=round(occurrences / images, 4) if images else None,
        hex_color_tags=len(hex_tags),
        hex_color_occurrences=sum(totals[t] for t in hex_tags),
        tag_set_hash=_sha256_lines(ordered),
        tag_counts_hash=_sha256_lines([f"{t}\t{totals[t]}" for t in ordered]),
        top_tags=[[t, c] for t, c in sorted(totals.items(), key=lambda tc: (-tc[1], tc[0]))[:TOP_TAGS]],
    ), problems[:5]


def _image_count(per_dir: dict, dataset_dirs: Any) -> int | None:
    """Images in the captioned dirs, from ss_dataset_dirs' img_count."""
    if not isinstance(dataset_dirs, dict):
        return None
    counts = []
    for name in per_dir:
        entry = dataset_dirs.get(name)
        count = entry.get("img_count") if isinstance(entry, dict) else None
        if not isinstance(count, int) or isinstance(count, bool):
            return None
        counts.append(count)
    return sum(counts) or None
