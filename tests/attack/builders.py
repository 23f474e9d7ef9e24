"""Bad files, built from the real testbed LoRA and real golden punks.

Every hostile checkpoint here is the shipped `tiny_punks_perfect.safetensors` with one thing
wrong (its header, its bytes, its weights), every hostile image a real golden punk in the wrong
form, so what a case exercises is the one defect, not a made-up file.
"""

from __future__ import annotations

import io
import json
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from .harness import GOLDEN_PUNKS, PERFECT

NP_DTYPES = {"F16": np.float16, "F32": np.float32}


def safetensors_bytes(header, data: bytes = b"", length: int | None = None) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if length is None else length) + raw + data


def real_lora(path: Path = PERFECT) -> tuple[dict, bytes]:
    """The header (with `__metadata__`) and the data section of a real kohya LoRA."""
    blob = path.read_bytes()
    n = struct.unpack("<Q", blob[:8])[0]
    return json.loads(blob[8:8 + n]), blob[8 + n:]


def write_lora(path: Path, header: dict, data: bytes) -> Path:
    path.write_bytes(safetensors_bytes(header, data))
    return path


def tensors(header: dict, data: bytes) -> dict[str, np.ndarray]:
    out = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        begin, end = spec["data_offsets"]
        out[name] = np.frombuffer(data[begin:end], dtype=NP_DTYPES[spec["dtype"]]).reshape(spec["shape"]).copy()
    return out


def pack(arrays: dict[str, np.ndarray], metadata: dict | None) -> tuple[dict, bytes]:
    header, chunks, offset = ({"__metadata__": metadata} if metadata is not None else {}), [], 0
    for name, arr in arrays.items():
        raw = arr.tobytes()
        dtype = {np.dtype(np.float16): "F16", np.dtype(np.float32): "F32"}[arr.dtype]
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    return header, b"".join(chunks)


def changed_lora(path: Path, change, metadata_change=None) -> Path:
    """The perfect LoRA with `change(name, array) -> array | None` (None drops the tensor) applied."""
    header, data = real_lora()
    meta = dict(header.get("__metadata__", {}))
    if metadata_change:
        meta = metadata_change(meta)
    arrays = {}
    for name, arr in tensors(header, data).items():
        new = change(name, arr)
        if new is not None:
            arrays[name] = new
    return write_lora(path, *pack(arrays, meta))


def scaled_weights(factor: float):
    def change(name, arr):
        return (arr.astype(np.float32) * factor).astype(arr.dtype) if name.endswith(".weight") else arr
    return change


def poisoned(value: float, every: bool = False):
    """NaN or Inf in the first lora_up (or every weight): what a diverged training saves."""
    state = {"done": False}

    def change(name, arr):
        if name.endswith("lora_up.weight") and (every or not state["done"]):
            arr = arr.copy()
            arr.flat[0] = value
            if every:
                arr[...] = value
            state["done"] = True
        return arr
    return change


class PicklePayload:
    """Unpickling this opens (so creates) the marker file: the proof a loader ran a pickle."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def raw_pickle(marker: Path) -> bytes:
    return pickle.dumps({"state_dict": PicklePayload(marker)}, protocol=2)


def torch_zip_pickle(marker: Path) -> bytes:
    """torch.save's zip layout (archive/data.pkl), with the payload as its pickle."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("archive/data.pkl", raw_pickle(marker))
        zf.writestr("archive/version", "3\n")
    return buf.getvalue()


def golden_punk(index: int = 0) -> Image.Image:
    return Image.open(sorted(GOLDEN_PUNKS.glob("*.png"))[index]).convert("RGB")


def upscaled_punk(index: int = 0, size: int = 192) -> Image.Image:
    """A golden punk drawn as a render is: nearest-neighbour upscaled 24 -> `size`."""
    return golden_punk(index).resize((size, size), Image.NEAREST)


def golden_copy(dest: Path, count: int = 12) -> Path:
    """A kohya-style golden folder (`N_name/` of PNG + caption) with the first `count` real punks."""
    folder = dest / "1_punks"
    folder.mkdir(parents=True)
    for png in sorted(GOLDEN_PUNKS.glob("*.png"))[:count]:
        (folder / png.name).write_bytes(png.read_bytes())
        caption = png.with_suffix(".txt")
        if caption.exists():
            (folder / caption.name).write_text(caption.read_text())
    return folder


def grey16(img: Image.Image) -> Image.Image:
    """The punk as a 16-bit greyscale PNG (mode I;16): values 0..65535."""
    grey = np.asarray(img.convert("L"), dtype=np.uint16) * 257
    return Image.fromarray(grey, mode="I;16") if hasattr(Image, "fromarray") else None


def png_bytes(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def sparse_png(width: int, height: int) -> bytes:
    """A huge all-black 1-bit PNG: tiny on disk, `width*height` pixels once decoded (a decompression bomb)."""
    return png_bytes(Image.new("1", (width, height)))
