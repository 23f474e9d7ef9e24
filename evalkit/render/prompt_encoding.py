"""Prompts encoded exactly as kohya sd-scripts encodes captions: 75-token chunks, clip skip.

A LoRA trained with ``--max_token_length=225`` learnt from captions of up to 225
CLIP tokens, encoded as three 77-token windows (<BOS> 75 tokens <EOS>) whose
hidden states are stitched back into one 227-long sequence. Rendering it with
diffusers' ``encode_prompt`` (cut at 77) drops everything past token 75, so it
is rendered with these functions instead; the testbed trainer encodes its
captions with them too, so training and rendering agree by construction.

Followed from kohya-ss/sd-scripts (commit 48d368fa):
- tokenising: ``library/strategy_base.py`` ``TokenizeStrategy._get_input_ids``
  (and the older ``train_util.get_input_ids``), with ``SdTokenizeStrategy`` /
  ``SdxlTokenizeStrategy`` passing ``max_length = max_token_length + 2``;
- SD1/SD2: ``strategy_sd.SdTextEncodingStrategy.encode_tokens`` (and the older
  ``train_util.get_hidden_states``);
- SDXL: ``strategy_sdxl.SdxlTextEncodingStrategy._get_hidden_states_sdxl`` and
  ``_pool_workaround`` (older ``train_util.get_hidden_states_sdxl`` /
  ``pool_workaround``).

The functions are pure and keep autograd (no ``torch.no_grad`` here), so a
trainer can backpropagate through the text encoder; callers that only render
wrap them in ``torch.no_grad`` themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where it is used: config.checked() validates without it
    import torch

from evalkit.errors import EvalkitError

CLIP_WINDOW = 77  # positions of every SD text encoder: <BOS> + 75 tokens + <EOS>
CHUNK = CLIP_WINDOW - 2
MAX_TOKEN_LENGTHS = (75, 150, 225)  # the values sd-scripts' --max_token_length accepts


def validate_max_token_length(n, where: str | None = "max token length") -> int:
    """75, 150 or 225 (None means 75: one 77-token window, diffusers' default)."""
    if n is None:
        return CHUNK
    try:
        value = int(n)
    except (TypeError, ValueError):
        value = None
    if value not in MAX_TOKEN_LENGTHS or str(n).strip() not in {str(v) for v in MAX_TOKEN_LENGTHS}:
        raise EvalkitError(where, f"{n!r} is not a max token length sd-scripts accepts (75, 150 or 225)")
    return value


def validate_clip_skip(clip_skip, n_layers: int, where: str | None = "clip skip") -> int | None:
    """kohya's clip skip (1 = last layer, 2 = penultimate, ...) checked against the encoder's depth."""
    if clip_skip is None:
        return None
    try:
        value = int(clip_skip)
    except (TypeError, ValueError):
        value = 0
    if value < 1 or value > n_layers or str(clip_skip).strip() != str(value):
        raise EvalkitError(where, f"{clip_skip!r} is not a clip skip for a text encoder of {n_layers} layers "
                                  f"(1..{n_layers}, kohya's meaning: 1 = last layer)")
    return value


def tokenize_chunks(tokenizer, prompts: list[str], max_token_length: int | None) -> torch.LongTensor:
    """Token ids (B, n_chunks, 77): n_chunks = max_token_length / 75, each <BOS> 75 ids <EOS/PAD>.

    As ``_get_input_ids``: the text is tokenised once to max_token_length + 2
    ids (<BOS> text <EOS> padding), then cut into 75-id windows, each given the
    first id (<BOS>) and the last id (<EOS> for CLIP-L, whose pad is <EOS>).
    For tokenizers that pad with another id (SD2, SDXL's second encoder, pad
    "!"), a window ending in text gets <EOS> as its last id and a window that
    starts in padding gets <EOS> after its <BOS>, as sd-scripts does.
    """
    import torch

    n = validate_max_token_length(max_token_length)
    if n == CHUNK:  # one window: exactly what diffusers' encode_prompt tokenises
        ids = tokenizer(list(prompts), padding="max_length", truncation=True, max_length=CLIP_WINDOW,
                        return_tensors="pt").input_ids
        return ids.unsqueeze(1)
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    out = []
    for text in prompts:
        ids = tokenizer(text, padding="max_length", truncation=True, max_length=n + 2, return_tensors="pt").input_ids[0]
        windows = []
        for i in range(1, n + 2 - CLIP_WINDOW + 2, CHUNK):  # 1, 76, 151 for 225
            window = torch.cat((ids[:1], ids[i : i + CHUNK], ids[-1:]))
            if pad != eos:  # SD2 / SDXL te2 ("v2" branch of _get_input_ids)
                if window[-2] != eos and window[-2] != pad:
                    window[-1] = eos
                if window[1] == pad:
                    window[1] = eos
            windows.append(window)
        out.append(torch.stack(windows))
    return torch.stack(out)


def _stitch(hidden: torch.Tensor, batch: int) -> torch.Tensor:
    """(B*n, 77, D) window states -> (B, n*75 + 2, D): <BOS> of the first window, the 75 inner
    positions of every window, the last position of the last window (sd-scripts' states_list).

    sd-scripts' SD2 branch also copies a <PAD> state over an empty window's first position,
    but its test compares a token id with the *string* ``tokenizer.eos_token``, so it never
    fires; SDXL's has it commented out. Both are therefore the plain stitch below.
    """
    import torch

    hidden = hidden.reshape(batch, -1, CLIP_WINDOW, hidden.shape[-1])
    if hidden.shape[1] == 1:
        return hidden[:, 0]
    inner = hidden[:, :, 1 : 1 + CHUNK].reshape(batch, -1, hidden.shape[-1])
    return torch.cat([hidden[:, 0, :1], inner, hidden[:, -1, -1:]], dim=1)


def _n_layers(text_encoder) -> int:
    return int(text_encoder.config.num_hidden_layers)


def final_layer_norm(text_encoder) -> torch.nn.Module:
    """CLIP's last LayerNorm: ``text_model.final_layer_norm`` before transformers 5, a direct child
    of CLIPTextModel since (diffusers' own clip_skip path still expects ``text_model``)."""
    return getattr(text_encoder, "text_model", text_encoder).final_layer_norm


def encode_sd1(tokenizer, text_encoder, prompts: list[str], max_token_length: int | None = None,
               clip_skip: int | None = None) -> torch.Tensor:
    """Hidden states (B, L, D), L = 77 or max_token_length + 2, for SD1.x/SD2 (one CLIP encoder).

    clip_skip has kohya's meaning: None or 1 is the last layer (``last_hidden_state``),
    k takes ``hidden_states[-k]`` through ``final_layer_norm`` (diffusers' clip_skip is k - 1).
    """
    return hidden_states_sd1(text_encoder, tokenize_chunks(tokenizer, prompts, max_token_length), clip_skip)


def hidden_states_sd1(text_encoder, ids: torch.Tensor, clip_skip: int | None = None) -> torch.Tensor:
    """`encode_sd1` from `tokenize_chunks` ids (B, n_chunks, 77): a trainer tokenizes once, encodes every step."""
    clip_skip = validate_clip_skip(clip_skip, _n_layers(text_encoder))
    batch = ids.shape[0]
    flat = ids.reshape(-1, CLIP_WINDOW).to(text_encoder.device)
    if clip_skip is None:
        hidden = text_encoder(flat)[0]
    else:
        out = text_encoder(flat, output_hidden_states=True, return_dict=True)
        hidden = final_layer_norm(text_encoder)(out.hidden_states[-clip_skip])
    return _stitch(hidden, batch)


def pooled_at_eos(text_encoder, last_hidden_state: torch.Tensor, ids: torch.Tensor, eos_token_id: int) -> torch.Tensor:
    """sd-scripts' ``pool_workaround``: the projected state at the first <EOS> of each window
    (CLIP's own pooling takes the highest token id, which is <EOS> only without added tokens)."""
    import torch

    index = torch.argmax((ids == eos_token_id).int(), dim=1).to(last_hidden_state.device)
    pooled = last_hidden_state[torch.arange(last_hidden_state.shape[0], device=last_hidden_state.device), index]
    projection = text_encoder.text_projection
    return projection(pooled.to(projection.weight.dtype)).to(last_hidden_state.dtype)


def encode_sdxl(tokenizers, text_encoders, prompts: list[str],
                max_token_length: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(hidden (B, L, D1 + D2), pooled (B, D2)) for SDXL's two encoders, as sd-scripts trains them.

    Encoder 1 gives ``hidden_states[11]`` (its penultimate layer; written ``[-2]`` here, the
    same index for CLIP-L's 12 layers and meaningful for shallower test encoders), encoder 2
    its penultimate layer, neither through ``final_layer_norm``; the pooled output is encoder
    2's projected <EOS> state from each prompt's first window (``pool2[::n_size]``).
    """
    (tok1, tok2) = tokenizers
    ids = [tokenize_chunks(tok1, prompts, max_token_length), tokenize_chunks(tok2, prompts, max_token_length)]
    return hidden_states_sdxl(text_encoders, ids, tok2.eos_token_id)


def hidden_states_sdxl(text_encoders, ids: list[torch.Tensor], eos_token_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`encode_sdxl` from each tokenizer's `tokenize_chunks` ids (B, n_chunks, 77)."""
    import torch

    (te1, te2), (ids1, ids2) = text_encoders, ids
    batch, n_chunks = ids1.shape[:2]
    flat1 = ids1.reshape(-1, CLIP_WINDOW).to(te1.device)
    flat2 = ids2.reshape(-1, CLIP_WINDOW).to(te2.device)
    hidden1 = te1(flat1, output_hidden_states=True, return_dict=True).hidden_states[-2]
    out2 = te2(flat2, output_hidden_states=True, return_dict=True)
    hidden2 = out2.hidden_states[-2]
    pooled = pooled_at_eos(te2, out2.last_hidden_state, flat2, eos_token_id)
    pooled = pooled.reshape(batch, n_chunks, -1)[:, 0]
    hidden = torch.cat([_stitch(hidden1, batch), _stitch(hidden2.to(hidden1.device), batch)], dim=-1)
    return hidden, pooled.to(hidden.device)


def hex_codes_seen(tokenizer, text: str, max_token_length: int | None) -> list[str]:
    """The prompt's ``#rrggbb`` codes (upper-cased, in order) whose every token lies within the
    tokens the encoder reads (75 per window): a code cut off at token 75 never reached it.

    CLIP's pre-tokeniser splits at punctuation and spaces, and a code ends at a word
    boundary, so the tokens of the text up to a code's end are the first tokens of the text.
    """
    from evalkit.golden.prompts import HEX_CODE

    budget = validate_max_token_length(max_token_length)
    seen = []
    for match in HEX_CODE.finditer(text):
        if len(tokenizer(text[: match.end()], add_special_tokens=False).input_ids) > budget:
            break
        seen.append(match.group(0).upper())
    return seen
