"""inspect on real-size kohya and diffusers LoRAs: format, architecture, rank, alpha and counts exactly."""

from __future__ import annotations

from collections import Counter

import pytest
from inspect_builders import (
    kohya_metadata,
    model_targets,
    targets_for_configs,
    targets_of,
    write_kohya_lora,
    write_peft_lora,
)
from evalkit.render.sd_configs import MODELS

from evalkit.inspect import inspect_checkpoint

SD15_BLOCKS = {
    "down_blocks_0": 24, "down_blocks_1": 24, "down_blocks_2": 24, "mid_block": 12,
    "up_blocks_1": 36, "up_blocks_2": 36, "up_blocks_3": 36, "te": 72,
}
SDXL_BLOCKS = {
    "input_blocks_4": 22, "input_blocks_5": 22, "input_blocks_7": 102, "input_blocks_8": 102, "middle_block": 102,
    "output_blocks_0": 102, "output_blocks_1": 102, "output_blocks_2": 102,
    "output_blocks_3": 22, "output_blocks_4": 22, "output_blocks_5": 22, "te1": 72, "te2": 192,
}


def test_generated_keys_are_the_real_kohya_names():
    """The meta-device walk reproduces names found in real sd-scripts files."""
    sd15 = {t.name for t in targets_of("sd15")}
    assert len(sd15) == 192 + 72
    assert {
        "lora_unet_down_blocks_0_attentions_0_proj_in",
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k",
        "lora_unet_mid_block_attentions_0_transformer_blocks_0_attn1_to_out_0",
        "lora_unet_up_blocks_3_attentions_2_transformer_blocks_0_ff_net_0_proj",
        "lora_te_text_model_encoder_layers_11_mlp_fc1",
    } <= sd15
    sdxl = {t.name for t in targets_of("sdxl")}
    assert len(sdxl) == 722 + 264
    assert {
        "lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k",
        "lora_unet_input_blocks_8_1_transformer_blocks_9_ff_net_2",
        "lora_unet_middle_block_1_transformer_blocks_9_attn1_to_v",
        "lora_unet_output_blocks_0_1_proj_in",
        "lora_unet_output_blocks_5_1_transformer_blocks_1_attn2_to_out_0",
        "lora_te1_text_model_encoder_layers_11_self_attn_out_proj",
        "lora_te2_text_model_encoder_layers_31_mlp_fc2",
    } <= sdxl
    locon = {t.name for t in targets_of("sdxl", locon=True)}
    assert {"lora_unet_input_blocks_3_0_op", "lora_unet_output_blocks_2_2_conv",
            "lora_unet_middle_block_2_in_layers_2", "lora_unet_output_blocks_8_0_skip_connection"} <= locon


@pytest.mark.parametrize("rank, alpha", [(1, 1.0), (16, 8.0)])
@pytest.mark.parametrize("with_metadata", [True, False])
def test_sd15_full_size(tmp_path, rank, alpha, with_metadata):
    metadata = kohya_metadata(ss_network_dim=str(rank), ss_network_alpha=str(alpha)) if with_metadata else {}
    path = write_kohya_lora(tmp_path / "sd15.safetensors", targets_of("sd15"), rank, alpha, metadata)
    info = inspect_checkpoint(path)

    assert (info.format.kind, info.format.supported, info.format.locon) == ("kohya_lora", True, False)
    assert info.architecture.family == "sd15"
    assert info.architecture.cross_attention_dim == 768
    assert info.architecture.text_encoder_dims == {"te": 768}
    assert info.architecture.text_encoder_layers == {"te": 12}
    assert info.architecture.linear_projection is False
    assert info.architecture.custom_size is False
    assert info.architecture.agrees_with_metadata is (True if with_metadata else None)
    net = info.network
    assert (net.rank, net.alpha, net.scale) == (rank, alpha, alpha / rank)
    assert net.rank_distribution == {rank: 264}
    assert net.alpha_distribution == {alpha: 264}
    assert net.module_count == 264 and net.module_counts == {"unet": 192, "te": 72}
    assert net.block_counts == SD15_BLOCKS
    assert net.trained_parts == ["unet", "te"] and net.trains_text_encoder
    assert not net.mixed_ranks and net.conv_rank is None and net.alpha_stored
    assert info.warnings == []
    assert (info.provenance.network_dim is not None) is with_metadata


