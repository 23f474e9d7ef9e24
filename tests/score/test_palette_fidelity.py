"""palette_fidelity: punk colours near 1; hue shifts, washed-out and photographic colours lower."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from score_synth import examples, PHOTOS, golden_set, hue_rotate_hsv, hue_rotate_lch, jpeg, noisy, photo, punk, upscale, wrong_colours

from evalkit.downsample.grid import recover_grid
from evalkit.golden.captions import hex_code
from evalkit.golden.prompts import load_prompts
from evalkit.score.palette_fidelity import palette_fidelity, soft_match

IDS = golden_set().ids
ROTATE = {"hsv": hue_rotate_hsv, "lch": hue_rotate_lch}


@settings(max_examples=examples(30), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pid=st.sampled_from(IDS),
    space=st.sampled_from(sorted(ROTATE)),
    angles=st.lists(st.floats(0.0, 20.0), min_size=3, max_size=3, unique=True),
)
def test_falls_as_hue_rotation_grows(reference, pid, space, angles):
    # Within the first 20 degrees every punk's score falls with the angle; beyond,
    # rotated colours start landing near unrelated palette colours, so the score
    # stays at a low floor (next test) with wiggles of a few hundredths.
    cells = punk(pid)
    scores = [palette_fidelity(ROTATE[space](cells, a), reference).score for a in sorted(angles)]
    assert all(b <= a + 0.03 for a, b in zip(scores, scores[1:])), (sorted(angles), scores)


@settings(max_examples=examples(30), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pid=st.sampled_from(IDS), space=st.sampled_from(sorted(ROTATE)), angle=st.floats(30.0, 330.0))
def test_rotated_hues_score_low(reference, pid, space, angle):
    assert palette_fidelity(ROTATE[space](punk(pid), angle), reference).score < 0.65


def test_mean_over_golden_falls_with_rotation(golden, reference):
    means = [
        np.mean([palette_fidelity(hue_rotate_hsv(c, a), reference).score for c in golden.images[::8]])
        for a in (0, 5, 10, 15, 20, 30, 60)
    ]
    assert means[0] >= 0.99
    assert all(b < a for a, b in zip(means[:5], means[1:5]))
    assert means[-1] < 0.35


def test_every_golden_punk_scores_high(golden, reference):
    scores = np.array([palette_fidelity(c, reference).score for c in golden.images])
    assert scores.min() >= 0.99


@pytest.mark.parametrize("size", [192, 512])
def test_noise_and_jpeg_keep_it_high(golden, reference, size):
    for cells in golden.images[:4]:
        base = upscale(cells, size)
        for img in (noisy(base, 5), jpeg(base, 75)):
            assert palette_fidelity(recover_grid(img).cells, reference).score >= 0.85


def test_washed_out_colours_score_lower(golden, reference):
    for cells in golden.images[:16]:
        grey = cells.mean(-1, keepdims=True)
        washed = np.clip(np.rint(0.5 * cells + 0.5 * (0.6 * grey + 0.4 * 255)), 0, 255).astype(np.uint8)
        assert palette_fidelity(washed, reference).score < 0.5


def test_wrong_colours_lora_data_scores_low(golden, reference):
    scores = [palette_fidelity(wrong_colours(c), reference).score for c in golden.images[::4]]
    assert max(scores) < 0.5 and np.mean(scores) < 0.25


@pytest.mark.parametrize("name", PHOTOS)
def test_photographs_score_low(reference, name):
    fit = recover_grid(photo(name, 512))
    assert palette_fidelity(fit.cells, reference).score < 0.2


def test_prompt_hex_codes(golden, reference):
    prompts = {p.id: p for p in load_prompts(golden.root / "prompts.toml")}
    zombie = prompts["zombie"]
    cells = golden.images[golden.index(zombie.golden[0])]
    with_codes = palette_fidelity(cells, reference, zombie.hex_codes)
    assert with_codes.prompt_colours == pytest.approx(1.0) and with_codes.score >= 0.99
    # an ape render for the zombie prompt lacks the zombie's green skin
    ape = golden.images[golden.index(prompts["ape"].golden[0])]
    wrong = palette_fidelity(ape, reference, zombie.hex_codes)
    assert wrong.prompt_colours < 0.6 and wrong.score < with_codes.score
    # a code the render shows exactly, and one it misses by about 20 dE
    bg = hex_code(golden.background)
    assert palette_fidelity(cells, reference, [bg]).prompt_colours == pytest.approx(1.0)
    assert palette_fidelity(cells, reference, ["#FF00FF"]).prompt_colours < 0.1


def test_colour_count_counts_against_golden_range(reference):
    fewest, most = reference.colour_count_range
    assert 3 <= fewest <= most <= 16
    rng = np.random.default_rng(0)
    confetti = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
    result = palette_fidelity(confetti, reference)
    assert result.colour_count > most and result.count_factor < 0.1


def test_soft_match_scale():
    assert soft_match(0) == 1.0
    assert soft_match(2) > 0.98
    assert soft_match(6) == pytest.approx(0.5)
    assert soft_match(12) < 0.07
