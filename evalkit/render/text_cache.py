"""Text embeddings computed once per prompt and reused.

A suite renders every prompt under several seeds, and a nightly renders the
same suite through many checkpoints. The text encoder's output depends only
on the prompt, the negative prompt, clip skip and the text encoder's weights,
so it is computed once per (prompt, negative) and reused: across seeds
always, across checkpoints only while the text encoder is the base's own
(LoRAs that do not train it). Each prompt is encoded alone, so an image's
embeddings never depend on which prompts share its batch.
"""

from __future__ import annotations

import weakref

import torch

BASE_TEXT_ENCODER = "base"
MAX_ENTRIES = 4096  # ~0.1-0.3 MB each at SD1.5/SDXL sizes


class TextEmbeddings:
    """Per pipeline: {(text encoder key, prompt, negative, clip skip, cfg on): tensors}."""

    def __init__(self) -> None:
        self._store: dict[tuple, tuple] = {}
        self.hits = self.misses = 0

    def _one(self, pipe, prompt: str, negative: str, clip_skip, cfg_on: bool, device, text_key: str) -> tuple:
        key = (text_key, prompt, negative, clip_skip, cfg_on)
        if key not in self._store:
            self.misses += 1
            if text_key != BASE_TEXT_ENCODER:  # another LoRA's text encoder: its entries are dead
                self._store = {k: v for k, v in self._store.items() if k[0] in (BASE_TEXT_ENCODER, text_key)}
            if len(self._store) >= MAX_ENTRIES:
                self._store.clear()
            out = pipe.encode_prompt(prompt=prompt, device=device, num_images_per_prompt=1,
                                     do_classifier_free_guidance=cfg_on, negative_prompt=negative, clip_skip=clip_skip)
            self._store[key] = tuple(out)
        else:
            self.hits += 1
        return self._store[key]

    @torch.no_grad()
    def call_kwargs(self, pipe, texts: list[tuple[str, str]], clip_skip, cfg_on: bool, device, text_key: str) -> dict:
        """The pipeline-call keywords (prompt_embeds, ...) for a batch of (prompt, negative)."""
        parts = [self._one(pipe, p, n, clip_skip, cfg_on, device, text_key) for p, n in texts]
        names = ["prompt_embeds", "negative_prompt_embeds"]
        if len(parts[0]) == 4:  # SDXL: pooled embeddings of the second text encoder too
            names += ["pooled_prompt_embeds", "negative_pooled_prompt_embeds"]
        kwargs = {}
        for i, name in enumerate(names):
            tensors = [p[i] for p in parts]
            if all(t is not None for t in tensors):
                kwargs[name] = torch.cat(tensors)
        return kwargs


_BY_PIPELINE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def embeddings_for(pipe) -> TextEmbeddings | None:
    """The pipeline's embedding cache, or None for objects that cannot encode prompts."""
    if not hasattr(pipe, "encode_prompt"):
        return None
    if pipe not in _BY_PIPELINE:
        _BY_PIPELINE[pipe] = TextEmbeddings()
    return _BY_PIPELINE[pipe]
