"""ss_* metadata as typed provenance, and the caption fingerprint from ss_tag_frequency."""

from __future__ import annotations

import json

import pytest
from inspect_builders import kohya_metadata, targets_of, write_kohya_lora

from evalkit.inspect import inspect_checkpoint
from evalkit.inspect.caption_fingerprint import caption_fingerprint, is_hex_color
from evalkit.inspect.provenance import parse_provenance


def test_kohya_metadata_becomes_typed_fields():
    prov, problems = parse_provenance(kohya_metadata())
    assert problems == []
    assert (prov.learning_rate, prov.unet_lr, prov.text_encoder_lr) == (1e-4, 1e-4, 5e-5)
    assert (prov.num_epochs, prov.epoch, prov.steps, prov.max_train_steps) == (10, 10, 2500, 2500)
    assert (prov.seed, prov.clip_skip, prov.max_token_length) == (42, 2, 225)
    assert prov.resolution == [512, 512]
    assert (prov.noise_offset, prov.multires_noise_iterations, prov.multires_noise_discount) == (0.05, 6, 0.3)
    assert prov.adaptive_noise_scale is None and prov.min_snr_gamma == 5.0
    assert (prov.shuffle_caption, prov.keep_tokens, prov.caption_dropout_rate) == (True, 1, 0.0)
    assert prov.optimizer == "bitsandbytes.optim.adamw.AdamW8bit(weight_decay=0.01)"
    assert (prov.lr_scheduler, prov.mixed_precision) == ("cosine", "fp16")
    assert (prov.network_module, prov.network_dim, prov.network_alpha) == ("networks.lora", 8, 4.0)
    assert prov.network_args is None and prov.network_dropout is None and not prov.network_dynamic
    assert prov.base_model_name == "v1-5-pruned-emaonly.safetensors"
    assert prov.base_model_hash.startswith("6ce0161689b3")  # the sha256 one wins over the old 8-digit hash
    assert (prov.base_model_version, prov.v2, prov.vae_name) == ("sd_v1", False, None)
    assert prov.dataset_dirs == {"10_punks": {"n_repeats": 10, "img_count": 100}}
    assert (prov.num_train_images, prov.image_count) == (1000, 100)
    assert prov.training_started_at == "2024-05-01T10:00:00Z"
    assert prov.training_finished_at == "2024-05-01T11:00:00Z"
    assert prov.training_comment is None and prov.output_name == "punks_v3"
    assert prov.modelspec["architecture"] == "stable-diffusion-v1/lora"
    assert prov.modelspec["date"] == "2024-05-01T11:00:00"
    # keys without a dedicated field are still typed
    assert prov.extra["cache_latents"] is True and prov.extra["min_bucket_reso"] == 256
    assert prov.extra["max_grad_norm"] == 1.0 and prov.extra["face_crop_aug_range"] is None
    assert prov.extra["bucket_info"]["buckets"]["0"]["count"] == 1000
    assert "tag_frequency" not in prov.extra and "seed" not in prov.extra


def test_bad_values_are_reported_not_fatal():
    prov, problems = parse_provenance(kohya_metadata(
        ss_seed="forty-two", ss_num_epochs="2.5", ss_dataset_dirs="{broken", ss_training_started_at="soon",
        ss_resolution="big",
    ))
    assert (prov.seed, prov.num_epochs, prov.dataset_dirs, prov.training_started_at, prov.resolution) == (
        None, None, None, None, None)
    assert len(problems) == 5 and all(p.startswith("metadata ss_") for p in problems)
    assert prov.learning_rate == 1e-4


def test_dynamic_dims_from_resize_lora():
    prov, problems = parse_provenance({"ss_network_dim": "Dynamic", "ss_network_alpha": "Dynamic"})
    assert prov.network_dynamic and prov.network_dim is None and prov.network_alpha is None and not problems


