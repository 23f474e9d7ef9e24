"""Putting a checkpoint on the base and taking it off: the one entry point, whichever path it takes.

Kohya files are merged in place when fused (fast switch, merge.py); other
files, or unfused renders, go through diffusers/peft (attach.py). Neither
path imports the other; this module chooses between them.
"""

from __future__ import annotations

from pathlib import Path

from evalkit.render.attach import attach_lora, detach_lora, fuse
from evalkit.render.merge import can_merge, merge_lora, unmerge_lora


def put_on(pipe, lora_path: Path, info, scale: float = 1.0, fused: bool = True) -> dict:
    """The one way a checkpoint goes onto the base: merged in place for kohya files when
    fused (fast switch, see merge.py), else through diffusers/peft (fused if asked)."""
    take_off(pipe)
    if fused and can_merge(info):
        return dict(merge_lora(pipe, lora_path, info, scale), method="merge")
    verified = attach_lora(pipe, lora_path, info, scale)
    if fused:
        fuse(pipe)
    return dict(verified, method="peft-fused" if fused else "peft")


def take_off(pipe) -> None:
    """Leave the base exactly as loaded, whichever way the last checkpoint went on."""
    unmerge_lora(pipe)
    detach_lora(pipe)
