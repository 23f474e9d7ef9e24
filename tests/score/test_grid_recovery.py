"""Grid recovery gives back the exact 24x24 punk from nearest-neighbour renders of real golden punks."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from score_synth import examples, golden_set, photo, place, punk, upscale

from evalkit.downsample.grid import recover_grid
from evalkit.score.colour import delta_e, rgb_to_lab
from evalkit.score.score_image import score_image

IDS = golden_set().ids
FAST = settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_exact(fit, cells):
    d = delta_e(rgb_to_lab(fit.cells), rgb_to_lab(cells))
    assert d.max() <= 2.0, f"{np.count_nonzero(d > 2)} cells off (max dE {d.max():.1f}), fit {fit.to_dict()}"


def assert_golden_scores(scores):
    assert scores.grid_sharpness >= 0.95
    assert scores.palette_fidelity >= 0.9
    assert scores.photorealism <= 0.1


@FAST
@given(
    pid=st.sampled_from(IDS),
    pitch=st.floats(8.0, 48.0),
    phase_x=st.floats(0.0, 1.0, exclude_max=True),
    phase_y=st.floats(0.0, 1.0, exclude_max=True),
)
def test_any_scale_any_phase_comes_back_exact(reference, pid, pitch, phase_x, phase_y):
    # The punk at `pitch` px per cell with its grid offset by a fraction of a cell;
    # the frame holds the whole punk plus that offset of backdrop.
    cells = punk(pid)
    ox, oy = phase_x * pitch, phase_y * pitch
    size = int(np.ceil(24 * pitch + max(ox, oy)))
    img = place(cells, pitch, ox, oy, size, size)
    scores = score_image(img, reference)
    assert_exact(scores.fit, cells)
    assert scores.fit.pitch_x == pytest.approx(pitch, rel=0.005)
    assert scores.fit.origin_x == pytest.approx(ox, abs=1.0)
    assert scores.fit.origin_y == pytest.approx(oy, abs=1.0)
    assert_golden_scores(scores)


@FAST
@given(
    pid=st.sampled_from(IDS),
    size=st.sampled_from([192, 512, 768, 1024]),
    shift_x=st.floats(-0.5, 0.5),
    shift_y=st.floats(-0.5, 0.5),
    zoom=st.floats(0.95, 1.0),
)
def test_shifted_and_slightly_scaled_renders_come_back_exact(reference, pid, size, shift_x, shift_y, zoom):
    # SD-sized frames; the punk shifted by up to half a cell (cut by the frame) and shrunk by up to 5%.
    cells = punk(pid)
    pitch = size / 24 * zoom
    img = place(cells, pitch, shift_x * pitch, shift_y * pitch, size, size)
    scores = score_image(img, reference)
    assert_exact(scores.fit, cells)
    assert_golden_scores(scores)


@FAST
@given(pid=st.sampled_from(IDS), scale=st.floats(0.55, 0.9), fx=st.floats(0, 1), fy=st.floats(0, 1))
def test_punk_padded_by_backdrop_comes_back_exact(pid, scale, fx, fy):
    cells = punk(pid)
    size = 512
    pitch = size / 24 * scale
    free = size - 24 * pitch
    img = place(cells, pitch, fx * free, fy * free, size, size)
    fit = recover_grid(img)
    assert_exact(fit, cells)
    assert fit.coverage == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("pitch", [8, 9, 12, 16, 21, 24, 32, 42, 48])
def test_integer_scales(golden, reference, pitch):
    for i in (0, 100, 200):
        cells = golden.images[i]
        img = upscale(cells, 24 * pitch)
        scores = score_image(img, reference)
        assert_exact(scores.fit, cells)
        assert scores.fit.pitch_x == pytest.approx(pitch, abs=0.02)
        assert scores.fit.confidence > 0.9
        assert_golden_scores(scores)


def test_every_golden_punk_at_sd15_size(golden):
    # 512 px, 21.33 px per cell: the SD1.5 case, all 256 punks.
    for cells in golden.images:
        fit = recover_grid(upscale(cells, 512))
        assert np.array_equal(fit.cells, cells)


def test_non_square_frame(golden):
    cells = golden.images[7]
    img = place(cells, 512 / 24, 0, 128, 512, 768)  # portrait SD render, punk in the middle
    fit = recover_grid(img)
    assert_exact(fit, cells)
    assert fit.origin_y == pytest.approx(128, abs=1)


@pytest.mark.parametrize("size", [24, 48])
def test_tiny_frames_use_the_frame_grid(golden, size):
    cells = golden.images[3]
    fit = recover_grid(upscale(cells, size))
    assert fit.method == "frame"
    assert np.array_equal(fit.cells, cells)


def test_photo_has_no_grid():
    fit = recover_grid(photo("astronaut", 512))
    assert fit.method == "frame"
    assert fit.confidence < 0.3
    assert fit.cells.shape == (24, 24, 3) and fit.cells.dtype == np.uint8


def test_fit_reports_its_grid(golden):
    fit = recover_grid(place(golden.images[0], 20.0, 7.0, 3.0, 500, 500))
    d = fit.to_dict()
    assert d["pitch_x"] == pytest.approx(20.0, abs=0.05)
    assert d["origin_x"] == pytest.approx(7.0, abs=0.5)
    assert d["origin_y"] == pytest.approx(3.0, abs=0.5)
    assert d["method"] == "fitted" and d["background"] == "#638596"
    assert fit.visible.shape == (24, 24) and fit.coverage == pytest.approx(1.0)
    # cell_of_pixels maps pixel centres to cells
    cx = fit.cell_of_pixels(1, 500)
    assert cx[7] == 0 and cx[6] == -1 and cx[7 + 20 * 23] == 23 and cx[7 + 20 * 24] == 24


def test_golden_scores_are_the_ceiling(reference):
    from evalkit.score.score_image import golden_scores

    for s in golden_scores(reference, size=192, limit=4):
        assert_golden_scores(s)
        assert s.grid_sharpness == pytest.approx(1.0) and s.fit.method == "fitted"
