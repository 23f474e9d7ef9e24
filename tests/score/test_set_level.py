"""Set-level scores: MMD against the golden punks and memorisation."""

import numpy as np
import pytest
from score_synth import hue_rotate_hsv, noisy, photographic, upscale, wrong_colours

from evalkit.downsample.grid import recover_grid
from evalkit.score.golden_reference import build_reference, image_features
from evalkit.score.colour import rgb_to_lab
from evalkit.score.set_level import COPY_SHARE, memorisation, mmd_test, nearest_golden, set_scores


@pytest.fixture(scope="module")
def split(golden):
    """24 held-out golden punks as 'renders' and a reference built from the other 232."""
    rng = np.random.default_rng(0)
    held = rng.choice(len(golden), 24, replace=False)
    rest = np.setdiff1d(np.arange(len(golden)), held)
    return golden.images[held], build_reference(golden.images[rest])


def recovered(images):
    return [recover_grid(img).cells for img in images]


def test_good_renders_are_not_told_apart(split):
    held, ref = split
    renders = recovered([noisy(upscale(c, 192), 5, seed=i) for i, c in enumerate(held)])
    mmd = set_scores(renders, ref, permutations=300).mmd
    assert mmd.p_value > 0.05 and mmd.features == "model_free"


@pytest.mark.parametrize("drift", ["photographic", "wrong_colours"])
def test_drifted_renders_are_told_apart(split, drift):
    held, ref = split
    if drift == "photographic":
        renders = recovered([photographic(c, 192, seed=i) for i, c in enumerate(held[:12])])
    else:
        renders = recovered([upscale(wrong_colours(c), 192) for c in held[:12]])
    mmd = set_scores(renders, ref, permutations=300).mmd
    assert mmd.p_value < 0.01 and mmd.mmd2 > 0


def test_mmd_is_deterministic_and_needs_pairs(split):
    held, ref = split
    feats = image_features(rgb_to_lab(held), ref.palette_lab)
    a = mmd_test(feats, ref.features, bandwidth=ref.bandwidth, permutations=200)
    b = mmd_test(feats, ref.features, bandwidth=ref.bandwidth, permutations=200)
    assert a == b
    assert mmd_test(feats[:1], ref.features, bandwidth=ref.bandwidth) is None
    assert set_scores([held[0]], ref).mmd is None


def test_mmd_grows_with_the_shift_and_its_p_value_is_calibrated():
    rng = np.random.default_rng(1)
    y = rng.normal(size=(80, 5))
    stats = [mmd_test(rng.normal(size=(30, 5)) + shift, y, bandwidth=2.0, permutations=200) for shift in (0.0, 0.5, 2.0)]
    assert stats[0].mmd2 < stats[1].mmd2 < stats[2].mmd2
    assert 0 < stats[2].p_value < 0.01
    # under the null the p-value is uniform: few of 40 draws fall below 0.05
    null = [
        mmd_test(r.normal(size=(20, 5)), r.normal(size=(60, 5)), bandwidth=2.0, permutations=100, seed=t).p_value
        for t, r in ((t, np.random.default_rng(100 + t)) for t in range(40))
    ]
    assert np.mean(np.array(null) < 0.05) <= 0.15 and 0.3 < np.median(null) < 0.7


def test_memorised_renders_are_flagged(golden, reference):
    copies = [recover_grid(noisy(upscale(golden.images[i], 512), 5, seed=i)).cells for i in (3, 77, 150)]
    for i, cells in zip((3, 77, 150), copies):
        n = nearest_golden(cells, reference)
        assert n.golden_id == golden.ids[i] and n.copied and n.shared >= COPY_SHARE
    fresh = hue_rotate_hsv(golden.images[5], 40)
    assert not nearest_golden(fresh, reference).copied
    mem = memorisation(copies + [fresh], reference)
    assert mem.copies == 3 and mem.copy_rate == pytest.approx(0.75)
    assert mem.golden_copy_rate == pytest.approx(float((reference.nn_share >= COPY_SHARE).mean()))


def test_golden_near_duplicates_are_reported(reference):
    # distinct real punks already share most cells; the reference records how much
    assert reference.nn_share.shape == (len(reference),)
    assert 0.8 < np.median(reference.nn_share) < 1.0
    assert (reference.nn_share < 1.0).all()
