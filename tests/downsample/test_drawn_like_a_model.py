"""Grid recovery on punks drawn the way a diffusion model draws them.

Real golden punks, drawn crisp (`score_synth.drawn_like_a_model`) with cells
of uneven width (up to +-12% of the pitch: 19 to 24 px at 21.3), a pitch per
axis between 18 and 24 px (so the punk sits in a band with backdrop above and
below, or beside), and the whole grid turned by up to a degree.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from score_synth import blur, drawn_like_a_model, examples, golden_set, punk, upscale

from evalkit.downsample.grid import recover_grid
from evalkit.score.colour import delta_e, rgb_to_lab
from evalkit.score.grid_sharpness import grid_sharpness
from evalkit.score.score_image import score_image

IDS = golden_set().ids
SETTINGS = dict(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

DRAW = st.fixed_dictionaries(
    {
        "pid": st.sampled_from(IDS),
        "pitch_x": st.floats(18.0, 24.0),
        "pitch_y": st.floats(18.0, 24.0),
        "unevenness": st.floats(0.0, 0.12),
        "degrees": st.floats(-1.0, 1.0),
        "fx": st.floats(0.0, 1.0),
        "fy": st.floats(0.0, 1.0),
        "seed": st.integers(0, 2**31 - 1),
    }
)


def render(d):
    args = {k: v for k, v in d.items() if k != "pid"}
    img, _, _ = drawn_like_a_model(punk(d["pid"]), **args)
    return img


def exact(fit, cells) -> bool:
    return bool(delta_e(rgb_to_lab(fit.cells), rgb_to_lab(cells)).max() <= 2.0)


@settings(max_examples=examples(3), **SETTINGS)
@given(draws=st.lists(DRAW, min_size=20, max_size=20))
def test_exact_24x24_in_at_least_95_percent_of_draws(draws):
    misses = [d for d in draws if not exact(recover_grid(render(d)), punk(d["pid"]))]
    assert len(misses) <= 1, f"{len(misses)} of {len(draws)} draws not exact: {misses}"


@settings(max_examples=examples(12), **SETTINGS)
@given(d=DRAW)
def test_crisp_draws_score_like_the_even_grid(reference, d):
    cells = punk(d["pid"])
    drawn, even = score_image(render(d), reference), score_image(upscale(cells, 512), reference)
    assert abs(drawn.grid_sharpness - even.grid_sharpness) <= 0.03, (drawn.sharpness, even.sharpness, drawn.fit.to_dict())
    assert abs(drawn.photorealism - even.photorealism) <= 0.02, (drawn.realism, even.realism, drawn.fit.to_dict())


# The worst draws of deeper runs (EVALKIT_HYPOTHESIS_SCALE, and 350 seeded draws), each a cause fixed:
# a band whose walk refitted the shared pitch away and kept its preference (not exact, texture 0.2);
# turns of 0.15 to 0.3 degree the comb forgives but the block model does not (explained 0.965);
# non-square cells 3-4% apart walked as square; lines past the last edge found snapped back to
# the regular lattice.
WORST_DRAWS = [
    dict(pid="0119", pitch_x=19.393868851713187, pitch_y=22.49253435002361, unevenness=0.07724457144963724,
         degrees=0.45151537010373977, fx=0.08280857589649471, fy=0.3527434156964051, seed=847525460),
    dict(pid="0127", pitch_x=19.81920607598547, pitch_y=21.27449327411572, unevenness=0.07348100868022209,
         degrees=0.22159687784361748, fx=0.3828380088978549, fy=0.5657739072162552, seed=730839918),
    dict(pid="1374", pitch_x=20.390013306589413, pitch_y=19.764458161009706, unevenness=0.033254506732434935,
         degrees=-0.2780571483432983, fx=0.5769076431162621, fy=0.5278200781124773, seed=1763570707),
    dict(pid="3100", pitch_x=21.82452587542909, pitch_y=22.05460465168476, unevenness=0.06699347375700411,
         degrees=-0.22541016989625207, fx=0.6239027819391343, fy=0.5919027832141105, seed=763106555),
    dict(pid="0100", pitch_x=22.926618530367833, pitch_y=23.890969937230764, unevenness=0.10125486748424721,
         degrees=-0.15178702911197428, fx=0.9796887085096565, fy=0.9739844048523552, seed=1511368431),
    dict(pid="0002", pitch_x=21.112113256476476, pitch_y=21.678748067725287, unevenness=0.10531721557049281,
         degrees=0.00840968988910773, fx=0.37914767869986854, fy=0.25657270258042775, seed=1221367558),
]


@pytest.mark.parametrize("d", WORST_DRAWS, ids=[f"{d['pid']}@{d['degrees']:+.2f}deg" for d in WORST_DRAWS])
def test_worst_draws_found_by_deeper_runs(reference, d):
    cells = punk(d["pid"])
    img = render(d)
    drawn, even = score_image(img, reference), score_image(upscale(cells, 512), reference)
    assert exact(drawn.fit, cells), drawn.fit.to_dict()
    assert abs(drawn.grid_sharpness - even.grid_sharpness) <= 0.03, (drawn.sharpness, even.sharpness, drawn.fit.to_dict())
    assert abs(drawn.photorealism - even.photorealism) <= 0.02, (drawn.realism, even.realism, drawn.fit.to_dict())


@settings(max_examples=examples(8), **SETTINGS)
@given(d=DRAW, sigmas=st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3, unique=True))
def test_blur_still_lowers_grid_sharpness_monotonically(d, sigmas):
    # sigma in cells of the smaller pitch; the same drawing blurred more never scores higher
    base = render(d)
    pitch = min(d["pitch_x"], d["pitch_y"])
    scores = []
    for s in sorted(sigmas):
        img = blur(base, s * pitch)
        scores.append(grid_sharpness(img, recover_grid(img)).score)
    assert all(b <= a + 1e-6 for a, b in zip(scores, scores[1:])), (sorted(sigmas), scores)
    # and clearly: half a cell of blur is far from crisp
    if max(sigmas) >= 0.5:
        assert scores[-1] < 0.3


def test_confidence_reports_the_lines_found(golden):
    # a crisp uneven draw is fully trusted and says how uneven it was; its cells come back exact
    cells = golden.images[40]
    img, xs, ys = drawn_like_a_model(cells, 22.0, 19.0, 0.12, 0.0, 0.5, 0.5, seed=7)
    fit = recover_grid(img)
    assert exact(fit, cells)
    assert fit.confidence > 0.9 and fit.lines_found > 0.5
    assert fit.to_dict()["unevenness"] > 0.1
    # the fitted lines sit on the drawn ones wherever a line has an edge next to it
    assert np.median(np.abs(fit.lattice.xs - xs)) <= 1.0
    assert np.median(np.abs(fit.lattice.ys - ys)) <= 1.0
