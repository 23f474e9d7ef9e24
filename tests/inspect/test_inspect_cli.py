"""`evalkit inspect FILE... [--json]`: output, exit status, and the JSON schema the README documents."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from evalkit.cli import main
from evalkit.inspect import SCHEMA_VERSION, CheckpointInfo, inspect_checkpoint

# The documented JSON schema (README.md, "JSON schema"): changing it means bumping SCHEMA_VERSION.
SCHEMA = {
    "": ["schema_version", "file", "file_name", "file_size", "format", "architecture", "network", "provenance",
         "captions", "hashes", "health", "metadata", "warnings"],
    "format": ["kind", "label", "supported", "note", "naming", "locon", "tensor_count", "dtypes", "unused_tensors"],
    "architecture": ["family", "custom_size", "cross_attention_dim", "text_encoder_dims", "text_encoder_layers",
                     "linear_projection", "block_naming", "evidence", "metadata_family", "metadata_source",
                     "agrees_with_metadata"],
    "network": ["module_count", "rank", "alpha", "scale", "rank_distribution", "alpha_distribution", "mixed_ranks",
                "conv_rank", "conv_alpha", "alpha_stored", "trained_parts", "trains_unet", "trains_text_encoder",
                "module_counts", "block_counts", "modules"],
    "network.modules[]": ["name", "component", "block", "kind", "in_features", "out_features", "kernel_size", "rank",
                          "alpha", "alpha_stored", "scale", "dtype"],
    "provenance": [
        "network_module", "network_dim", "network_alpha", "network_dynamic", "network_args", "network_dropout",
        "base_model_version", "base_model_name", "base_model_hash", "vae_name", "v2", "clip_skip", "learning_rate",
        "unet_lr", "text_encoder_lr", "lr_scheduler", "lr_warmup_steps", "optimizer", "num_epochs", "epoch", "steps",
        "max_train_steps", "batch_size_per_device", "total_batch_size", "gradient_accumulation_steps", "seed",
        "mixed_precision", "resolution", "noise_offset", "multires_noise_iterations", "multires_noise_discount",
        "adaptive_noise_scale", "min_snr_gamma", "shuffle_caption", "keep_tokens", "caption_dropout_rate",
        "max_token_length", "num_train_images", "num_reg_images", "dataset_dirs", "datasets", "training_started_at",
        "training_finished_at", "training_comment", "output_name", "session_id", "sd_scripts_commit_hash",
        "modelspec", "extra",
    ],
    "captions": ["dirs", "distinct_tags", "tag_occurrences", "images", "mean_tags_per_image", "hex_color_tags",
                 "hex_color_occurrences", "tag_set_hash", "tag_counts_hash", "top_tags"],
    "hashes": ["sha256", "tensor_sha256", "sshs_model_hash", "sshs_legacy_hash", "model_hash_matches"],
    "health": ["checked_modules", "nan_count", "inf_count", "nonfinite_modules", "zero_up_modules", "untrained",
               "max_delta_norm", "max_delta_norm_module", "block_max_delta_norm", "skipped_modules"],
}


@pytest.fixture()
def broken(tmp_path):
    path = tmp_path / "broken.safetensors"
    path.write_bytes(b"\x05\x00\x00")
    return path


def test_json_schema_is_the_documented_one(sd15_lora):
    record = inspect_checkpoint(sd15_lora).to_dict()
    assert list(record) == SCHEMA[""]
    for section, keys in SCHEMA.items():
        if section and not section.endswith("[]"):
            assert list(record[section]) == keys, section
    assert list(record["network"]["modules"][0]) == SCHEMA["network.modules[]"]
    assert record["schema_version"] == SCHEMA_VERSION == 1
    assert record["network"]["rank_distribution"] == {"8": 264}
    assert record["network"]["alpha_distribution"] == {"4": 264}


def test_record_round_trips_through_json(sd15_lora):
    info = inspect_checkpoint(sd15_lora)
    again = CheckpointInfo.from_dict(json.loads(info.to_json()))
    assert again == info
    assert again.network.rank_distribution == {8: 264} and again.network.alpha_distribution == {4.0: 264}


def test_from_dict_refuses_another_schema_version(sd15_lora):
    data = inspect_checkpoint(sd15_lora, tensor_health=False).to_dict()
    data["schema_version"] = 99
    with pytest.raises(Exception, match="schema_version 99"):
        CheckpointInfo.from_dict(data)


def test_human_summary(capsys, sd15_lora):
    assert main(["inspect", str(sd15_lora)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{sd15_lora}  (")
    for expected in [
        "format:        kohya networks.lora",
        "architecture:  sd15 (cross-attention 768); metadata ss_base_model_version=sd_v1 agrees",
        "network:       rank 8, alpha 4 (scale 0.5); 264 modules: unet 192, te 72",
        "down_blocks_0 24,",
        "base model:    v1-5-pruned-emaonly.safetensors (sd_v1)",
        "lr 0.0001, unet lr 0.0001, te lr 5e-05, cosine",
        "10/10 epochs, 2500 steps, seed 42, 512x512, fp16",
        "noise offset 0.05, multires noise 6 x 0.3, min_snr_gamma 5",
        "2024-05-01T10:00:00Z -> 2024-05-01T11:00:00Z",
        "shuffle on, keep_tokens 1, 7 tags, 3.1 tags/image over 100 images, 2 hex-colour tags, tag set ",
        "10_punks: 100 images x 10 repeats",
        "(sshs_model_hash matches)",
        "health:        ok: 0 NaN, 0 Inf, 0 untrained modules; max |dW| ",
    ]:
        assert expected in out, expected
    assert "warning" not in out


def test_bad_file_does_not_stop_the_others(capsys, sd15_lora, broken, tmp_path):
    missing = tmp_path / "missing.safetensors"
    assert main(["inspect", str(broken), str(sd15_lora), str(missing)]) == 4
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"evalkit inspect: error: {broken}: truncated: 3 bytes, too short for the 8-byte safetensors header length",
        f"evalkit inspect: error: {missing}: no such file",
    ]
    assert f"{sd15_lora}  (" in captured.out and "rank 8, alpha 4" in captured.out


def test_json_lists_failed_files_with_their_error(capsys, sd15_lora, broken):
    assert main(["inspect", "--json", str(sd15_lora), str(broken)]) == 4
    captured = capsys.readouterr()
    good, bad = json.loads(captured.out)
    assert good["file"] == str(sd15_lora) and good["network"]["rank"] == 8
    assert bad == {"file": str(broken), "error": "truncated: 3 bytes, too short for the 8-byte safetensors header length"}
    assert len(captured.err.splitlines()) == 1


def test_console_command_end_to_end(sd15_lora, broken):
    run = subprocess.run(
        [sys.executable, "-m", "evalkit.cli", "inspect", "--json", str(sd15_lora), str(broken)],
        capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 4
    assert [r.get("error") is None for r in json.loads(run.stdout)] == [True, False]
    assert "Traceback" not in run.stderr and len(run.stderr.splitlines()) == 1
