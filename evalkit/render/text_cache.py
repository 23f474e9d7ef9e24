"""Text embeddings computed once per prompt and reused.

A suite renders every prompt under several seeds, and a nightly renders the
same suite through many checkpoints. The text encoder's output depends only
on the prompt, the negative prompt, clip skip, the max token length and the
text encoder's weights,
so it is computed once per (prompt, negative) and reused: across seeds
always, across checkpoints only while the text encoder is the base's own
(LoRAs that do not train it). Each prompt is encoded alone, so an image's
embeddings never depend on which prompts share its batch.

With neither clip skip nor a max token length the pipeline's own
``encode_prompt`` encodes (cut at 77 tokens, as diffusers does); otherwise
prompt_encoding.py does, as sd-scripts encoded the LoRA's captions.
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

    def _one(self, pipe, prompt: str, negative: str, clip_skip, cfg_on: bool, device, text_key: str,
             max_token_length=None) -> tuple:
        key = (text_key, prompt, negative, clip_skip, cfg_on, max_token_length)
        if key not in self._store:
            self.misses += 1
            if text_key != BASE_TEXT_ENCODER:  # another LoRA's text encoder: its entries are dead
                self._store = {k: v for k, v in self._store.items() if k[0] in (BASE_TEXT_ENCODER, text_key)}
            if len(self._store) >= MAX_ENTRIES:
                self._store.clear()
            if clip_skip is None and max_token_length is None:
                out = pipe.encode_prompt(prompt=prompt, device=device, num_images_per_prompt=1,
                                         do_classifier_free_guidance=cfg_on, negative_prompt=negative)
            else:
                out = _as_sd_scripts(pipe, prompt, negative, clip_skip, max_token_length, cfg_on, device)
            self._store[key] = tuple(out)
        else:
            self.hits += 1
        return self._store[key]

    @torch.no_grad()
    def call_kwargs(self, pipe, texts: list[tuple[str, str]], clip_skip, cfg_on: bool, device, text_key: str,
                    max_token_length=None) -> dict:
        """The pipeline-call keywords (prompt_embeds, ...) for a batch of (prompt, negative)."""
        parts = [self._one(pipe, p, n, clip_skip, cfg_on, device, text_key, max_token_length) for p, n in texts]
        names = ["prompt_embeds", "negative_prompt_embeds"]
        if len(parts[0]) == 4:  # SDXL: pooled embeddings of the second text encoder too
            names += ["pooled_prompt_embeds", "negative_pooled_prompt_embeds"]
        kwargs = {}
        for i, name in enumerate(names):
            tensors = [p[i] for p in parts]
            if all(t is not None for t in tensors):
                kwargs[name] = torch.cat(tensors)
        return kwargs


def _as_sd_scripts(pipe, prompt: str, negative: str, clip_skip, max_token_length, cfg_on: bool, device) -> tuple:
    """encode_prompt's outputs, encoded by prompt_encoding.py (long prompts, kohya clip skip)."""
    from evalkit.errors import EvalkitError
    from evalkit.render.prompt_encoding import encode_sd1, encode_sdxl

    texts = [prompt, negative] if cfg_on else [prompt]
    if getattr(pipe, "text_encoder_2", None) is None:
        hidden = encode_sd1(pipe.tokenizer, pipe.text_encoder, texts, max_token_length, clip_skip).to(device)
        return hidden[:1], hidden[1:] if cfg_on else None
    if clip_skip is not None:
        raise EvalkitError("clip skip", "does not apply to SDXL: sd-scripts encodes SDXL at both encoders' penultimate layers")
    hidden, pooled = encode_sdxl((pipe.tokenizer, pipe.tokenizer_2), (pipe.text_encoder, pipe.text_encoder_2),
                                 texts, max_token_length)
    hidden, pooled = hidden.to(device), pooled.to(device)
    if not cfg_on:
        return hidden[:1], None, pooled[:1], None
    if not negative and getattr(pipe.config, "force_zeros_for_empty_prompt", False):
        # diffusers' SDXL rule for an empty negative, kept so only the positive's encoding changes
        return hidden[:1], torch.zeros_like(hidden[:1]), pooled[:1], torch.zeros_like(pooled[:1])
    return hidden[:1], hidden[1:], pooled[:1], pooled[1:]


_BY_PIPELINE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def embeddings_for(pipe) -> TextEmbeddings | None:
    """The pipeline's embedding cache, or None for objects that cannot encode prompts."""
    if not hasattr(pipe, "encode_prompt"):
        return None
    if pipe not in _BY_PIPELINE:
        _BY_PIPELINE[pipe] = TextEmbeddings()
    return _BY_PIPELINE[pipe]