def test_sd15_shared_file(sd15_lora):
    info = inspect_checkpoint(sd15_lora)
    assert (info.family, info.network.rank, info.network.alpha) == ("sd15", 8, 4.0)
    assert info.module_names == {t.name for t in targets_of("sd15")}
    assert set(info.ranks.values()) == {8} and set(info.alphas.values()) == {4.0}
    proj_in = next(m for m in info.network.modules if m.name == "lora_unet_down_blocks_0_attentions_0_proj_in")
    assert (proj_in.kind, proj_in.in_features, proj_in.out_features, proj_in.kernel_size) == ("conv1x1", 320, 320, 1)


@pytest.mark.parametrize("with_metadata", [True, False])
def test_sdxl_full_size(tmp_path, sdxl_lora, with_metadata):
    path = sdxl_lora
    if not with_metadata:
        path = write_kohya_lora(tmp_path / "bare.safetensors", targets_of("sdxl"), 1, 1.0)
    info = inspect_checkpoint(path)

    rank, alpha = (2, 1.0) if with_metadata else (1, 1.0)
    assert info.format.kind == "kohya_lora"
    assert info.architecture.family == "sdxl" and not info.architecture.custom_size
    assert info.architecture.cross_attention_dim == 2048
    assert info.architecture.text_encoder_dims == {"te1": 768, "te2": 1280}
    assert info.architecture.text_encoder_layers == {"te1": 12, "te2": 32}
    assert info.architecture.block_naming == "sgm"
    net = info.network
    assert (net.rank, net.alpha) == (rank, alpha)
    assert net.rank_distribution == {rank: 986}
    assert net.module_counts == {"unet": 722, "te1": 72, "te2": 192}
    assert net.block_counts == SDXL_BLOCKS
    assert net.trained_parts == ["unet", "te1", "te2"]
    assert info.warnings == []


def test_sd2_full_size(tmp_path):
    metadata = {"ss_base_model_version": "sd_v2", "ss_v2": "True", "ss_network_dim": "2", "ss_network_alpha": "2"}
    path = write_kohya_lora(tmp_path / "sd2.safetensors", targets_of("sd2"), 2, 2.0, metadata)
    info = inspect_checkpoint(path)
    assert info.architecture.family == "sd2" and not info.architecture.custom_size
    assert info.architecture.cross_attention_dim == 1024
    assert info.architecture.linear_projection is True
    assert info.architecture.text_encoder_layers == {"te": 23}
    assert info.network.module_counts == {"unet": 192, "te": 138}
    assert info.warnings == []


def test_tiny_testbed_model_is_sd15_family_with_custom_size(tmp_path):
    """evalkit's tiny SD1 testbed: 64-wide cross-attention, kohya names, ss_base_model_version=sd_v1."""
    targets = targets_of("tiny")
    metadata = {"ss_base_model_version": "sd_v1", "modelspec.architecture": "stable-diffusion-v1/lora"}
    info = inspect_checkpoint(write_kohya_lora(tmp_path / "tiny.safetensors", targets, 32, 16.0, metadata))
    arch = info.architecture
    assert (arch.family, arch.custom_size, arch.cross_attention_dim) == ("sd15", True, 64)
    assert arch.text_encoder_dims == {"te": 64} and arch.agrees_with_metadata
    assert info.network.module_counts == {"unet": 84, "te": 24}
    assert info.warnings == []


def test_tiny_model_without_metadata_still_reads_as_sd1_family(tmp_path):
    info = inspect_checkpoint(write_kohya_lora(tmp_path / "tiny.safetensors", targets_of("tiny"), 4, 4.0))
    assert (info.family, info.architecture.custom_size) == ("sd15", True)
    assert any("1x1 conv" in e for e in info.architecture.evidence)


