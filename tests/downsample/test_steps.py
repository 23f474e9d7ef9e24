"""Each step of grid recovery on its own: lattice, profiles, pitch, line walk, rotation, votes."""

import numpy as np
import pytest
from score_synth import drawn_like_a_model, upscale

from evalkit.image_arrays import as_rgb_float
from evalkit.downsample.lattice import Lattice, take_lines
from evalkit.downsample.pitch import fit_pitch, own_pitches
from evalkit.downsample.profiles import above_floor, comb_capture, edge_profiles, line_capture, strip_profiles
from evalkit.downsample.refine import MAX_DRIFT, drawn_like_a_grid, fit_axis, walk_axis
from evalkit.downsample.rotation import estimate_rotation, straighten
from evalkit.downsample.vote import vote_cells


def profiles(img):
    return tuple(above_floor(e) for e in edge_profiles(as_rgb_float(img)))


def test_lattice_cells_and_extrapolation():
    lat = Lattice(xs=np.array([0.0, 10.0, 22.0, 30.0]), ys=np.array([0.0, 5.0, 10.0, 15.0]))
    assert list(lat.cell_of(1, 40)) == [0] * 10 + [1] * 12 + [2] * 8 + [3] * 10
    assert lat.pitch(0) == pytest.approx(5.0) and lat.unevenness() > 0.1
    assert Lattice.regular(0, 5, 0, 5, 3).unevenness() == pytest.approx(0.0)
    assert list(take_lines(lat.ys, -1, 6)) == pytest.approx([-5, 0, 5, 10, 15, 20])


def test_strip_profiles_add_up_to_the_whole(golden):
    rgb = as_rgb_float(upscale(golden.images[5], 192))
    sx, sy = strip_profiles(rgb, 8)
    ex, ey = edge_profiles(rgb)
    assert sx.shape == (8, 191) and np.allclose(sx.sum(0), ex, rtol=1e-5) and np.allclose(sy.sum(0), ey, rtol=1e-5)
    # an even lattice's line capture is the comb's
    lines = np.arange(0, 193, 8.0)
    assert line_capture(above_floor(ex), lines, 8.0) == pytest.approx(comb_capture(above_floor(ex), 8.0, 0.0))


def test_each_axis_has_its_own_pitch_in_a_band(golden):
    # 21.3 px wide, 18 px tall cells: the punk in a band with backdrop above and below
    img, xs, ys = drawn_like_a_model(golden.images[9], 512 / 24, 18.0, 0.0, 0.0, 0.0, 0.5, seed=1)
    ex, ey = profiles(img)
    h, w = img.shape[:2]
    assert fit_pitch(ex, ey, w, h) is not None
    assert any(abs(p - 18.0) < 0.3 for p, _, _ in own_pitches(ey, h, w, h))


def test_walk_follows_uneven_lines_within_its_bound(golden):
    img, xs, _ = drawn_like_a_model(golden.images[60], 21.0, 21.0, 0.12, 0.0, 0.5, 0.5, seed=3)
    ex, _ = profiles(img)
    o, p = fit_axis(ex, 21.0, xs[0] % 21.0)
    lines, share, pitch = walk_axis(ex, o, p, img.shape[1])
    assert share > 0.4 and pitch == pytest.approx(21.0, rel=0.03)
    assert Lattice(xs=lines, ys=lines).unevenness() <= MAX_DRIFT + 0.1  # bounded share of a pitch
    # every drawn line with an edge is found to the pixel
    near = [np.abs(lines - x).min() for x in xs[3:21]]
    assert np.median(near) <= 0.5


def test_wandering_cells_are_not_a_grid():
    pitch = 20.0
    assert drawn_like_a_grid(np.array([0.0, 20.5, 41.0, np.nan, 80.0]), pitch)
    assert not drawn_like_a_grid(np.array([0.0, 11.0, 41.0, 52.0, 80.0]), pitch)


@pytest.mark.parametrize("degrees", [-1.0, -0.4, 0.6, 1.0])
def test_rotation_is_measured_and_undone(golden, degrees):
    img, _, _ = drawn_like_a_model(golden.images[50], 21.3, 21.3, 0.0, degrees, 0.5, 0.5, seed=2)
    est = estimate_rotation(*strip_profiles(as_rgb_float(img), 8))
    assert est == pytest.approx(degrees, abs=0.12)
    flat, _, _ = drawn_like_a_model(golden.images[50], 21.3, 21.3, 0.0, 0.0, 0.5, 0.5, seed=2)
    back = straighten(as_rgb_float(img), est)
    assert np.mean(np.abs(back - as_rgb_float(flat)).sum(-1) > 0.01) < 0.05  # all but edge pixels agree


def test_unturned_grid_has_no_rotation(golden):
    assert estimate_rotation(*strip_profiles(as_rgb_float(upscale(golden.images[0], 512)), 8)) == 0.0


def test_votes_follow_uneven_cells(golden):
    cells = golden.images[77]
    img, xs, ys = drawn_like_a_model(cells, 20.0, 22.0, 0.12, 0.0, 0.5, 0.5, seed=5)
    votes, vis = vote_cells(as_rgb_float(img), xs, ys)
    assert np.array_equal(np.rint(votes * 255).astype(np.uint8), cells) and np.allclose(vis, 1.0)
