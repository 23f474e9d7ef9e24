"""Fuzzing the prompt-suite TOML and the render cache's sidecar JSON: no input may end in a traceback.

In the style of the safetensors-header fuzz (tests/inspect/test_inspect_fuzz.py): any input is
either a clean one-line `EvalkitError` naming the file or a valid result.
"""

from __future__ import annotations

import json
import math

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from evalkit.errors import EvalkitError
from evalkit.golden.prompts import MAX_SEED, Prompt, load_prompts
from evalkit.render.cache import RenderCache

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                         HealthCheck.function_scoped_fixture])
KEYS = ["id", "text", "seeds", "negative", "golden", "caption_style", "extra"]
scalars = (st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
           | st.sampled_from(["ape", "male_cap", "a b", "", "#638596 punk"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), inner, max_size=4), max_leaves=10)
entries = st.dictionaries(st.sampled_from(KEYS), values | st.lists(st.integers(0, 2**65), max_size=4), max_size=6)


def toml(value) -> str:
    """A TOML inline value (None has no TOML form: an empty inline table stands in)."""
    if value is None:
        return "{}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(map(toml, value)) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml(v)}" for k, v in value.items()) + "}"


documents = st.fixed_dictionaries({}, optional={"defaults": values | entries,
                                                "prompts": st.lists(entries | values, max_size=4) | values})


def check_one(path):
    try:
        prompts = load_prompts(path)
    except EvalkitError as exc:
        message = str(exc)
        assert message.startswith(f"{path}: ") and "\n" not in message, message
        event("refused")
        return
    event("loaded")
    assert prompts and all(isinstance(p, Prompt) for p in prompts)
    for p in prompts:
        assert isinstance(p.id, str) and isinstance(p.text, str) and isinstance(p.negative, str)
        assert p.seeds and all(type(s) is int and 0 <= s <= MAX_SEED for s in p.seeds)
        assert all(isinstance(g, str) for g in p.golden) and isinstance(p.caption_style, str)
        p.hex_codes  # noqa: B018 - must not raise


@FUZZ
@given(documents)
def test_any_prompt_suite_document_loads_or_is_one_line(tmp_path_factory, doc):
    path = tmp_path_factory.mktemp("fuzz") / "prompts.toml"
    path.write_text("".join(f"{k} = {toml(v)}\n" for k, v in doc.items()), encoding="utf-8")
    check_one(path)


VALID = '[defaults]\nseeds = [42, 43]\nnegative = "photo"\n\n[[prompts]]\nid = "ape"\ntext = "ape punk"\n'


@FUZZ
@given(st.binary(max_size=40), st.integers(0, len(VALID)), st.integers(0, 8))
def test_any_mutation_of_a_valid_suite_loads_or_is_one_line(tmp_path_factory, junk, at, cut):
    path = tmp_path_factory.mktemp("fuzz") / "prompts.toml"
    raw = VALID.encode()
    path.write_bytes(raw[:at] + junk + raw[at + cut:])
    check_one(path)


sidecar_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                              | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)


@FUZZ
@given(st.dictionaries(st.sampled_from(["prompt_id", "seed", "prompt", "negative", "prompt_digest", "png_sha256",
                                        "config_key", "checkpoint_sha256", "config"]), sidecar_values, max_size=9),
       st.booleans(), st.one_of(st.none(), st.binary(max_size=30)))
def test_any_sidecar_is_a_hit_for_its_own_key_or_a_miss(tmp_path_factory, edits, keep, raw):
    """Whatever the sidecar holds, the cache serves the key it was asked for or re-renders."""
    cache = RenderCache(tmp_path_factory.mktemp("cache"))
    folder = cache.folder("ab" * 32, "base", "cfg0123456789abc")
    path, digest = cache.key(folder, "ape", "ape punk", "photo", 42)
    meta = {"prompt_id": "ape", "seed": 42, "prompt": "ape punk", "negative": "photo",
            "checkpoint_sha256": "ab" * 32, "config_key": "cfg0123456789abc"}
    cache.put(path, digest, np.zeros((8, 8, 3), np.uint8), meta)
    sidecar = path.with_suffix(".json")
    if raw is not None:
        sidecar.write_bytes(raw)
    else:
        stored = json.loads(sidecar.read_text())
        sidecar.write_text(json.dumps({**stored, **edits} if keep else edits))
    hit = cache.get(path, digest)
    event("hit" if hit else "miss")
    if hit is not None:
        assert (hit.prompt_id, hit.seed, hit.meta["prompt"], hit.meta["negative"]) == ("ape", 42, "ape punk", "photo")
