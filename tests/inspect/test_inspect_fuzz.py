"""Fuzzing the header parser and the whole inspection: no input may end in a traceback."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from inspect_builders import safetensors_bytes, targets_of, write_kohya_lora

from evalkit.errors import EvalkitError
from evalkit.inspect import CheckpointInfo, inspect_checkpoint
from evalkit.inspect.safetensors_header import DTYPE_SIZES, parse_header_bytes
from evalkit.inspect.summary import format_summary

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
MODULE_NAMES = ["lora_unet_down_blocks_{i}_attentions_0_transformer_blocks_0_attn2_to_k",
                "lora_te_text_model_encoder_layers_{i}_self_attn_q_proj", "lora_te2_{i}",
                "unet.mid_block.attentions.{i}.proj_in", "text_encoder.text_model.q_proj{i}", "weird{i}"]
SUFFIXES = [".lora_down.weight", ".lora_up.weight", ".alpha", ".lora_A.weight", ".lora_B.weight", ".hada_w1_a",
            ".dora_scale", ""]
METADATA_KEYS = ["ss_seed", "ss_network_dim", "ss_network_alpha", "ss_tag_frequency", "ss_dataset_dirs",
                 "ss_datasets", "ss_base_model_version", "ss_resolution", "ss_training_started_at",
                 "sshs_model_hash", "lora_adapter_metadata", "modelspec.architecture"]
METADATA_VALUES = ['{"d": {"punk": 3, "#ff0000": 1}}', '{"d": {"n_repeats": 1, "img_count": 2}}', "True", "None",
                   "1e999", "[", "sdxl_base_v1-0", "sd_v1", "Dynamic", "(512, 512)", "-1e300", '{"unet.lora_alpha": 2}']


def _assert_sound(info: CheckpointInfo) -> None:
    text = info.to_json()
    assert CheckpointInfo.from_dict(json.loads(text)).to_json() == text
    assert format_summary(info)


def _inspect_bytes(directory: Path, data: bytes) -> None:
    path = directory / "fuzz.safetensors"
    path.write_bytes(data)
    try:
        info = inspect_checkpoint(path)
    except EvalkitError as exc:
        assert str(exc).startswith(f"{path}: ") and "\n" not in str(exc)
        event("refused: " + " ".join(w for w in exc.problem.split()[:3] if "'" not in w))  # --hypothesis-show-statistics shows the mix
    else:
        event(f"inspected: {info.format.kind}, {info.family}")
        _assert_sound(info)


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(st.binary(max_size=64))
def test_random_bytes(data):
    try:
        parse_header_bytes(data)
    except EvalkitError:
        pass


@FUZZ
@given(st.binary(max_size=200), st.integers(0, 300))
def test_random_header_bodies(body, extra):
    try:
        parse_header_bytes(safetensors_bytes(body) + b"\0" * extra)
    except EvalkitError:
        pass


@FUZZ
@given(json_values)
def test_any_json_header(value):
    try:
        parse_header_bytes(safetensors_bytes(value))
    except EvalkitError:
        pass


@st.composite
def tensor_entries(draw, name: str, shape: list[int], offset: int) -> tuple[dict, int]:
    dtype = draw(st.sampled_from(["F32", "F16", "BF16", "F64", "F32", "F16", "I8", "F8_E4M3"]))
    size = DTYPE_SIZES[dtype] * math.prod(shape)
    entry = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
    if draw(st.integers(0, 49)) == 33:  # rarely; hypothesis favours the bounds
        entry[draw(st.sampled_from(["dtype", "shape", "data_offsets"]))] = draw(json_values)
    return {name: entry}, size


@st.composite
def lora_like_files(draw) -> bytes:
    """Headers that are mostly consistent, so the fuzz reaches format, rank and health code."""
    header: dict = {}
    offset = 0
    for i in range(draw(st.integers(0, 5))):
        module = draw(st.sampled_from(MODULE_NAMES)).format(i=i)
        if draw(st.integers(0, 3)) != 2:  # a whole module: down, up and maybe alpha with agreeing shapes
            rank, n_in, n_out = draw(st.sampled_from([1, 2, 3, 0])), draw(st.integers(1, 4)), draw(st.integers(1, 4))
            kernel = draw(st.sampled_from([[], [], [1, 1], [3, 3]]))
            down_up = [".lora_down.weight", ".lora_up.weight"] if module.startswith("lora_") else [".lora_A.weight", ".lora_B.weight"]
            parts = [(down_up[0], [rank, n_in, *kernel]), (down_up[1], [n_out, rank, *([1, 1] if kernel else [])])]
            if draw(st.booleans()):
                parts.append((".alpha", draw(st.sampled_from([[], [1], [2]]))))
        else:
            parts = [(draw(st.sampled_from(SUFFIXES)), draw(st.lists(st.integers(0, 4), max_size=4)))]
        for suffix, shape in parts:
            entry, size = draw(tensor_entries(module + suffix, shape, offset))
            header.update(entry)
            offset += size
    if draw(st.booleans()):
        header["__metadata__"] = draw(st.dictionaries(
            st.sampled_from(METADATA_KEYS), st.sampled_from(METADATA_VALUES) | st.text(max_size=12), max_size=6))
    data = draw(st.binary(min_size=offset, max_size=offset))
    slack = {5: 1, 6: -1, 7: 8}.get(draw(st.integers(0, 9)), 0)
    return safetensors_bytes(header, data[: len(data) + min(slack, 0)] + b"\0" * max(slack, 0))


@FUZZ
@given(lora_like_files())
def test_whole_inspection_of_lora_like_files(fuzz_dir, data):
    _inspect_bytes(fuzz_dir, data)


@st.composite
def damaged_copies(draw, original: bytes) -> bytes:
    data = bytearray(original)
    data_start = 8 + int.from_bytes(original[:8], "little")
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "cut", "insert"]))
        # Half the damage lands in the tensor bytes, which the header checks cannot see.
        position = draw(st.integers(0, len(data)) | st.integers(min(data_start, len(data)), len(data)))
        if action == "flip" and position < len(data):
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif action == "cut":
            del data[position: position + draw(st.integers(1, 16))]
        else:
            data[position:position] = draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


@pytest.fixture(scope="module")
def small_lora(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("seed") / "seed.safetensors"
    metadata = {"ss_seed": "1", "ss_tag_frequency": '{"1_a": {"punk": 2}}', "ss_base_model_version": "sd_v1"}
    return write_kohya_lora(path, targets_of("tiny")[:4], 2, 1.0, metadata).read_bytes()


@FUZZ
@given(data=st.data())
def test_damaged_real_files(fuzz_dir, small_lora, data):
    _inspect_bytes(fuzz_dir, data.draw(damaged_copies(small_lora)))