def test_dataset_config_runs_take_caption_settings_from_the_subsets():
    """With --dataset_config, kohya writes shuffle_caption/keep_tokens/resolution inside ss_datasets."""
    datasets = [{"resolution": [768, 768], "subsets": [
        {"img_count": 50, "num_repeats": 2, "shuffle_caption": True, "keep_tokens": 2, "image_dir": "a"},
        {"img_count": 30, "num_repeats": 4, "shuffle_caption": True, "keep_tokens": 2, "image_dir": "b"},
    ]}]
    prov, _ = parse_provenance({"ss_datasets": json.dumps(datasets)})
    assert (prov.shuffle_caption, prov.keep_tokens, prov.resolution) == (True, 2, [768, 768])
    datasets[0]["subsets"][1]["keep_tokens"] = 0  # subsets disagree: no single value to report
    prov, _ = parse_provenance({"ss_datasets": json.dumps(datasets)})
    assert prov.keep_tokens is None and prov.shuffle_caption is True


def _tags(per_dir: dict, dirs: dict | None = None) -> dict[str, str]:
    metadata = {"ss_tag_frequency": json.dumps(per_dir)}
    if dirs is not None:
        metadata["ss_dataset_dirs"] = json.dumps(dirs)
    return metadata


def test_caption_fingerprint_counts():
    metadata = kohya_metadata()
    prov, _ = parse_provenance(metadata)
    fp, problems = caption_fingerprint(metadata, prov.dataset_dirs)
    assert problems == []
    assert (fp.dirs, fp.distinct_tags, fp.tag_occurrences, fp.images) == (1, 7, 310, 100)
    assert fp.mean_tags_per_image == 3.1
    assert (fp.hex_color_tags, fp.hex_color_occurrences) == (2, 85)
    assert fp.top_tags[:3] == [["punk", 100], ["male", 60], ["#638596", 55]]
    assert len(fp.tag_set_hash) == 64 and fp.short_hash == fp.tag_set_hash[:12]


def test_same_captions_in_other_folders_have_the_same_fingerprint():
    old = _tags({"10_punks": {"punk": 10, "#ff0000": 4, "Earring": 2}}, {"10_punks": {"n_repeats": 10, "img_count": 10}})
    moved = _tags({"5_punks": {"earring": 1, "punk": 6}, "3_more": {"punk": 4, "#ff0000": 4, "earring": 1}})
    new = _tags({"10_punks": {"punk": 10, "#ff0000": 4, "earring": 2, "cap": 1}})
    fp_old, fp_moved, fp_new = (caption_fingerprint(m, json.loads(m.get("ss_dataset_dirs", "null")))[0]
                                for m in (old, moved, new))
    assert fp_old.tag_set_hash == fp_moved.tag_set_hash and fp_old.tag_counts_hash == fp_moved.tag_counts_hash
    assert fp_old.tag_set_hash != fp_new.tag_set_hash
    recounted = caption_fingerprint(_tags({"x": {"punk": 10, "#ff0000": 3, "earring": 2}}))[0]
    assert recounted.tag_set_hash == fp_old.tag_set_hash and recounted.tag_counts_hash != fp_old.tag_counts_hash
    assert fp_moved.images is None and fp_moved.mean_tags_per_image is None


@pytest.mark.parametrize("tag, hex_", [
    ("#638596", True), ("#abc", True), ("#AbCdEf".lower(), True), ("a1b2c3", True), ("ff00ff80", True),
    ("facade", False), ("decade", False), ("#12345", False), ("punk", False), ("3d glasses", False),
])
def test_hex_colour_tags(tag, hex_):
    assert is_hex_color(tag) is hex_


def test_broken_tag_frequency_is_a_warning(tmp_path):
    fp, problems = caption_fingerprint({"ss_tag_frequency": "{oops"})
    assert fp is None and "not valid JSON" in problems[0]
    fp, problems = caption_fingerprint({"ss_tag_frequency": '{"d": {"punk": "many", "cap": 2}}'})
    assert fp.distinct_tags == 1 and "not a count" in problems[0]
    assert caption_fingerprint({}) == (None, [])


def test_provenance_and_captions_in_the_record(tmp_path):
    metadata = kohya_metadata(ss_seed="oops")
    info = inspect_checkpoint(write_kohya_lora(tmp_path / "p.safetensors", targets_of("tiny"), 8, 4.0, metadata))
    assert info.provenance.seed is None and info.provenance.steps == 2500
    assert any(w.startswith("metadata ss_seed=") for w in info.warnings)
    assert info.captions.distinct_tags == 7
    assert info.metadata["ss_seed"] == "oops" and "sshs_model_hash" in info.metadata
