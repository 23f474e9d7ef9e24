"""Caption versions named the way a person knows them, beside their fingerprint.

The fingerprint (`tag_set_hash` of ``ss_tag_frequency``) tells caption
versions apart; a label says which is which. In order of precedence:

1. a name the user gave the fingerprint once: ``evalkit compare --name-captions
   FINGERPRINT LABEL`` (kept in the score store), or ``[captions]`` in
   ``evalkit.toml`` (``"449ea2050956" = "old captions"``);
2. a metadata key ending in ``caption_version`` that the trainer wrote;
3. a golden caption version (``v1``/``v2``): the run's captions hold every tag
   of that version of the golden set it was scored against, and of no other
   version (the golden punks are training-split punks, so a run trained on
   those captions holds all of their tags; 2% are allowed for punks left out;
   v2 captions hold about 76% of v1's tags, v1 about 22% of v2's);
4. the kohya dataset folder the captions came from (``10_punks_new`` -> ``punks_new``).

Otherwise there is no label and the fingerprint stands alone.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.errors import EvalkitError
from evalkit.inspect.caption_fingerprint import SHORT_HASH, TAG_FREQUENCY_KEY, normalise_tag

NAMES_TABLE = "caption_names"
GOLDEN_MATCH = 0.98  # share of a golden version's tags a run's captions must hold
LABEL_CHARS = 40
_KOHYA_REPEATS = re.compile(r"^\d+_")
_HEX = re.compile(r"^[0-9a-f]{6,64}$")


@dataclass(frozen=True)
class CaptionLabel:
    fingerprint: str  # the full tag_set_hash
    label: str | None
    source: str | None  # "named", "evalkit.toml", "metadata", "golden", "dataset folder"

    @property
    def short(self) -> str:
        return f"tags-{self.fingerprint[:SHORT_HASH]}"

    @property
    def display(self) -> str:
        return f"{self.label} · {self.short}" if self.label else self.short

    def to_dict(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "short": self.short, "label": self.label, "source": self.source}


def parse_fingerprint(text: str) -> str:
    """``tags-449ea2050956`` or a hex prefix (6+ digits) of a tag_set_hash, lower-cased."""
    value = text.strip().lower()
    value = value[len("tags-"):] if value.startswith("tags-") else value
    if not _HEX.match(value):
        raise EvalkitError(None, f"caption fingerprint {text!r} is not tags-<hex> or 6 to 64 hex digits")
    return value


def check_label(text: str) -> str:
    label = " ".join(str(text).split())
    if not label or len(label) > LABEL_CHARS or not label.isprintable():
        raise EvalkitError(None, f"caption label {text[:60]!r} must be 1 to {LABEL_CHARS} printable characters")
    return label


# --- names a user gave -----------------------------------------------------------------

def _store(reports_dir: Path):
    from evalkit.store.store import ScoreStore

    return ScoreStore.default(reports_dir)


def _names_ddl(conn) -> None:
    conn.execute(f"CREATE TABLE IF NOT EXISTS {NAMES_TABLE} (fingerprint TEXT PRIMARY KEY, label TEXT NOT NULL, "
                 "named_at TEXT NOT NULL)")


def name_captions(reports_dir: Path, fingerprint: str, label: str) -> tuple[str, str]:
    """Name a caption fingerprint in the score store; returns (the full fingerprint it matched, label).

    The fingerprint must match the captions of a checkpoint the store holds, and only one version.
    """
    from evalkit.store.store import utc_now

    prefix, label = parse_fingerprint(fingerprint), check_label(label)
    store = _store(reports_dir)
    known = {r["caption_fingerprint"] for r in store.rows("training_runs") if r.get("caption_fingerprint")}
    matches = sorted(f for f in known if f.startswith(prefix))
    if not matches:
        raise EvalkitError(store.path, f"holds no checkpoint trained on captions {fingerprint!r}")
    if len(matches) > 1:
        raise EvalkitError(store.path, f"captions {fingerprint!r} match {len(matches)} fingerprints; give more digits")
    with store.connect() as conn:
        _names_ddl(conn)
        conn.execute(f"INSERT INTO {NAMES_TABLE} (fingerprint, label, named_at) VALUES (?, ?, ?) ON CONFLICT "
                     "(fingerprint) DO UPDATE SET label = excluded.label, named_at = excluded.named_at",
                     (matches[0], label, utc_now()))
    return matches[0], label


def stored_names(reports_dir: Path | None) -> dict[str, str]:
    """fingerprint -> label from the score store (empty when there is no store)."""
    if reports_dir is None or not (Path(reports_dir) / "evalkit.sqlite").is_file():
        return {}
    with _store(reports_dir).connect() as conn:
        _names_ddl(conn)
        return dict(conn.execute(f"SELECT fingerprint, label FROM {NAMES_TABLE}").fetchall())


def toml_names(rootdir: Path | None) -> dict[str, str]:
    """fingerprint prefix -> label from ``[captions]`` in ``<rootdir>/evalkit.toml``."""
    from evalkit.gate.project import project_table

    path, table = project_table(rootdir, "captions", 'a table of fingerprint = "label"')
    out = {}
    for key, value in table.items():
        try:
            out[parse_fingerprint(key)] = check_label(value) if isinstance(value, str) else check_label("")
        except EvalkitError as exc:
            raise EvalkitError(path, f"[captions] {exc.problem}") from None
    return out


# --- what the files say ---------------------------------------------------------------

def tag_set(info: dict | None) -> set[str]:
    raw = ((info or {}).get("metadata") or {}).get(TAG_FREQUENCY_KEY)
    try:
        per_dir = json.loads(raw) if raw else {}
    except (ValueError, RecursionError):
        return set()
    if not isinstance(per_dir, dict):
        return set()
    return {normalise_tag(t) for tags in per_dir.values() if isinstance(tags, dict) for t in tags} - {""}


def dataset_folder(info: dict | None) -> str | None:
    raw = ((info or {}).get("metadata") or {}).get(TAG_FREQUENCY_KEY)
    try:
        per_dir = json.loads(raw) if raw else {}
    except (ValueError, RecursionError):
        return None
    if not isinstance(per_dir, dict):
        return None
    names = sorted({_KOHYA_REPEATS.sub("", Path(str(d)).name) for d in per_dir} - {""})
    return "+".join(names)[:LABEL_CHARS] or None


def metadata_version(info: dict | None) -> str | None:
    metadata = (info or {}).get("metadata") or {}
    for key in sorted(metadata):
        if key.lower().endswith("caption_version") and str(metadata[key]).strip():
            return str(metadata[key]).strip()
    return None


@functools.lru_cache(maxsize=4)
def golden_tag_sets(golden_path: str) -> tuple[tuple[str, frozenset[str]], ...]:
    """(version, its tags) for each caption version of an evalkit golden set (golden.toml); () otherwise."""
    root = Path(golden_path)
    if not (root / "golden.toml").is_file():
        return ()
    try:
        from evalkit.golden.load import load_golden

        golden = load_golden(root)
    except EvalkitError:
        return ()
    return tuple((version, frozenset(normalise_tag(t) for c in caps for t in c.split(",")) - {""})
                 for version, caps in golden.captions.items())


def golden_version(tags: set[str], golden_path: str | None) -> str | None:
    if not tags or not golden_path:
        return None
    shares = {v: len(tags & g) / len(g) for v, g in golden_tag_sets(str(golden_path)) if g}
    matched = [v for v, share in shares.items() if share >= GOLDEN_MATCH]
    return matched[0] if len(matched) == 1 else None


def label_captions(info: dict | None, golden_path: str | None, names: dict[str, str]) -> CaptionLabel | None:
    """The caption label of one inspected checkpoint (None when it records no captions)."""
    fingerprint = ((info or {}).get("captions") or {}).get("tag_set_hash")
    if not fingerprint:
        return None
    named = next((names[p] for p in sorted(names, key=len, reverse=True) if fingerprint.startswith(p)), None)
    if named:
        return CaptionLabel(fingerprint, named, "named")
    version = metadata_version(info)
    if version:
        return CaptionLabel(fingerprint, version, "metadata")
    version = golden_version(tag_set(info), golden_path)
    if version:
        return CaptionLabel(fingerprint, version, "golden")
    folder = dataset_folder(info)
    return CaptionLabel(fingerprint, folder, "dataset folder") if folder else CaptionLabel(fingerprint, None, None)


def user_names(reports_dir: Path | None, rootdir: Path | None = None) -> dict[str, str]:
    """Every name a user gave: evalkit.toml's, then the store's (the later command wins)."""
    return {**toml_names(rootdir), **stored_names(reports_dir)}
