"""Hashes as sd-scripts computes them, and tensor health (NaN/Inf, untrained modules, delta norms)."""

from __future__ import annotations

import hashlib
import io
import json
import math

import numpy as np
import pytest
import torch
from inspect_builders import targets_of, write_kohya_lora
from safetensors.torch import load_file, save, save_file

from evalkit.inspect import inspect_checkpoint
from evalkit.inspect.kohya_format import kohya_lora_state_dict, kohya_state_dict_to_file
from evalkit.inspect.safetensors_header import SafetensorsFile


def _sd_scripts_hashes(tensors, metadata):
    """sd-scripts' precalculate_safetensors_hashes, restated: hashes of an ss_*-only serialisation."""
    data = io.BytesIO(save(tensors, {k: v for k, v in metadata.items() if k.startswith("ss_")}))
    n = int.from_bytes(data.read(8), "little")
    data.seek(n + 8)
    model_hash = hashlib.sha256(data.read()).hexdigest()
    data.seek(0x100000)
    legacy_hash = hashlib.sha256(data.read(0x10000)).hexdigest()[:8]
    return model_hash, legacy_hash


def test_writer_stamps_the_hashes_sd_scripts_would(tmp_path):
    tensors = kohya_lora_state_dict(targets_of("sd15"), 4, 2.0)  # > 1 MiB, so the legacy hash sees data
    metadata = {"ss_seed": "42", "ss_network_dim": "4", "modelspec.title": "not hashed"}
    written = kohya_state_dict_to_file(tmp_path / "a.safetensors", tensors, metadata)
    assert (written["sshs_model_hash"], written["sshs_legacy_hash"]) == _sd_scripts_hashes(tensors, metadata)
    assert metadata == {"ss_seed": "42", "ss_network_dim": "4", "modelspec.title": "not hashed"}  # not mutated

    info = inspect_checkpoint(tmp_path / "a.safetensors")
    assert info.hashes.sha256 == hashlib.sha256((tmp_path / "a.safetensors").read_bytes()).hexdigest()
    assert info.hashes.tensor_sha256 == written["sshs_model_hash"] == info.hashes.sshs_model_hash
    assert info.hashes.sshs_legacy_hash == written["sshs_legacy_hash"]
    assert info.hashes.model_hash_matches is True


def test_writer_accepts_numpy_arrays(tmp_path):
    arrays = {"lora_unet_x.lora_down.weight": np.ones((2, 4), np.float32),
              "lora_unet_x.lora_up.weight": np.ones((4, 2), np.float32)}
    kohya_state_dict_to_file(tmp_path / "n.safetensors", arrays)
    assert torch.equal(load_file(tmp_path / "n.safetensors")["lora_unet_x.lora_up.weight"], torch.ones(4, 2))
    with pytest.raises(TypeError, match="str to str"):
        kohya_state_dict_to_file(tmp_path / "bad.safetensors", arrays, {"ss_seed": 42})


def test_editing_metadata_keeps_the_tensor_hash(tmp_path, sd15_lora):
    before = inspect_checkpoint(sd15_lora)
    edited = tmp_path / "edited.safetensors"
    save_file(load_file(sd15_lora), edited, {**before.metadata, "ss_training_comment": "renamed by a user"})
    after = inspect_checkpoint(edited)
    assert after.hashes.sha256 != before.hashes.sha256
    assert after.hashes.tensor_sha256 == before.hashes.tensor_sha256
    assert after.hashes.model_hash_matches is True


def test_changed_tensor_bytes_do_not_match_the_stored_hash(tmp_path, sd15_lora):
    raw = bytearray(sd15_lora.read_bytes())
    raw[-3] ^= 0x40
    tampered = tmp_path / "tampered.safetensors"
    tampered.write_bytes(bytes(raw))
    info = inspect_checkpoint(tampered)
    assert info.hashes.model_hash_matches is False
    assert any("sshs_model_hash" in w and "does not match" in w for w in info.warnings)


def test_file_without_metadata_has_no_stored_hash(tmp_path):
    path = tmp_path / "plain.safetensors"
    save_file(kohya_lora_state_dict(targets_of("tiny"), 2, 1.0), path)
    info = inspect_checkpoint(path)
    assert info.hashes.sshs_model_hash is None and info.hashes.model_hash_matches is None
    assert info.metadata == {} and info.provenance.network_dim is None


