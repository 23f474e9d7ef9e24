"""The committed golden set is real punk data and the prompt suite refers to it."""

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from evalkit.golden.captions import PUNK_TYPES, hex_code
from evalkit.golden.load import load_golden
from evalkit.golden.prompts import check_prompts_against_golden, hex_codes_in, load_prompts

GOLDEN = Path(__file__).resolve().parents[2] / "golden"


@pytest.fixture(scope="module")
def golden():
    return load_golden(GOLDEN)


def test_size_and_shape(golden):
    assert len(golden) >= 240
    assert golden.images.shape == (len(golden), 24, 24, 3)
    assert golden.images.dtype == np.uint8


def test_ids_come_from_training_split_only(golden):
    assert all(int(i) < 9000 for i in golden.ids)


def test_palettes_are_punk_sized(golden):
    counts = [len(np.unique(im.reshape(-1, 3), axis=0)) for im in golden.images]
    # Real punks use a handful of flat colours, never a photo's thousands.
    assert max(counts) <= 16 and min(counts) >= 3
    assert 5 <= np.median(counts) <= 10


def test_background_is_one_solid_colour(golden):
    bg = np.array(golden.background, np.uint8)
    corners = golden.images[:, 0, 0]
    assert (corners == bg).all()


def test_all_five_types_and_common_accessories_covered():
    rows = [line.split(",") for line in (GOLDEN / "punks.csv").read_text().splitlines()[1:]]
    types = Counter(r[2] for r in rows)
    assert set(types) == set(PUNK_TYPES)
    attrs = Counter(a for r in rows for a in r[3].split())
    for common in ["earring", "cigarette", "hotLipstick", "mohawk", "bandana", "bigShades", "hoodie"]:
        assert attrs[common] >= 2, common


def test_both_caption_versions_present_for_every_image(golden):
    assert set(golden.captions) == {"v1", "v2"}
    for version, texts in golden.captions.items():
        assert len(texts) == len(golden) and all(texts), version
    v1 = np.mean([len(t) for t in golden.captions["v1"]])
    v2 = np.mean([len(t) for t in golden.captions["v2"]])
    assert 120 <= v1 <= 220 and 250 <= v2 <= 400 and v2 > 1.6 * v1


def test_v1_captions_carry_one_to_three_hex_codes(golden):
    assert all(1 <= len(hex_codes_in(t)) <= 3 for t in golden.captions["v1"])


def test_v2_hex_codes_are_actually_in_the_image(golden):
    for image, text in zip(golden.images, golden.captions["v2"]):
        present = {hex_code(p) for p in image.reshape(-1, 3)}
        codes = hex_codes_in(text)
        assert len(codes) >= min(8, len(present))
        assert set(codes) <= present, text


def test_prompt_suite(golden):
    prompts = load_prompts(GOLDEN / "prompts.toml")
    assert len(prompts) >= 16
    assert all(len(p.seeds) >= 4 for p in prompts)
    assert {p.caption_style for p in prompts} == {"v1", "v2"}
    check_prompts_against_golden(prompts, golden.ids, GOLDEN / "prompts.toml")
    assert all(p.golden for p in prompts)
    kinds = {p.id.split("_")[0] for p in prompts}
    assert set(PUNK_TYPES) <= kinds
