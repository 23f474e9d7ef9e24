"""Write a diffusers SD1.x pipeline folder as one original-layout (CompVis/LDM) ``.safetensors`` file.

That is the layout of ``v1-5-pruned-emaonly.safetensors`` and of every base our users
download from model sites: ``model.diffusion_model.input_blocks.N.M...`` for the UNet,
``first_stage_model.encoder.down.N.block.M...`` for the VAE and
``cond_stage_model.transformer.text_model...`` for CLIP. diffusers reads it back with
``from_single_file``; it ships no writer, so the tests build one here. The block
numbering is derived from the UNet's and VAE's configs (levels, layers per block,
which blocks have attention), so it serves the 3-level testbed as well as SD1.5.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

RESNET_PARTS = {"norm1.": "in_layers.0.", "conv1.": "in_layers.2.", "norm2.": "out_layers.0.",
                "conv2.": "out_layers.3.", "time_emb_proj.": "emb_layers.1.", "conv_shortcut.": "skip_connection."}
VAE_ATTENTION_PARTS = {"group_norm.": "norm.", "to_q.": "q.", "to_k.": "k.", "to_v.": "v.", "to_out.0.": "proj_out."}


def unet_prefixes(config: dict) -> list[tuple[str, str]]:
    """(diffusers prefix, LDM prefix) for every block of a UNet2DConditionModel config."""
    per = config["layers_per_block"]
    levels = len(config["block_out_channels"])
    down_attn = [t.startswith("CrossAttn") for t in config["down_block_types"]]
    up_attn = [t.startswith("CrossAttn") for t in config["up_block_types"]]
    pairs = [("time_embedding.linear_1.", "time_embed.0."), ("time_embedding.linear_2.", "time_embed.2."),
             ("conv_in.", "input_blocks.0.0."), ("conv_norm_out.", "out.0."), ("conv_out.", "out.2."),
             ("mid_block.resnets.0.", "middle_block.0."), ("mid_block.attentions.0.", "middle_block.1."),
             ("mid_block.resnets.1.", "middle_block.2.")]
    for level in range(levels):
        last = level == levels - 1
        for j in range(per):  # input_blocks: conv_in, then per level its layers and a downsampler
            n = 1 + level * (per + 1) + j
            pairs.append((f"down_blocks.{level}.resnets.{j}.", f"input_blocks.{n}.0."))
            if down_attn[level]:
                pairs.append((f"down_blocks.{level}.attentions.{j}.", f"input_blocks.{n}.1."))
        if not last:
            pairs.append((f"down_blocks.{level}.downsamplers.0.conv.", f"input_blocks.{(level + 1) * (per + 1)}.0.op."))
        for j in range(per + 1):  # output_blocks: one more layer per level; the upsampler sits in the last
            n = level * (per + 1) + j
            pairs.append((f"up_blocks.{level}.resnets.{j}.", f"output_blocks.{n}.0."))
            if up_attn[level]:
                pairs.append((f"up_blocks.{level}.attentions.{j}.", f"output_blocks.{n}.1."))
        if not last:
            slot = 2 if up_attn[level] else 1
            pairs.append((f"up_blocks.{level}.upsamplers.0.", f"output_blocks.{level * (per + 1) + per}.{slot}."))
    return pairs


def vae_prefixes(config: dict) -> list[tuple[str, str]]:
    levels = len(config["block_out_channels"])
    per = config["layers_per_block"]
    pairs = []
    for level in range(levels):
        up = levels - 1 - level  # the decoder's up blocks are numbered from the bottom in LDM
        pairs += [(f"encoder.down_blocks.{level}.resnets.{j}.", f"encoder.down.{level}.block.{j}.") for j in range(per)]
        pairs += [(f"decoder.up_blocks.{level}.resnets.{j}.", f"decoder.up.{up}.block.{j}.") for j in range(per + 1)]
        if level < levels - 1:
            pairs.append((f"encoder.down_blocks.{level}.downsamplers.0.", f"encoder.down.{level}.downsample."))
            pairs.append((f"decoder.up_blocks.{level}.upsamplers.0.", f"decoder.up.{up}.upsample."))
    for side in ("encoder", "decoder"):
        pairs += [(f"{side}.mid_block.resnets.{k}.", f"{side}.mid.block_{k + 1}.") for k in range(2)]
        pairs += [(f"{side}.mid_block.attentions.0.", f"{side}.mid.attn_1."), (f"{side}.conv_norm_out.", f"{side}.norm_out.")]
    return pairs


def _rename(key: str, pairs, parts: dict | None = None) -> str:
    for hf, ldm in pairs:
        if key.startswith(hf):
            rest = key[len(hf):]
            for a, b in (parts or {}).items():
                if rest.startswith(a):
                    rest = b + rest[len(a):]
                    break
            return ldm + rest
    return key  # a name both layouts share (the VAE's conv_in, quant_conv, ...)


def unet_to_ldm(state: dict, config: dict) -> dict:
    pairs = unet_prefixes(config)
    out = {}
    for key, tensor in state.items():
        renamed = _rename(key, pairs, RESNET_PARTS if ".resnets." in key else None)
        if renamed == key:
            raise KeyError(f"UNet weight {key} has no place in the LDM layout")
        out["model.diffusion_model." + renamed] = tensor
    return out


def vae_to_ldm(state: dict, config: dict) -> dict:
    pairs = vae_prefixes(config)
    out = {}
    for key, tensor in state.items():
        if ".attentions." in key:
            renamed = _rename(key, pairs, VAE_ATTENTION_PARTS)
            if tensor.ndim == 2:  # LDM's VAE attention projections are 1x1 convs
                tensor = tensor[:, :, None, None]
        else:
            renamed = _rename(key, pairs, {"conv_shortcut.": "nin_shortcut."} if ".resnets." in key else None)
        out["first_stage_model." + renamed] = tensor
    return out


def clip_to_ldm(state: dict) -> dict:
    # transformers >= 5.6 saves CLIPTextModel without its `text_model.` level; the LDM layout keeps it.
    return {"cond_stage_model.transformer." + ("" if k.startswith("text_model.") else "text_model.") + k: v
            for k, v in state.items()}


def write_ldm_single_file(pipeline_dir: Path, path: Path) -> Path:
    """``pipeline_dir`` (a diffusers SD1.x folder) as one LDM-layout safetensors file at ``path``."""
    unet_cfg = json.loads((pipeline_dir / "unet" / "config.json").read_text())
    vae_cfg = json.loads((pipeline_dir / "vae" / "config.json").read_text())
    unet = load_file(str(pipeline_dir / "unet" / "diffusion_pytorch_model.safetensors"))
    vae = load_file(str(pipeline_dir / "vae" / "diffusion_pytorch_model.safetensors"))
    clip = load_file(str(pipeline_dir / "text_encoder" / "model.safetensors"))
    state = {**unet_to_ldm(unet, unet_cfg), **vae_to_ldm(vae, vae_cfg),
             **clip_to_ldm(clip)}
    save_file({k: v.contiguous() for k, v in state.items()}, str(path), metadata={"format": "pt"})
    return path


def component_states(pipe) -> dict[str, dict[str, torch.Tensor]]:
    return {name: getattr(pipe, name).state_dict() for name in ("unet", "vae", "text_encoder")}