def test_untrained_lora_is_flagged(tmp_path):
    info = inspect_checkpoint(write_kohya_lora(tmp_path / "u.safetensors", targets_of("tiny"), 4, 4.0, trained=False))
    health = info.health
    assert health.untrained and not health.ok
    assert health.zero_up_modules == health.checked_modules == 108
    assert health.max_delta_norm == 0.0
    assert any("never trained" in w for w in info.warnings)


def test_nan_and_inf_are_counted(tmp_path):
    targets = targets_of("tiny")
    tensors = kohya_lora_state_dict(targets, 4, 1.0)
    tensors[f"{targets[0].name}.lora_up.weight"][0, :3] = float("nan")
    tensors[f"{targets[5].name}.lora_down.weight"][1, 0] = float("inf")
    tensors[f"{targets[5].name}.lora_down.weight"][2, 0] = float("-inf")
    tensors[f"{targets[7].name}.lora_up.weight"].zero_()
    kohya_state_dict_to_file(tmp_path / "nan.safetensors", tensors)
    info = inspect_checkpoint(tmp_path / "nan.safetensors")
    health = info.health
    assert (health.nan_count, health.inf_count) == (3, 2)
    assert set(health.nonfinite_modules) == {targets[0].name, targets[5].name}
    assert health.zero_up_modules == 1 and not health.untrained and not health.ok
    assert any("NaN" in w for w in info.warnings) and any("all-zero lora_up" in w for w in info.warnings)
    assert json.loads(info.to_json())  # still valid JSON


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_delta_norms_match_torch(tmp_path, dtype):
    targets = targets_of("tiny", locon=True)
    tensors = kohya_lora_state_dict(targets, 4, 2.0, conv_rank=2, conv_alpha=1.0, dtype=dtype)
    kohya_state_dict_to_file(tmp_path / "n.safetensors", tensors)
    info = inspect_checkpoint(tmp_path / "n.safetensors")
    expected: dict[str, float] = {}
    for t in targets:
        down = tensors[f"{t.name}.lora_down.weight"].double()
        up = tensors[f"{t.name}.lora_up.weight"].double()
        scale = float(tensors[f"{t.name}.alpha"]) / down.shape[0]
        expected[t.name] = float(torch.linalg.norm(up.flatten(1) @ down.flatten(1))) * scale
    block = {m.name: m.block for m in info.network.modules}
    per_block: dict[str, float] = {}
    for name, norm in expected.items():
        per_block[block[name]] = max(per_block.get(block[name], 0.0), norm)
    health = info.health
    assert health.max_delta_norm == pytest.approx(max(expected.values()), rel=1e-6)
    assert health.max_delta_norm_module == max(expected, key=expected.get)
    assert health.block_max_delta_norm == pytest.approx(per_block, rel=1e-6)
    assert info.format.dtypes == {dtype.replace("bfloat", "BF").replace("float", "F"): len(tensors)}


def test_bf16_is_decoded_exactly(tmp_path):
    values = torch.tensor([[0.0, -1.5, 3.140625, 1e-8], [65504.0, -2.0**-130, 1e30, float("inf")]], dtype=torch.bfloat16)
    save_file({"t": values}, tmp_path / "b.safetensors")
    with SafetensorsFile(tmp_path / "b.safetensors") as st:
        decoded = st.read_array(st.tensors["t"])
    assert decoded.dtype == np.float32
    assert np.array_equal(decoded, values.float().numpy())


def test_only_alphas_are_read_when_health_and_hashes_are_off(tmp_path, monkeypatch, sd15_lora):
    reads = []
    original = SafetensorsFile.read_bytes
    monkeypatch.setattr(SafetensorsFile, "read_bytes", lambda self, e: reads.append(e.name) or original(self, e))
    info = inspect_checkpoint(sd15_lora, tensor_health=False, hashes=False)
    assert info.health is None and info.hashes is None
    assert reads and all(name.endswith(".alpha") for name in reads)
    assert info.network.alpha == 4.0 and math.isclose(info.network.scale, 0.5)
