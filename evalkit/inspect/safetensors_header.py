"""A safe, pure-Python reader for the safetensors container.

A safetensors file is an 8-byte little-endian header length N, N bytes of
JSON, then the tensor bytes. Everything here validates that layout before
trusting it, so a damaged or hostile file ends in one `EvalkitError` line
instead of a traceback, a huge allocation or code execution. Tensor bytes are
read only when a caller asks for them, by seeking to the tensor.

Pickle checkpoints (.ckpt/.pt/.bin) are refused by name and by their magic
bytes; this module never imports pickle or torch.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np

from evalkit.errors import EvalkitError, why_missing

LENGTH_PREFIX_BYTES = 8
# The safetensors library refuses headers above 100 MB; so do we, so that a
# forged length cannot make us allocate gigabytes.
MAX_HEADER_BYTES = 100_000_000
METADATA_KEY = "__metadata__"

DTYPE_SIZES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8,
}
# dtypes we can turn into numpy arrays; the float ones become float32/float64.
_NUMPY_DTYPES = {
    "BOOL": "|b1", "U8": "|u1", "I8": "|i1", "I16": "<i2", "U16": "<u2",
    "I32": "<i4", "U32": "<u4", "I64": "<i8", "U64": "<u8",
    "F16": "<f2", "F32": "<f4", "F64": "<f8",
}
FLOAT_DTYPES = frozenset({"F16", "BF16", "F32", "F64"})

PICKLE_SUFFIXES = frozenset({".ckpt", ".pt", ".pth", ".bin", ".pkl", ".pickle"})
BRIEF_CHARS = 100


def brief(value: object) -> str:
    """repr() of a value from the file, cut short: error lines must stay readable whatever the file holds."""
    text = repr(value)
    return text if len(text) <= BRIEF_CHARS else text[: BRIEF_CHARS - 3] + "..."


@dataclass(frozen=True)
class TensorEntry:
    """One tensor as the header describes it; offsets count from the data start."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def nbytes(self) -> int:
        return self.end - self.begin


@dataclass(frozen=True)
class SafetensorsHeader:
    """The validated header of a safetensors file (no tensor data)."""

    file_size: int
    header_length: int
    metadata: dict[str, str]
    tensors: dict[str, TensorEntry]  # in data order

    @property
    def data_start(self) -> int:
        return LENGTH_PREFIX_BYTES + self.header_length

    @property
    def data_size(self) -> int:
        return self.file_size - self.data_start


def _looks_like_pickle(head: bytes) -> str | None:
    if head[:4] == b"PK\x03\x04":
        return "a zip archive (torch.save format)"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return f"a pickle (protocol {head[1]})"
    return None


def _refuse_pickle(where: str, what: str) -> EvalkitError:
    return EvalkitError(
        where,
        f"refusing to read {what}: unpickling a checkpoint can run arbitrary code; "
        "convert it to .safetensors first",
    )


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _is_int(value: object) -> bool:
    # JSON true/false arrive as bool, which is an int subclass in Python.
    return isinstance(value, int) and not isinstance(value, bool)


def _tensor_entry(name: str, raw: object) -> TensorEntry:
    if not isinstance(raw, dict):
        raise ValueError(f"tensor {brief(name)}: entry is not an object")
    dtype = raw.get("dtype")
    shape = raw.get("shape")
    offsets = raw.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in DTYPE_SIZES:
        raise ValueError(f"tensor {brief(name)}: unknown dtype {brief(dtype)}")
    if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
        raise ValueError(f"tensor {brief(name)}: shape {brief(shape)} is not a list of non-negative integers")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(_is_int(o) and o >= 0 for o in offsets)
        or offsets[0] > offsets[1]
    ):
        raise ValueError(f"tensor {brief(name)}: data_offsets {brief(offsets)} are not [begin, end] with begin <= end")
    entry = TensorEntry(name, dtype, tuple(shape), offsets[0], offsets[1])
    expected = entry.numel * DTYPE_SIZES[dtype]
    if entry.nbytes != expected:
        raise ValueError(
            f"tensor {brief(name)}: data_offsets span {entry.nbytes} bytes but {dtype} {list(shape)} needs {expected}"
        )
    return entry


