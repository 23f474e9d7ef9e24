"""File and tensor hashes, the way sd-scripts and the webui extensions compute them.

`sshs_model_hash` is the sha256 of everything after the 8-byte length and the
JSON header: the tensor bytes only, so editing the metadata does not change
it (A1111 shows its first 12 hex digits as the "Lora hash"). kohya stores it
in the header when saving; recomputing it tells whether the tensors are still
the ones that were saved. `sshs_legacy_hash` hashes 64 KiB at offset 1 MiB of
a re-serialisation with only the ss_* metadata, which depends on the header
layout; it is reported as stored, not recomputed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from evalkit.inspect.safetensors_header import LENGTH_PREFIX_BYTES, SafetensorsFile

MODEL_HASH_KEY = "sshs_model_hash"
LEGACY_HASH_KEY = "sshs_legacy_hash"
_LEGACY_OFFSET, _LEGACY_LENGTH = 0x100000, 0x10000


@dataclass
class Hashes:
    """sha256 hashes of the file (hex)."""

    sha256: str  # the whole file
    tensor_sha256: str  # the tensor bytes only: kohya's sshs_model_hash, recomputed
    sshs_model_hash: str | None  # as stored in the metadata
    sshs_legacy_hash: str | None  # as stored in the metadata
    model_hash_matches: bool | None  # None when nothing was stored


def tensor_bytes_hash(serialized: bytes) -> str:
    """sha256 of the tensor bytes of a serialised safetensors file (kohya's addnet hash)."""
    length = int.from_bytes(serialized[:LENGTH_PREFIX_BYTES], "little")
    return hashlib.sha256(serialized[LENGTH_PREFIX_BYTES + length:]).hexdigest()


def legacy_hash(serialized: bytes) -> str:
    """kohya's sshs_legacy_hash: 8 hex digits of 64 KiB at offset 1 MiB."""
    return hashlib.sha256(serialized[_LEGACY_OFFSET:_LEGACY_OFFSET + _LEGACY_LENGTH]).hexdigest()[:8]


def compute_hashes(st: SafetensorsFile) -> tuple[Hashes, list[str]]:
    """Hash the whole file and its tensor bytes in one read."""
    whole, tensors = hashlib.sha256(), hashlib.sha256()
    data_start = st.header.data_start
    for offset, chunk in st.iter_file_chunks():
        whole.update(chunk)
        if offset + len(chunk) > data_start:
            tensors.update(chunk[max(data_start - offset, 0):])
    stored = st.metadata.get(MODEL_HASH_KEY)
    hashes = Hashes(
        sha256=whole.hexdigest(),
        tensor_sha256=tensors.hexdigest(),
        sshs_model_hash=stored,
        sshs_legacy_hash=st.metadata.get(LEGACY_HASH_KEY),
        model_hash_matches=None if stored is None else stored.strip().lower() == tensors.hexdigest(),
    )
    warnings = []
    if hashes.model_hash_matches is False:
        warnings.append(
            f"{MODEL_HASH_KEY} in the metadata ({stored[:16]}...) does not match the tensor bytes "
            f"({hashes.tensor_sha256[:16]}...): the weights changed after kohya saved them"
        )
    return hashes, warnings