def test_the_testbed_configs_read_as_sd15_custom_size(tmp_path):
    configs = pytest.importorskip("testbed.configs")
    found = targets_for_configs(configs.UNET, [("lora_te", configs.TEXT_ENCODER, False)])
    targets = [t for group in found.values() for t in group]
    path = write_kohya_lora(tmp_path / "testbed.safetensors", targets, 8, 4.0, {"ss_base_model_version": "sd_v1"})
    info = inspect_checkpoint(path)
    assert (info.family, info.architecture.custom_size) == ("sd15", True)
    assert info.architecture.cross_attention_dim == configs.UNET["cross_attention_dim"]
    assert info.network.trains_text_encoder and info.warnings == []


def test_resized_file_mixes_ranks(tmp_path):
    """resize_lora.py --dynamic_method writes per-module ranks and 'Dynamic' dims."""
    targets = targets_of("sd15")
    ranks = {t.name: (4 if i % 3 else 12) for i, t in enumerate(targets)}
    alphas = {t.name: ranks[t.name] / 2 for t in targets}
    metadata = {"ss_network_dim": "Dynamic", "ss_network_alpha": "Dynamic"}
    info = inspect_checkpoint(write_kohya_lora(tmp_path / "resized.safetensors", targets, ranks, alphas, metadata))
    expected = Counter(ranks.values())
    assert info.network.rank_distribution == dict(sorted(expected.items()))
    assert info.network.mixed_ranks
    assert info.network.rank == 4 and info.network.alpha == 2.0
    assert info.network.alpha_distribution == {2.0: expected[4], 6.0: expected[12]}
    assert {m.name: m.rank for m in info.network.modules} == ranks
    assert all(m.scale == 0.5 for m in info.network.modules)
    assert info.provenance.network_dynamic and info.warnings == []


def test_locon_conv_modules(tmp_path):
    targets = targets_of("sd15", locon=True)
    metadata = {"ss_network_dim": "8", "ss_network_alpha": "4.0",
                "ss_network_args": '{"conv_dim": "4", "conv_alpha": "1"}'}
    path = write_kohya_lora(tmp_path / "locon.safetensors", targets, 8, 4.0, metadata, conv_rank=4, conv_alpha=1.0)
    info = inspect_checkpoint(path)
    assert info.format.locon and "LoCon" in info.format.label
    assert info.network.module_counts == {"unet": 278, "te": 72}
    assert (info.network.rank, info.network.alpha) == (8, 4.0)
    assert (info.network.conv_rank, info.network.conv_alpha) == (4, 1.0)
    assert info.network.rank_distribution == {4: 50, 8: 300}
    assert info.provenance.network_args == {"conv_dim": "4", "conv_alpha": "1"}
    assert info.family == "sd15" and info.warnings == []
    conv = next(m for m in info.network.modules if m.name == "lora_unet_down_blocks_0_resnets_0_conv1")
    assert (conv.kind, conv.kernel_size, conv.rank) == ("conv", 3, 4)


def test_unet_only_lora(tmp_path):
    path = write_kohya_lora(tmp_path / "unet_only.safetensors", targets_of("sdxl", text_encoder=False), 1, 1.0)
    info = inspect_checkpoint(path)
    assert info.family == "sdxl"
    assert info.network.trained_parts == ["unet"]
    assert not info.network.trains_text_encoder and not info.trains_text_encoder


def test_text_encoder_only_lora_still_gets_its_family(tmp_path):
    path = write_kohya_lora(tmp_path / "te_only.safetensors", targets_of("sd2", unet=False), 1, 1.0)
    info = inspect_checkpoint(path)
    assert info.family == "sd2" and info.network.trained_parts == ["te"]


