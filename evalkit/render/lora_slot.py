"""The one place a LoRA goes onto a loaded pipeline and comes off again: `LoraSlot`.

Like diffusers' `load_lora_weights`/`unload_lora_weights` and `fuse_lora`/
`unfuse_lora`, the verbs come in pairs on one object, and that object owns
the state they need: which path the LoRA on the pipe took, the original
weights the in-place merge replaced, the modules it merged, the base's probe
output and the kohya module map. Nothing is kept as hidden attributes on the
diffusers pipeline. `render.run.PipelineCache` holds one slot per loaded
pipeline.

Kohya files are merged in place when fused (fast switch, merge.py); other
files, or unfused renders, go through diffusers/peft (attach.py). Neither
path imports the other; the slot chooses between them.
"""

from __future__ import annotations

from pathlib import Path

from evalkit.render.attach import attach_lora, detach_lora, fuse, unfuse
from evalkit.render.lora_checks import probe
from evalkit.render.merge import can_merge, kohya_modules, merge_lora, restore

MERGE, PEFT, PEFT_FUSED = "merge", "peft", "peft-fused"


class LoraSlot:
    """What is on one pipeline: at most one LoRA, put on by one of the two paths.

    ``put_on`` while a LoRA is on switches (the old one comes off first);
    ``take_off`` with nothing on does nothing. After a failed ``put_on`` the
    slot is empty and the pipeline is the base again.
    """

    def __init__(self, pipe) -> None:
        self.pipe = pipe
        self.method: str | None = None  # MERGE, PEFT or PEFT_FUSED while a LoRA is on
        self.lora: Path | None = None
        # The merge path's state. The originals are copied once per module and kept:
        # merges are undone exactly, so they stay the base's weights across switches.
        self._originals: dict = {}  # kohya module name -> its weight as loaded
        self._merged: set = set()  # kohya module names whose weight holds a delta now
        self._modules: dict | None = None  # kohya module name -> torch module, walked once
        self._base_probe = None  # the base's probe output: merges are undone exactly, so computed once

    def __repr__(self) -> str:
        return f"LoraSlot({type(self.pipe).__name__}, {self.method or 'empty'}{f': {self.lora.name}' if self.lora else ''})"

    def put_on(self, lora_path: Path, info, scale: float = 1.0, fused: bool = True) -> dict:
        """The one way a checkpoint goes onto the base: merged in place for kohya files when
        fused (fast switch, see merge.py), else through diffusers/peft (fused if asked).
        Returns what was verified, with the path taken as ``method``."""
        self.take_off()
        if fused and can_merge(info):
            if self._modules is None:
                self._modules = kohya_modules(self.pipe)
            if self._base_probe is None:
                self._base_probe = probe(self.pipe)
            verified = merge_lora(self.pipe, lora_path, info, scale, modules=self._modules,
                                  originals=self._originals, merged=self._merged, before=self._base_probe)
            self.method = MERGE
        else:
            verified = attach_lora(self.pipe, lora_path, info, scale)
            self.method = PEFT
            if fused:
                try:
                    self.fuse()
                except BaseException:
                    self.take_off()  # the documented promise: a failed put_on leaves the base
                    raise
        self.lora = Path(lora_path)
        return dict(verified, method=self.method)

    def take_off(self) -> None:
        """Leave the base exactly as loaded, whichever way the last checkpoint went on."""
        if self.method == MERGE:
            restore(self._modules, self._originals, self._merged)
        elif self.method in (PEFT, PEFT_FUSED):
            self.unfuse()
            detach_lora(self.pipe)
        self.method, self.lora = None, None

    def fuse(self) -> None:
        """Fold the peft adapter that is on into the base weights (one matmul per module instead of three)."""
        if self.method != PEFT:
            raise RuntimeError(f"{self!r}: only an unfused peft LoRA can be fused")
        fuse(self.pipe)
        self.method = PEFT_FUSED

    def unfuse(self) -> None:
        """Take a fused peft adapter's delta back out of the base weights; the adapter stays on."""
        if self.method == PEFT_FUSED:
            unfuse(self.pipe)
            self.method = PEFT
