"""kohya-ss `networks.lora`, the parts the testbed needs to train real LoRA files.

Same targets and names as sd-scripts: every Linear / 1x1 Conv2d child of a
UNet ``Transformer2DModel`` (``lora_unet_...``) and of the text encoder's
``CLIPAttention`` / ``CLIPMLP`` (``lora_te_...``); ``lora_down`` initialised
Kaiming-uniform, ``lora_up`` zero; delta = up(down(x)) * alpha / dim.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from evalkit.inspect.kohya_format import SDXL_TEXT_ENCODER_PREFIXES, kohya_lora_modules, sgm_rename

UNET_TARGETS = ("Transformer2DModel",)
TEXT_TARGETS = ("CLIPAttention", "CLIPMLP", "CLIPSdpaAttention", "CLIPFlashAttention2")


class LoRAModule(nn.Module):
    def __init__(self, name: str, org: nn.Module, dim: int, alpha: float):
        super().__init__()
        self.lora_name = name
        if isinstance(org, nn.Conv2d):
            self.lora_down = nn.Conv2d(org.in_channels, dim, 1, bias=False)
            self.lora_up = nn.Conv2d(dim, org.out_channels, 1, bias=False)
        else:
            self.lora_down = nn.Linear(org.in_features, dim, bias=False)
            self.lora_up = nn.Linear(dim, org.out_features, bias=False)
        nn.init.kaiming_uniform_(self.lora_down.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_up.weight)
        self.register_buffer("alpha", torch.tensor(float(alpha)))
        self.scale = alpha / dim
        self.org_forward = org.forward
        org.forward = self.forward

    def forward(self, x):
        return self.org_forward(x) + self.lora_up(self.lora_down(x)) * self.scale


def _targets(root: nn.Module, prefix: str, classes, rename=None) -> list[tuple[str, nn.Module]]:
    # Naming is the inspect stage's kohya walk, so testbed files and the names
    # evalkit expects of real sd-scripts files cannot drift apart.
    return [(name, m) for name, m in kohya_lora_modules(root, prefix, classes, rename).items()
            if isinstance(m, nn.Linear) or (isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1))]


def apply_lora(unet: nn.Module, text_encoders, dim: int, alpha: float) -> nn.ModuleList:
    """Wrap the kohya targets; returns the LoRA modules (the only trainable parameters).

    `text_encoders`: one SD1 text encoder (``lora_te_``), None, or SDXL's two as a
    list (``lora_te1_``/``lora_te2_``). An SDXL UNet (``addition_embed_type``)
    gets SGM block names (``lora_unet_input_blocks_4_1_...``), as sd-scripts writes them.
    """
    sdxl = getattr(unet.config, "addition_embed_type", None) == "text_time"
    pairs = _targets(unet, "lora_unet", UNET_TARGETS, sgm_rename(unet.config) if sdxl else None)
    if isinstance(text_encoders, (list, tuple)):
        for prefix, te in zip(SDXL_TEXT_ENCODER_PREFIXES, text_encoders):
            pairs += _targets(te, prefix, TEXT_TARGETS)
    elif text_encoders is not None:
        pairs += _targets(text_encoders, "lora_te", TEXT_TARGETS)
    modules = nn.ModuleList(LoRAModule(n, m, dim, alpha) for n, m in pairs)
    device = next(unet.parameters()).device
    return modules.to(device)


def kohya_state_dict(modules: nn.ModuleList, dtype=torch.float16) -> dict[str, torch.Tensor]:
    sd = {}
    for m in modules:
        sd[f"{m.lora_name}.lora_down.weight"] = m.lora_down.weight.detach().to("cpu", dtype).contiguous()
        sd[f"{m.lora_name}.lora_up.weight"] = m.lora_up.weight.detach().to("cpu", dtype).contiguous()
        sd[f"{m.lora_name}.alpha"] = m.alpha.detach().to("cpu", dtype)
    return sd