def _check_layout(tensors: list[TensorEntry], data_size: int) -> None:
    """Tensors must tile the data section exactly, as the safetensors library demands."""
    position = 0
    previous: TensorEntry | None = None
    for entry in tensors:
        if entry.end > data_size:
            raise ValueError(
                f"tensor {brief(entry.name)} (bytes {entry.begin}-{entry.end}) runs past the end of the "
                f"data section ({data_size} bytes): the file is truncated or its offsets are wrong"
            )
        if previous is not None and entry.begin < position:
            raise ValueError(
                f"tensors {brief(previous.name)} (bytes {previous.begin}-{previous.end}) and {brief(entry.name)} "
                f"(bytes {entry.begin}-{entry.end}) overlap"
            )
        if entry.begin > position:
            after = f"after {brief(previous.name)}" if previous else "at the start of the data section"
            raise ValueError(f"{entry.begin - position} bytes {after} belong to no tensor")
        position = max(position, entry.end)
        previous = entry
    if position != data_size:
        raise ValueError(
            f"{data_size - position} bytes after the last tensor belong to no tensor "
            "(damaged file, or data appended to it)"
        )


def parse_header(stream: BinaryIO, file_size: int, where: str) -> SafetensorsHeader:
    """Validate the header of the safetensors file open as `stream`."""
    stream.seek(0)
    prefix = stream.read(LENGTH_PREFIX_BYTES + 1)
    if file_size == 0:
        raise EvalkitError(where, "empty file (0 bytes)")
    if file_size < LENGTH_PREFIX_BYTES:
        raise EvalkitError(
            where, f"truncated: {file_size} bytes, too short for the 8-byte safetensors header length"
        )
    length = int.from_bytes(prefix[:LENGTH_PREFIX_BYTES], "little")
    plausible = length <= file_size - LENGTH_PREFIX_BYTES and prefix[LENGTH_PREFIX_BYTES:] == b"{"
    pickle_kind = None if plausible else _looks_like_pickle(prefix)
    if pickle_kind:
        raise _refuse_pickle(where, pickle_kind)
    if length > file_size - LENGTH_PREFIX_BYTES:
        raise EvalkitError(
            where,
            f"header length {length} is larger than the file ({file_size} bytes): "
            "truncated, or not a safetensors file",
        )
    if length > MAX_HEADER_BYTES:
        raise EvalkitError(where, f"header length {length} exceeds the {MAX_HEADER_BYTES}-byte limit")
    stream.seek(LENGTH_PREFIX_BYTES)
    raw = stream.read(length)
    if len(raw) != length:
        raise EvalkitError(where, "truncated while reading the header (the file changed under us?)")
    try:
        text = raw.decode("utf-8")
        header = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except UnicodeDecodeError:
        raise EvalkitError(where, "header is not UTF-8 text: not a safetensors file") from None
    except (ValueError, RecursionError) as exc:
        raise EvalkitError(where, f"header is not valid JSON ({exc})") from None
    if not isinstance(header, dict):
        raise EvalkitError(where, f"header is JSON but not an object (got {type(header).__name__})")

    metadata = header.pop(METADATA_KEY, None)
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise EvalkitError(where, f"{METADATA_KEY} must map strings to strings")
    try:
        entries = sorted(
            (_tensor_entry(name, raw_entry) for name, raw_entry in header.items()),
            key=lambda e: (e.begin, e.end),
        )
        _check_layout(entries, file_size - LENGTH_PREFIX_BYTES - length)
    except ValueError as exc:
        raise EvalkitError(where, str(exc)) from None
    return SafetensorsHeader(
        file_size=file_size,
        header_length=length,
        metadata=dict(metadata),
        tensors={e.name: e for e in entries},
    )


