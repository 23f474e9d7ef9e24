"""`CheckpointInfo`: everything `evalkit inspect` learns about one checkpoint.

This record is what the renderer reads, what the report shows and what the
sync stores as "the training run". `to_dict()` gives the JSON schema
documented in README.md, "Inspecting checkpoints" > "JSON schema" (bump SCHEMA_VERSION on any incompatible
change); `from_dict()` reads it back.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from evalkit.errors import EvalkitError
from evalkit.inspect.architecture import ArchitectureInfo
from evalkit.inspect.caption_fingerprint import CaptionFingerprint
from evalkit.inspect.formats import FormatInfo
from evalkit.inspect.hashes import Hashes
from evalkit.inspect.network import ModuleInfo, NetworkInfo
from evalkit.inspect.provenance import Provenance
from evalkit.inspect.tensor_health import TensorHealth

SCHEMA_VERSION = 1

__all__ = [
    "SCHEMA_VERSION", "CheckpointInfo", "ArchitectureInfo", "CaptionFingerprint", "FormatInfo", "Hashes",
    "ModuleInfo", "NetworkInfo", "Provenance", "TensorHealth",
]


@dataclass
class CheckpointInfo:
    """What one LoRA checkpoint is, how it was trained and whether it is sound."""

    file: str  # the path as given
    file_name: str
    file_size: int
    format: FormatInfo
    architecture: ArchitectureInfo | None  # None for unsupported formats
    network: NetworkInfo | None  # None for unsupported formats
    provenance: Provenance
    captions: CaptionFingerprint | None  # None when the file has no ss_tag_frequency
    hashes: Hashes | None  # None when inspected with hashes=False
    health: TensorHealth | None  # None for unsupported formats or tensor_health=False
    metadata: dict[str, str] = field(default_factory=dict)  # the raw __metadata__
    warnings: list[str] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION

    # --- what the renderer and the gate ask most often -----------------------
    @property
    def supported(self) -> bool:
        return self.format.supported

    @property
    def family(self) -> str | None:
        return self.architecture.family if self.architecture else None

    @property
    def module_names(self) -> frozenset[str]:
        return frozenset(m.name for m in self.network.modules) if self.network else frozenset()

    @property
    def ranks(self) -> dict[str, int]:
        return {m.name: m.rank for m in self.network.modules} if self.network else {}

    @property
    def alphas(self) -> dict[str, float]:
        return {m.name: m.alpha for m in self.network.modules} if self.network else {}

    @property
    def trains_text_encoder(self) -> bool:
        return bool(self.network and self.network.trains_text_encoder)

    def raise_if_unsupported(self) -> None:
        """For stages that must load the LoRA: a one-line error unless evalkit can use it."""
        if not self.format.supported:
            raise EvalkitError(self.file, self.format.note or f"{self.format.label} is not supported")
        if self.family in (None, "unknown"):
            raise EvalkitError(self.file, "could not tell which base model this LoRA is for (not SD1.x/SD2/SDXL?)")

    # --- serialisation --------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: dict keys become strings, non-finite floats become None."""
        data = _jsonable(dataclasses.asdict(self))
        return {"schema_version": data.pop("schema_version"), **data}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CheckpointInfo":
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise EvalkitError(data.get("file"), f"inspect record has schema_version {version}, expected {SCHEMA_VERSION}")
        return _build(cls, data)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {_key(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _key(key: Any) -> str:
    if isinstance(key, float) and key.is_integer():
        return str(int(key))  # alpha 16.0 -> "16", as people write it
    return str(key)


@functools.cache
def _init_field_types(cls: type) -> dict[str, Any]:
    """A dataclass's init fields and their types, resolved once per class: ``get_type_hints`` compiles every
    string annotation on each call, and a cached re-run rebuilds hundreds of records (0.45 s of one, profiled)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def _build(tp: Any, value: Any) -> Any:
    """Rebuild `value` (from JSON) as type `tp`: dataclasses, Optional, list[...] and dict[K, V]."""
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        return _build(options[0], value) if len(options) == 1 else value
    if dataclasses.is_dataclass(tp):
        hints = _init_field_types(tp)
        return tp(**{k: _build(hints[k], v) for k, v in value.items() if k in hints})
    if origin is list:
        (item,) = typing.get_args(tp) or (Any,)
        return [_build(item, v) for v in value]
    if origin is dict:
        key_type, value_type = typing.get_args(tp) or (Any, Any)
        return {(key_type(k) if key_type in (int, float) else k): _build(value_type, v) for k, v in value.items()}
    return value
