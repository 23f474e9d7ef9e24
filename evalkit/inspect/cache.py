"""`inspect_checkpoint` once per file content: a re-run reads each LoRA once, to hash it, instead of
decoding every tensor again for the health check (about a second for four SD1.5 LoRAs on a GPU host,
a quarter of a cached gate re-run's own work).

An entry is keyed on the file's sha256 (computed on every call: content, never names or mtimes), the
path as given (the record and the warnings name it) and the inspection code's fingerprint, so an
edited file, a renamed one or an edited inspector misses. An unreadable or stale entry is recomputed;
a cache that cannot be written costs the speed, never the result. The file is opened as safetensors
before it is hashed, so a pickle or a damaged header is refused as `inspect_checkpoint` refuses it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from evalkit.code_fingerprint import code_fingerprint
from evalkit.errors import EvalkitError
from evalkit.inspect.api import inspect_checkpoint
from evalkit.inspect.record import CheckpointInfo
from evalkit.inspect.safetensors_header import SafetensorsFile
from evalkit.paths import atomic_write_text


def inspect_cached(path: str | os.PathLike, cache_dir: Path | None, *, require_supported: bool = False) -> CheckpointInfo:
    """`inspect_checkpoint(path)` (hashes and tensor health included), from ``cache_dir/inspect/`` when this
    content was inspected before under this path; ``cache_dir`` None inspects without a cache."""
    if cache_dir is None:
        return inspect_checkpoint(path, require_supported=require_supported)
    where = os.fspath(path)
    try:
        with SafetensorsFile(path) as st:  # refuses what inspect_checkpoint refuses, before any hashing
            whole = hashlib.sha256()
            for _, chunk in st.iter_file_chunks():
                whole.update(chunk)
    except OSError as exc:
        raise EvalkitError(where, f"cannot read: {exc.strerror or exc}") from None
    digest = whole.hexdigest()
    named = hashlib.sha256(where.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    fingerprint = code_fingerprint(("inspect", "errors.py"), f"numpy {np.__version__}")
    entry = Path(cache_dir) / "inspect" / fingerprint / f"{digest}-{named}.json"
    info = _read(entry, digest, where)
    if info is None:
        info = inspect_checkpoint(path)
        try:
            atomic_write_text(entry, info.to_json(indent=None))
        except (OSError, ValueError):  # an unwritable cache, or a record JSON cannot hold
            pass
    if require_supported:
        info.raise_if_unsupported()
    return info


def _read(entry: Path, digest: str, where: str) -> CheckpointInfo | None:
    try:
        info = CheckpointInfo.from_dict(json.loads(entry.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError, AttributeError, EvalkitError):
        return None  # absent, half-written by a killed run, or from another schema: inspect again
    if info.hashes is None or info.hashes.sha256 != digest or info.file != where:
        return None
    return info
