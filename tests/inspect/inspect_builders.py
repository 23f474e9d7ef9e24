"""Builders for the inspect tests: real kohya key sets, LoRA files, raw safetensors bytes."""

from __future__ import annotations

import functools
import json
import struct
from pathlib import Path
from typing import Any

from evalkit.render.sd_configs import MODELS

from evalkit.inspect.kohya_format import (
    TEXT_ENCODER_TARGET_CLASSES,
    UNET_CONV_TARGET_CLASSES,
    UNET_PREFIX,
    UNET_TARGET_CLASSES,
    LoraTarget,
    kohya_lora_state_dict,
    kohya_lora_targets,
    kohya_state_dict_to_file,
    targets_for_configs,
)


@functools.cache
def model_targets(family: str, locon: bool = False, sgm: bool | None = None) -> dict[str, tuple[LoraTarget, ...]]:
    """{kohya prefix: targets} that sd-scripts creates for the real model of `family`.

    `sgm=False` keeps diffusers block names for an SDXL UNet (as diffusers-format files have them).
    """
    unet_config, encoders, family_sgm = MODELS[family]
    return targets_for_configs(unet_config, encoders, family_sgm if sgm is None else sgm, locon)


def targets_of(
    family: str, *, locon: bool = False, text_encoder: bool = True, unet: bool = True, sgm: bool | None = None
) -> list[LoraTarget]:
    chosen = []
    for prefix, targets in model_targets(family, locon, sgm).items():
        if (prefix == UNET_PREFIX and unet) or (prefix != UNET_PREFIX and text_encoder):
            chosen += targets
    return chosen


def write_kohya_lora(
    path: Path, targets: list[LoraTarget], rank: Any = 4, alpha: Any = 1.0,
    metadata: dict[str, str] | None = None, **kwargs: Any,
) -> Path:
    kohya_state_dict_to_file(path, kohya_lora_state_dict(targets, rank, alpha, **kwargs), metadata or {})
    return path


PEFT_COMPONENTS = {"lora_unet": "unet", "lora_te": "text_encoder", "lora_te1": "text_encoder",
                   "lora_te2": "text_encoder_2"}


def write_peft_lora(path: Path, targets: list[LoraTarget], rank: int, adapter_metadata: dict | None = None) -> Path:
    """A diffusers/peft-format LoRA (unet.<path>.lora_A.weight ...), as save_lora_weights writes it."""
    from safetensors.torch import save_file

    kohya = kohya_lora_state_dict(targets, rank, None)
    state = {}
    for t in targets:
        component = PEFT_COMPONENTS[t.name[: len(t.name) - len(t.path.replace(".", "_")) - 1]]
        state[f"{component}.{t.path}.lora_A.weight"] = kohya[f"{t.name}.lora_down.weight"]
        state[f"{component}.{t.path}.lora_B.weight"] = kohya[f"{t.name}.lora_up.weight"]
    metadata = {"format": "pt"}
    if adapter_metadata:
        metadata["lora_adapter_metadata"] = json.dumps(adapter_metadata, indent=2, sort_keys=True)
    save_file(state, str(path), metadata)
    return path


def safetensors_bytes(header: Any, data: bytes = b"", *, length: int | None = None) -> bytes:
    """A safetensors file from a header object (dumped as JSON, or raw bytes) and data."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if length is None else length) + raw + data


def f32_tensor(shape: list[int], begin: int) -> dict[str, Any]:
    n = 1
    for d in shape:
        n *= d
    return {"dtype": "F32", "shape": shape, "data_offsets": [begin, begin + 4 * n]}


def kohya_metadata(**overrides: str) -> dict[str, str]:
    """ss_* metadata as sd-scripts' train_network.py writes it (values are strings)."""
    metadata = {
        "ss_session_id": "1234567890",
        "ss_training_started_at": "1714557600.25",
        "ss_training_finished_at": "1714561200.75",
        "ss_output_name": "punks_v3",
        "ss_learning_rate": "0.0001",
        "ss_text_encoder_lr": "5e-05",
        "ss_unet_lr": "0.0001",
        "ss_num_train_images": "1000",
        "ss_num_reg_images": "0",
        "ss_num_batches_per_epoch": "250",
        "ss_num_epochs": "10",
        "ss_epoch": "10",
        "ss_steps": "2500",
        "ss_max_train_steps": "2500",
        "ss_batch_size_per_device": "4",
        "ss_total_batch_size": "4",
        "ss_gradient_accumulation_steps": "1",
        "ss_lr_warmup_steps": "0",
        "ss_lr_scheduler": "cosine",
        "ss_network_module": "networks.lora",
        "ss_network_dim": "8",
        "ss_network_alpha": "4.0",
        "ss_network_dropout": "None",
        "ss_network_args": "null",
        "ss_mixed_precision": "fp16",
        "ss_full_fp16": "False",
        "ss_v2": "False",
        "ss_base_model_version": "sd_v1",
        "ss_clip_skip": "2",
        "ss_max_token_length": "225",
        "ss_cache_latents": "True",
        "ss_seed": "42",
        "ss_lowram": "False",
        "ss_noise_offset": "0.05",
        "ss_multires_noise_iterations": "6",
        "ss_multires_noise_discount": "0.3",
        "ss_adaptive_noise_scale": "None",
        "ss_min_snr_gamma": "5.0",
        "ss_zero_terminal_snr": "False",
        "ss_training_comment": "None",
        "ss_sd_scripts_commit_hash": "25f961bc779bc79aef440813e3e8e92244ac5739",
        "ss_optimizer": "bitsandbytes.optim.adamw.AdamW8bit(weight_decay=0.01)",
        "ss_max_grad_norm": "1.0",
        "ss_caption_dropout_rate": "0.0",
        "ss_caption_dropout_every_n_epochs": "0",
        "ss_caption_tag_dropout_rate": "0.0",
        "ss_face_crop_aug_range": "None",
        "ss_prior_loss_weight": "1.0",
        "ss_sd_model_name": "v1-5-pruned-emaonly.safetensors",
        "ss_sd_model_hash": "e1441589",
        "ss_new_sd_model_hash": "6ce0161689b3853acaa03779ec93eafe75a02f4ced659bee03f50797806fa2fa",
        "ss_vae_name": "None",
        "ss_resolution": "(512, 512)",
        "ss_enable_bucket": "True",
        "ss_min_bucket_reso": "256",
        "ss_max_bucket_reso": "1024",
        "ss_bucket_no_upscale": "False",
        "ss_shuffle_caption": "True",
        "ss_keep_tokens": "1",
        "ss_color_aug": "False",
        "ss_flip_aug": "False",
        "ss_random_crop": "False",
        "ss_bucket_info": json.dumps({"buckets": {"0": {"resolution": [512, 512], "count": 1000}}, "mean_img_ar_error": 0.0}),
        "ss_dataset_dirs": json.dumps({"10_punks": {"n_repeats": 10, "img_count": 100}}),
        "ss_reg_dataset_dirs": "{}",
        "ss_tag_frequency": json.dumps({"10_punks": {
            "punk": 100, "male": 60, "female": 40, "#638596": 55, "#ae8b61": 30, "earring": 20, "3d glasses": 5,
        }}),
        "modelspec.sai_model_spec": "1.0.0",
        "modelspec.architecture": "stable-diffusion-v1/lora",
        "modelspec.implementation": "diffusers",
        "modelspec.title": "punks_v3",
        "modelspec.resolution": "512x512",
        "modelspec.date": "2024-05-01T11:00:00",
        "modelspec.prediction_type": "epsilon",
    }
    metadata.update(overrides)
    return metadata
