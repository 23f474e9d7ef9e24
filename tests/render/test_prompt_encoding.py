"""Long prompts encoded as sd-scripts encodes captions, on tiny CLIP encoders built from config.

The reference below is a transcription of kohya-ss/sd-scripts' own loops
(``train_util.get_input_ids`` / ``get_hidden_states`` / ``get_hidden_states_sdxl``
/ ``pool_workaround``, index arithmetic on the flat (B, n*77) layout exactly as
written there), kept apart from evalkit's reshape-based implementation so the
two can disagree. The tokenizer is the real CLIP one (the tiny testbed base's,
built offline from open_clip's BPE file); SDXL's second tokenizer pads with "!"
as stabilityai's does, which exercises sd-scripts' "v2" window rules.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path

import pytest
import torch

from evalkit.errors import EvalkitError
from evalkit.render.prompt_encoding import (
    encode_sd1, encode_sdxl, tokenize_chunks, validate_clip_skip, validate_max_token_length,
)

TOKENIZER = Path(__file__).resolve().parents[2] / "checkpoints" / "tiny-punks-base" / "tokenizer"
PALETTE = ", ".join(f"#{i:02x}{(i * 37) % 256:02x}{(i * 91) % 256:02x}" for i in range(1, 21))
LONG = f"male punk portrait, cap, medium skin, pixel art, palette {PALETTE}, plain blue background"
PROMPTS = [LONG, "female punk portrait, blonde bob, pixel art", ""]


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import CLIPTokenizer

    return CLIPTokenizer.from_pretrained(TOKENIZER)


@pytest.fixture(scope="module")
def tokenizer_bang_pad():
    from transformers import CLIPTokenizer

    return CLIPTokenizer.from_pretrained(TOKENIZER, pad_token="!")  # SDXL tokenizer_2 (pad id 0)


@lru_cache(maxsize=None)  # building a 49,408-token embedding is most of this file's time
def clip(layers: int, width: int, projection: bool = False, seed: int = 0):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    config = CLIPTextConfig(vocab_size=49408, hidden_size=width, intermediate_size=2 * width, num_hidden_layers=layers,
                            num_attention_heads=4, max_position_embeddings=77, projection_dim=width)
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(config).eval()


# ------------------------------------------------------------ sd-scripts transcribed
def ref_input_ids(tokenizer, caption: str, max_token_length: int | None) -> torch.Tensor:
    tokenizer_max_length = tokenizer.model_max_length if max_token_length is None else max_token_length + 2
    input_ids = tokenizer(caption, padding="max_length", truncation=True, max_length=tokenizer_max_length,
                          return_tensors="pt").input_ids
    if tokenizer_max_length > tokenizer.model_max_length:
        input_ids = input_ids.squeeze(0)
        iids_list = []
        if tokenizer.pad_token_id == tokenizer.eos_token_id:
            for i in range(1, tokenizer_max_length - tokenizer.model_max_length + 2, tokenizer.model_max_length - 2):
                ids_chunk = (input_ids[0].unsqueeze(0), input_ids[i : i + tokenizer.model_max_length - 2],
                             input_ids[-1].unsqueeze(0))
                iids_list.append(torch.cat(ids_chunk))
        else:
            for i in range(1, tokenizer_max_length - tokenizer.model_max_length + 2, tokenizer.model_max_length - 2):
                ids_chunk = torch.cat((input_ids[0].unsqueeze(0), input_ids[i : i + tokenizer.model_max_length - 2],
                                       input_ids[-1].unsqueeze(0)))
                if ids_chunk[-2] != tokenizer.eos_token_id and ids_chunk[-2] != tokenizer.pad_token_id:
                    ids_chunk[-1] = tokenizer.eos_token_id
                if ids_chunk[1] == tokenizer.pad_token_id:
                    ids_chunk[1] = tokenizer.eos_token_id
                iids_list.append(ids_chunk)
        input_ids = torch.stack(iids_list)
    return input_ids  # (n, 77), or (1, 77) for one window


def ref_stitch(encoder_hidden_states, b_size, max_token_length):
    encoder_hidden_states = encoder_hidden_states.reshape((b_size, -1, encoder_hidden_states.shape[-1]))
    if max_token_length is not None and max_token_length != 75:
        states_list = [encoder_hidden_states[:, 0].unsqueeze(1)]
        for i in range(1, max_token_length, 77):
            states_list.append(encoder_hidden_states[:, i : i + 77 - 2])
        states_list.append(encoder_hidden_states[:, -1].unsqueeze(1))
        encoder_hidden_states = torch.cat(states_list, dim=1)
    return encoder_hidden_states


def ref_get_hidden_states(tokenizer, text_encoder, captions, max_token_length, clip_skip):
    input_ids = torch.stack([ref_input_ids(tokenizer, c, max_token_length) for c in captions])
    b_size = input_ids.size()[0]
    input_ids = input_ids.reshape((-1, tokenizer.model_max_length))
    if clip_skip is None:
        encoder_hidden_states = text_encoder(input_ids)[0]
    else:
        enc_out = text_encoder(input_ids, output_hidden_states=True, return_dict=True)
        encoder_hidden_states = enc_out["hidden_states"][-clip_skip]
        # transformers 5 dropped CLIPTextModel.text_model; the LayerNorm is the same module
        encoder_hidden_states = getattr(text_encoder, "text_model", text_encoder).final_layer_norm(encoder_hidden_states)
    return ref_stitch(encoder_hidden_states, b_size, max_token_length)


def ref_get_hidden_states_sdxl(tokenizers, text_encoders, captions, max_token_length):
    (tokenizer1, tokenizer2), (text_encoder1, text_encoder2) = tokenizers, text_encoders
    input_ids1 = torch.stack([ref_input_ids(tokenizer1, c, max_token_length) for c in captions])
    input_ids2 = torch.stack([ref_input_ids(tokenizer2, c, max_token_length) for c in captions])
    b_size = input_ids1.size()[0]
    input_ids1 = input_ids1.reshape((-1, 77))
    input_ids2 = input_ids2.reshape((-1, 77))
    hidden_states1 = text_encoder1(input_ids1, output_hidden_states=True, return_dict=True)["hidden_states"][-2]
    enc_out = text_encoder2(input_ids2, output_hidden_states=True, return_dict=True)
    hidden_states2 = enc_out["hidden_states"][-2]
    # pool_workaround
    last_hidden_state = enc_out["last_hidden_state"]
    eos_token_index = torch.argmax((input_ids2 == tokenizer2.eos_token_id).int(), dim=1)
    pool2 = text_encoder2.text_projection(last_hidden_state[torch.arange(last_hidden_state.shape[0]), eos_token_index])
    long = max_token_length is not None and max_token_length != 75
    n_size = 1 if not long else max_token_length // 75
    hidden_states1 = ref_stitch(hidden_states1, b_size, max_token_length)
    hidden_states2 = ref_stitch(hidden_states2, b_size, max_token_length)
    return torch.cat([hidden_states1, hidden_states2], dim=2), pool2[::n_size]


# ------------------------------------------------------------ tests
def test_the_long_prompt_is_longer_than_one_window(tokenizer):
    n_tokens = len(tokenizer(LONG).input_ids)
    assert 160 < n_tokens < 227, n_tokens  # reaches the third window at 225


@pytest.mark.parametrize("max_len", [None, 75, 150, 225])
@pytest.mark.parametrize("pad", ["eos", "bang"])
def test_tokenize_chunks_match_sd_scripts(tokenizer, tokenizer_bang_pad, max_len, pad):
    tok = tokenizer if pad == "eos" else tokenizer_bang_pad
    ids = tokenize_chunks(tok, PROMPTS, max_len)
    n = 1 if max_len in (None, 75) else max_len // 75
    assert ids.shape == (len(PROMPTS), n, 77) and ids.dtype == torch.long
    for row, prompt in zip(ids, PROMPTS):
        assert torch.equal(row, ref_input_ids(tok, prompt, max_len).reshape(n, 77))
    assert (ids[:, :, 0] == tok.bos_token_id).all()


@pytest.mark.parametrize("max_len", [None, 150, 225])
@pytest.mark.parametrize("clip_skip", [None, 1, 2, 3])
def test_encode_sd1_matches_sd_scripts(tokenizer, max_len, clip_skip):
    te = clip(3, 32)
    with torch.no_grad():
        ours = encode_sd1(tokenizer, te, PROMPTS, max_len, clip_skip)
        ref = ref_get_hidden_states(tokenizer, te, PROMPTS, max_len, clip_skip)
    assert ours.shape == (3, 77 if max_len is None else max_len + 2, 32)
    torch.testing.assert_close(ours, ref, rtol=0, atol=0)


def test_clip_skip_one_is_the_last_layer_and_two_differs(tokenizer):
    te = clip(3, 32)
    with torch.no_grad():
        last = encode_sd1(tokenizer, te, PROMPTS[:1], 225, None)
        torch.testing.assert_close(encode_sd1(tokenizer, te, PROMPTS[:1], 225, 1), last)
        assert (encode_sd1(tokenizer, te, PROMPTS[:1], 225, 2) - last).abs().max() > 1e-2
        # diffusers' clip_skip is kohya's minus one: kohya 2 = diffusers 1 = hidden_states[-2]
        ids = tokenizer(PROMPTS[:1], padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
        diffusers_1 = te.final_layer_norm(te(ids, output_hidden_states=True).hidden_states[-(1 + 1)])
        torch.testing.assert_close(encode_sd1(tokenizer, te, PROMPTS[:1], None, 2), diffusers_1)


@pytest.mark.parametrize("max_len", [None, 225])
def test_encode_sdxl_matches_sd_scripts(tokenizer, tokenizer_bang_pad, max_len):
    tokenizers, encoders = (tokenizer, tokenizer_bang_pad), (clip(3, 32), clip(4, 48, projection=True, seed=1))
    with torch.no_grad():
        hidden, pooled = encode_sdxl(tokenizers, encoders, PROMPTS, max_len)
        ref_hidden, ref_pooled = ref_get_hidden_states_sdxl(tokenizers, encoders, PROMPTS, max_len)
    assert hidden.shape == (3, 77 if max_len is None else 227, 32 + 48) and pooled.shape == (3, 48)
    torch.testing.assert_close(hidden, ref_hidden, rtol=0, atol=0)
    torch.testing.assert_close(pooled, ref_pooled, rtol=0, atol=0)


def test_sdxl_at_77_is_what_diffusers_encodes(tokenizer, tokenizer_bang_pad):
    """One window, no negative: the same tensors diffusers' own SDXL encode_prompt gives."""
    from diffusers import StableDiffusionXLPipeline

    te1, te2 = clip(3, 32), clip(4, 48, projection=True, seed=1)
    pipe = StableDiffusionXLPipeline(vae=None, text_encoder=te1, text_encoder_2=te2, tokenizer=tokenizer,
                                     tokenizer_2=tokenizer_bang_pad, unet=None, scheduler=None)
    with torch.no_grad():
        theirs, _, theirs_pooled, _ = pipe.encode_prompt(PROMPTS[:2], device="cpu", do_classifier_free_guidance=False)
        hidden, pooled = encode_sdxl((tokenizer, tokenizer_bang_pad), (te1, te2), PROMPTS[:2], None)
    torch.testing.assert_close(hidden, theirs)
    torch.testing.assert_close(pooled, theirs_pooled)


