"""Captions -> UNet conditioning for testbed training, encoded as sd-scripts encodes them.

The chunking (75-token chunks in BOS/EOS, ``max_token_length`` 225) is
evalkit's render-stage function, so the testbed's LoRAs are trained on the
very embeddings evalkit renders them with (as sd-scripts trains and samples
with one `get_hidden_states`). Captions are tokenized once up front; the
text encoders run inside the step so their LoRA modules train.
"""

from __future__ import annotations

import torch

from evalkit.render import prompt_encoding as pe
from testbed import configs


class CaptionEncoder:
    """Token ids of captions and the conditioning a UNet step needs, for one pipeline's text side."""

    def __init__(self, pipe, max_token_length: int | None):
        self.sdxl = hasattr(pipe, "text_encoder_2")
        self.max_token_length = max_token_length
        self.tokenizers = [pipe.tokenizer] + ([pipe.tokenizer_2] if self.sdxl else [])
        self.encoders = [pipe.text_encoder] + ([pipe.text_encoder_2] if self.sdxl else [])

    def tokenize(self, captions) -> torch.Tensor:
        """(N, n_tokenizers, n_chunks, 77) token ids."""
        return torch.stack([pe.tokenize_chunks(t, list(captions), self.max_token_length) for t in self.tokenizers], 1)

    def __call__(self, ids: torch.Tensor):
        """(hidden states, SDXL added conditioning or None) for a batch of `tokenize` rows."""
        if not self.sdxl:
            return pe.hidden_states_sd1(self.encoders[0], ids[:, 0]), None
        hidden, pooled = pe.hidden_states_sdxl(self.encoders, [ids[:, 0], ids[:, 1]], self.tokenizers[1].eos_token_id)
        time_ids = torch.tensor([configs.XL_TIME_IDS], device=hidden.device, dtype=hidden.dtype).repeat(len(ids), 1)
        return hidden, {"text_embeds": pooled, "time_ids": time_ids}
