"""Shared LoRA files for the inspect tests (built once per session: building SDXL's key set is the slow part)."""

from __future__ import annotations

from pathlib import Path

import pytest
from inspect_builders import kohya_metadata, targets_of, write_kohya_lora

SDXL_METADATA = {
    "ss_base_model_version": "sdxl_base_v1-0",
    "modelspec.architecture": "stable-diffusion-xl-v1-base/lora",
    "ss_sd_model_name": "sd_xl_base_1.0.safetensors",
    "ss_resolution": "(1024, 1024)",
}


@pytest.fixture(scope="session")
def sd15_lora(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Full-size SD1.5 kohya LoRA, rank 8 / alpha 4, with the metadata sd-scripts writes."""
    path = tmp_path_factory.mktemp("sd15") / "punks_v3.safetensors"
    return write_kohya_lora(path, targets_of("sd15"), 8, 4.0, kohya_metadata())


@pytest.fixture(scope="session")
def sdxl_lora(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Full-size SDXL kohya LoRA, rank 2 / alpha 1."""
    path = tmp_path_factory.mktemp("sdxl") / "punks_xl.safetensors"
    metadata = kohya_metadata(ss_network_dim="2", ss_network_alpha="1.0", **SDXL_METADATA)
    return write_kohya_lora(path, targets_of("sdxl"), 2, 1.0, metadata)
