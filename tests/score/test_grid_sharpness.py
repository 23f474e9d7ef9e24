"""grid_sharpness: crisp cells near 1; blur, anti-aliasing, noise and photos lower."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from score_synth import examples, PHOTOS, blur, golden_set, jpeg, noisy, photo, photographic, punk, upscale

from evalkit.downsample.grid import recover_grid
from evalkit.score.grid_sharpness import grid_sharpness

IDS = golden_set().ids


def sharpness(img):
    return grid_sharpness(img, recover_grid(img))


@settings(max_examples=examples(20), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pid=st.sampled_from(IDS),
    size=st.sampled_from([192, 384, 512]),
    sigmas=st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3, unique=True),
)
def test_falls_monotonically_as_blur_grows(pid, size, sigmas):
    # sigma in cells; the same punk blurred more never scores higher
    base = upscale(punk(pid), size)
    pitch = size / 24
    scores = [sharpness(blur(base, s * pitch)).score for s in sorted(sigmas)]
    assert all(b <= a + 1e-6 for a, b in zip(scores, scores[1:])), (sorted(sigmas), scores)


@pytest.mark.parametrize("size", [192, 512, 1024])
def test_scale_of_the_score(golden, size):
    pitch = size / 24
    for cells in golden.images[:3]:
        base = upscale(cells, size)
        assert sharpness(base).score >= 0.99
        assert sharpness(noisy(base, 5)).score >= 0.9  # mild noise: still crisp
        assert sharpness(jpeg(base, 75)).score >= 0.9
        mild = sharpness(blur(base, 0.1 * pitch)).score
        half = sharpness(blur(base, 0.5 * pitch)).score
        assert 0.5 <= mild <= 0.97
        assert half <= 0.15


def test_noise_scores_lower_than_clean(golden):
    base = upscale(golden.images[10], 512)
    clean, mild, strong = (sharpness(x).score for x in (base, noisy(base, 5), noisy(base, 25)))
    assert clean > mild > strong
    assert strong < 0.9


@pytest.mark.parametrize("resample", [Image.BILINEAR, Image.BICUBIC, Image.LANCZOS])
def test_anti_aliased_upscale_scores_lower_than_nearest(golden, resample):
    cells = golden.images[20]
    smooth = np.asarray(Image.fromarray(cells).resize((512, 512), resample))
    assert sharpness(smooth).score < 0.8 * sharpness(upscale(cells, 512)).score


def test_off_grid_render_scores_lower(golden):
    # the punk drawn on a grid that wanders (cells of uneven width): not a 24x24 grid
    cells = golden.images[30]
    rng = np.random.default_rng(0)
    widths = rng.uniform(0.55, 1.45, 24)
    edges = np.concatenate([[0], np.cumsum(widths)]) / widths.sum() * 512
    col = np.clip(np.searchsorted(edges, np.arange(512) + 0.5) - 1, 0, 23)
    img = cells[col][:, col]
    assert sharpness(img).score < 0.6


@pytest.mark.parametrize("name", PHOTOS)
def test_photographs_score_near_zero(name):
    assert sharpness(photo(name, 512)).score < 0.15


def test_photographic_drift_scores_low(golden):
    for i in (0, 50):
        assert sharpness(photographic(golden.images[i], 192, seed=i)).score < 0.3


def test_uniform_image_scores_zero():
    s = sharpness(np.full((512, 512, 3), 0.4, np.float32))
    assert s.score == 0.0 and np.isfinite([s.acuity, s.explained]).all()
