"""A real CLIP tokenizer built offline from the BPE file open_clip_torch ships.

Model hubs are unreachable here, so `openai/clip-vit-large-patch14`'s tokenizer
files cannot be fetched. They are fully determined by open_clip's
``bpe_simple_vocab_16e6.txt.gz``: CLIP uses lines 1..48894 as merges, and the
49,408-entry vocabulary is the 256 byte-characters, the same with ``</w>``,
each merge joined, then ``<|startoftext|>`` and ``<|endoftext|>``.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
from functools import lru_cache
from pathlib import Path

from evalkit.errors import EvalkitError

N_MERGES = 49152 - 256 - 2  # CLIP's merge count: lines 1..48894 of the BPE file
VOCAB_SIZE = 49408


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable-character table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def open_clip_bpe_path() -> Path:
    spec = importlib.util.find_spec("open_clip")  # locates the package without importing it (no torchvision needed)
    if spec is None or not spec.submodule_search_locations:
        raise EvalkitError("open_clip_torch", "not installed; `pip install --no-deps open_clip_torch` provides the CLIP BPE file")
    path = Path(spec.submodule_search_locations[0]) / "bpe_simple_vocab_16e6.txt.gz"
    if not path.is_file():
        raise EvalkitError(path, "CLIP BPE file missing from open_clip_torch")
    return path


@lru_cache(maxsize=1)
def clip_vocab_and_merges(bpe_path: str | None = None) -> tuple[dict[str, int], list[str]]:
    lines = gzip.open(bpe_path or open_clip_bpe_path(), "rt", encoding="utf-8").read().split("\n")
    merges = lines[1 : N_MERGES + 1]
    chars = list(bytes_to_unicode().values())
    tokens = chars + [c + "</w>" for c in chars] + ["".join(m.split()) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {t: i for i, t in enumerate(tokens)}
    if len(vocab) != VOCAB_SIZE:
        raise EvalkitError(bpe_path or "open_clip BPE", f"gives {len(vocab)} tokens, expected {VOCAB_SIZE}")
    return vocab, merges


def write_clip_tokenizer(out_dir: str | Path, model_max_length: int = 77) -> Path:
    """Write a diffusers-layout ``tokenizer/`` folder (vocab.json, merges.txt, configs)."""
    from transformers import CLIPTokenizer

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vocab, merges = clip_vocab_and_merges()
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (out / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    # Loading from the two files works on transformers 4 and 5 alike; saving
    # writes the config and special-token map so either version reads it back.
    (out / "tokenizer_config.json").write_text(json.dumps({"model_max_length": model_max_length}), encoding="utf-8")
    tok = CLIPTokenizer.from_pretrained(out, model_max_length=model_max_length, pad_token="<|endoftext|>")
    tok.save_pretrained(out)
    # tokenizer.json (3.6 MB) is derivable from the two files; leave it out to keep the testbed small.
    (out / "tokenizer.json").unlink(missing_ok=True)
    return out
