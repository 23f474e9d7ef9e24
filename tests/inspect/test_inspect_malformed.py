"""The malformed-file corpus: every case is one EvalkitError line naming the file, never a traceback."""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Callable

import pytest
from inspect_builders import f32_tensor, safetensors_bytes, targets_of, write_kohya_lora

from evalkit.errors import EvalkitError
from evalkit.inspect import inspect_checkpoint
from evalkit.inspect.safetensors_header import MAX_HEADER_BYTES


class Unpickled:
    """Unpickling this creates a marker file: proof that evalkit never unpickles."""

    marker: Path

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _pickle_payload(marker: Path) -> bytes:
    Unpickled.marker = marker
    return pickle.dumps({"state_dict": Unpickled()}, protocol=2)


def _torch_zip_payload(marker: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", _pickle_payload(marker))
    return buffer.getvalue()


def _lora_tensors(down: list[int], up: list[int], name: str = "lora_unet_mid_block_attentions_0_proj_in") -> bytes:
    d = f32_tensor(down, 0)
    u = f32_tensor(up, d["data_offsets"][1])
    header = {f"{name}.lora_down.weight": d, f"{name}.lora_up.weight": u}
    return safetensors_bytes(header, b"\0" * u["data_offsets"][1])


def _good_file(tmp: Path) -> bytes:
    path = write_kohya_lora(tmp / "source.safetensors", targets_of("tiny")[:3], 2, 1.0)
    return path.read_bytes()


# name -> (file name, bytes builder given a scratch dir, words the error must contain)
CASES: dict[str, tuple[str, Callable[[Path], bytes | None], str]] = {
    "zero-byte file": ("empty.safetensors", lambda t: b"", "empty file"),
    "shorter than the length prefix": ("tiny.safetensors", lambda t: b"\x10\0\0", "truncated"),
    "truncated in the header": ("cut_header.safetensors", lambda t: _good_file(t)[:200], "larger than the file"),
    "truncated in the data": ("cut_data.safetensors", lambda t: _good_file(t)[:-100], "runs past the end"),
    "header length larger than the file": (
        "forged.safetensors", lambda t: safetensors_bytes({}, length=10_000), "larger than the file"),
    "header is not JSON": ("garbage.safetensors", lambda t: safetensors_bytes(b"{not json at all"), "not valid JSON"),
    "header is not UTF-8": ("latin.safetensors", lambda t: safetensors_bytes(b'{"\xff": 1}'), "not UTF-8"),
    "header is a JSON list": ("list.safetensors", lambda t: safetensors_bytes([1, 2]), "not an object"),
    "duplicate tensor names": (
        "dup.safetensors",
        lambda t: safetensors_bytes(
            b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, '
            b'"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}', b"\0" * 8),
        "duplicate key"),
    "overlapping tensors": (
        "overlap.safetensors",
        lambda t: safetensors_bytes({"a": f32_tensor([4], 0), "b": f32_tensor([4], 8)}, b"\0" * 24),
        "overlap"),
    "offsets past the end": (
        "past_end.safetensors",
        lambda t: safetensors_bytes({"a": f32_tensor([4], 0), "b": f32_tensor([4], 16)}, b"\0" * 20),
        "runs past the end"),
    "bytes that belong to no tensor": (
        "gap.safetensors", lambda t: safetensors_bytes({"a": f32_tensor([2], 4)}, b"\0" * 12), "belong to no tensor"),
    "trailing bytes": (
        "trailing.safetensors", lambda t: safetensors_bytes({"a": f32_tensor([2], 0)}, b"\0" * 12),
        "after the last tensor"),
    "offsets that disagree with the shape": (
        "short.safetensors",
        lambda t: safetensors_bytes({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}}, b"\0" * 8),
        "needs 16"),
    "unknown dtype": (
        "dtype.safetensors",
        lambda t: safetensors_bytes({"a": {"dtype": "F12", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4),
        "unknown dtype"),
    "metadata that is not text": (
        "meta.safetensors", lambda t: safetensors_bytes({"__metadata__": {"ss_seed": 42}}), "strings to strings"),
    "no tensors": ("nothing.safetensors", lambda t: safetensors_bytes({"__metadata__": {}}), "no tensors"),
    "pickle .ckpt": ("model.ckpt", lambda t: _pickle_payload(t / "UNPICKLED"), "refusing"),
    "pickle .pt": ("lora.pt", lambda t: _pickle_payload(t / "UNPICKLED"), "refusing"),
    "pickle .bin": ("pytorch_lora_weights.bin", lambda t: _pickle_payload(t / "UNPICKLED"), "refusing"),
    "pickle renamed to .safetensors": ("sneaky.safetensors", lambda t: _pickle_payload(t / "UNPICKLED"), "pickle"),
    "torch zip renamed to .safetensors": (
        "zipped.safetensors", lambda t: _torch_zip_payload(t / "UNPICKLED"), "zip archive"),
    "SD1.5 base model (LDM layout)": (
        "v1-5-pruned.safetensors",
        lambda t: safetensors_bytes({
            "model.diffusion_model.input_blocks.0.0.weight": f32_tensor([2], 0),
            "first_stage_model.decoder.conv_in.weight": f32_tensor([2], 8),
        }, b"\0" * 16),
        "base-model checkpoint"),
    "diffusers UNet weights": (
        "diffusion_pytorch_model.safetensors",
        lambda t: safetensors_bytes({"down_blocks.0.resnets.0.conv1.weight": f32_tensor([2], 0)}, b"\0" * 8),
        "base-model checkpoint"),
    "textual inversion embedding": (
        "embedding.safetensors", lambda t: safetensors_bytes({"emb_params": f32_tensor([2, 4], 0)}, b"\0" * 32),
        "textual-inversion"),
    "kohya keys for another model": (
        "sd3.safetensors",
        lambda t: safetensors_bytes({"lora_transformer_x.lora_down.weight": f32_tensor([2, 2], 0),
                                     "lora_transformer_x.lora_up.weight": f32_tensor([2, 2], 16)}, b"\0" * 32),
        "not for a Stable Diffusion UNet"),
    "unrelated tensors": (
        "random.safetensors", lambda t: safetensors_bytes({"weight": f32_tensor([2], 0)}, b"\0" * 8), "not a LoRA"),
    "lora_down/lora_up rank mismatch": ("mismatch.safetensors", lambda t: _lora_tensors([4, 8], [8, 2]), "disagree"),
    "rank-0 module": ("rank0.safetensors", lambda t: _lora_tensors([0, 8], [8, 0]), "rank 0"),
    "lora_down without lora_up": (
        "half.safetensors",
        lambda t: safetensors_bytes({"lora_unet_x.lora_down.weight": f32_tensor([2, 2], 0)}, b"\0" * 16),
        "no lora_up"),
    "conv down with linear up": ("mixed.safetensors", lambda t: _lora_tensors([2, 4, 3, 3], [4, 2]), "both 2-D"),
    "alpha that is not one number": (
        "alpha.safetensors",
        lambda t: safetensors_bytes({
            "lora_unet_x.lora_down.weight": f32_tensor([2, 4], 0),
            "lora_unet_x.lora_up.weight": f32_tensor([4, 2], 32),
            "lora_unet_x.alpha": f32_tensor([3], 64),
        }, b"\0" * 76),
        "alpha must be one float"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_file_gives_one_line_error(tmp_path, case):
    name, build, words = CASES[case]
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    path = tmp_path / name
    path.write_bytes(build(scratch))
    with pytest.raises(EvalkitError) as caught:
        inspect_checkpoint(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    assert "\n" not in message
    assert words in message, message
    assert not (scratch / "UNPICKLED").exists(), "the pickle was unpickled"


def test_missing_file(tmp_path):
    with pytest.raises(EvalkitError, match=r"nope\.safetensors: no such file$"):
        inspect_checkpoint(tmp_path / "nope.safetensors")


def test_missing_pickle_is_reported_missing(tmp_path):
    with pytest.raises(EvalkitError, match=r"gone\.ckpt: no such file$"):
        inspect_checkpoint(tmp_path / "gone.ckpt")


def test_unknown_architecture_is_a_warning_and_unusable_for_rendering(tmp_path):
    """A Flux LoRA also uses lora_unet_, but none of SD's blocks."""
    path = tmp_path / "flux.safetensors"
    name = "lora_unet_double_blocks_0_img_attn_proj"
    path.write_bytes(_lora_tensors([2, 4], [4, 2], name))
    info = inspect_checkpoint(path)
    assert info.family == "unknown" and info.supported
    assert any("could not infer the base architecture" in w for w in info.warnings)
    with pytest.raises(EvalkitError, match="could not tell which base model"):
        inspect_checkpoint(path, require_supported=True)


def test_directory(tmp_path):
    with pytest.raises(EvalkitError, match="is a directory"):
        inspect_checkpoint(tmp_path)


def test_header_length_over_the_limit(tmp_path):
    path = tmp_path / "huge.safetensors"
    with open(path, "wb") as sparse:  # a sparse file: the size is there, the disk blocks are not
        sparse.write(struct.pack("<Q", MAX_HEADER_BYTES + 1) + b"{")
        sparse.truncate(MAX_HEADER_BYTES + 100)
    with pytest.raises(EvalkitError, match="exceeds the 100000000-byte limit"):
        inspect_checkpoint(path)


def test_unpickling_payload_really_has_a_side_effect(tmp_path):
    """Guards the corpus: the pickle cases would have left a marker had they been unpickled."""
    pickle.loads(_pickle_payload(tmp_path / "UNPICKLED"))  # noqa: S301 - our own payload, on purpose
    assert (tmp_path / "UNPICKLED").exists()


@pytest.mark.parametrize("marker, kind", [
    ("hada_w1_a", "lycoris_loha"), ("lokr_w1", "lycoris_lokr"), ("dora_scale", "dora"), ("lora_mid.weight", "lycoris_cp"),
])
def test_unsupported_families_are_recognised_with_a_clear_message(tmp_path, marker, kind):
    header = {
        "lora_unet_x.lora_down.weight": f32_tensor([2, 4], 0),
        "lora_unet_x.lora_up.weight": f32_tensor([4, 2], 32),
        f"lora_unet_x.{marker}": f32_tensor([2], 64),
        "__metadata__": {"ss_network_module": "lycoris.kohya", "ss_seed": "7"},
    }
    path = tmp_path / f"{kind}.safetensors"
    path.write_bytes(safetensors_bytes(header, b"\0" * 72))
    info = inspect_checkpoint(path)
    assert (info.format.kind, info.supported) == (kind, False)
    assert "not supported" in info.format.note and info.format.note in info.warnings
    assert info.network is None and info.provenance.seed == 7 and info.hashes is not None
    with pytest.raises(EvalkitError, match=f"^{path}: .*not supported"):
        inspect_checkpoint(path, require_supported=True)