def parse_header_bytes(data: bytes, where: str = "<bytes>") -> SafetensorsHeader:
    """`parse_header` on an in-memory file (used by the fuzz tests)."""
    return parse_header(io.BytesIO(data), len(data), where)


def _open_checked(path: Path, where: str) -> BinaryIO:
    try:
        if path.is_dir():
            raise EvalkitError(where, "is a directory, not a checkpoint file")
        if not path.exists():
            raise EvalkitError(where, why_missing(path))
        if path.suffix.lower() in PICKLE_SUFFIXES:
            raise _refuse_pickle(where, f"a {path.suffix} file")
        if not path.is_file():
            # A FIFO or device would block or never end; only plain files are read.
            raise EvalkitError(where, "not a regular file")
        return open(path, "rb")  # noqa: SIM115 - closed by SafetensorsFile.close
    except OSError as exc:
        raise EvalkitError(where, f"cannot open: {exc.strerror or exc}") from None
    except ValueError as exc:  # e.g. a NUL byte in the name
        raise EvalkitError(where, f"cannot open: {exc}") from None


def decode_array(entry: TensorEntry, raw: bytes) -> np.ndarray:
    """Turn a tensor's bytes into a numpy array; float dtypes come back as float32 or float64.

    bf16 is the top half of a float32, so widening the 16 bits into the high
    half of a uint32 gives the exact float32 value without any library.
    """
    if entry.dtype == "BF16":
        halves = np.frombuffer(raw, dtype="<u2").astype(np.uint32)
        array = (halves << np.uint32(16)).view(np.float32)
    elif entry.dtype in _NUMPY_DTYPES:
        array = np.frombuffer(raw, dtype=_NUMPY_DTYPES[entry.dtype])
        if entry.dtype == "F16":
            array = array.astype(np.float32)
    else:
        raise ValueError(f"cannot decode dtype {entry.dtype}")
    return array.reshape(entry.shape)


def can_decode(dtype: str) -> bool:
    return dtype == "BF16" or dtype in _NUMPY_DTYPES


class SafetensorsFile:
    """An open safetensors file whose header has been validated.

    Use as a context manager. Tensor bytes are read on demand by seeking, so
    inspecting a header never reads the weights.
    """

    def __init__(self, path: str | os.PathLike):
        self.where = os.fspath(path)
        self.path = Path(path)
        self._stream = _open_checked(self.path, self.where)
        try:
            size = os.fstat(self._stream.fileno()).st_size
            self.header = parse_header(self._stream, size, self.where)
        except BaseException:
            self._stream.close()
            raise

    def __enter__(self) -> "SafetensorsFile":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._stream.close()

    @property
    def metadata(self) -> dict[str, str]:
        return self.header.metadata

    @property
    def tensors(self) -> dict[str, TensorEntry]:
        return self.header.tensors

    def read_bytes(self, entry: TensorEntry) -> bytes:
        self._stream.seek(self.header.data_start + entry.begin)
        raw = self._stream.read(entry.nbytes)
        if len(raw) != entry.nbytes:
            raise EvalkitError(self.where, f"truncated while reading tensor {brief(entry.name)}")
        return raw

    def read_array(self, entry: TensorEntry) -> np.ndarray:
        try:
            return decode_array(entry, self.read_bytes(entry))
        except ValueError as exc:
            raise EvalkitError(self.where, f"tensor {brief(entry.name)}: {exc}") from None

    def iter_file_chunks(self, chunk_size: int = 1 << 20) -> Iterator[tuple[int, bytes]]:
        """The whole file as (offset, chunk) pairs, for hashing in one pass."""
        self._stream.seek(0)
        offset = 0
        while chunk := self._stream.read(chunk_size):
            yield offset, chunk
            offset += len(chunk)
        if offset != self.header.file_size:
            raise EvalkitError(self.where, "file size changed while reading it")