def test_missing_alpha_means_alpha_equals_rank(tmp_path):
    info = inspect_checkpoint(write_kohya_lora(tmp_path / "old.safetensors", targets_of("tiny"), 4, None))
    assert (info.network.rank, info.network.alpha, info.network.scale) == (4, 4.0, 1.0)
    assert not info.network.alpha_stored


def test_stored_alpha_zero_is_read_as_rank_with_a_warning(tmp_path):
    info = inspect_checkpoint(write_kohya_lora(tmp_path / "zero.safetensors", targets_of("tiny"), 4, 0.0))
    assert info.network.alpha == 4.0
    assert any("alpha 0" in w and "diffusers" in w for w in info.warnings)


def test_metadata_that_disagrees_with_the_keys_is_a_warning(tmp_path):
    metadata = {"ss_base_model_version": "sdxl_base_v1-0", "modelspec.architecture": "stable-diffusion-v1/lora"}
    info = inspect_checkpoint(write_kohya_lora(tmp_path / "liar.safetensors", targets_of("sd15"), 1, 1.0, metadata))
    assert info.family == "sd15" and info.architecture.agrees_with_metadata is False
    assert info.architecture.metadata_family == "sdxl"
    (warning,) = info.warnings
    assert "ss_base_model_version=sdxl_base_v1-0" in warning and "sd15" in warning


def test_metadata_rank_that_disagrees_with_the_tensors_is_a_warning(tmp_path):
    metadata = {"ss_network_dim": "64", "ss_network_alpha": "1.0"}
    info = inspect_checkpoint(write_kohya_lora(tmp_path / "x.safetensors", targets_of("tiny"), 4, 1.0, metadata))
    assert info.warnings == ["ss_network_dim=64 but the most common rank in the tensors is 4"]


def test_diffusers_peft_sd15_with_adapter_metadata(tmp_path):
    targets = targets_of("sd15")
    adapter = {
        "unet.r": 4, "unet.lora_alpha": 8, "unet.alpha_pattern": {"down_blocks.0.attentions.0.proj_in": 2},
        "unet.rank_pattern": {}, "text_encoder.r": 4, "text_encoder.lora_alpha": 4,
    }
    info = inspect_checkpoint(write_peft_lora(tmp_path / "pytorch_lora_weights.safetensors", targets, 4, adapter))
    assert (info.format.kind, info.format.naming, info.format.supported) == ("diffusers_lora", "diffusers", True)
    assert info.family == "sd15" and info.architecture.cross_attention_dim == 768
    net = info.network
    assert net.module_counts == {"unet": 192, "te": 72}
    assert net.block_counts == SD15_BLOCKS
    assert net.rank == 4 and net.alpha == 8.0
    assert net.alpha_distribution == {2.0: 1, 4.0: 72, 8.0: 191}
    assert info.alphas["unet.down_blocks.0.attentions.0.proj_in"] == 2.0
    assert info.warnings == []


def test_diffusers_sdxl_without_adapter_metadata(tmp_path):
    targets = targets_of("sdxl", sgm=False)
    info = inspect_checkpoint(write_peft_lora(tmp_path / "xl.safetensors", targets, 2))
    assert info.family == "sdxl" and info.architecture.block_naming == "diffusers"
    assert info.network.module_counts == {"unet": 722, "te1": 72, "te2": 192}
    assert (info.network.alpha, info.network.alpha_stored) == (2.0, False)


def test_diffusers_sdxl_unet_only_is_told_apart_from_sd1(tmp_path):
    info = inspect_checkpoint(write_peft_lora(tmp_path / "u.safetensors", targets_of("sdxl", sgm=False, text_encoder=False), 1))
    assert info.family == "sdxl" and info.network.trained_parts == ["unet"]


@pytest.mark.parametrize("family", sorted(MODELS))
def test_every_module_is_found_once(tmp_path, family):
    targets = [t for group in model_targets(family).values() for t in group]
    info = inspect_checkpoint(write_kohya_lora(tmp_path / "f.safetensors", targets, 1, 1.0), tensor_health=False)
    assert info.module_names == {t.name for t in targets}
    assert info.network.module_count == len(targets)
