"""The render cache against a tampered sidecar: every field must match the key it is asked for.

These put real PNGs through `RenderCache.put` (no model: the cache's checks do not depend on
where the pixels came from) and edit the sidecar as an attacker or a stray script would.
"""

import json

import numpy as np
import pytest

from evalkit.render.cache import RenderCache

PROMPT, NEGATIVE = "male punk portrait, cap, pixel art", "photo"


def cached(tmp_path, seed=1):
    cache = RenderCache(tmp_path)
    folder = cache.folder("ab" * 32, "tiny-punks-base", "cfgkey0123456789")
    path, digest = cache.key(folder, "male_cap", PROMPT, NEGATIVE, seed)
    image = np.random.default_rng(seed).integers(0, 255, (24, 24, 3), dtype=np.uint8)
    meta = {"prompt_id": "male_cap", "seed": seed, "prompt": PROMPT, "negative": NEGATIVE,
            "checkpoint_sha256": "ab" * 32, "config_key": "cfgkey0123456789"}
    cache.put(path, digest, image, meta)
    return cache, path, digest


def test_an_intact_sidecar_is_a_hit(tmp_path):
    cache, path, digest = cached(tmp_path)
    hit = cache.get(path, digest)
    assert hit is not None and (hit.prompt_id, hit.seed) == ("male_cap", 1)


@pytest.mark.parametrize("field, value", [
    ("seed", 42), ("seed", "1"), ("prompt_id", "ape"), ("prompt", "a photo"), ("negative", ""),
    ("checkpoint_sha256", "cd" * 32), ("config_key", "otherkey"),
])
def test_a_sidecar_that_disagrees_with_its_key_is_a_miss_and_is_removed(tmp_path, field, value):
    """Before the fix an edited "seed" was served as that seed (the suite then scored seed 42)."""
    cache, path, digest = cached(tmp_path)
    sidecar = path.with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    meta[field] = value
    sidecar.write_text(json.dumps(meta))
    assert cache.get(path, digest) is None
    assert not path.exists() and not sidecar.exists()


@pytest.mark.parametrize("text", ["[]", "null", "1", '{"prompt_digest": 5}', "{", "\x00\xff"])
def test_a_sidecar_that_is_not_an_object_is_a_miss(tmp_path, text):
    cache, path, digest = cached(tmp_path)
    path.with_suffix(".json").write_text(text, encoding="latin-1")
    assert cache.get(path, digest) is None