def test_a_token_past_77_counts_at_225_only(tokenizer, tokenizer_bang_pad):
    # The two prompts differ only in their last hex code, ~170 tokens in.
    other = LONG.replace(PALETTE.split(", ")[-1], "#ff0000")
    assert other != LONG
    te = clip(3, 32)
    te2 = clip(4, 48, projection=True, seed=1)
    with torch.no_grad():
        a77, b77 = encode_sd1(tokenizer, te, [LONG, other], None)
        assert torch.equal(a77, b77)
        a225, b225 = encode_sd1(tokenizer, te, [LONG, other], 225)
        assert (a225 - b225).abs().max() > 1e-3
        (x77, y77), _ = encode_sdxl((tokenizer, tokenizer_bang_pad), (te, te2), [LONG, other], None)
        assert torch.equal(x77, y77)
        (x225, y225), _ = encode_sdxl((tokenizer, tokenizer_bang_pad), (te, te2), [LONG, other], 225)
        assert (x225 - y225).abs().max() > 1e-3


def test_gradients_reach_the_text_encoder(tokenizer):
    """The trainer backpropagates through these functions (no no_grad inside)."""
    te = copy.deepcopy(clip(2, 32))
    encode_sd1(tokenizer, te, PROMPTS[:1], 225, 2).square().mean().backward()
    assert te.embeddings.token_embedding.weight.grad.abs().sum() > 0


def test_dtype_follows_the_encoder(tokenizer):
    te = copy.deepcopy(clip(2, 32)).to(torch.bfloat16)
    with torch.no_grad():
        assert encode_sd1(tokenizer, te, PROMPTS[:1], 150).dtype == torch.bfloat16


def test_bad_settings_are_one_line_errors():
    assert validate_max_token_length(None) == 75 and validate_max_token_length("225") == 225
    for bad in (77, 100, 300, "lots", 0):
        with pytest.raises(EvalkitError, match=r"75, 150 or 225"):
            validate_max_token_length(bad)
    assert validate_clip_skip(None, 12) is None and validate_clip_skip("2", 12) == 2
    for bad in (0, 13, -1, "x"):
        with pytest.raises(EvalkitError, match=r"12 layers") as err:
            validate_clip_skip(bad, 12)
        assert "\n" not in str(err.value)


def test_clip_skip_beyond_the_encoders_depth_is_refused(tokenizer):
    with pytest.raises(EvalkitError, match="3 layers"):
        encode_sd1(tokenizer, clip(3, 32), PROMPTS[:1], None, 4)
